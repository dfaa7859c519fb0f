/*-------------------------------------------------------------------------
 *
 * task_api.c
 *	  SQL functions of tasks (the human activities of instances): taskbox,
 *	  claim_task, release_task, assign_task and complete_task.
 *
 * A task is "ready" (anyone it is for may take it; it may already be
 * assigned to someone), "open" (claimed: its assignee works on it), or, with
 * a start_delay, "scheduled" until then.  Assignees and groups are the
 * application's user and group names, not roles; the roles that act on a
 * task are those with the privileges of its flow's owner, as for every
 * function on instances (instance_api.c), which also refuses work on a
 * task of an instance that is not active.  Every change of a task tells
 * listening taskboxes (NOTIFY procflow_task, at commit).
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "api.h"
#include "catalog.h"
#include "flow_engine.h"
#include "flow_store.h"
#include "instance_api.h"

PG_FUNCTION_INFO_V1(procflow_taskbox);
PG_FUNCTION_INFO_V1(procflow_claim_task);
PG_FUNCTION_INFO_V1(procflow_release_task);
PG_FUNCTION_INFO_V1(procflow_assign_task);
PG_FUNCTION_INFO_V1(procflow_complete_task);

static SPIPlanPtr taskbox_plan = NULL;

/*
 * procflow.taskbox(assignee, groups): the tasks of procflow.tasks that are
 * for this person: ready and open ones assigned to them, and ready
 * unassigned ones of one of their groups or of no group, by due date
 * (tasks without one last), execution order and creation.  Each branch is
 * read from its own partial index.
 */
Datum
procflow_taskbox(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			argtypes[3] = {TEXTOID, TEXTARRAYOID, OIDOID};
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};
	PrivilegedScope scope;

	InitMaterializedSRF(fcinfo, 0);
	args[0] = PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0);
	nulls[0] = PG_ARGISNULL(0) ? 'n' : ' ';
	args[1] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	nulls[1] = PG_ARGISNULL(1) ? 'n' : ' ';
	args[2] = ObjectIdGetDatum(GetUserId());

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	catalog_enter_privileged(&scope);
	catalog_prefer_indexes();
	catalog_keep_plan(&taskbox_plan,
					  "SELECT a.id, a.instance_id, p.name, a.name, a.status, a.assignee,"
					  "       a.\"group\", a.instructions, a.due_at, a.created_at,"
					  "       procflow.key_to_jsonb(p.entity, i.key)"
					  "  FROM (SELECT * FROM procflow.activity t"
					  "         WHERE t.kind = 'human' AND t.status IN ('ready', 'open')"
					  "           AND t.assignee = $1"
					  "        UNION ALL"
					  "        SELECT * FROM procflow.activity t"
					  "         WHERE t.kind = 'human' AND t.status = 'ready'"
					  "           AND t.assignee IS NULL AND t.\"group\" = ANY ($2)"
					  "        UNION ALL"
					  "        SELECT * FROM procflow.activity t"
					  "         WHERE t.kind = 'human' AND t.status = 'ready'"
					  "           AND t.assignee IS NULL AND t.\"group\" IS NULL) a"
					  "  JOIN procflow.instance i ON i.id = a.instance_id"
					  "  JOIN procflow.process p ON p.id = i.process_id"
					  " WHERE pg_catalog.pg_has_role($3, p.owner, 'USAGE')"
					  " ORDER BY a.due_at NULLS LAST, p.execution_order, a.created_at, a.id",
					  3, argtypes);
	if (SPI_execute_plan(taskbox_plan, args, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading the taskbox failed");
	catalog_leave_privileged(&scope);

	for (uint64 r = 0; r < SPI_processed; r++)
	{
		Datum		values[11];
		bool		isnull[11];

		heap_deform_tuple(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, values, isnull);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, isnull);
	}
	SPI_finish();
	return (Datum) 0;
}

/* The task with this id, locked with its instance; an active instance's. */
static ProcessInfo *
lock_task(int64 id, FlowInstance *instance, FlowActivityRow *task, const char *action)
{
	Oid			owner;

	/* an activity's kind never changes: told before any state */
	if (flow_store_read_activity(id, task) && strcmp(task->kind, "human") != 0 &&
		flow_store_instance_owner(task->instance_id, &owner) &&
		has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("activity " INT64_FORMAT " is not a task", id),
				 errdetail("It is a %s activity; tasks are the human activities.", task->kind)));
	return instance_api_lock_activity(id, instance, task, action);
}

/* Refuse to act on a task that is not in one of the two given statuses. */
static void
require_task_status(FlowActivityRow *task, const char *one, const char *other,
					const char *action)
{
	if (strcmp(task->status, one) != 0 && (other == NULL || strcmp(task->status, other) != 0))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot %s task " INT64_FORMAT ": it is %s", action, task->id,
						task->status)));
}

/* A task-id argument, and the connection the functions work in. */
static int64
task_arg(FunctionCallInfo fcinfo)
{
	int64		id = instance_api_id_arg(fcinfo, "activity");

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	return id;
}

/*
 * procflow.claim_task(activity, assignee): the ready task is open, for
 * its claimant; refused when someone else holds it (it is open, or
 * assigned to another).  Claiming one's own open task again changes
 * nothing.
 */
Datum
procflow_claim_task(PG_FUNCTION_ARGS)
{
	char	   *assignee = api_text_arg(fcinfo, 1, "assignee", true);
	int64		id = task_arg(fcinfo);
	FlowInstance instance;
	FlowActivityRow task;

	(void) lock_task(id, &instance, &task, "claim");
	if (strcmp(task.status, "open") == 0 && task.assignee != NULL &&
		strcmp(task.assignee, assignee) == 0)
	{
		cache_unpin();
		SPI_finish();
		PG_RETURN_VOID();
	}
	if (strcmp(task.status, "open") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot claim task " INT64_FORMAT ": \"%s\" holds it", id,
						task.assignee ? task.assignee : "someone"),
				 errhint("It can be claimed again once it is released (procflow.release_task).")));
	require_task_status(&task, "ready", NULL, "claim");
	if (task.assignee != NULL && strcmp(task.assignee, assignee) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot claim task " INT64_FORMAT ": it is assigned to \"%s\"", id,
						task.assignee),
				 errhint("Release it first (procflow.release_task), or assign it (procflow.assign_task).")));
	flow_store_set_task(id, "open", assignee);
	flow_engine_notify_task(id);
	cache_unpin();
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * procflow.release_task(activity): an open or assigned task is ready
 * again, for anyone it is for.
 */
Datum
procflow_release_task(PG_FUNCTION_ARGS)
{
	int64		id = task_arg(fcinfo);
	FlowInstance instance;
	FlowActivityRow task;

	(void) lock_task(id, &instance, &task, "release");
	require_task_status(&task, "open", task.assignee ? "ready" : NULL, "release");
	flow_store_set_task(id, "ready", NULL);
	flow_engine_notify_task(id);
	cache_unpin();
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * procflow.assign_task(activity, assignee): a ready task is given to
 * someone; it stays ready, in their taskbox, until they claim or complete
 * it.
 */
Datum
procflow_assign_task(PG_FUNCTION_ARGS)
{
	char	   *assignee = api_text_arg(fcinfo, 1, "assignee", true);
	int64		id = task_arg(fcinfo);
	FlowInstance instance;
	FlowActivityRow task;

	(void) lock_task(id, &instance, &task, "assign");
	require_task_status(&task, "ready", NULL, "assign");
	flow_store_set_task(id, "ready", assignee);
	flow_engine_notify_task(id);
	cache_unpin();
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * procflow.complete_task(activity, outcome, vars): a ready or open task
 * closes with one of its outcomes, vars are merged into the instance's,
 * and the instance goes on.
 */
Datum
procflow_complete_task(PG_FUNCTION_ARGS)
{
	char	   *outcome = api_text_arg(fcinfo, 1, "outcome", false);
	Jsonb	   *vars = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	int64		id;
	FlowInstance instance;
	FlowActivityRow task;
	ProcessInfo *flow;

	if (vars != NULL && (JB_ROOT_IS_SCALAR(vars) || !JB_ROOT_IS_OBJECT(vars)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("vars must be a JSON object")));
	id = task_arg(fcinfo);
	flow = lock_task(id, &instance, &task, "complete");
	require_task_status(&task, "ready", "open", "complete");
	flow_engine_complete_task(flow, &instance, &task, outcome, vars,
							  task.assignee ? task.assignee : GetUserNameFromId(GetUserId(), false));
	cache_unpin();
	SPI_finish();
	PG_RETURN_VOID();
}
