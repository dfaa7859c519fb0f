/*-------------------------------------------------------------------------
 *
 * flow_run.c
 *	  Running an instance's step and timer jobs.
 *
 * An executor (or run_jobs) runs a step job by locking its instance
 * without waiting: one that another transaction holds is held and runs
 * again a moment later, without counting as an attempt.  A step runs its
 * automatic activity's action, closes the activity and follows its next; a
 * timer job makes a scheduled task ready, times a task or a wait out, or
 * tells a subflow activity that its child ended.  A failed run counts on
 * its activity, which fails with the job.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/timestamp.h"

#include "action.h"
#include "flow_definition.h"
#include "flow_engine.h"
#include "flow_engine_int.h"
#include "flow_store.h"
#include "job_deadline.h"
#include "queue.h"

/*
 * The vars an automatic action gives: the jsonb object that its last
 * statement returned as the first column of one row, or NULL.
 */
static Jsonb *
action_vars(const char *activity)
{
	bool		isnull;
	Datum		d;
	Jsonb	   *vars;

	if (SPI_tuptable == NULL || SPI_processed != 1 ||
		SPI_tuptable->tupdesc->natts < 1 ||
		TupleDescAttr(SPI_tuptable->tupdesc, 0)->atttypid != JSONBOID)
		return NULL;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return NULL;
	vars = DatumGetJsonbP(d);
	if (!JB_ROOT_IS_OBJECT(vars) || JB_ROOT_IS_SCALAR(vars))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("activity \"%s\" returned jsonb that is not an object", activity),
				 errdetail("An action's last statement may return one row whose first column is a jsonb object: it is merged into the instance's vars.")));
	return DatumGetJsonbPCopy(d);
}

/* Run an automatic activity's action and follow its next. */
static void
run_automatic(Step *s, FlowActivityRow *row, int index, bool in_executor)
{
	FlowActivity *act = &s->fv->def->activities[index];
	Datum		args[ACTION_NARGS];
	char		nulls[ACTION_NARGS];
	OwnerScope	scope;
	Jsonb	   *vars;
	/* its own statement timeout, else its flow's */
	int64		timeout_ms = s->fv->timeout_ms[index] ? s->fv->timeout_ms[index] :
		s->flow->timeout_ms;

	step_args(s, act->name, row->id, args, nulls);
	action_enter_process_path(s->flow, s->fv->search_path, &scope);
	action_push(s->flow, 1, (Datum) 0, s->instance.id);
	if (in_executor)
		job_deadline_narrow(timeout_ms);
	action_run_plan(s->fv->plans[index], "activity", act->name, args, nulls);
	if (in_executor)
		job_deadline_widen();
	vars = action_vars(act->name);
	action_pop();
	action_leave_owner(&scope);

	if (vars != NULL)
		step_merge_vars(s, vars);
	flow_store_close_activity(row->id, ACTIVITY_CLOSED, NULL, NULL, true);
	s->have_row = false;		/* the action may have changed it */
	step_follow(s, act, NULL);
}

/*
 * Has the job of an activity anything to do: an automatic activity's step
 * while it is ready, a wait's timer while it waits, a task's timers while
 * it is live and one of its times has come, the step that tells a subflow
 * activity its child ended while it waits?
 */
static bool
job_is_due(ClaimedJob *job, FlowActivityRow *row)
{
	TimestampTz now = flow_now();

	if (row->kind == FLOW_AUTOMATIC)
		return row->status == ACTIVITY_READY;
	if (row->kind == FLOW_HUMAN)
		return (row->status == ACTIVITY_SCHEDULED && row->run_at <= now) ||
			((row->status == ACTIVITY_SCHEDULED || row->status == ACTIVITY_READY ||
			  row->status == ACTIVITY_OPEN) &&
			 row->timeout_at != 0 && row->timeout_at <= now);
	return row->status == ACTIVITY_WAITING;
}

/*
 * A task's timer: its start_delay passed (it becomes ready, and the
 * taskbox is told), or its timeout (it closes with outcome "timeout":
 * escalation).
 */
static void
task_timer(Step *s, FlowActivityRow *row, int index)
{
	TimestampTz now = flow_now();

	if (row->timeout_at != 0 && row->timeout_at <= now)
	{
		flow_store_cancel_jobs(s->instance.id, row->id, s->job_id, "the task timed out");
		flow_store_close_activity(row->id, ACTIVITY_CLOSED, "timeout", NULL, false);
		flow_engine_notify_task(row->id);
		step_follow(s, &s->fv->def->activities[index], "timeout");
		return;
	}
	flow_store_set_task(row->id, ACTIVITY_READY, row->assignee);
	flow_engine_notify_task(row->id);
	s->made_live = true;
}

/*
 * A subflow activity's child ended: the activity closes with the child's
 * outcome (completed or terminated), the child's vars are merged into the
 * instance's under the activity's name, and the instance goes on.
 */
static void
close_subflow(Step *s, FlowActivityRow *row, int index)
{
	FlowActivity *act = &s->fv->def->activities[index];
	InstanceStatus status;
	Jsonb	   *vars;

	if (!flow_store_child(s->instance.id, row->id, &status, &vars))
	{
		/* retry_activity of a subflow whose child could not be launched */
		(void) flow_launch_child(s, index, act, row->id, true, NULL);
		s->made_live = true;
		return;
	}
	if (!flow_has_ended(status))
	{
		s->made_live = true;	/* the child has not ended: nothing to do */
		return;
	}
	flow_take_child_end(s, act, row->id, status, vars);
}

/*
 * Is this job an activity's timeout that came less than FLOW_MIN_REST_MS
 * after the activity began: a wait's timer, or a task's once its timeout
 * has come (a task's timer may also be its start delay)?
 */
static bool
timeout_is_instant(FlowActivityRow *row)
{
	TimestampTz at;

	if (row->kind == FLOW_WAIT)
		at = row->run_at;
	else if (row->kind == FLOW_HUMAN && row->timeout_at <= flow_now())
		at = row->timeout_at;
	else
		return false;
	return at != 0 &&
		at < TimestampTzPlusMilliseconds(row->created_at, FLOW_MIN_REST_MS);
}

/*
 * Run an instance's step or timer job, or deliver an event to waits, in
 * the current (sub)transaction as an executor (or run_jobs) does.  Returns the job's status: "succeeded",
 * "skipped" with the reason in *note when there is nothing to do any more,
 * or FLOW_STEP_HELD when the instance is busy or suspended.
 */
const char *
flow_engine_run_job(ProcessInfo *flow, ClaimedJob *job, bool in_executor, const char **note)
{
	FlowInstance instance;
	FlowActivityRow row;
	bool		busy;
	Step		s;
	int			index;

	if (!flow_store_lock_instance(job->instance_id, false, &instance, &busy))
	{
		if (busy)
			return FLOW_STEP_HELD;
		*note = "the instance no longer exists";
		return "skipped";
	}
	if (instance.status == INSTANCE_SUSPENDED)
		return FLOW_STEP_HELD;
	if (instance.status != INSTANCE_ACTIVE)
	{
		*note = "the instance has ended";
		return "skipped";
	}
	if (!flow_store_read_activity(job->activity_id, &row) || !job_is_due(job, &row))
	{
		*note = "the activity is no longer waiting for this job";
		return "skipped";
	}

	step_begin(&s, flow, &instance, job->id, job->attempts + 1);
	index = step_activity_index(&s, row.name);
	/*
	 * A timer, or a child's end, comes from outside: the instance rests;
	 * but a timeout that had passed, or all but, when its activity began
	 * is a round without rest (flow_count_spin).
	 */
	if (timeout_is_instant(&row))
	{
		char	   *error;

		if (!flow_count_spin(&s, row.kind == FLOW_HUMAN ? "task" : "wait", row.name, &error))
		{
			flow_store_fail(row.id, error);
			s.made_live = true;
			step_end(&s);
			return "succeeded";
		}
	}
	else if (row.kind != FLOW_AUTOMATIC)
		step_rest(&s);
	if (row.kind == FLOW_AUTOMATIC)
		run_automatic(&s, &row, index, in_executor);
	else if (row.kind == FLOW_SUBFLOW)
		close_subflow(&s, &row, index);
	else if (row.kind == FLOW_HUMAN)
		task_timer(&s, &row, index);
	else
	{
		flow_store_close_activity(row.id, ACTIVITY_CLOSED, "timeout", NULL, false);
		step_follow(&s, &s.fv->def->activities[index], "timeout");
	}
	step_end(&s);
	return "succeeded";
}

/*
 * A step or timer job failed (its subtransaction was rolled back: the
 * action, or what the activity led to, raised an error): count the run on
 * its activity, which keeps its status while the job is retried, and is
 * failed, with the error, when the job is.  A wait or task whose timer
 * could not be followed fails too, so that retry_activity can run its
 * timer again.
 */
void
flow_engine_note_failure(const ClaimedJob *job, bool final, const RunError *error)
{
	flow_store_note_run(job->activity_id, final, error);
}
