/*-------------------------------------------------------------------------
 *
 * flow_control.c
 *	  What the functions on instances and activities do.
 *
 * suspend and resume, skip_activity, complete_task, retry_activity, and
 * the end of a flow's instances when the flow is dropped: each is a step
 * of the instance, taken by a function that waits for the instance's lock
 * (the executors never wait for it, so no cycle of waits can form).
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

#include "flow_definition.h"
#include "flow_engine.h"
#include "flow_engine_int.h"
#include "flow_store.h"
#include "queue.h"

/*
 * Suspend or resume an instance and its live children, recursively
 * (resuming resumes every suspended child).  The caller holds the
 * instance's lock.
 */
void
flow_engine_set_suspended(FlowInstance *instance, bool suspend)
{
	List	   *children;
	ListCell   *lc;

	check_stack_depth();
	flow_store_set_status(instance->id, suspend ? INSTANCE_SUSPENDED : INSTANCE_ACTIVE);
	children = flow_store_live_children(instance->id);
	foreach(lc, children)
	{
		FlowInstance child;
		bool		busy;

		if (flow_store_lock_instance(*(int64 *) lfirst(lc), true, &child, &busy) &&
			child.status == (suspend ? INSTANCE_ACTIVE : INSTANCE_SUSPENDED))
			flow_engine_set_suspended(&child, suspend);
	}
}

/*
 * skip_activity: close a ready or failed automatic activity, or a waiting
 * wait, as skipped, and go on: an automatic activity to its next, a wait
 * to its outcome "skipped" or else its plain next.  The caller holds the
 * instance's lock and has checked the rights and states.
 */
void
flow_engine_skip(ProcessInfo *flow, FlowInstance *instance, FlowActivityRow *activity,
				 const char *by)
{
	Step		s;
	int			index;
	FlowActivity *act;
	bool		plain = false;
	bool		skipped = false;

	step_begin(&s, flow, instance, 0, 1);
	step_rest(&s);
	index = step_activity_index(&s, activity->name);
	act = &s.fv->def->activities[index];
	if (act->kind == FLOW_HUMAN && !act->allow_skip)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("task %lld (\"%s\") cannot be skipped", (long long) activity->id,
						activity->name),
				 errdetail("Its activity does not have \"allow_skip\": true.")));
	for (int l = 0; l < act->nlinks; l++)
	{
		plain |= act->links[l].outcome == NULL;
		skipped |= act->links[l].outcome != NULL &&
			strcmp(act->links[l].outcome, "skipped") == 0;
	}
	if (!plain && !skipped)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("activity %lld (\"%s\") cannot be skipped", (long long) activity->id,
						activity->name),
				 errdetail("Its \"next\" names no activity for the outcome \"skipped\"."),
				 errhint("Give the activity a \"skipped\" outcome in a new version of the flow.")));
	flow_store_cancel_jobs(instance->id, activity->id, 0, "the activity was skipped");
	flow_store_close_activity(activity->id, ACTIVITY_SKIPPED, skipped ? "skipped" : NULL, by, false);
	if (act->kind == FLOW_WAIT)
		flow_store_unpark_events(instance->id);
	if (act->kind == FLOW_HUMAN)
		flow_engine_notify_task(activity->id);
	step_follow(&s, act, "skipped");
	step_end(&s);
}

/*
 * complete_task: close a ready or open task with one of its outcomes (the
 * keys of its "next"; none for a plain "next"; "timeout" is its timer's),
 * merge vars into the instance's, and go on.  The caller holds the
 * instance's lock and has checked the rights and states.
 */
void
flow_engine_complete_task(ProcessInfo *flow, FlowInstance *instance,
						  FlowActivityRow *activity, const char *outcome, Jsonb *vars,
						  const char *by)
{
	Step		s;
	int			index;
	FlowActivity *act;
	bool		known = false;
	bool		plain = false;
	StringInfoData outcomes;

	step_begin(&s, flow, instance, 0, 1);
	step_rest(&s);
	index = step_activity_index(&s, activity->name);
	act = &s.fv->def->activities[index];
	initStringInfo(&outcomes);
	for (int l = 0; l < act->nlinks; l++)
	{
		const char *o = act->links[l].outcome;

		if (o == NULL)
			plain = true;
		/* the timer's and skip_activity's outcomes: not a person's */
		else if (strcmp(o, "timeout") != 0 && strcmp(o, "skipped") != 0)
		{
			if (outcome != NULL && strcmp(o, outcome) == 0)
				known = true;
			if (l == 0 || act->links[l - 1].outcome == NULL ||
				strcmp(act->links[l - 1].outcome, o) != 0)
				appendStringInfo(&outcomes, "%s%s", outcomes.len > 0 ? ", " : "", o);
		}
	}
	if (plain ? outcome != NULL : !known)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 outcome ? errmsg("task %lld (\"%s\") has no outcome \"%s\"",
								  (long long) activity->id, activity->name, outcome) :
				 errmsg("task %lld (\"%s\") needs an outcome", (long long) activity->id,
						activity->name),
				 plain ? errhint("It has one outcome: complete it without naming one.") :
				 errhint("Its outcomes are: %s.", outcomes.data)));
	flow_store_cancel_jobs(instance->id, activity->id, 0, "the task was completed");
	if (vars != NULL)
		step_merge_vars(&s, vars);
	flow_store_close_activity(activity->id, ACTIVITY_CLOSED, outcome, by, false);
	flow_engine_notify_task(activity->id);
	step_follow(&s, act, outcome);
	step_end(&s);
}

/*
 * disable_process with cancel_pending: terminate every live instance of a
 * flow, each with its children, waiting for the steps executors run on
 * them.
 */
void
flow_engine_terminate_flow(int32 process_id)
{
	flow_terminate_listed(flow_store_live_instances(process_id), true);
}

/*
 * retry_activity: a failed automatic activity runs again; a wait that
 * failed on an event gets that event again; a failed wait's or task's
 * timer fires again (a task is ready meanwhile); a wait that failed as it
 * began (it would have spun) waits, its instance's count of waits closed
 * at once starting again.  Attempts are counted anew.  The caller holds the
 * instance's lock.
 */
void
flow_engine_retry(ProcessInfo *flow, FlowInstance *instance, FlowActivityRow *activity)
{
	Step		s;
	bool		automatic = activity->kind == FLOW_AUTOMATIC;
	bool		subflow = activity->kind == FLOW_SUBFLOW;
	bool		wait = activity->kind == FLOW_WAIT;

	memset(&s, 0, sizeof(s));
	s.flow = flow;
	s.instance = *instance;
	if (instance->spins != 0)
		flow_store_set_spins(instance->id, 0);
	/* the events that came meanwhile are taken after it */
	if (wait)
		flow_store_unpark_events(instance->id);
	if (wait && (flow_store_failed_event(instance->id, activity->id) || activity->run_at == 0))
	{
		flow_store_reopen(activity->id, ACTIVITY_WAITING, false);
		return;
	}
	/* a task is ready again; its timer finds whether its timeout passed */
	flow_store_reopen(activity->id, subflow || wait ? ACTIVITY_WAITING : ACTIVITY_READY, true);
	flow_queue_activity_job(&s, activity->id, activity->name, automatic || subflow ? "step" : "timer",
							step_due_now());
	if (activity->kind == FLOW_HUMAN)
		flow_engine_notify_task(activity->id);
}
