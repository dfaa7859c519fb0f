/*-------------------------------------------------------------------------
 *
 * flow_api.c
 *	  SQL functions of flows: create_flow, alter_flow and flow_graph.
 *
 * A flow is a process (see process_api.c) whose work is a graph of
 * activities, kept in versions: create_flow writes version 1, alter_flow
 * the next one when the definition changes, and every version stays, for
 * the instances that started with it and for its picture.  Definitions are
 * checked by flow_definition.c before anything is written.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "api.h"
#include "capture_triggers.h"
#include "catalog.h"
#include "flow_definition.h"
#include "flow_picture.h"
#include "process_api.h"

PG_FUNCTION_INFO_V1(procflow_create_flow);
PG_FUNCTION_INFO_V1(procflow_alter_flow);
PG_FUNCTION_INFO_V1(procflow_flow_graph);

/* Find the caller's flow of that name; a light process is refused. */
static void
find_flow(const char *name, OwnedProcess *process, bool lock)
{
	api_lookup_process(name, process, lock);
	if (!process_is_flow(process))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("process \"%s\" is not a flow", name),
				 errhint("Light processes are changed with procflow.alter_process().")));
}

/*
 * procflow.create_flow(name, entity, definition, execution_order, label,
 *						condition, enabled, max_attempts, timeout, exclude):
 * a flow, with its definition as version 1.
 */
Datum
procflow_create_flow(PG_FUNCTION_ARGS)
{
	process_api_define(fcinfo, false, true);
	PG_RETURN_INT32(1);
}

/*
 * procflow.alter_flow(name, definition): the flow's next version, which new
 * instances use; running instances keep theirs.  A definition that does
 * not change (with the same search_path) makes no version: the current one
 * is returned.
 */
Datum
procflow_alter_flow(PG_FUNCTION_ARGS)
{
	char	   *name = api_text_arg(fcinfo, 0, "name", true);
	Jsonb	   *definition;
	OwnedProcess flow;
	Oid			argtypes[4] = {INT4OID, JSONBOID, TEXTOID, REGCLASSARRAYOID};
	Datum		args[4];
	bool		isnull;
	int32		version;
	ArrayType  *waits_on;

	api_require_arg(fcinfo, 1, "definition");
	definition = PG_GETARG_JSONB_P(1);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	api_require_flow_catalog();
	find_flow(name, &flow, true);
	/* a member of the owner changes the owner's flow: checked as the owner */
	waits_on = flow_check_sql(flow_read(definition, name), name, flow.entity, flow.owner,
							  NULL);

	args[0] = Int32GetDatum(flow.id);
	args[1] = JsonbPGetDatum(definition);
	args[2] = CStringGetTextDatum(namespace_search_path);
	args[3] = PointerGetDatum(waits_on);
	catalog_exec("WITH cur AS ("
				 "  SELECT p.id, p.version, v.definition, v.search_path"
				 "    FROM procflow.process p"
				 "    JOIN procflow.flow_version v ON v.process_id = p.id AND v.version = p.version"
				 "   WHERE p.id = $1),"
				 " added AS ("
				 "  INSERT INTO procflow.flow_version (process_id, version, definition, search_path,"
				 "                                     waits_on)"
				 "  SELECT id, version + 1, $2, $3, $4 FROM cur"
				 "   WHERE (definition, search_path) IS DISTINCT FROM ($2, $3)"
				 "  RETURNING version),"
				 " moved AS ("
				 "  UPDATE procflow.process p SET version = added.version, updated_at = now()"
				 "    FROM added WHERE p.id = $1"
				 "  RETURNING p.version)"
				 " SELECT coalesce((SELECT version FROM moved), (SELECT version FROM cur))",
				 4, argtypes, args, waits_on ? NULL : "   n", SPI_OK_SELECT);
	version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										  1, &isnull));
	capture_triggers_sync_waits(waits_on);
	SPI_finish();
	PG_RETURN_INT32(version);
}

/*
 * The version an instance of the flow runs; "version", when given (not 0),
 * must be it.
 */
static int32
instance_version(const char *name, int32 process_id, int64 instance, int32 version)
{
	Oid			argtypes[2] = {INT8OID, INT4OID};
	Datum		args[2] = {Int64GetDatum(instance), Int32GetDatum(process_id)};
	bool		isnull;
	int32		its;

	catalog_exec("SELECT version FROM procflow.instance WHERE id = $1 AND process_id = $2",
				 2, argtypes, args, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("instance " INT64_FORMAT " of flow \"%s\" does not exist", instance, name)));
	its = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (version != 0 && version != its)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("instance " INT64_FORMAT " runs version %d of flow \"%s\", not version %d",
						instance, its, name, version)));
	return its;
}

/*
 * How an instance's picture marks each activity: failed, current (live),
 * or visited, by the activities it went through.
 */
static FlowMark *
instance_marks(FlowDefinition *def, int64 instance)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(instance)};
	FlowMark   *marks = palloc0(sizeof(FlowMark) * def->nactivities);

	catalog_exec("SELECT name,"
				 "       CASE WHEN bool_or(status = 'failed') THEN 3"
				 "            WHEN bool_or(closed_at IS NULL) THEN 2 ELSE 1 END"
				 "  FROM procflow.activity WHERE instance_id = $1 GROUP BY name",
				 1, argtypes, args, NULL, SPI_OK_SELECT);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		char	   *activity = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
		bool		isnull;
		int			mark = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[r],
													   SPI_tuptable->tupdesc, 2, &isnull));

		for (int i = 0; i < def->nactivities; i++)
			if (strcmp(def->activities[i].name, activity) == 0)
				marks[i] = (FlowMark) mark;
	}
	return marks;
}

/*
 * procflow.flow_graph(flow, format, instance, version): the picture of a
 * flow's version (by default its current one) as Graphviz DOT or Mermaid.
 */
Datum
procflow_flow_graph(PG_FUNCTION_ARGS)
{
	char	   *name = api_text_arg(fcinfo, 0, "flow", true);
	char	   *format = api_text_arg(fcinfo, 1, "format", true);
	OwnedProcess flow;
	Oid			argtypes[2] = {INT4OID, INT4OID};
	Datum		args[2];
	bool		isnull;
	FlowDefinition *def;
	FlowMark   *marks = NULL;
	char	   *picture;
	MemoryContext outer = CurrentMemoryContext;
	text	   *result;

	if (strcmp(format, "dot") != 0 && strcmp(format, "mermaid") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown picture format \"%s\"", format),
				 errhint("The formats are dot (Graphviz) and mermaid.")));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	find_flow(name, &flow, false);
	args[0] = Int32GetDatum(flow.id);
	args[1] = PG_ARGISNULL(3) ? Int32GetDatum(flow.version) : PG_GETARG_DATUM(3);
	if (!PG_ARGISNULL(2))
		args[1] = Int32GetDatum(instance_version(name, flow.id, PG_GETARG_INT64(2),
												 PG_ARGISNULL(3) ? 0 : PG_GETARG_INT32(3)));
	catalog_exec("SELECT definition FROM procflow.flow_version"
				 " WHERE process_id = $1 AND version = $2",
				 2, argtypes, args, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("flow \"%s\" has no version %d", name, DatumGetInt32(args[1])),
				 errdetail("Its versions are 1 to %d.", flow.version)));
	def = flow_read(DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0],
												 SPI_tuptable->tupdesc, 1, &isnull)),
					name);
	if (!PG_ARGISNULL(2))
		marks = instance_marks(def, PG_GETARG_INT64(2));
	picture = strcmp(format, "dot") == 0 ? flow_graph_dot(def, name, marks) :
		flow_graph_mermaid(def, marks);
	/* the result outlives SPI's memory */
	outer = MemoryContextSwitchTo(outer);
	result = cstring_to_text(picture);
	MemoryContextSwitchTo(outer);
	SPI_finish();
	PG_RETURN_TEXT_P(result);
}
