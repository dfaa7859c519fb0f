/*-------------------------------------------------------------------------
 *
 * flow_step.c
 *	  The step of one instance: its context, and how it ends.
 *
 * An instance moves in steps.  A step is one transaction that holds the
 * instance's row lock (flow_store.c): a launch, an automatic activity's
 * run by an executor (its "step" job), a wait's timeout (its "timer" job),
 * an event reaching a wait, or a function acting on the instance
 * (skip_activity, retry_activity, terminate).  What the step's activity
 * leads to is followed at once, in the same transaction (flow_follow.c).
 * Only automatic activities and timers wait for the queue (flow_jobs.c).
 * So an action, its activity's closing and everything it leads to commit
 * together.
 *
 * The SQL of a definition runs as the flow's owner, with its version's
 * search_path, and sees $1 the instance's entity row as it is now (NULL
 * for an entity-less instance or a deleted row), $2 NULL, and $3 the
 * context: flow, version, instance, activity, activity_name, key, vars,
 * attempt and event.  A step ends by completing an instance that has
 * nothing live left, and telling its parent; an instance that ends by
 * termination ends its children with it.  A task that becomes ready or
 * changes is announced to the taskbox's listeners here too
 * (flow_engine_notify_task), for the steps and functions that change it.
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
#include "entity.h"
#include "flow_definition.h"
#include "flow_engine.h"
#include "flow_engine_int.h"
#include "flow_store.h"
#include "identity.h"
#include "queue.h"
#include "settings.h"

/* The engine's time, when procflow.run_timers runs timers before it (0: none). */
static TimestampTz engine_clock = 0;

/*
 * procflow.run_timers runs a timer as if its time had come: until it sets
 * the clock back to 0, the engine takes "now" to be this time, when it is
 * later than the clock's (flow_now).
 */
void
flow_engine_set_clock(TimestampTz as_of)
{
	engine_clock = as_of;
}

/*
 * Now, as the engine decides with it: whether a task's times have come, and
 * from when a wait's or a task's new times count.  It is the clock's, or a
 * later time procflow.run_timers set.
 */
TimestampTz
flow_now(void)
{
	return Max(engine_clock, GetCurrentTimestamp());
}

/*
 * The index of the step's activity of this name in its version; an error
 * when there is none (the instance's rows name only its version's).
 */
int
step_activity_index(Step *s, const char *name)
{
	int			index = flow_activity_index(s->fv->def, name);

	if (index < 0)
		elog(ERROR, "activity \"%s\" is not in version %d of flow \"%s\"",
			 name, s->instance.version, s->flow->name);
	return index;
}

/*
 * Begin a step of a locked instance.  Until step_end, the instance is
 * marked as running a step in this session (action.c): whatever SQL the
 * step runs (an action, a decision, a condition, a task's values) cannot
 * suspend, resume, terminate or change the instance under it.
 */
void
step_begin(Step *s, ProcessInfo *flow, FlowInstance *instance, int64 job_id, int attempt)
{
	memset(s, 0, sizeof(Step));
	s->flow = flow;
	s->instance = *instance;
	s->job_id = job_id;
	s->attempt = attempt;
	s->spins = instance->spins;
	s->clock = instance->clock;
	s->fv = flow_version_load(flow, instance->version);
	flow_version_prepare(flow, s->fv);
	action_push(flow, action_current_depth() + 1, (Datum) 0, instance->id);
}

/*
 * The step was brought by something from outside: an event, a timer, a
 * person or a function.  The instance rests, and its count of waits closed
 * at once starts again.
 */
void
step_rest(Step *s)
{
	s->spins = 0;
}

/*
 * Merge a jsonb object into the instance's vars (its keys win), in its row
 * and in what the step's later SQL sees.
 */
void
step_merge_vars(Step *s, Jsonb *vars)
{
	flow_store_merge_vars(s->instance.id, vars);
	s->instance.vars = DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
														  JsonbPGetDatum(s->instance.vars),
														  JsonbPGetDatum(vars)));
}

/*
 * The instance's entity row as it is now, read as the table's owner;
 * NULL for an entity-less instance or a row that is gone.
 */
void
step_read_row(Step *s)
{
	IdentityScope scope;

	s->have_row = true;
	s->row_null = true;
	if (s->flow->entity == NULL || s->instance.key == 0)
		return;
	entity_enter(s->flow->entity, &scope);
	s->row_null = !entity_fetch_row(s->flow->entity, s->instance.key, &s->row);
	entity_leave(&scope);
}

/* Push "key": value (a C string, or null) into a jsonb object. */
void
flow_jsonb_push_pair(JsonbParseState **state, const char *key, const char *value)
{
	JsonbValue	null_value;

	entity_push_jsonb_string(state, WJB_KEY, key);
	if (value == NULL)
	{
		null_value.type = jbvNull;
		(void) pushJsonbValue(state, WJB_VALUE, &null_value);
	}
	else
		entity_push_jsonb_string(state, WJB_VALUE, value);
}

/* Push "key": number into a jsonb object. */
void
flow_jsonb_push_number(JsonbParseState **state, const char *key, int64 number)
{
	JsonbValue	v;

	entity_push_jsonb_string(state, WJB_KEY, key);
	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(number);
	(void) pushJsonbValue(state, WJB_VALUE, &v);
}

/* Push "key": a jsonb document into a jsonb object. */
void
flow_jsonb_push_doc(JsonbParseState **state, const char *key, Jsonb *doc)
{
	JsonbValue	v;

	entity_push_jsonb_string(state, WJB_KEY, key);
	v.type = jbvBinary;
	v.val.binary.data = &doc->root;
	v.val.binary.len = VARSIZE(doc) - VARHDRSZ;
	(void) pushJsonbValue(state, WJB_VALUE, &v);
}

/* The context ($3) of SQL that an activity of the step runs. */
Datum
step_context(Step *s, const char *activity_name, int64 activity_id)
{
	JsonbParseState *state = NULL;
	JsonbValue *result;
	JsonbValue	null_value;

	null_value.type = jbvNull;
	(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	flow_jsonb_push_pair(&state, "flow", s->flow->name);
	flow_jsonb_push_number(&state, "version", s->instance.version);
	flow_jsonb_push_number(&state, "instance", s->instance.id);
	entity_push_jsonb_string(&state, WJB_KEY, "activity");
	if (activity_id != 0)
	{
		JsonbValue	v;

		v.type = jbvNumeric;
		v.val.numeric = int64_to_numeric(activity_id);
		(void) pushJsonbValue(&state, WJB_VALUE, &v);
	}
	else
		(void) pushJsonbValue(&state, WJB_VALUE, &null_value);
	flow_jsonb_push_pair(&state, "activity_name", activity_name);
	entity_push_jsonb_string(&state, WJB_KEY, "key");
	if (s->instance.key != 0 && s->flow->entity != NULL)
		(void) entity_key_push_jsonb(&state, s->flow->entity, s->instance.key);
	else
		(void) pushJsonbValue(&state, WJB_VALUE, &null_value);
	flow_jsonb_push_doc(&state, "vars", s->instance.vars);
	flow_jsonb_push_number(&state, "attempt", s->attempt);
	if (s->event != NULL)
		flow_jsonb_push_doc(&state, "event", s->event);
	else
		flow_jsonb_push_pair(&state, "event", NULL);
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(result));
}

/* Fill the three arguments of an activity's SQL. */
void
step_args(Step *s, const char *activity_name, int64 activity_id, Datum *args, char *nulls)
{
	if (!s->have_row)
		step_read_row(s);
	args[0] = s->row;
	nulls[0] = s->row_null ? 'n' : ' ';
	args[1] = (Datum) 0;
	nulls[1] = 'n';
	args[2] = step_context(s, activity_name, activity_id);
	nulls[2] = ' ';
}

/* Evaluate an expression of an activity of the step's instance. */
Datum
step_evaluate(Step *s, SPIPlanPtr plan, const char *activity_name, bool *isnull)
{
	Datum		args[ACTION_NARGS];
	char		nulls[ACTION_NARGS];

	step_args(s, activity_name, 0, args, nulls);
	return flow_version_evaluate(s->flow, s->fv, plan, activity_name, args, nulls, isnull);
}

/* Has an instance with this status ended (completed or terminated)? */
bool
flow_has_ended(InstanceStatus status)
{
	return status == INSTANCE_COMPLETED || status == INSTANCE_TERMINATED;
}

/*
 * Tell a subflow's parent that the instance ended: a step job of the
 * parent's subflow activity, which closes it with the child's outcome
 * when it runs.  The parent is not locked here: executors lock one
 * instance at a time, and the functions lock parents before children.
 */
static void
notify_parent(FlowInstance *instance)
{
	ProcessInfo *parent_flow;
	int32		process_id;
	NewJob		job;

	if (instance->parent_activity == 0)
		return;
	process_id = flow_store_instance_flow(instance->parent);
	if (process_id == 0 || (parent_flow = cache_process(process_id)) == NULL)
		return;
	memset(&job, 0, sizeof(job));
	job.process_id = parent_flow->id;
	job.event = "step";
	job.ord = procflow_order_key(parent_flow->execution_order, 0);
	job.owner = parent_flow->owner;
	job.instance_id = instance->parent;
	job.activity_id = instance->parent_activity;
	job.run_at = step_due_now();
	(void) queue_insert(&job);
}

/*
 * Terminate the instances with these ids that are still live once locked
 * (each waits for a step running on it), telling their parents or not.
 */
void
flow_terminate_listed(List *ids, bool tell_parent)
{
	ListCell   *lc;

	foreach(lc, ids)
	{
		FlowInstance instance;
		bool		busy;

		if (flow_store_lock_instance(*(int64 *) lfirst(lc), true, &instance, &busy) &&
			(instance.status == INSTANCE_ACTIVE || instance.status == INSTANCE_SUSPENDED))
			flow_engine_terminate(&instance, 0, tell_parent);
	}
}

/*
 * Terminate an instance: an end with "terminate", terminate(), or
 * disable_process with cancel_pending.  Its live children are terminated
 * too (locked, in turn, after it); its parent is told, unless it is the
 * one terminating it.  The caller holds the instance's lock.
 */
void
flow_engine_terminate(FlowInstance *instance, int64 except_job, bool tell_parent)
{
	check_stack_depth();
	flow_store_cancel_live(instance->id, except_job);
	flow_store_set_status(instance->id, INSTANCE_TERMINATED);
	instance->status = INSTANCE_TERMINATED;
	flow_terminate_listed(flow_store_live_children(instance->id), false);
	if (tell_parent)
		notify_parent(instance);
}

/*
 * Tell a taskbox that a task changed (it became ready, was claimed,
 * released or assigned, or closed): NOTIFY procflow_task with its id, sent
 * when the transaction commits.
 */
void
flow_engine_notify_task(int64 activity_id)
{
	Async_Notify("procflow_task", psprintf(INT64_FORMAT, activity_id));
}

/*
 * After a step: an active instance with no live activity has completed,
 * and its parent is told.  A step that began a live activity need not
 * look, unless it closed one it may have begun (a join, a subflow).
 * The count of waits closed at once is kept; an instance that caught up
 * on its kept events, and whose chain of steps is over, rests: its clock
 * goes.  The instance is no longer running a step in this session.
 */
void
step_end(Step *s)
{
	if (!s->ended && (!s->made_live || s->closed_begun) &&
		s->instance.status == INSTANCE_ACTIVE &&
		flow_store_complete_if_idle(s->instance.id))
	{
		s->instance.status = INSTANCE_COMPLETED;
		notify_parent(&s->instance);
	}
	if (s->spins != s->instance.spins)
		flow_store_set_spins(s->instance.id, s->spins);
	/* the chain goes on while a step it queued, or an event kept, waits */
	if (s->clock != 0 &&
		(flow_has_ended(s->instance.status) ||
		 (!s->queued_step && !flow_store_has_queued(s->instance.id, s->job_id, true))))
		s->clock = 0;
	if (s->clock != s->instance.clock)
		flow_store_set_clock(s->instance.id, s->clock);
	action_pop();
}
