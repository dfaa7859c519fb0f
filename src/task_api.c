/*-------------------------------------------------------------------------
 *
 * task_api.c
 *	  SQL functions of tasks (the human activities of instances): taskbox,
 *	  claim_task, release_task, assign_task and complete_task; and
 *	  skip_activity, of any activity, which a task's worker may call too.
 *
 * A task is "ready" (anyone it is for may take it; it may already be
 * assigned to someone), "open" (claimed: its assignee works on it), or, with
 * a start_delay, "scheduled" until then.  Assignees and groups are names:
 * an application's users and groups, served by a role with the privileges
 * of the flow's owner (as every function on instances, instance_api.c,
 * which also refuses work on a task of an instance that is not active);
 * or roles.  A task assigned to a role, or ready and unassigned for a
 * group that is a role, is worked by the roles with that role's
 * privileges ("workers"), with no right on the flow's owner: they list,
 * claim, release and complete it, for themselves.  Every change of a task
 * tells listening taskboxes (NOTIFY procflow_task, at commit).
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
#include "task_form.h"

PG_FUNCTION_INFO_V1(procflow_taskbox);
PG_FUNCTION_INFO_V1(procflow_claim_task);
PG_FUNCTION_INFO_V1(procflow_release_task);
PG_FUNCTION_INFO_V1(procflow_assign_task);
PG_FUNCTION_INFO_V1(procflow_complete_task);
PG_FUNCTION_INFO_V1(procflow_skip_activity);

static SPIPlanPtr whom_plan = NULL;
static SPIPlanPtr taskbox_plan = NULL;
static SPIPlanPtr after_plan = NULL;

/*
 * procflow.taskbox(assignee, groups, page_size, after): the tasks of
 * procflow.tasks that are for this person: ready and open ones assigned to
 * them, and ready unassigned ones of one of their groups or of no group,
 * by due date (tasks without one last), execution order and creation; at
 * most page_size of them (all when NULL), after the task "after" in that
 * order (from the first when NULL).  For the
 * caller itself (the default), as a worker too: the tasks assigned to a
 * role it has the privileges of, and the unassigned ones of a group that
 * is such a role.  Each branch reads only the tasks the caller may see
 * from an index: of the flows whose owner it has the privileges of, or
 * for its own roles.
 */
Datum
procflow_taskbox(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			whom_types[3] = {OIDOID, TEXTOID, TEXTARRAYOID};
	Datum		whom_args[3];
	char		whom_nulls[3] = {' ', ' ', ' '};
	Oid			argtypes[7] = {TEXTARRAYOID, TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID,
	TEXTARRAYOID, INT4OID, INT8OID};
	Datum		args[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	Datum		page_size = (Datum) 0;
	Datum		after = (Datum) 0;
	bool		paged = false;
	bool		has_after = false;
	PrivilegedScope scope;

	api_require_flow_catalog();
	if (PG_NARGS() > 2 && !PG_ARGISNULL(2))
	{
		if (PG_GETARG_INT32(2) < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("page_size must be at least 1")));
		page_size = PG_GETARG_DATUM(2);
		paged = true;
	}
	if (PG_NARGS() > 3 && !PG_ARGISNULL(3))
	{
		after = PG_GETARG_DATUM(3);
		has_after = true;
	}
	InitMaterializedSRF(fcinfo, 0);
	whom_args[0] = ObjectIdGetDatum(GetUserId());
	whom_args[1] = PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0);
	whom_nulls[1] = PG_ARGISNULL(0) ? 'n' : ' ';
	whom_args[2] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	whom_nulls[2] = PG_ARGISNULL(1) ? 'n' : ' ';

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	catalog_enter_privileged(&scope);
	catalog_prefer_indexes();
	/*
	 * The assignees and groups asked for, each once; the caller's flows; and
	 * of those assignees and groups, the caller's own roles.
	 */
	catalog_keep_plan(&whom_plan,
					  "WITH mine AS ("
					  "  SELECT r.rolname::text AS name FROM pg_catalog.pg_roles r"
					  "   WHERE pg_catalog.pg_has_role($1, r.oid, 'USAGE')),"
					  " asked AS ("
					  "  SELECT $2 = (SELECT r.rolname::text FROM pg_catalog.pg_roles r"
					  "                WHERE r.oid = $1) AS itself),"
					  " who AS ("
					  "  SELECT $2 AS name WHERE $2 IS NOT NULL"
					  "  UNION SELECT m.name FROM mine m, asked WHERE asked.itself),"
					  " grp AS ("
					  "  SELECT pg_catalog.unnest($3) AS name"
					  "  UNION SELECT m.name FROM mine m, asked WHERE asked.itself) "
					  "SELECT ARRAY(SELECT name FROM who WHERE name IS NOT NULL),"
					  "       ARRAY(SELECT name FROM grp WHERE name IS NOT NULL),"
					  "       ARRAY(SELECT p.id FROM procflow.process p"
					  "              WHERE pg_catalog.pg_has_role($1, p.owner, 'USAGE')),"
					  "       ARRAY(SELECT name FROM who, asked WHERE asked.itself"
					  "             INTERSECT SELECT name FROM mine),"
					  "       ARRAY(SELECT name FROM grp, asked WHERE asked.itself"
					  "             INTERSECT SELECT name FROM mine)",
					  3, whom_types);
	if (SPI_execute_plan(whom_plan, whom_args, whom_nulls, true, 0) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "reading whose taskbox it is failed");
	for (int i = 0; i < 5; i++)
		args[i] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &isnull);
	/*
	 * The task a page starts after: one the caller may see, of its flows or
	 * of its roles (whatever its state now: a task claimed or completed
	 * since the page before was read still marks its place).
	 */
	if (has_after)
	{
		Oid			after_types[4] = {INT8OID, INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
		Datum		after_args[4] = {after, args[2], args[3], args[4]};

		catalog_keep_plan(&after_plan,
						  "SELECT 1 FROM procflow.activity s"
						  " WHERE s.id = $1 AND s.kind = 'human'"
						  "   AND (s.process_id = ANY ($2) OR s.assignee = ANY ($3)"
						  "        OR s.\"group\" = ANY ($4))",
						  4, after_types);
		if (SPI_execute_plan(after_plan, after_args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "reading the task a taskbox page starts after failed");
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("task " INT64_FORMAT " is not one of this taskbox's", DatumGetInt64(after)),
					 errhint("Start from the first page: leave \"after\" out.")));
	}
	/* a page: its size and the task it starts after (a catalog of 0.4 has neither) */
	args[5] = page_size;
	nulls[5] = paged ? ' ' : 'n';
	args[6] = after;
	nulls[6] = has_after ? ' ' : 'n';

	/*
	 * $1 assignees, $2 groups, $3 the caller's flows, $4 and $5 the
	 * assignees and groups that are the caller's roles; $6 the most rows
	 * (NULL: all), $7 the task the page starts after.  Each part looks up
	 * the tasks of one name (and one flow) in an index: a subquery the
	 * planner keeps (OFFSET 0) rather than joining whole indexes by hash.
	 * The tasks are ordered and cut to the page by their own columns and
	 * their flow's execution order; only the page's tasks are then read
	 * with their instance, key and definition.
	 */
#define TASKS_OF(names, cond) \
	"SELECT t.* FROM " names ", LATERAL (" \
	"  SELECT * FROM procflow.activity x WHERE x.kind = 'human' AND " cond " OFFSET 0) t"
#define TASK_ORDER(a, p) \
	"COALESCE(" a ".due_at, 'infinity'::timestamptz), " p ".execution_order, " \
	a ".created_at, " a ".id"
	catalog_keep_plan(&taskbox_plan,
					  "SELECT a.id, a.instance_id, p.name, a.name, a.status, a.assignee,"
					  "       a.\"group\", a.instructions, a.due_at, a.created_at,"
					  "       procflow.key_to_jsonb(p.entity, i.key), a.form, p.label,"
					  "       procflow.task_outcomes(v.definition->'activities'->a.name),"
					  "       procflow.task_allow_skip(v.definition->'activities'->a.name)"
					  "  FROM ("
					  "   SELECT a.* FROM ("
					  TASKS_OF("unnest($3) f(id), unnest($1) w(name)",
							   "x.status IN ('ready', 'open') AND x.assignee = w.name"
							   " AND x.process_id = f.id")
					  " UNION ALL "
					  TASKS_OF("unnest($4) w(name)",
							   "x.status IN ('ready', 'open') AND x.assignee = w.name"
							   " AND NOT x.process_id = ANY ($3)")
					  " UNION ALL "
					  TASKS_OF("unnest($3) f(id), unnest($2) g(name)",
							   "x.status = 'ready' AND x.assignee IS NULL"
							   " AND x.\"group\" = g.name AND x.process_id = f.id")
					  " UNION ALL "
					  TASKS_OF("unnest($5) g(name)",
							   "x.status = 'ready' AND x.assignee IS NULL"
							   " AND x.\"group\" = g.name AND NOT x.process_id = ANY ($3)")
					  " UNION ALL "
					  TASKS_OF("unnest($3) f(id)",
							   "x.status = 'ready' AND x.assignee IS NULL"
							   " AND x.\"group\" IS NULL AND x.process_id = f.id")
					  "   ) a"
					  "   JOIN procflow.process p ON p.id = a.process_id"
					  "   WHERE $7::bigint IS NULL"
					  "      OR (" TASK_ORDER("a", "p") ") > (SELECT " TASK_ORDER("s", "sp")
					  "            FROM procflow.activity s"
					  "            JOIN procflow.process sp ON sp.id = s.process_id"
					  "           WHERE s.id = $7)"
					  "   ORDER BY " TASK_ORDER("a", "p")
					  "   LIMIT $6"
					  "  ) a"
					  "  JOIN procflow.instance i ON i.id = a.instance_id"
					  "  JOIN procflow.process p ON p.id = i.process_id"
					  "  JOIN procflow.flow_version v ON v.process_id = i.process_id"
					  "                              AND v.version = i.version"
					  " ORDER BY " TASK_ORDER("a", "p"),
					  7, argtypes);
	if (SPI_execute_plan(taskbox_plan, args, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading the taskbox failed");
	catalog_leave_privileged(&scope);

	for (uint64 r = 0; r < SPI_processed; r++)
	{
		Datum		values[15];
		bool		nulls[15];

		heap_deform_tuple(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, values, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}

/* Has the current role the privileges of the role this name names? */
static bool
acts_as(const char *name)
{
	Oid			role = name ? get_role_oid(name, true) : InvalidOid;

	return OidIsValid(role) && has_privs_of_role(GetUserId(), role);
}

/*
 * Is the task the current role's to work as a worker: assigned to a role
 * it has the privileges of, or ready and unassigned for a group that is
 * such a role?
 */
static bool
worker_task(FlowActivityRow *task)
{
	if (task->assignee != NULL)
		return acts_as(task->assignee);
	return task->status == ACTIVITY_READY && acts_as(task->group);
}

/*
 * The task with this id, locked with its instance; an active instance's.
 * The caller has the privileges of the flow's owner (*as_owner), or, where
 * "workers" allows, the task is its to work as a worker.  Unless
 * "tasks_only", the activity may be of any kind for the owner's roles.
 */
static ProcessInfo *
lock_task(int64 id, bool workers, bool tasks_only, FlowInstance *instance,
		  FlowActivityRow *task, const char *action, bool *as_owner)
{
	FlowActivityRow seen;
	Oid			owner;
	ProcessInfo *flow;

	api_require_flow_catalog();
	*as_owner = true;
	if (!flow_store_read_activity(id, &seen) ||
		!flow_store_instance_owner(seen.instance_id, &owner))
		return instance_api_lock_activity(id, false, instance, task, action);
	if (has_privs_of_role(GetUserId(), owner))
	{
		/* an activity's kind never changes: told before any state */
		if (tasks_only && seen.kind != FLOW_HUMAN)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("activity " INT64_FORMAT " is not a task", id),
					 errdetail("It is a %s activity; tasks are the human activities.",
							   flow_kind_name(seen.kind))));
		return instance_api_lock_activity(id, false, instance, task, action);
	}
	if (!tasks_only && seen.kind != FLOW_HUMAN)
		return instance_api_lock_activity(id, false, instance, task, action);
	if (!workers)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s task " INT64_FORMAT, action, id),
				 errdetail("Only roles with the privileges of the flow's owner %s tasks.", action)));
	if (seen.kind != FLOW_HUMAN || !worker_task(&seen))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s task " INT64_FORMAT, action, id),
				 errdetail("Roles with the privileges of the flow's owner act on its tasks; other roles on the tasks assigned to a role they have the privileges of, or ready for a group that is one.")));
	*as_owner = false;
	flow = instance_api_lock_activity(id, true, instance, task, action);
	/* what changed while the instance's lock was awaited */
	if (!worker_task(task))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s task " INT64_FORMAT, action, id),
				 errdetail("The task is no longer one the caller works: it was claimed, released or assigned meanwhile.")));
	return flow;
}

/* Refuse a worker what only the claimant of a task may do. */
static void
require_claimant(FlowActivityRow *task, const char *action)
{
	if (task->assignee == NULL ||
		strcmp(task->assignee, GetUserNameFromId(GetUserId(), false)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s task " INT64_FORMAT, action, task->id),
				 errdetail("Only its claimant, or a role with the privileges of the flow's owner, may %s it.",
						   action)));
}

/* Refuse to act on a task that is not in one of the two given statuses. */
static void
require_task_status(FlowActivityRow *task, ActivityStatus one, ActivityStatus other,
					const char *action)
{
	if (task->status != one && task->status != other)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot %s task " INT64_FORMAT ": it is %s", action, task->id,
						activity_status_name(task->status))));
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
	bool		as_owner;

	(void) lock_task(id, true, true, &instance, &task, "claim", &as_owner);
	if (!as_owner && strcmp(assignee, GetUserNameFromId(GetUserId(), false)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to claim task " INT64_FORMAT " for \"%s\"", id, assignee),
				 errdetail("A worker claims a task for itself; roles with the privileges of the flow's owner claim for others.")));
	if (task.status == ACTIVITY_OPEN && task.assignee != NULL &&
		strcmp(task.assignee, assignee) == 0)
	{
		cache_unpin();
		SPI_finish();
		PG_RETURN_VOID();
	}
	if (task.status == ACTIVITY_OPEN)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot claim task " INT64_FORMAT ": \"%s\" holds it", id,
						task.assignee ? task.assignee : "someone"),
				 errhint("It can be claimed again once it is released (procflow.release_task).")));
	require_task_status(&task, ACTIVITY_READY, ACTIVITY_READY, "claim");
	/* a task assigned to a role is claimed by one of its workers */
	if (task.assignee != NULL && strcmp(task.assignee, assignee) != 0 &&
		(as_owner || !acts_as(task.assignee)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot claim task " INT64_FORMAT ": it is assigned to \"%s\"", id,
						task.assignee),
				 errhint("Release it first (procflow.release_task), or assign it (procflow.assign_task).")));
	flow_store_set_task(id, ACTIVITY_OPEN, assignee);
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
	bool		as_owner;

	(void) lock_task(id, true, true, &instance, &task, "release", &as_owner);
	if (!as_owner)
		require_claimant(&task, "release");
	require_task_status(&task, ACTIVITY_OPEN, task.assignee ? ACTIVITY_READY : ACTIVITY_OPEN,
						"release");
	flow_store_set_task(id, ACTIVITY_READY, NULL);
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
	bool		as_owner;

	(void) lock_task(id, false, true, &instance, &task, "assign", &as_owner);
	require_task_status(&task, ACTIVITY_READY, ACTIVITY_READY, "assign");
	flow_store_set_task(id, ACTIVITY_READY, assignee);
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
	bool		as_owner;
	char	   *me = GetUserNameFromId(GetUserId(), false);
	const char *closed_by;

	if (vars != NULL && (JB_ROOT_IS_SCALAR(vars) || !JB_ROOT_IS_OBJECT(vars)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("vars must be a JSON object")));
	id = task_arg(fcinfo);
	flow = lock_task(id, true, true, &instance, &task, "complete", &as_owner);
	require_task_status(&task, ACTIVITY_READY, ACTIVITY_OPEN, "complete");
	if (!as_owner && (task.status == ACTIVITY_OPEN || !worker_task(&task)))
		require_claimant(&task, "complete");
	if (task.form != NULL)
		task_form_check_vars(task.form, vars, id);

	/*
	 * Who acted: the caller; but a role with the owner's privileges acts for
	 * the application user (no role) the task is assigned to.
	 */
	closed_by = me;
	if (as_owner && task.assignee != NULL && !OidIsValid(get_role_oid(task.assignee, true)))
		closed_by = task.assignee;
	flow_engine_complete_task(flow, &instance, &task, outcome, vars, closed_by);
	cache_unpin();
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * procflow.skip_activity(activity): close a ready or failed automatic
 * activity, a waiting or failed wait, or a live task whose activity allows
 * it, and go on as if it had closed.  A task's worker skips it as it would
 * complete it: a ready task that is its to work, or the open task it
 * claimed.
 */
Datum
procflow_skip_activity(PG_FUNCTION_ARGS)
{
	int64		id = task_arg(fcinfo);
	FlowInstance instance;
	FlowActivityRow activity;
	ProcessInfo *flow;
	bool		as_owner;
	bool		skippable;

	flow = lock_task(id, true, false, &instance, &activity, "skip", &as_owner);
	if (!as_owner)
	{
		require_task_status(&activity, ACTIVITY_READY, ACTIVITY_OPEN, "skip");
		if (activity.status == ACTIVITY_OPEN)
			require_claimant(&activity, "skip");
	}
	if (activity.kind == FLOW_AUTOMATIC)
		skippable = activity.status == ACTIVITY_READY ||
			activity.status == ACTIVITY_FAILED;
	else if (activity.kind == FLOW_WAIT)
		skippable = activity.status == ACTIVITY_WAITING ||
			activity.status == ACTIVITY_FAILED;
	else if (activity.kind == FLOW_HUMAN)
		skippable = activity.status == ACTIVITY_SCHEDULED ||
			activity.status == ACTIVITY_READY || activity.status == ACTIVITY_OPEN;
	else
		skippable = false;
	if (!skippable)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot skip activity " INT64_FORMAT ": it is a %s %s activity", id,
						activity_status_name(activity.status), flow_kind_name(activity.kind)),
				 errhint("Automatic activities, waits and tasks that are live can be skipped (tasks when their activity allows it).")));
	flow_engine_skip(flow, &instance, &activity, GetUserNameFromId(GetUserId(), false));
	cache_unpin();
	SPI_finish();
	PG_RETURN_VOID();
}
