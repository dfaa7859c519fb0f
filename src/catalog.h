/*-------------------------------------------------------------------------
 *
 * catalog.h
 *	  Where procflow's own tables are, and how to act on them with the
 *	  rights of the extension's owner.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_CATALOG_H
#define PROCFLOW_CATALOG_H

#include "executor/spi.h"
#include "fmgr.h"

#include "identity.h"
#include "procflow.h"

typedef struct CatalogOids
{
	Oid			namespace;		/* schema procflow */
	Oid			process;		/* procflow.process */
	Oid			trigger;		/* procflow.trigger */
	Oid			job;			/* procflow.job, the pending jobs */
	Oid			job_partitions[JOB_PARTITIONS];	/* procflow.job_0 ... */
	Oid			finished_job;	/* procflow.finished_job, the history */
	Oid			job_id_seq;		/* procflow.job_id_seq */
	Oid			job_batch;		/* procflow.job_batch */
	Oid			owner;			/* owner of the catalog tables */
	bool		has_flows;		/* the tables run flows (0.4 on): the jobs have
								 * their columns; false in a database whose
								 * extension is still 0.2 or 0.3, until ALTER
								 * EXTENSION UPDATE */
} CatalogOids;

/* Saved identity while acting as the extension's owner. */
typedef IdentityScope PrivilegedScope;

extern const CatalogOids *catalog_oids(void);
extern const CatalogOids *catalog_oids_if_installed(void);
extern void catalog_invalidate(Oid relid);
extern void catalog_enter_privileged(PrivilegedScope *scope);
extern void catalog_leave_privileged(PrivilegedScope *scope);
extern void catalog_prefer_indexes(void);
extern void catalog_announce_change(void);
extern void catalog_refresh_owner_names(void);
extern void catalog_check_own_trigger(FunctionCallInfo fcinfo, const char *function);
extern SPIPlanPtr catalog_keep_plan(SPIPlanPtr *plan, const char *sql, int nargs,
									Oid *argtypes);
extern int	catalog_exec(const char *sql, int nargs, Oid *argtypes, Datum *args,
						 const char *nulls, int expected);

#endif							/* PROCFLOW_CATALOG_H */
