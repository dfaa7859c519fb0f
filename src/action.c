/*-------------------------------------------------------------------------
 *
 * action.c
 *	  Running a process's condition and action as its owner.
 *
 * An action is SQL text prepared once per backend with three typed
 * parameters: $1 the entity row, $2 the row before the change, $3 a jsonb
 * context.  It always runs as the process owner, with the search_path that
 * was in effect when the process was defined (temporary schemas last), as a
 * security-restricted operation: like a SECURITY DEFINER function it cannot
 * SET ROLE or RESET ROLE its way to the session user, and like maintenance
 * code it cannot create temporary objects that would outlive it.  Settings
 * it changes are restored when it returns, so nothing leaks from one
 * owner's action into another's.
 *
 * This file also keeps the stack of running actions, from which the row
 * trigger learns the nesting depth of an event and the processes that the
 * running actions exclude.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "tcop/cmdtag.h"
#include "nodes/parsenodes.h"
#include "utils/syscache.h"

#include "action.h"
#include "entity.h"
#include "settings.h"

/* One running action. */
typedef struct RunningAction
{
	ProcessInfo *process;
	int			depth;
	int64		instance_id;	/* the flow instance whose step it is, or 0 */
	int			nest_level;		/* transaction nesting level it runs in */
	int			ninherited;
	int32	   *inherited;		/* processes its job must not trigger: the
								 * exclusions of the actions that queued it */
} RunningAction;

static List *running = NIL;		/* of RunningAction *, innermost last */

/*
 * Become "owner": current user, security-restricted context and the given
 * search_path (NULL: keep it), until action_leave_owner.  Transaction or
 * subtransaction abort undoes all of it as well.
 */
void
action_enter_owner(Oid owner, const char *search_path, OwnerScope *scope)
{
	identity_enter(owner, true, search_path, scope);
}

/*
 * Become the owner of a process, with the process's search_path, to run
 * its condition and action.  A process whose owner role does not exist
 * (dropped, or missing where the definitions were restored) runs as no
 * one.
 */
void
action_enter_process(ProcessInfo *process, OwnerScope *scope)
{
	action_enter_process_path(process, process->search_path, scope);
}

/*
 * The same, with another search_path: a flow's SQL runs with the one its
 * version was checked with.
 */
void
action_enter_process_path(ProcessInfo *process, const char *search_path, OwnerScope *scope)
{
	if (!OidIsValid(process->owner) ||
		!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(process->owner)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role \"%s\", the owner of process \"%s\", does not exist",
						process->owner_name, process->name),
				 errhint("Create the role, or drop the process and create it again as another role.")));
	action_enter_owner(process->owner, search_path, scope);
}

/* Restore the identity and every setting changed since action_enter_owner. */
void
action_leave_owner(OwnerScope *scope)
{
	identity_leave(scope);
}

/*
 * Refuse a statement that can never run in an action: actions run inside
 * a transaction (an executor's, or the writer's) through SPI, where
 * transaction control, statements that refuse transaction blocks, and COPY
 * to or from the client fail every time.
 */
static void
check_runnable(CachedPlanSource *source)
{
	Node	   *stmt = source->raw_parse_tree ? source->raw_parse_tree->stmt : NULL;
	bool		runnable = true;

	if (stmt == NULL)
		return;
	switch (nodeTag(stmt))
	{
		case T_TransactionStmt:
		case T_CreatedbStmt:
		case T_DropdbStmt:
		case T_CreateTableSpaceStmt:
		case T_DropTableSpaceStmt:
		case T_AlterSystemStmt:
		case T_CreateSubscriptionStmt:
		case T_DropSubscriptionStmt:
			runnable = false;
			break;
		case T_VacuumStmt:
			runnable = !((VacuumStmt *) stmt)->is_vacuumcmd;
			break;
		case T_CopyStmt:
			runnable = ((CopyStmt *) stmt)->filename != NULL;
			break;
		case T_ClusterStmt:
			runnable = ((ClusterStmt *) stmt)->relation != NULL;
			break;
		case T_ReindexStmt:
			{
				ReindexStmt *r = (ReindexStmt *) stmt;
				ListCell   *lc;

				runnable = r->kind != REINDEX_OBJECT_DATABASE &&
					r->kind != REINDEX_OBJECT_SYSTEM;
				foreach(lc, r->params)
					if (strcmp(((DefElem *) lfirst(lc))->defname, "concurrently") == 0)
						runnable = false;
				break;
			}
		case T_IndexStmt:
			runnable = !((IndexStmt *) stmt)->concurrent;
			break;
		case T_DropStmt:
			runnable = !((DropStmt *) stmt)->concurrent;
			break;
		case T_DiscardStmt:
			runnable = ((DiscardStmt *) stmt)->target != DISCARD_ALL;
			break;
		default:
			break;
	}
	if (!runnable)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s cannot run in an action", source->commandTag != CMDTAG_UNKNOWN ?
						GetCommandTagName(source->commandTag) : "this statement"),
				 errdetail("Actions run inside a transaction, where this statement cannot run.")));
}

/* A SELECT of values only: no FROM, WHERE, grouping, ordering or limit. */
static bool
is_bare_select(Query *q)
{
	return q->commandType == CMD_SELECT && q->jointree->fromlist == NIL &&
		q->jointree->quals == NULL && q->groupClause == NIL && q->groupingSets == NIL &&
		q->havingQual == NULL && q->windowClause == NIL && q->distinctClause == NIL &&
		q->sortClause == NIL && q->limitCount == NULL && q->limitOffset == NULL &&
		q->setOperations == NULL && q->cteList == NIL && q->rowMarks == NIL &&
		!q->hasAggs && !q->hasWindowFuncs && !q->hasTargetSRFs;
}

/*
 * Prepare one SQL expression with the three action parameters, as
 * "SELECT (expression)", and give its type; rowtype is the entity's row
 * type, or RECORDOID for an entity-less process.  The statement must stay
 * a bare SELECT of one value, so that text which closes the parenthesis
 * and goes on ("1) FROM t WHERE (true", "1); DROP TABLE t; SELECT (1") is
 * refused.  The plan is not kept.
 */
SPIPlanPtr
action_prepare_expression(const char *sql, Oid rowtype, Oid *type)
{
	Oid			argtypes[ACTION_NARGS] = {rowtype, rowtype, JSONBOID};
	SPIPlanPtr	plan;
	List	   *sources;
	CachedPlanSource *source;

	/* a newline ends a "--" comment at the end of the expression */
	plan = SPI_prepare(psprintf("SELECT (%s\n)", sql), ACTION_NARGS, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	sources = SPI_plan_get_plan_sources(plan);
	if (list_length(sources) != 1 ||
		(source = linitial(sources))->resultDesc == NULL ||
		source->resultDesc->natts != 1 ||
		source->commandTag != CMDTAG_SELECT ||
		list_length(source->query_list) != 1 ||
		!is_bare_select(linitial_node(Query, source->query_list)))
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("\"%s\" is not a single expression", sql)));
	*type = TupleDescAttr(source->resultDesc, 0)->atttypid;
	return plan;
}

/*
 * Prepare an action (any SQL statements) or a condition (one boolean
 * expression) with the three action parameters.  Errors are those of the
 * parser and planner, so a mistake is reported where it is, and those of
 * statements that can never run in an action.  The plan is not kept.
 */
SPIPlanPtr
action_prepare(const char *sql, bool is_condition, Oid rowtype)
{
	Oid			argtypes[ACTION_NARGS] = {rowtype, rowtype, JSONBOID};
	SPIPlanPtr	plan;
	ListCell   *lc;

	if (is_condition)
	{
		Oid			type;

		plan = action_prepare_expression(sql, rowtype, &type);
		if (type != BOOLOID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("condition must be a single boolean expression")));
		return plan;
	}
	plan = SPI_prepare(sql, ACTION_NARGS, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (list_length(SPI_plan_get_plan_sources(plan)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("action must contain at least one SQL statement")));
	foreach(lc, SPI_plan_get_plan_sources(plan))
		check_runnable((CachedPlanSource *) lfirst(lc));
	return plan;
}

/* The process's plan for its action or condition, prepared on first use. */
static SPIPlanPtr
process_plan(ProcessInfo *process, bool is_condition)
{
	SPIPlanPtr *slot = is_condition ? &process->condition_plan : &process->action_plan;

	if (*slot == NULL)
	{
		SPIPlanPtr	plan;

		plan = action_prepare(is_condition ? process->condition : process->action,
							  is_condition,
							  process->entity ? process->entity->rowtype : RECORDOID);
		cache_keep_plan(process->generation, plan);
		*slot = plan;
	}
	return *slot;
}

/*
 * Evaluate the process's condition (true when it has none).  The caller
 * acts as the owner and holds an SPI connection.
 */
bool
action_condition_holds(ProcessInfo *process, Datum *args, const char *nulls)
{
	bool		isnull;
	Datum		result;
	int			ret;

	if (process->condition == NULL)
		return true;
	ret = SPI_execute_plan(process_plan(process, true), args, nulls, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "evaluating the condition of process \"%s\" failed: %s",
			 process->name, SPI_result_code_string(ret));
	if (SPI_processed == 0)
		return false;
	result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return !isnull && DatumGetBool(result);
}

/*
 * Run a prepared action, of a process or of a flow's activity (errors name
 * it: "what" is "process" or "activity").  SPI_tuptable then holds the
 * result of its last statement.  Same conventions as
 * action_condition_holds.
 */
void
action_run_plan(SPIPlanPtr plan, const char *what, const char *name, Datum *args,
				const char *nulls)
{
	int			ret;

	ret = SPI_execute_plan(plan, args, nulls, false, 0);
	if (ret == SPI_ERROR_TRANSACTION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("the action of %s \"%s\" tried to control the transaction", what, name),
				 errdetail("Actions run inside a transaction and cannot commit, roll back or prepare it.")));
	if (ret == SPI_ERROR_COPY)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the action of %s \"%s\" tried to copy to or from the client", what, name),
				 errdetail("An action has no client; COPY it to or from a file or program instead.")));
	if (ret < 0)
		elog(ERROR, "running the action of %s \"%s\" failed: %s", what, name,
			 SPI_result_code_string(ret));
}

/* Run the process's action.  Same conventions as action_condition_holds. */
void
action_execute(ProcessInfo *process, Datum *args, const char *nulls)
{
	action_run_plan(process_plan(process, false), "process", process->name, args, nulls);
}

/* Push a number, or null for 0, as a jsonb value. */
static void
push_number(JsonbParseState **state, int64 number, bool null_when_zero)
{
	JsonbValue	v;

	if (number == 0 && null_when_zero)
		v.type = jbvNull;
	else
	{
		v.type = jbvNumeric;
		v.val.numeric = int64_to_numeric(number);
	}
	(void) pushJsonbValue(state, WJB_VALUE, &v);
}

/*
 * The jsonb context ($3) of a run: process, event, trigger and job ids,
 * attempt number, the row's key and the changed columns.  Built as jsonb
 * directly: it is made for every run.
 */
Datum
action_context(ProcessInfo *process, const char *event, int64 trigger_id,
			   int64 job_id, int attempt, Datum key, Datum changed)
{
	JsonbParseState *state = NULL;
	JsonbValue	null_value;
	JsonbValue *result;

	null_value.type = jbvNull;
	(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	entity_push_jsonb_string(&state, WJB_KEY, "process");
	entity_push_jsonb_string(&state, WJB_VALUE, process->name);
	entity_push_jsonb_string(&state, WJB_KEY, "event");
	entity_push_jsonb_string(&state, WJB_VALUE, event);
	entity_push_jsonb_string(&state, WJB_KEY, "trigger_id");
	push_number(&state, trigger_id, true);
	entity_push_jsonb_string(&state, WJB_KEY, "job_id");
	push_number(&state, job_id, true);
	entity_push_jsonb_string(&state, WJB_KEY, "attempt");
	push_number(&state, attempt, false);
	entity_push_jsonb_string(&state, WJB_KEY, "key");
	if (key != 0 && process->entity != NULL)
		(void) entity_key_push_jsonb(&state, process->entity, key);
	else
		(void) pushJsonbValue(&state, WJB_VALUE, &null_value);
	entity_push_jsonb_string(&state, WJB_KEY, "changed");
	if (changed != 0)
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(DatumGetArrayTypeP(changed), TEXTOID, -1, false,
						  TYPALIGN_INT, &elems, &nulls, &n);
		(void) pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
		for (int i = 0; i < n; i++)
			entity_push_jsonb_string(&state, WJB_ELEM, TextDatumGetCString(elems[i]));
		(void) pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	}
	else
		(void) pushJsonbValue(&state, WJB_VALUE, &null_value);
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(result));
}

/*
 * Note that an action of "process" runs at nesting depth "depth" (1 for an
 * action fired by a top-level statement), if that is allowed; "inherited"
 * (int4[] or 0) names the processes that the actions which queued its job
 * excluded, which it must not trigger either; "instance_id" is the flow
 * instance whose step it runs (0: a light process's action).
 */
void
action_push(ProcessInfo *process, int depth, Datum inherited, int64 instance_id)
{
	MemoryContext old;
	RunningAction *r;
	Datum	   *elems = NULL;
	bool	   *nulls = NULL;
	int			n = 0;

	action_check_depth(process, depth);
	if (inherited != 0)
		deconstruct_array(DatumGetArrayTypeP(inherited), INT4OID, 4, true, TYPALIGN_INT,
						  &elems, &nulls, &n);
	old = MemoryContextSwitchTo(TopMemoryContext);
	r = palloc0(sizeof(RunningAction));
	r->process = process;
	r->depth = depth;
	r->instance_id = instance_id;
	r->nest_level = GetCurrentTransactionNestLevel();
	if (n > 0)
	{
		r->inherited = palloc(sizeof(int32) * n);
		for (int i = 0; i < n; i++)
			if (!nulls[i])
				r->inherited[r->ninherited++] = DatumGetInt32(elems[i]);
	}
	running = lappend(running, r);
	MemoryContextSwitchTo(old);
}

/*
 * Refuse to run an action of "process" at nesting depth "depth" when that
 * is deeper than procflow.max_depth: processes that fire each other in a
 * cycle stop here with a clear error.
 */
void
action_check_depth(ProcessInfo *process, int depth)
{
	if (depth > procflow_max_depth)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("process \"%s\" would run at nesting depth %d, deeper than procflow.max_depth (%d)",
						process->name, depth, procflow_max_depth),
				 errdetail("Actions of processes fire other processes in a chain that does not end."),
				 errhint("Name the processes an action must not trigger in the \"exclude\" argument of create_process.")));
}

/* The innermost action has returned. */
void
action_pop(void)
{
	RunningAction *r = llast(running);

	running = list_delete_last(running);
	if (r->inherited != NULL)
		pfree(r->inherited);
	pfree(r);
}

/* Nesting depth of the innermost running action; 0 when none runs. */
int
action_current_depth(void)
{
	if (running == NIL)
		return 0;
	return ((RunningAction *) llast(running))->depth;
}

/*
 * The flow instance whose step is the innermost one running in this
 * session, or 0 when no step runs: an event a step writes (itself or by the
 * actions it triggers) is that instance's own.
 */
int64
action_current_instance(void)
{
	int64		instance_id = 0;
	ListCell   *lc;

	foreach(lc, running)
	{
		RunningAction *r = lfirst(lc);

		if (r->instance_id != 0)
			instance_id = r->instance_id;
	}
	return instance_id;
}

/* Does a running action exclude this process, itself or by inheritance? */
bool
action_excluded(int32 process_id)
{
	ListCell   *lc;

	foreach(lc, running)
	{
		RunningAction *r = lfirst(lc);

		for (int i = 0; i < r->process->nexclude; i++)
			if (r->process->exclude[i] == process_id)
				return true;
		for (int i = 0; i < r->ninherited; i++)
			if (r->inherited[i] == process_id)
				return true;
	}
	return false;
}

/*
 * Is a step of this flow instance running in this session?  The instance
 * functions refuse it: the step owns the instance until it returns.
 */
bool
action_runs_instance(int64 instance_id)
{
	ListCell   *lc;

	foreach(lc, running)
	{
		if (((RunningAction *) lfirst(lc))->instance_id == instance_id)
			return true;
	}
	return false;
}

/*
 * The processes the running actions exclude, as an int4[] that a job they
 * queue carries to its run (so that "exclude" holds across queued hops);
 * 0 when none.
 */
Datum
action_current_exclusions(void)
{
	ListCell   *lc;
	Datum	   *ids = NULL;
	int			n = 0;
	int			capacity = 0;

	foreach(lc, running)
	{
		RunningAction *r = lfirst(lc);
		int			more = r->process->nexclude + r->ninherited;

		if (more == 0)
			continue;
		if (n + more > capacity)
		{
			capacity = (n + more) * 2;
			ids = ids ? repalloc(ids, sizeof(Datum) * capacity) :
				palloc(sizeof(Datum) * capacity);
		}
		for (int i = 0; i < r->process->nexclude; i++)
			ids[n++] = Int32GetDatum(r->process->exclude[i]);
		for (int i = 0; i < r->ninherited; i++)
			ids[n++] = Int32GetDatum(r->inherited[i]);
	}
	if (n == 0)
		return (Datum) 0;
	return PointerGetDatum(construct_array(ids, n, INT4OID, 4, true, TYPALIGN_INT));
}

/*
 * Forget the running actions that run at transaction nesting level
 * min_nest_level or deeper: their (sub)transaction ended without them
 * returning.
 */
static void
clear_running(int min_nest_level)
{
	while (running != NIL &&
		   ((RunningAction *) llast(running))->nest_level >= min_nest_level)
		action_pop();
}

/* Subtransaction abort: the actions that ran inside it are gone. */
void
action_subxact_event(SubXactEvent event)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		clear_running(GetCurrentTransactionNestLevel());
}

/* Transaction end: nothing runs any more. */
void
action_xact_event(XactEvent event)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT || event == XACT_EVENT_PARALLEL_COMMIT)
		clear_running(0);
}
