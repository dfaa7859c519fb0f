/*-------------------------------------------------------------------------
 *
 * api.c
 *	  Helpers shared by procflow's SQL-callable functions.
 *
 * The functions run as the calling role.  They check arguments here,
 * refusing bad ones with a SQLSTATE before anything is written, and find
 * processes only among those the caller owns (or has the privileges of):
 * to any other role, another's process does not exist.  Process names are
 * per owner.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "catalog/catalog.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "api.h"
#include "catalog.h"

/* Longest delay of a trigger or run_process. */
#define MAX_DELAY_YEARS 100

/*
 * Check an entity table: a permanent table (not a view or the like, nor a
 * temporary table, which would be gone with the session while its jobs
 * wait), owned by the process's owner (or a role it has the privileges
 * of), with a primary key.  Returns its row type.
 */
Oid
api_check_entity(Oid relid, Oid owner)
{
	Relation	rel;
	Oid			rowtype;

	rel = relation_open(relid, AccessShareLock);
	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", RelationGetRelationName(rel)),
				 errdetail("Processes are bound to ordinary or partitioned tables.")));
	if (rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a temporary table", RelationGetRelationName(rel)),
				 errdetail("A temporary table is gone with its session, while the jobs of its rows would wait for executors.")));
	if (IsCatalogRelation(rel) ||
		RelationGetNamespace(rel) == catalog_oids()->namespace)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("processes cannot be bound to \"%s\"", RelationGetRelationName(rel)),
				 errdetail("Processes cannot be bound to system catalogs or to procflow's own tables.")));
	if (!pg_class_ownercheck(relid, owner))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, RelationGetRelationName(rel));
	if (!OidIsValid(RelationGetPrimaryKeyIndex(rel)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
				 errmsg("table \"%s\" has no primary key", RelationGetRelationName(rel)),
				 errdetail("procflow identifies the rows of an entity table by their primary key."),
				 errhint("Add a primary key with ALTER TABLE ... ADD PRIMARY KEY.")));
	rowtype = rel->rd_rel->reltype;
	relation_close(rel, AccessShareLock);
	return rowtype;
}

/* Refuse a NULL for an argument that must have a value. */
void
api_require_arg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be null", argname)));
}

/*
 * A text argument as a C string; NULL when it is NULL and not required.
 * Empty or blank strings are refused either way.
 */
char *
api_text_arg(FunctionCallInfo fcinfo, int argno, const char *argname,
			 bool required)
{
	char	   *value;
	const char *p;

	if (required)
		api_require_arg(fcinfo, argno, argname);
	if (PG_ARGISNULL(argno))
		return NULL;
	value = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	for (p = value; *p && isspace((unsigned char) *p); p++)
		;
	if (*p == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" must not be empty", argname)));
	return value;
}

/* Compare an interval with zero: negative, zero or positive. */
int
api_interval_sign(Interval *value)
{
	Interval	zero = {0, 0, 0};

	return DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(value),
											 IntervalPGetDatum(&zero)));
}

/*
 * Refuse a negative delay, and one so long that the run time could leave
 * the timestamp range (which would fail the writing statements instead).
 */
void
api_check_delay(Interval *delay)
{
	Interval	longest;

	if (api_interval_sign(delay) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("delay must not be negative")));
	memset(&longest, 0, sizeof(longest));
	longest.month = MAX_DELAY_YEARS * MONTHS_PER_YEAR;
	if (DatumGetBool(DirectFunctionCall2(interval_gt, IntervalPGetDatum(delay),
										 IntervalPGetDatum(&longest))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("delay must be at most %d years", MAX_DELAY_YEARS)));
}

/* The query of api_lookup_process, without or with its row lock. */
#define LOOKUP_PROCESS_QUERY \
	"SELECT id, entity::oid, owner, execution_order, coalesce(version, 0), enabled" \
	"  FROM procflow.process" \
	" WHERE name = $1 AND (owner = $2 OR pg_catalog.pg_has_role($2, owner, 'USAGE'))" \
	" ORDER BY owner = $2 DESC, id" \
	" LIMIT 2"

/*
 * Find a process by name, locking its row when it is to be changed.  Names
 * are per owner: a name is the current role's process of that name; when
 * the current role has none, the one process of that name among the roles
 * whose privileges it has (superusers: all roles), and an error if there
 * are several (SET ROLE to the owner says which).  Another role's process
 * is otherwise reported as not existing.
 */
void
api_lookup_process(const char *name, OwnedProcess *process, bool lock)
{
	Oid			argtypes[2] = {TEXTOID, OIDOID};
	Datum		args[2];
	bool		isnull;
	HeapTuple	tup;
	TupleDesc	desc;
	Datum		d;

	args[0] = CStringGetTextDatum(name);
	args[1] = ObjectIdGetDatum(GetUserId());
	catalog_exec(lock ? LOOKUP_PROCESS_QUERY " FOR UPDATE" : LOOKUP_PROCESS_QUERY,
				 2, argtypes, args, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("process \"%s\" does not exist", name)));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	process->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
	if (SPI_processed > 1 && process->owner != GetUserId())
		ereport(ERROR,
				(errcode(ERRCODE_AMBIGUOUS_FUNCTION),
				 errmsg("process name \"%s\" is ambiguous", name),
				 errdetail("Several roles whose privileges you have own a process of that name."),
				 errhint("SET ROLE to the owner of the one you mean.")));
	process->id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
	d = SPI_getbinval(tup, desc, 2, &isnull);
	process->entity = isnull ? InvalidOid : DatumGetObjectId(d);
	process->execution_order = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
	process->version = DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull));
	process->enabled = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
}

/* Find a process by name, to change it: see api_lookup_process. */
void
api_find_process(const char *name, OwnedProcess *process)
{
	api_lookup_process(name, process, true);
}

/*
 * Refuse to define or run flows in a database whose extension is older
 * than the library (0.2 or 0.3, before ALTER EXTENSION UPDATE): its tables
 * cannot hold what this version of flows needs.
 */
void
api_require_flow_catalog(void)
{
	if (!catalog_oids()->has_flows)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"procflow\" in this database is older than its library"),
				 errdetail("Flows need the tables of version 0.5."),
				 errhint("Run ALTER EXTENSION procflow UPDATE.")));
}
