/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  Locating procflow's catalog tables and acting on them.
 *
 * Ordinary roles have no privileges on procflow.process, procflow.trigger,
 * procflow.job (and its partitions), procflow.finished_job and
 * procflow.job_batch.  procflow's functions check what the calling role may
 * do, then read and write those tables as the extension's owner, switching
 * the current user only for that (as a SECURITY DEFINER function would,
 * but keeping the caller's identity at hand for the checks).
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "catalog.h"


static CatalogOids oids;
static bool oids_valid = false;

/* Owner of a relation, from the syscache. */
static Oid
relation_owner(Oid relid)
{
	HeapTuple	tup;
	Oid			owner;

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Look up the catalog tables, or return NULL when the extension is not
 * installed in this database.  The result is cached until one of the tables
 * is invalidated (which DROP EXTENSION does).
 */
const CatalogOids *
catalog_oids_if_installed(void)
{
	if (oids_valid)
		return &oids;

	oids.namespace = get_namespace_oid("procflow", true);
	if (!OidIsValid(oids.namespace))
		return NULL;
	oids.process = get_relname_relid("process", oids.namespace);
	oids.trigger = get_relname_relid("trigger", oids.namespace);
	oids.job = get_relname_relid("job", oids.namespace);
	oids.job_id_seq = get_relname_relid("job_id_seq", oids.namespace);
	oids.job_batch = get_relname_relid("job_batch", oids.namespace);
	oids.finished_job = get_relname_relid("finished_job", oids.namespace);
	oids.instance = get_relname_relid("instance", oids.namespace);
	oids.activity = get_relname_relid("activity", oids.namespace);
	oids.activity_id_seq = get_relname_relid("activity_id_seq", oids.namespace);
	oids.activity_instance_idx = get_relname_relid("activity_instance_id_idx", oids.namespace);
	if (!OidIsValid(oids.process) || !OidIsValid(oids.trigger) ||
		!OidIsValid(oids.job) || !OidIsValid(oids.job_id_seq) ||
		!OidIsValid(oids.job_batch) || !OidIsValid(oids.finished_job))
		return NULL;
	for (int i = 0; i < JOB_PARTITIONS; i++)
	{
		char		name[NAMEDATALEN];

		snprintf(name, sizeof(name), "job_%d", i);
		oids.job_partitions[i] = get_relname_relid(name, oids.namespace);
		if (!OidIsValid(oids.job_partitions[i]))
			return NULL;
	}
	/* the tables of an older version, before ALTER EXTENSION ... UPDATE */
	if (get_attnum(oids.process, "owner_name") == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"procflow\" in this database is older than its library"),
				 errhint("Run ALTER EXTENSION procflow UPDATE.")));
	if (!OidIsValid(get_relname_relid("instance", oids.namespace)) ||
		get_attnum(oids.job, "event_table") == InvalidAttrNumber)
		oids.level = CATALOG_BEFORE_FLOWS;
	else if (get_attnum(oids.job, "new_row") == InvalidAttrNumber)
		oids.level = CATALOG_FLOWS_0_4;
	else
		oids.level = CATALOG_CURRENT;
	oids.has_flows = oids.level == CATALOG_CURRENT;
	oids.owner = relation_owner(oids.process);
	oids_valid = true;
	return &oids;
}

/* Like catalog_oids_if_installed, but an error when not installed. */
const CatalogOids *
catalog_oids(void)
{
	const CatalogOids *result = catalog_oids_if_installed();

	if (result == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"procflow\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION procflow.")));
	return result;
}

/* Relcache callback hook: forget the OIDs when a catalog table changes. */
void
catalog_invalidate(Oid relid)
{
	if (!oids_valid)
		return;
	if (relid == InvalidOid || relid == oids.process || relid == oids.trigger ||
		relid == oids.job || relid == oids.job_batch || relid == oids.finished_job ||
		relid == oids.instance || relid == oids.activity)
		oids_valid = false;
}

/*
 * Act as the owner of procflow's tables until catalog_leave_privileged,
 * with search_path fixed to pg_catalog (then pg_temp), as a SECURITY
 * DEFINER function with SET search_path would: the caller's search_path
 * must not resolve a name in a statement that runs with the owner's rights.
 * JIT is off: these statements are short, and compiling one costs more than
 * running it.
 */
void
catalog_enter_privileged(PrivilegedScope *scope)
{
	identity_enter(catalog_oids()->owner, false, IDENTITY_SAFE_SEARCH_PATH, scope);
	(void) set_config_option("jit", "off",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/*
 * In a privileged scope, plan without sequential scans.  For the queue's
 * statements that find jobs through an index: their plans are kept for the
 * life of a backend, and one made while the queue was nearly empty must not
 * scan the whole table once it holds a million jobs.
 */
void
catalog_prefer_indexes(void)
{
	(void) set_config_option("enable_seqscan", "off",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/* Return to the identity and settings saved by catalog_enter_privileged. */
void
catalog_leave_privileged(PrivilegedScope *scope)
{
	identity_leave(scope);
}

/*
 * Tell every session that definitions changed: a relcache invalidation of
 * procflow.process, sent at commit, makes each session's relcache callback
 * mark its rule cache stale.
 */
void
catalog_announce_change(void)
{
	CacheInvalidateRelcacheByRelid(catalog_oids()->process);
}

/*
 * Keep the owner names of processes those of their roles (by OID): after
 * ALTER ROLE ... RENAME, a dump must name the role by its new name.  The
 * caller holds an SPI connection.
 */
void
catalog_refresh_owner_names(void)
{
	catalog_exec("UPDATE procflow.process p SET owner_name = r.rolname"
				 "  FROM pg_catalog.pg_roles r"
				 " WHERE r.oid = p.owner AND p.owner_name <> r.rolname",
				 0, NULL, NULL, NULL, SPI_OK_UPDATE);
}

/*
 * Run one statement on procflow's tables as the extension owner; it must
 * return the SPI code "expected".  The caller holds an SPI connection.
 */
int
catalog_exec(const char *sql, int nargs, Oid *argtypes, Datum *args,
			 const char *nulls, int expected)
{
	PrivilegedScope scope;
	int			ret;

	catalog_enter_privileged(&scope);
	ret = SPI_execute_with_args(sql, nargs, argtypes, args, nulls, false, 0);
	catalog_leave_privileged(&scope);
	if (ret != expected)
		elog(ERROR, "procflow catalog statement failed: %s: %s",
			 SPI_result_code_string(ret), sql);
	return ret;
}

/*
 * Like catalog_exec, with the statement prepared once and kept in *plan
 * (see catalog_keep_plan), and so planned without sequential scans (see
 * catalog_prefer_indexes): for the statements of the flow engine, and of
 * functions called once per row, such as cancel_job over a list of jobs.
 */
int
catalog_exec_kept(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes,
				  Datum *args, const char *nulls, int expected)
{
	PrivilegedScope scope;
	int			ret;

	catalog_enter_privileged(&scope);
	catalog_prefer_indexes();
	catalog_keep_plan(plan, sql, nargs, argtypes);
	ret = SPI_execute_plan(*plan, args, nulls, false, 0);
	catalog_leave_privileged(&scope);
	if (ret != expected)
		elog(ERROR, "procflow catalog statement failed: %s: %s",
			 SPI_result_code_string(ret), sql);
	return ret;
}

/*
 * Prepare a statement on procflow's tables once and keep it for the life of
 * the backend, in *plan.  It is to be run as the extension owner, see
 * catalog_enter_privileged.  PostgreSQL chooses a custom plan for each
 * run while it finds the generic one dearer; catalog_keep_generic_plan is
 * for statements run every round whose plan does not depend on their
 * parameters' values, which would otherwise be planned again each time.
 */
static SPIPlanPtr
keep_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes, int options)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare_cursor(sql, nargs, argtypes, options);

		if (p == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*plan = p;
	}
	return *plan;
}

SPIPlanPtr
catalog_keep_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes)
{
	return keep_plan(plan, sql, nargs, argtypes, 0);
}

SPIPlanPtr
catalog_keep_generic_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes)
{
	return keep_plan(plan, sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);
}
