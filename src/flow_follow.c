/*-------------------------------------------------------------------------
 *
 * flow_follow.c
 *	  Following the links of a flow: entering activities, and launching instances.
 *
 * Entering an activity does what its kind asks, in the step's
 * transaction: an automatic activity gets its step job; a decision
 * evaluates its cases and follows one; a split follows every branch; a
 * join counts the branches that arrived; a wait begins (and closes at once
 * when its event already holds for the instance's own row); a task becomes
 * ready or scheduled, with its timers; a subflow launches its child; an
 * end ends, and may terminate the instance.  A launch inserts an instance
 * and enters its start.
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

#include "entity.h"
#include "flow_definition.h"
#include "flow_engine.h"
#include "flow_engine_int.h"
#include "flow_store.h"
#include "queue.h"
#include "task_form.h"

static void enter_activity(Step *s, int target, const char *from);

/*
 * Follow the links of activity "act" that its outcome takes (all of them
 * for a plain or split "next"; those of the outcome for an object "next").
 */
void
step_follow(Step *s, FlowActivity *act, const char *outcome)
{
	for (int l = 0; l < act->nlinks && !s->ended; l++)
	{
		FlowLink   *link = &act->links[l];

		if (link->outcome == NULL ||
			(outcome != NULL && strcmp(link->outcome, outcome) == 0))
			enter_activity(s, link->target, act->name);
	}
}

/* A decision: the first case that holds, or else. */
static void
enter_decision(Step *s, int index, FlowActivity *act)
{
	NewActivity a;
	int			chosen = -1;
	int			ncase = 0;
	const char *outcome = "else";

	for (int l = 0; l < act->nlinks && chosen < 0; l++)
	{
		FlowLink   *link = &act->links[l];
		bool		isnull;
		Datum		holds;

		if (link->when == NULL || (l > 0 && link->when == act->links[l - 1].when))
			continue;
		ncase++;
		holds = step_evaluate(s, s->fv->link_plans[flow_link_index(s->fv->def, index, l)],
							  act->name, &isnull);
		if (!isnull && DatumGetBool(holds))
			chosen = l;
	}
	if (chosen >= 0)
		outcome = psprintf("case %d", ncase);

	memset(&a, 0, sizeof(a));
	a.name = act->name;
	a.kind = FLOW_DECISION;
	a.status = ACTIVITY_CLOSED;
	a.outcome = outcome;
	(void) flow_store_insert_activity(&s->instance, &a);

	for (int l = 0; l < act->nlinks && !s->ended; l++)
	{
		FlowLink   *link = &act->links[l];

		if (chosen >= 0 ? link->when == act->links[chosen].when :
			(link->outcome != NULL && strcmp(link->outcome, "else") == 0))
			enter_activity(s, link->target, act->name);
	}
}

/*
 * Does a wait's event already hold for the instance's own row as it
 * begins?  A create: the row exists (and the condition holds); an update:
 * its condition holds (without one, only a change closes it); a delete:
 * the row is gone.  The row is read again, after the wait's snapshot was
 * taken: what that snapshot sees, this reading sees too, so an event is
 * either seen here or taken later.
 */
static bool
wait_holds_now(Step *s, int index, FlowActivity *act)
{
	FlowWaitOn *on = act->on;
	bool		isnull;
	Datum		holds;

	if (s->flow->entity == NULL || s->fv->wait_entity[index] != s->flow->entity->relid ||
		s->instance.key == 0)
		return false;
	step_read_row(s);
	if (on->event == 'd')
		return s->row_null;
	if (s->row_null)
		return false;
	if (on->condition == NULL)
		return on->event == 'c';
	holds = step_evaluate(s, s->fv->plans[index], act->name, &isnull);
	return !isnull && DatumGetBool(holds);
}

/*
 * An activity is done the moment it begins, without anything coming from
 * outside: a wait whose event already holds (closed at once), or whose
 * timeout had passed when it began (closed by its timer), a subflow whose
 * child ended at once.  That is a round without rest: an instance that
 * does so FLOW_MAX_SPINS times without taking an event, a timer, a task's
 * completion or a function acting on it in between would spin in a cycle
 * through it, and the activity fails instead.  Returns false, with the
 * error; else true, the round counted.
 */
bool
flow_count_spin(Step *s, const char *kind, const char *name, char **error)
{
	if (s->spins >= FLOW_MAX_SPINS)
	{
		*error = psprintf("%s \"%s\" ended at once %d times in a row without an event: its instance would never rest",
						  kind, name, FLOW_MAX_SPINS);
		ereport(LOG,
				(errmsg("instance " INT64_FORMAT " of flow \"%s\": %s", s->instance.id,
						s->flow->name, *error)));
		return false;
	}
	s->spins++;
	return true;
}

/*
 * A wait begins: for its event, its timeout, or both.  It takes the events
 * that its snapshot does not see: the latest one, taken now that the
 * instance is locked (or being inserted); and those queued after its
 * instance's clock, while a chain of steps runs (flow_delivery.c).  A wait
 * whose event already holds closes at once (outcome event); see
 * flow_count_spin.
 */
static void
enter_wait(Step *s, int index, FlowActivity *act)
{
	NewActivity a;
	TimestampTz now = flow_now();
	TimestampTz timeout = 0;
	int64		id;

	memset(&a, 0, sizeof(a));
	a.name = act->name;
	a.kind = FLOW_WAIT;
	a.created_at = now;			/* its timeout counts from then (flow_run.c) */
	if (act->on != NULL)
	{
		a.began = flow_store_latest_snapshot();
		a.began_after = s->clock;
		a.wait_entity = s->fv->wait_entity[index];
		a.wait_key = s->instance.key;
	}
	if (act->on != NULL && wait_holds_now(s, index, act))
	{
		char	   *error;

		if (!flow_count_spin(s, "wait", act->name, &error))
		{
			a.status = ACTIVITY_FAILED;
			a.error = error;
			(void) flow_store_insert_activity(&s->instance, &a);
			s->made_live = true;
			return;
		}
		/* the row as it is now is seen: the waits after take what comes next */
		s->clock = flow_store_queue_end();
		a.status = ACTIVITY_CLOSED;
		a.outcome = "event";
		(void) flow_store_insert_activity(&s->instance, &a);
		step_follow(s, act, "event");
		return;
	}
	if (act->timeout != NULL)
		timeout = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
														  TimestampTzGetDatum(now),
														  DirectFunctionCall3(interval_in,
																			  CStringGetDatum(act->timeout),
																			  ObjectIdGetDatum(InvalidOid),
																			  Int32GetDatum(-1))));
	else if (act->timeout_sql != NULL)
	{
		bool		isnull;
		Datum		d = step_evaluate(s, s->fv->timeout_plans[index], act->name, &isnull);

		/* NULL: no timeout this time */
		if (!isnull)
			timeout = DatumGetTimestampTz(d);
	}
	a.run_at = timeout;
	a.status = ACTIVITY_WAITING;
	id = flow_store_insert_activity(&s->instance, &a);
	s->made_live = true;
	if (timeout != 0)
		flow_queue_activity_job(s, id, act->name, "timer", timeout);
}

/*
 * A text value of a task (assignee, group, instructions): its literal, or
 * its SQL's result; NULL when it has none or the SQL gives NULL.
 */
static const char *
task_text(Step *s, int index, int slot, const FlowValue *value, const char *activity)
{
	bool		isnull;
	Datum		d;

	if (value->literal != NULL)
		return value->literal;
	if (value->sql == NULL)
		return NULL;
	d = step_evaluate(s, s->fv->value_plans[index][slot], activity, &isnull);
	return isnull ? NULL : TextDatumGetCString(d);
}

/*
 * A time of a task or wait: a literal interval from "from", or its SQL's
 * result; 0 when it has none or the SQL gives NULL.
 */
static TimestampTz
activity_time(Step *s, SPIPlanPtr plan, const char *literal, const char *sql,
			  TimestampTz from, const char *activity)
{
	bool		isnull;
	Datum		d;

	if (literal != NULL)
		return DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
													   TimestampTzGetDatum(from),
													   DirectFunctionCall3(interval_in,
																		   CStringGetDatum(literal),
																		   ObjectIdGetDatum(InvalidOid),
																		   Int32GetDatum(-1))));
	if (sql == NULL)
		return 0;
	d = step_evaluate(s, plan, activity, &isnull);
	return isnull ? 0 : DatumGetTimestampTz(d);
}

/*
 * A human activity: a task, with its values computed now as the flow's
 * owner.  It is ready at once (and the taskbox is told), or scheduled
 * until its start_delay passes; its start and its timeout are timers.
 */
static void
enter_human(Step *s, int index, FlowActivity *act)
{
	NewActivity a;
	TimestampTz now = flow_now();
	TimestampTz start;
	int64		id;

	memset(&a, 0, sizeof(a));
	a.name = act->name;
	a.kind = FLOW_HUMAN;
	a.created_at = now;			/* its times count from then (flow_run.c) */
	a.assignee = task_text(s, index, VALUE_ASSIGNEE, &act->assignee, act->name);
	a.group = task_text(s, index, VALUE_GROUP, &act->group, act->name);
	a.instructions = task_text(s, index, VALUE_INSTRUCTIONS, &act->instructions, act->name);
	a.due_at = activity_time(s, s->fv->value_plans[index][VALUE_DUE], act->due.literal,
							 act->due.sql, now, act->name);
	start = activity_time(s, s->fv->value_plans[index][VALUE_START_DELAY],
						  act->start_delay.literal, act->start_delay.sql, now, act->name);
	a.timeout_at = activity_time(s, s->fv->timeout_plans[index], act->timeout,
								 act->timeout_sql, now, act->name);
	if (act->form != NULL && act->form->nsql > 0)
	{
		bool		isnull;
		Datum		d = step_evaluate(s, s->fv->vars_plans[index], act->name, &isnull);

		a.form = isnull ? act->form->json :
			JsonbToCString(NULL, &DatumGetJsonbP(d)->root, -1);
	}
	else if (act->form != NULL)
		a.form = act->form->json;
	a.status = start > now ? ACTIVITY_SCHEDULED : ACTIVITY_READY;
	a.run_at = start > now ? start : now;
	id = flow_store_insert_activity(&s->instance, &a);
	s->made_live = true;
	if (start > now)
		flow_queue_activity_job(s, id, act->name, "timer", start);
	else
		flow_engine_notify_task(id);
	if (a.timeout_at != 0)
		flow_queue_activity_job(s, id, act->name, "timer", a.timeout_at);
}

/*
 * Launch the child of subflow activity "activity_id": an instance of
 * another flow of the owner, for the row the activity's "key" names (or
 * this instance's row), with its "vars".  A key that is NULL or names no
 * row raises 22004 or 23503 when "raise", and otherwise returns false,
 * with the message in *error.
 */
bool
flow_launch_child(Step *s, int index, FlowActivity *act, int64 activity_id, bool raise,
				  char **error)
{
	ProcessInfo *child;
	int32		child_id;
	Datum		key = s->instance.key;
	Jsonb	   *vars = NULL;
	bool		isnull;
	Datum		d;

	child_id = flow_store_flow_by_name(act->subflow, s->flow->owner);
	child = child_id != 0 ? cache_process(child_id) : NULL;
	if (child == NULL || !process_is_flow(child))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("subflow \"%s\" names flow \"%s\", which does not exist", act->name,
						act->subflow)));
	if (!flow_store_flow_enabled(child_id))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("flow \"%s\", which subflow \"%s\" launches, is disabled",
						act->subflow, act->name)));
	if (act->subflow_key != NULL)
	{
		int64		hash;

		d = step_evaluate(s, s->fv->key_plans[index], act->name, &isnull);
		if (isnull || child->entity == NULL)
		{
			char	   *message = psprintf("the key of subflow \"%s\" is NULL", act->name);

			if (raise)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("%s", message)));
			*error = message;
			return false;
		}
		key = entity_key_of_jsonb(child->entity, DatumGetJsonbP(d), &hash);
	}
	else if (child->entity == NULL)
		key = (Datum) 0;
	if (key != 0)
	{
		bool		found;

		key = entity_row_key(child->entity, key, &found);
		if (!found)
		{
			char	   *message = psprintf("table \"%s\" has no row with key %s for subflow \"%s\"",
										   get_rel_name(child->entity->relid),
										   OidOutputFunctionCall(F_ARRAY_OUT, key),
										   act->name);

			if (raise)
				ereport(ERROR,
						(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
						 errmsg("%s", message)));
			*error = message;
			return false;
		}
	}
	if (act->subflow_vars != NULL)
	{
		d = step_evaluate(s, s->fv->vars_plans[index], act->name, &isnull);
		if (!isnull)
		{
			vars = DatumGetJsonbP(d);
			if (JB_ROOT_IS_SCALAR(vars) || !JB_ROOT_IS_OBJECT(vars))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the vars of subflow \"%s\" are not a JSON object", act->name)));
		}
	}
	(void) flow_engine_launch(child, key, vars, s->instance.id, activity_id);
	return true;
}

/*
 * A subflow's child ended (with status "status" and these vars): the
 * activity closes with its outcome, the child's vars are merged into the
 * instance's under the activity's name, and the instance goes on.
 */
void
flow_take_child_end(Step *s, FlowActivity *act, int64 activity_id, InstanceStatus status,
					Jsonb *vars)
{
	const char *outcome = instance_status_name(status);
	JsonbParseState *state = NULL;
	JsonbValue *result;

	(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	flow_jsonb_push_doc(&state, act->name, vars);
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	step_merge_vars(s, JsonbValueToJsonb(result));
	flow_store_close_activity(activity_id, ACTIVITY_CLOSED, outcome, NULL, false);
	step_follow(s, act, outcome);
}

/*
 * A subflow: it launches its child and waits until the child ends
 * (notify_parent).  A child whose key is NULL or names no row fails the
 * activity, with that error: retry_activity launches it again.  A child
 * that ended at once is taken at once, as a round without rest
 * (flow_count_spin).
 */
static void
enter_subflow(Step *s, int index, FlowActivity *act)
{
	NewActivity a;
	int64		id;
	char	   *error;
	InstanceStatus status;
	Jsonb	   *vars;

	memset(&a, 0, sizeof(a));
	a.name = act->name;
	a.kind = FLOW_SUBFLOW;
	a.status = ACTIVITY_WAITING;
	id = flow_store_insert_activity(&s->instance, &a);
	s->made_live = true;
	if (!flow_launch_child(s, index, act, id, false, &error))
	{
		flow_store_fail(id, error);
		return;
	}
	if (!flow_store_child(s->instance.id, id, &status, &vars) || !flow_has_ended(status))
		return;
	if (!flow_count_spin(s, "subflow", act->name, &error))
	{
		flow_store_fail(id, error);
		return;
	}
	/* it closed an activity it began: step_end looks whether any is live */
	s->closed_begun = true;
	flow_take_child_end(s, act, id, status, vars);
}

/* A link from "from" reaches a join: it goes on when all its links have. */
static void
enter_join(Step *s, FlowActivity *act, const char *from)
{
	int			narrived;
	int64		id = flow_store_join_arrive(s->instance.id, act->name, from, &narrived);

	if (narrived < act->incoming)
	{
		s->made_live = true;
		return;
	}
	flow_store_close_activity(id, ACTIVITY_CLOSED, NULL, NULL, false);
	s->closed_begun = true;
	step_follow(s, act, NULL);
}

/*
 * The step's instance reaches an activity (target), from activity "from"
 * (NULL at the start).
 */
static void
enter_activity(Step *s, int target, const char *from)
{
	FlowActivity *act = &s->fv->def->activities[target];
	NewActivity a;
	int64		id;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	if (s->ended)
		return;
	memset(&a, 0, sizeof(a));
	a.name = act->name;
	switch (act->kind)
	{
		case FLOW_AUTOMATIC:
			a.kind = FLOW_AUTOMATIC;
			a.status = ACTIVITY_READY;
			a.run_at = GetCurrentTimestamp();
			id = flow_store_insert_activity(&s->instance, &a);
			s->made_live = true;
			flow_queue_activity_job(s, id, act->name, "step", step_due_now());
			break;
		case FLOW_WAIT:
			enter_wait(s, target, act);
			break;
		case FLOW_DECISION:
			enter_decision(s, target, act);
			break;
		case FLOW_JOIN:
			enter_join(s, act, from);
			break;
		case FLOW_END:
			a.kind = FLOW_END;
			a.status = ACTIVITY_CLOSED;
			(void) flow_store_insert_activity(&s->instance, &a);
			if (act->terminate)
			{
				flow_engine_terminate(&s->instance, s->job_id, true);
				s->ended = true;
			}
			break;
		case FLOW_HUMAN:
			enter_human(s, target, act);
			break;
		case FLOW_SUBFLOW:
			enter_subflow(s, target, act);
			break;
		case FLOW_CONDITIONAL_START:
			/* not reached by links: the definition's check refuses that */
			elog(ERROR, "a link leads to conditional start \"%s\"", act->name);
	}
}

/*
 * Start an instance of a flow's current version for the entity row with
 * this key (text[], 0 for none), with these vars (NULL: {}), and follow
 * its start; a subflow's instance names its parent and the parent's
 * activity that waits for it.  Returns its id.  The caller has checked the
 * right to.
 */
int64
flow_engine_launch(ProcessInfo *flow, Datum key, Jsonb *vars, int64 parent,
				   int64 parent_activity)
{
	FlowInstance instance;
	Step		s;

	memset(&instance, 0, sizeof(instance));
	instance.id = flow_store_insert_instance(flow->id, flow->version, key, vars, parent,
											 parent_activity, flow_store_latest_snapshot());
	instance.process_id = flow->id;
	instance.version = flow->version;
	instance.key = key;
	instance.parent = parent;
	instance.parent_activity = parent_activity;
	instance.status = INSTANCE_ACTIVE;
	instance.vars = vars != NULL ? vars :
		DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	step_begin(&s, flow, &instance, 0, 1);
	enter_activity(&s, s.fv->def->start, NULL);
	step_end(&s);
	return instance.id;
}
