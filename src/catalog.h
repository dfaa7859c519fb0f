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
#include "settings.h"

/*
 * The versions of procflow's tables that this library works with.  Between
 * installing a new library and ALTER EXTENSION UPDATE, a database keeps
 * the tables of its version: light processes go on there, flows wait for
 * the update (their triggers do not fire, their jobs are not run).
 */
typedef enum CatalogLevel
{
	CATALOG_BEFORE_FLOWS,		/* 0.2 and 0.3: no flows */
	CATALOG_FLOWS_0_4,			/* 0.4: flows, events without row images */
	CATALOG_CURRENT				/* 0.5 */
} CatalogLevel;

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
	Oid			instance;		/* procflow.instance (InvalidOid before 0.4) */
	Oid			activity;		/* procflow.activity (InvalidOid before 0.4) */
	Oid			activity_id_seq;	/* procflow.activity_id_seq */
	Oid			activity_instance_idx;	/* its index on (instance_id, id) */
	Oid			owner;			/* owner of the catalog tables */
	CatalogLevel level;			/* the version of the tables */
	bool		has_flows;		/* level is CATALOG_CURRENT: the tables run
								 * flows; false in a database whose extension
								 * is older, until ALTER EXTENSION UPDATE */
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
extern SPIPlanPtr catalog_keep_plan(SPIPlanPtr *plan, const char *sql, int nargs,
									Oid *argtypes);
extern SPIPlanPtr catalog_keep_generic_plan(SPIPlanPtr *plan, const char *sql, int nargs,
											Oid *argtypes);
extern int	catalog_exec_kept(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes,
							  Datum *args, const char *nulls, int expected);
extern int	catalog_exec(const char *sql, int nargs, Oid *argtypes, Datum *args,
						 const char *nulls, int expected);

#endif							/* PROCFLOW_CATALOG_H */
