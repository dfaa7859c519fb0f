/*-------------------------------------------------------------------------
 *
 * api.h
 *	  Helpers shared by the SQL-callable functions: argument checks and
 *	  lookups of the caller's own processes.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_API_H
#define PROCFLOW_API_H

#include "fmgr.h"
#include "utils/array.h"
#include "datatype/timestamp.h"

#include "cache.h"

/* A process as the functions see it. */
typedef struct OwnedProcess
{
	int32		id;
	Oid			entity;			/* InvalidOid when entity-less */
	Oid			owner;
	int32		execution_order;
	int32		version;		/* a flow's current version; 0: a light process */
	bool		enabled;		/* as this statement's snapshot sees it */
} OwnedProcess;

extern Oid	api_check_entity(Oid relid, Oid owner);
extern char *api_text_arg(FunctionCallInfo fcinfo, int argno, const char *argname,
						  bool required);
extern void api_require_arg(FunctionCallInfo fcinfo, int argno, const char *argname);
extern int	api_interval_sign(Interval *value);
extern void api_check_delay(Interval *delay);
extern void api_lookup_process(const char *name, OwnedProcess *process, bool lock);
extern void api_find_process(const char *name, OwnedProcess *process);
extern void api_require_flow_catalog(void);

#endif							/* PROCFLOW_API_H */
