/*-------------------------------------------------------------------------
 *
 * process_api.c
 *	  SQL functions that define processes and their triggers:
 *	  create_process, alter_process, add_trigger, drop_trigger,
 *	  drop_process, enable_process and disable_process; the definition of
 *	  a process that create_flow shares.
 *
 * Everything is checked before anything is written, and each function is
 * one statement, so a refusal leaves nothing behind.  A role may bind a
 * process only to a table it owns; the process is owned by that role and
 * its actions always run as it.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/table.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "action.h"
#include "api.h"
#include "capture_triggers.h"
#include "batch.h"
#include "cron.h"
#include "catalog.h"
#include "flow_definition.h"
#include "flow_engine.h"
#include "process_api.h"
#include "queue.h"

PG_FUNCTION_INFO_V1(procflow_create_process);
PG_FUNCTION_INFO_V1(procflow_alter_process);
PG_FUNCTION_INFO_V1(procflow_add_trigger);
PG_FUNCTION_INFO_V1(procflow_drop_trigger);
PG_FUNCTION_INFO_V1(procflow_drop_process);
PG_FUNCTION_INFO_V1(procflow_enable_process);
PG_FUNCTION_INFO_V1(procflow_disable_process);

#define MAX_NAME_LENGTH 200

/* What an error context callback says while checking SQL text. */
typedef struct CheckContext
{
	const char *what;			/* "action" or "condition" */
	const char *process;
} CheckContext;

/* Error context: which part of which process was being checked. */
static void
check_error_context(void *arg)
{
	CheckContext *c = arg;

	errcontext("checking the %s of process \"%s\"", c->what, c->process);
}

/*
 * Every process an "exclude" list names must be one of the owner's
 * processes (or the process itself): a name that refers to nothing is a
 * mistake, which would silently exclude nothing.
 */
static void
check_exclude(const char *name, Datum exclude, Oid owner)
{
	Oid			argtypes[3] = {TEXTARRAYOID, TEXTOID, OIDOID};
	Datum		args[3] = {exclude, CStringGetTextDatum(name), ObjectIdGetDatum(owner)};
	char	   *missing;

	catalog_exec("SELECT n FROM pg_catalog.unnest($1) AS n"
				 " WHERE n <> $2 AND NOT EXISTS (SELECT 1 FROM procflow.process p"
				 "                               WHERE p.name = n AND p.owner = $3)"
				 " LIMIT 1",
				 3, argtypes, args, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return;
	missing = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("process \"%s\" named in \"exclude\" does not exist", missing),
			 errhint("Create it first; load_definitions creates the processes of a document before it sets what they exclude.")));
}

/*
 * Parse and analyse the action or condition as its owner would run it,
 * with the caller's search_path (which the process keeps), so that
 * mistakes are refused now.
 */
static void
check_sql(const char *process, const char *what, const char *sql, Oid rowtype, Oid owner)
{
	OwnerScope	scope;
	CheckContext ctx = {what, process};
	ErrorContextCallback errcb;
	SPIPlanPtr	plan;

	errcb.callback = check_error_context;
	errcb.arg = &ctx;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	action_enter_owner(owner, NULL, &scope);
	plan = action_prepare(sql, strcmp(what, "condition") == 0, rowtype);
	SPI_freeplan(plan);
	action_leave_owner(&scope);

	error_context_stack = errcb.previous;
}

/* A text[] argument without NULL or empty elements. */
static void
check_name_array(ArrayType *arr, const char *argname)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" must be a one-dimensional array", argname)));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" must not be an empty array", argname),
				 errhint("Pass NULL instead.")));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument \"%s\" must not contain nulls", argname)));
		if (VARSIZE_ANY_EXHDR(DatumGetPointer(elems[i])) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"%s\" must not contain empty names", argname)));
	}
}

/*
 * Refuse to move or drop a flow that another flow launches as a subflow:
 * in its current version, or in one that live instances run (the subflow
 * names it, and its key, given or not, names a row of its table).  "what"
 * is "move" or "drop".
 */
static void
check_not_launched(const char *name, int32 process_id, const char *what)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(process_id)};
	char	   *launcher;

	catalog_exec("SELECT p.name FROM procflow.process f"
				 "  JOIN procflow.process p ON p.owner = f.owner AND p.id <> f.id"
				 "  JOIN procflow.flow_version v ON v.process_id = p.id,"
				 "       pg_catalog.jsonb_each(v.definition -> 'activities') a"
				 " WHERE f.id = $1 AND p.kind = 'flow'"
				 "   AND a.value ->> 'kind' = 'subflow' AND a.value ->> 'flow' = f.name"
				 "   AND (v.version = p.version"
				 "        OR EXISTS (SELECT 1 FROM procflow.instance i"
				 "                    WHERE i.process_id = p.id AND i.version = v.version"
				 "                      AND i.finished_at IS NULL))"
				 " ORDER BY p.name LIMIT 1",
				 1, argtypes, args, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return;
	launcher = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (strcmp(what, "drop") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot drop flow \"%s\" because flow \"%s\" launches it as a subflow",
						name, launcher),
				 errhint("Give flow \"%s\" a version without that subflow (procflow.alter_flow), and let its instances finish, first.",
						 launcher)));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_IN_USE),
			 errmsg("the entity of flow \"%s\" cannot change while flow \"%s\" launches it as a subflow",
					name, launcher),
			 errdetail("The subflow names rows of its present table."),
			 errhint("Give flow \"%s\" a version without that subflow (procflow.alter_flow), and let its instances finish, first.",
					 launcher)));
}

/*
 * A process can move to another entity table (or none) only when nothing
 * refers to rows of the old one: no event triggers, no pending jobs, no
 * live instances, no flow that launches it as a subflow.
 */
static void
check_entity_change(const char *name, int32 process_id)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(process_id)};

	catalog_exec("SELECT 1 FROM procflow.trigger WHERE process_id = $1 AND event IS NOT NULL"
				 " UNION ALL SELECT 1 FROM procflow.job WHERE process_id = $1"
				 " UNION ALL SELECT 1 FROM procflow.job_batch WHERE process_id = $1"
				 " UNION ALL SELECT 1 FROM procflow.instance"
				 "            WHERE process_id = $1 AND finished_at IS NULL"
				 " LIMIT 1",
				 1, argtypes, args, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("the entity of process \"%s\" cannot change while it has event triggers, pending jobs or live instances",
						name),
				 errhint("Drop its event triggers, cancel or run its pending jobs, and terminate its instances, first.")));
	check_not_launched(name, process_id, "move");
}

/*
 * The current definition of a flow, read and checked again against the
 * table it is to be bound to (alter_process moving a flow to another
 * entity table), as its owner with the version's search_path.
 */
static void
recheck_flow(const char *name, int32 process_id, Oid entity, Oid owner)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(process_id)};
	bool		isnull;
	Jsonb	   *definition;
	ArrayType  *waits_on;

	catalog_exec("SELECT v.definition, v.search_path FROM procflow.flow_version v"
				 "  JOIN procflow.process p ON p.id = v.process_id AND p.version = v.version"
				 " WHERE p.id = $1",
				 1, argtypes, args, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		elog(ERROR, "flow \"%s\" has no current version", name);
	definition = DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1, &isnull));
	waits_on = flow_check_sql(flow_read(definition, name), name, entity, owner,
							  SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2));
	{
		Oid			argtypes2[2] = {INT4OID, REGCLASSARRAYOID};
		Datum		args2[2] = {Int32GetDatum(process_id), PointerGetDatum(waits_on)};

		catalog_exec("UPDATE procflow.flow_version v SET waits_on = $2"
					 "  FROM procflow.process p"
					 " WHERE p.id = $1 AND v.process_id = p.id AND v.version = p.version",
					 2, argtypes2, args2, waits_on ? NULL : " n", SPI_OK_UPDATE);
	}
	capture_triggers_sync_waits(waits_on);
}

/*
 * A process's definition as create_process, alter_process and create_flow
 * were given it, checked (process_api_define).
 */
typedef struct Definition
{
	bool		alter;			/* alter_process: change the caller's process */
	bool		flow;			/* create_flow */
	char	   *name;
	Oid			entity;			/* InvalidOid for none */
	char	   *action;			/* NULL for a flow (or not given to alter) */
	Jsonb	   *definition;		/* a flow's document, else NULL */
	FlowDefinition *flowdef;
	char	   *label;
	char	   *condition;
	Datum		execution_order;
	bool		enabled_null;
	Datum		enabled;
	int32		max_attempts;
	bool		timeout_null;
	Datum		timeout;
	bool		exclude_null;
	Datum		exclude;
	OwnedProcess existing;		/* alter: the process as it is */
	Oid			owner;			/* whose rights the SQL is checked with */
	ArrayType  *waits_on;		/* a flow's: the tables its waits listen to */
} Definition;

/* Read the arguments, refusing the bad ones that need no catalog. */
static void
read_definition(FunctionCallInfo fcinfo, Definition *d)
{
	d->name = api_text_arg(fcinfo, 0, "name", true);
	d->entity = PG_ARGISNULL(1) ? InvalidOid : PG_GETARG_OID(1);
	if (d->flow)
	{
		api_require_arg(fcinfo, 2, "definition");
		d->definition = PG_GETARG_JSONB_P(2);
		api_require_flow_catalog();
	}
	else
		d->action = api_text_arg(fcinfo, 2, "action", !d->alter);
	api_require_arg(fcinfo, 3, "execution_order");
	d->execution_order = PG_GETARG_DATUM(3);
	d->label = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));
	d->condition = api_text_arg(fcinfo, 5, "condition", false);
	if (!d->alter)
		api_require_arg(fcinfo, 6, "enabled");
	d->enabled_null = PG_ARGISNULL(6);
	d->enabled = d->enabled_null ? (Datum) 0 : PG_GETARG_DATUM(6);
	api_require_arg(fcinfo, 7, "max_attempts");

	if (strlen(d->name) > MAX_NAME_LENGTH)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("process name is too long"),
				 errdetail("Names have at most %d bytes.", MAX_NAME_LENGTH)));
	d->max_attempts = PG_GETARG_INT32(7);
	if (d->max_attempts < 1 || d->max_attempts > 1000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_attempts must be between 1 and 1000")));
	d->timeout_null = PG_ARGISNULL(8);
	d->timeout = d->timeout_null ? (Datum) 0 : PG_GETARG_DATUM(8);
	if (!d->timeout_null && api_interval_sign(DatumGetIntervalP(d->timeout)) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must be positive")));
	d->exclude_null = PG_ARGISNULL(9);
	d->exclude = d->exclude_null ? (Datum) 0 : PG_GETARG_DATUM(9);
	if (!d->exclude_null)
		check_name_array(DatumGetArrayTypeP(d->exclude), "exclude");
}

/*
 * Check the definition against the catalog and the tables, as the owner:
 * the process to alter, the entity, the exclusions, the SQL.  Needs an SPI
 * connection.
 */
static void
check_definition(Definition *d)
{
	Oid			rowtype = RECORDOID;

	/* another role's process does not exist for the caller, whatever else */
	if (d->alter)
	{
		api_find_process(d->name, &d->existing);
		if (process_is_flow(&d->existing) && d->action != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("process \"%s\" is a flow, which has no action", d->name),
					 errhint("Pass NULL as the action; procflow.alter_flow() changes a flow's activities.")));
		if (!process_is_flow(&d->existing) && d->action == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument \"action\" must not be null")));
	}
	if (d->flow)
		d->flowdef = flow_read(d->definition, d->name);
	/* alter_process by a member of the owner: checked as the owner */
	d->owner = d->alter ? d->existing.owner : GetUserId();
	if (OidIsValid(d->entity))
		rowtype = api_check_entity(d->entity, d->owner);
	if (d->alter && d->existing.entity != d->entity)
		check_entity_change(d->name, d->existing.id);
	if (!d->exclude_null)
		check_exclude(d->name, d->exclude, d->owner);

	if (d->flow)
		d->waits_on = flow_check_sql(d->flowdef, d->name, d->entity, d->owner, NULL);
	else if (d->action != NULL)
		check_sql(d->name, "action", d->action, rowtype, d->owner);
	else if (d->existing.entity != d->entity)
		recheck_flow(d->name, d->existing.id, d->entity, d->owner);
	if (d->condition != NULL)
		check_sql(d->name, "condition", d->condition, rowtype, d->owner);

	if (!d->alter)
	{
		Oid			name_types[2] = {TEXTOID, OIDOID};
		Datum		name_args[2] = {CStringGetTextDatum(d->name),
		ObjectIdGetDatum(GetUserId())};

		/* names are per owner: only the caller's own names are taken */
		catalog_exec("SELECT 1 FROM procflow.process WHERE name = $1 AND owner = $2",
					 2, name_types, name_args, NULL, SPI_OK_SELECT);
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("process \"%s\" already exists", d->name),
					 errhint("Choose another name, drop the existing process first, or change it with procflow.alter_process().")));
	}
}

/* A text datum of a C string, or a null. */
static void
text_param(Datum *args, char *nulls, int i, const char *s)
{
	args[i] = s ? CStringGetTextDatum(s) : (Datum) 0;
	nulls[i] = s ? ' ' : 'n';
}

/*
 * Write a checked definition: insert a light process, or a flow with its
 * first version, or update the caller's process of that name in place.
 * The statements' parameters are the process's columns, in their order.
 */
static void
write_definition(Definition *d)
{
	Oid			argtypes[16] = {TEXTOID, TEXTOID, OIDOID, TEXTOID, TEXTOID, INT4OID,
		BOOLOID, INT4OID, INTERVALOID, TEXTARRAYOID, OIDOID, NAMEOID, TEXTOID, INT4OID,
	JSONBOID, REGCLASSARRAYOID};
	Datum		args[16];
	char		nulls[16];

	memset(nulls, ' ', sizeof(nulls));
	text_param(args, nulls, 0, d->name);
	text_param(args, nulls, 1, d->label);
	args[2] = ObjectIdGetDatum(d->entity);
	nulls[2] = OidIsValid(d->entity) ? ' ' : 'n';
	text_param(args, nulls, 3, d->action);
	text_param(args, nulls, 4, d->condition);
	args[5] = d->execution_order;
	args[6] = d->enabled;
	nulls[6] = d->enabled_null ? 'n' : ' ';
	args[7] = Int32GetDatum(d->max_attempts);
	args[8] = d->timeout;
	nulls[8] = d->timeout_null ? 'n' : ' ';
	args[9] = d->exclude;
	nulls[9] = d->exclude_null ? 'n' : ' ';
	args[10] = ObjectIdGetDatum(GetUserId());
	args[11] = DirectFunctionCall1(namein, CStringGetDatum(GetUserNameFromId(GetUserId(), false)));
	args[12] = CStringGetTextDatum(namespace_search_path);
	args[13] = Int32GetDatum(d->alter ? d->existing.id : 0);
	args[14] = d->definition ? JsonbPGetDatum(d->definition) : (Datum) 0;
	nulls[14] = d->definition ? ' ' : 'n';
	args[15] = PointerGetDatum(d->waits_on);
	nulls[15] = d->waits_on ? ' ' : 'n';
	if (!d->alter && !d->flow)
		catalog_exec("INSERT INTO procflow.process (name, label, entity, action, condition,"
					 "  execution_order, enabled, max_attempts, timeout, exclude, owner,"
					 "  owner_name, search_path)"
					 " VALUES ($1, $2, $3::regclass, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
					 13, argtypes, args, nulls, SPI_OK_INSERT);
	else if (!d->alter)
		catalog_exec("WITH p AS ("
					 "  INSERT INTO procflow.process (name, label, entity, condition,"
					 "    execution_order, enabled, max_attempts, timeout, exclude, owner,"
					 "    owner_name, search_path, kind, version)"
					 "  VALUES ($1, $2, $3::regclass, $5, $6, $7, $8, $9, $10, $11, $12, $13,"
					 "          'flow', 1)"
					 "  RETURNING id)"
					 " INSERT INTO procflow.flow_version (process_id, version, definition,"
					 "                                    search_path, waits_on)"
					 " SELECT id, 1, $15, $13, $16 FROM p",
					 16, argtypes, args, nulls, SPI_OK_INSERT);
	else
		catalog_exec("UPDATE procflow.process"
					 "   SET label = $2, entity = $3::regclass, action = $4, condition = $5,"
					 "       execution_order = $6, enabled = coalesce($7, enabled),"
					 "       max_attempts = $8, timeout = $9, exclude = $10,"
					 "       search_path = $13, updated_at = now()"
					 " WHERE id = $14"
					 "   AND (label, entity, action, condition, execution_order, enabled,"
					 "        max_attempts, timeout, exclude, search_path)"
					 "       IS DISTINCT FROM ($2, $3::regclass, $4, $5, $6, coalesce($7, enabled),"
					 "                         $8, $9, $10, $13)",
					 14, argtypes, args, nulls, SPI_OK_UPDATE);
}

/*
 * Check the arguments of create_process, create_flow or alter_process
 * (which have the same ones, but for a flow's definition in the place of
 * the action; alter_process's enabled may be NULL, to keep it) and write
 * the process: insert it as the caller's, a flow with its first version,
 * or update the caller's process of that name in place, keeping its owner,
 * triggers and jobs, and a flow's versions.
 */
void
process_api_define(FunctionCallInfo fcinfo, bool alter, bool flow)
{
	Definition	d;

	memset(&d, 0, sizeof(d));
	d.alter = alter;
	d.flow = flow;
	read_definition(fcinfo, &d);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	check_definition(&d);
	write_definition(&d);
	capture_triggers_sync_waits(d.waits_on);
	SPI_finish();
}

/*
 * procflow.create_process(name, entity, action, execution_order, label,
 *						   condition, enabled, max_attempts, timeout, exclude)
 */
Datum
procflow_create_process(PG_FUNCTION_ARGS)
{
	process_api_define(fcinfo, false, false);
	PG_RETURN_VOID();
}

/*
 * procflow.alter_process(name, entity, action, execution_order, label,
 *						  condition, enabled, max_attempts, timeout, exclude):
 * the caller's process takes these attributes; a NULL enabled keeps its
 * flag.  Nothing is written when nothing changes.
 */
Datum
procflow_alter_process(PG_FUNCTION_ARGS)
{
	process_api_define(fcinfo, true, false);
	PG_RETURN_VOID();
}

/*
 * Insert a trigger row with this statement ($1 is the process id, the
 * first argument of both kinds) and mark its process updated; returns the
 * trigger id.
 */
static int64
insert_trigger(const char *sql, int nargs, Oid *argtypes, Datum *args, const char *nulls)
{
	bool		isnull;
	int64		trigger_id;

	catalog_exec(sql, nargs, argtypes, args, nulls, SPI_OK_INSERT_RETURNING);
	trigger_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 1, &isnull));
	catalog_exec("UPDATE procflow.process SET updated_at = now() WHERE id = $1",
				 1, argtypes, args, NULL, SPI_OK_UPDATE);
	return trigger_id;
}

/*
 * add_trigger with a cron schedule: the process (with or without an entity)
 * runs at the schedule's times, as queued jobs without a row.
 */
static Datum
add_cron_trigger(FunctionCallInfo fcinfo, const char *process_name)
{
	char	   *cron = api_text_arg(fcinfo, 6, "cron", true);
	OwnedProcess process;
	CronSchedule schedule;
	Oid			argtypes[4] = {INT4OID, INT4OID, TEXTOID, TIMESTAMPTZOID};
	Datum		args[4];
	int64		trigger_id;

	if (!PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a trigger has an event or a cron schedule, not both"),
				 errhint("Add two triggers.")));
	if (!PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("fields apply only to update triggers")));
	if (!PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a cron trigger takes no delay"),
				 errhint("Shift the schedule instead.")));
	api_require_arg(fcinfo, 3, "queued");
	api_require_arg(fcinfo, 5, "priority");
	cron_parse(cron, &schedule);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	api_find_process(process_name, &process);

	args[0] = Int32GetDatum(process.id);
	args[1] = PG_GETARG_DATUM(5);
	args[2] = CStringGetTextDatum(cron);
	args[3] = TimestampTzGetDatum(cron_next(&schedule, GetCurrentTimestamp(), NULL));
	trigger_id = insert_trigger("INSERT INTO procflow.trigger (process_id, queued, priority, cron, next_run_at)"
								" VALUES ($1, true, $2, $3, $4) RETURNING id",
								4, argtypes, args, NULL);

	SPI_finish();
	PG_RETURN_INT64(trigger_id);
}

/*
 * procflow.add_trigger(process, event, fields, queued, delay, priority, cron)
 */
Datum
procflow_add_trigger(PG_FUNCTION_ARGS)
{
	char	   *process_name = api_text_arg(fcinfo, 0, "process", true);
	char	   *event;
	bool		queued;
	OwnedProcess process;
	Oid			argtypes[6] = {INT4OID, TEXTOID, TEXTARRAYOID, BOOLOID, INTERVALOID, INT4OID};
	Datum		args[6];
	char		nulls[6] = {' ', ' ', 'n', ' ', 'n', ' '};
	int64		trigger_id;

	if (!PG_ARGISNULL(6))
		return add_cron_trigger(fcinfo, process_name);
	event = api_text_arg(fcinfo, 1, "event", true);
	if (strcmp(event, "create") != 0 && strcmp(event, "update") != 0 &&
		strcmp(event, "delete") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid event \"%s\"", event),
				 errhint("The events are create, update and delete.")));
	api_require_arg(fcinfo, 3, "queued");
	api_require_arg(fcinfo, 5, "priority");
	queued = PG_GETARG_BOOL(3);

	if (!PG_ARGISNULL(4))
	{
		api_check_delay(PG_GETARG_INTERVAL_P(4));
		queued = true;			/* a delayed run is a queued one */
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	api_find_process(process_name, &process);

	if (!OidIsValid(process.entity))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("process \"%s\" has no entity, so it has no %s events",
						process_name, event),
				 errhint("Start it with procflow.run_process().")));
	(void) api_check_entity(process.entity, process.owner);

	if (!PG_ARGISNULL(2))
	{
		ArrayType  *fields = PG_GETARG_ARRAYTYPE_P(2);
		Datum	   *elems;
		bool	   *elemnulls;
		int			n;

		if (strcmp(event, "update") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("fields apply only to update triggers")));
		check_name_array(fields, "fields");
		deconstruct_array(fields, TEXTOID, -1, false, TYPALIGN_INT, &elems, &elemnulls, &n);
		for (int i = 0; i < n; i++)
		{
			char	   *field = TextDatumGetCString(elems[i]);

			if (get_attnum(process.entity, field) <= 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("column \"%s\" of relation \"%s\" does not exist",
								field, get_rel_name(process.entity))));
		}
		args[2] = PointerGetDatum(fields);
		nulls[2] = ' ';
	}

	args[0] = Int32GetDatum(process.id);
	args[1] = CStringGetTextDatum(event);
	args[3] = BoolGetDatum(queued);
	if (!PG_ARGISNULL(4))
	{
		args[4] = PG_GETARG_DATUM(4);
		nulls[4] = ' ';
	}
	args[5] = PG_GETARG_DATUM(5);
	trigger_id = insert_trigger("INSERT INTO procflow.trigger (process_id, event, fields, queued, delay, priority)"
								" VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
								6, argtypes, args, nulls);
	capture_triggers_sync(process.entity);

	SPI_finish();
	PG_RETURN_INT64(trigger_id);
}

/*
 * procflow.drop_trigger(id)
 */
Datum
procflow_drop_trigger(PG_FUNCTION_ARGS)
{
	int64		trigger_id;
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1];
	bool		isnull;
	Oid			owner = InvalidOid;
	Oid			entity = InvalidOid;
	int32		process_id = 0;

	api_require_arg(fcinfo, 0, "id");
	trigger_id = PG_GETARG_INT64(0);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	args[0] = Int64GetDatum(trigger_id);
	catalog_exec("SELECT p.owner::oid, p.entity::oid, p.id"
				 "  FROM procflow.trigger t JOIN procflow.process p ON p.id = t.process_id"
				 " WHERE t.id = $1 FOR UPDATE OF t",
				 1, argtypes, args, NULL, SPI_OK_SELECT);
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Datum		d;

		owner = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		d = SPI_getbinval(tup, desc, 2, &isnull);
		entity = isnull ? InvalidOid : DatumGetObjectId(d);
		process_id = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
	}
	if (!OidIsValid(owner) || !has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("trigger " INT64_FORMAT " does not exist", trigger_id)));

	catalog_exec("DELETE FROM procflow.trigger WHERE id = $1",
				 1, argtypes, args, NULL, SPI_OK_DELETE);
	{
		Oid			argtypes2[1] = {INT4OID};
		Datum		args2[1] = {Int32GetDatum(process_id)};

		catalog_exec("UPDATE procflow.process SET updated_at = now() WHERE id = $1",
					 1, argtypes2, args2, NULL, SPI_OK_UPDATE);
	}
	capture_triggers_sync(entity);

	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * Lock a process's row and its flow versions as for a change of their
 * keys, and the process as an object: wait for the transactions that are
 * launching its instances (they hold key-share locks through their foreign
 * keys) or have queued its jobs (collect.c locks the process), and keep
 * new ones out, so that what is read next includes everything they
 * committed.
 */
static void
lock_process(int32 process_id)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(process_id)};

	LockDatabaseObject(catalog_oids()->process, process_id, 0, ExclusiveLock);

	catalog_exec("SELECT 1 FROM procflow.process WHERE id = $1 FOR UPDATE",
				 1, argtypes, args, NULL, SPI_OK_SELECT);
	catalog_exec("SELECT 1 FROM procflow.flow_version WHERE process_id = $1 FOR UPDATE",
				 1, argtypes, args, NULL, SPI_OK_SELECT);
}

/*
 * procflow.drop_process(name): the process, its triggers, its pending jobs
 * and its history; a flow's versions and finished instances.  A flow with
 * live instances is refused: they would be lost in the middle of their
 * work.
 */
Datum
procflow_drop_process(PG_FUNCTION_ARGS)
{
	char	   *name = api_text_arg(fcinfo, 0, "name", true);
	OwnedProcess process;
	ArrayType  *waits_on;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1];

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	api_find_process(name, &process);
	lock_process(process.id);

	args[0] = Int32GetDatum(process.id);
	catalog_exec("SELECT count(*)::int8 FROM procflow.instance"
				 " WHERE process_id = $1 AND finished_at IS NULL",
				 1, argtypes, args, NULL, SPI_OK_SELECT);
	{
		bool		isnull;
		int64		live = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
													   SPI_tuptable->tupdesc, 1, &isnull));

		if (live > 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg_plural("flow \"%s\" has " INT64_FORMAT " live instance",
								   "flow \"%s\" has " INT64_FORMAT " live instances",
								   live, name, live),
					 errhint("Terminate them first, for example with procflow.disable_process(name, cancel_pending => true).")));
	}
	if (process_is_flow(&process))
		check_not_launched(name, process.id, "drop");
	catalog_exec("SELECT pg_catalog.array_agg(DISTINCT t)::pg_catalog.regclass[]"
				 "  FROM procflow.flow_version v, pg_catalog.unnest(v.waits_on) t"
				 " WHERE v.process_id = $1",
				 1, argtypes, args, NULL, SPI_OK_SELECT);
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		waits_on = isnull ? NULL : DatumGetArrayTypePCopy(d);
	}
	catalog_exec("DELETE FROM procflow.job WHERE process_id = $1",
				 1, argtypes, args, NULL, SPI_OK_DELETE);
	catalog_exec("DELETE FROM procflow.finished_job WHERE process_id = $1",
				 1, argtypes, args, NULL, SPI_OK_DELETE);
	catalog_exec("DELETE FROM procflow.job_batch WHERE process_id = $1",
				 1, argtypes, args, NULL, SPI_OK_DELETE);
	catalog_exec("DELETE FROM procflow.process WHERE id = $1",
				 1, argtypes, args, NULL, SPI_OK_DELETE);
	capture_triggers_sync(process.entity);
	capture_triggers_sync_waits(waits_on);

	SPI_finish();
	PG_RETURN_VOID();
}

/* Set a process's enabled flag. */
static void
set_enabled(const char *name, bool enabled, bool cancel_pending)
{
	OwnedProcess process;
	Oid			argtypes[2] = {INT4OID, BOOLOID};
	Datum		args[2];

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	api_find_process(name, &process);
	/* instances launched concurrently are cancelled too, once committed */
	if (cancel_pending)
		lock_process(process.id);

	args[0] = Int32GetDatum(process.id);
	args[1] = BoolGetDatum(enabled);
	catalog_exec("UPDATE procflow.process SET enabled = $2, updated_at = now()"
				 " WHERE id = $1 AND enabled <> $2",
				 2, argtypes, args, NULL, SPI_OK_UPDATE);
	/* an enabled schedule resumes at its next time, skipping what it missed */
	if (enabled && SPI_processed > 0)
		catalog_exec("UPDATE procflow.trigger"
					 "   SET next_run_at = procflow.cron_next(cron, pg_catalog.clock_timestamp())"
					 " WHERE process_id = $1 AND cron IS NOT NULL",
					 1, argtypes, args, NULL, SPI_OK_UPDATE);
	if (cancel_pending && process_is_flow(&process))
		flow_engine_terminate_flow(process.id);
	if (cancel_pending)
	{
		PrivilegedScope scope;
		Datum		ids = PointerGetDatum(construct_array(&args[0], 1, INT4OID, 4, true,
														  TYPALIGN_INT));

		catalog_enter_privileged(&scope);
		batch_materialize_processes(ids, false);
		catalog_leave_privileged(&scope);
		/* jobs an executor holds have started: they are not pending */
		catalog_exec("DELETE FROM procflow.job"
					 " WHERE id IN (SELECT id FROM procflow.job WHERE process_id = $1"
					 "               FOR UPDATE SKIP LOCKED)"
					 " RETURNING *",
					 1, argtypes, args, NULL, SPI_OK_DELETE_RETURNING);
		queue_cancel_deleted(SPI_tuptable, SPI_processed,
							 "cancelled when the process was disabled");
	}
	SPI_finish();
}

/*
 * procflow.enable_process(name)
 */
Datum
procflow_enable_process(PG_FUNCTION_ARGS)
{
	set_enabled(api_text_arg(fcinfo, 0, "name", true), true, false);
	PG_RETURN_VOID();
}

/*
 * procflow.disable_process(name, cancel_pending): stop new events and hold
 * the pending jobs, or cancel them.
 */
Datum
procflow_disable_process(PG_FUNCTION_ARGS)
{
	char	   *name = api_text_arg(fcinfo, 0, "name", true);

	api_require_arg(fcinfo, 1, "cancel_pending");
	set_enabled(name, false, PG_GETARG_BOOL(1));
	PG_RETURN_VOID();
}
