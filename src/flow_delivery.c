/*-------------------------------------------------------------------------
 *
 * flow_delivery.c
 *	  Delivering entity events to the waits and conditional starts of the
 *	  instances of flows.
 *
 * The row trigger queues one event job per flow that listens to the table
 * (capture.c), with the rows its statement wrote: a wait's condition and
 * key are judged on those images, never on the row as it is at delivery.
 * An executor delivers it after commit, to each instance it concerns: the
 * live instances of every version that listens for that event of that
 * table, whose row is the one the version's key names.
 *
 * A wait takes exactly the events its beginning step could not see: those
 * whose transaction committed after the snapshot the wait began with, and
 * those of that step's own transaction at a later command.  The step takes
 * that snapshot once its instance is locked or inserted (flow_follow.c),
 * and a delivery never looks at an instance that another transaction holds
 * or is inserting: so no event falls between a wait that is not committed
 * yet and its delivery.
 *
 * - An instance being inserted by a transaction in progress (a launch, a
 *   subflow) holds the whole event until that transaction ends: the event
 *   job runs again a moment later (FLOW_STEP_HELD).
 * - An instance that cannot take the event now gets a copy of it, a job of
 *   its own (a kept event): one that another transaction holds (a step
 *   runs on it), one that is suspended, one of a disabled flow, one in
 *   which a chain of steps runs (see below), or one that has older kept
 *   events.  One with a failed wait gets it parked: not due until that
 *   wait is retried or skipped, so that nothing passes it meanwhile.
 * - Otherwise the event is delivered to the instance at once, in a
 *   subtransaction of its own: an error in one instance's condition, key or
 *   step (or the job's time running out) rolls back that instance's part
 *   alone, and the instance gets a kept copy, which fails and is retried
 *   as a job of its own, noting the error on the wait it failed on.
 *
 * An instance's kept events are delivered one at a time, in the order they
 * came (the order of the queue, in which one row's events are in the order
 * their transactions committed), after the steps that the one before led
 * to (queue.c).
 *
 * As if every step ran at once: a chain of steps of an instance (a
 * delivery and the steps it queues, a launch and its first steps, the
 * events kept for it meanwhile) has a clock, the place in the queue where
 * it started (the event's id, or its first step's job's).  The waits the
 * chain begins take the events queued after that place, whatever the
 * executors' lag, besides those their snapshot does not see; the events
 * that come for the instance while its chain runs are kept for it, and
 * taken when its steps have run.  A wait that closes at once has seen the
 * row as it is: the clock moves to the end of the queue.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "action.h"
#include "catalog.h"
#include "entity.h"
#include "flow_delivery.h"
#include "flow_engine.h"
#include "flow_engine_int.h"
#include "flow_store.h"
#include "identity.h"
#include "stored_row.h"
#include "subxact.h"

/* An event being delivered (a job with xid set). */
typedef struct Delivery
{
	ClaimedJob *job;
	EntityShape *table;			/* the table it happened on */
	char		event;			/* 'c'reate, 'u'pdate, 'd'elete */
	Datum		args[ACTION_NARGS]; /* $1 its new row (for a delete, the
									 * deleted row), $2 its old row; $3 per
									 * activity */
	char		nulls[ACTION_NARGS];
	Jsonb	   *doc;			/* the event as $3 shows it */
} Delivery;

/*
 * An activity of a version that listens for the event (a wait, or a
 * conditional start), and the key of the instance row it names.
 */
typedef struct Listener
{
	FlowVersion *fv;
	int			index;
	Datum		key;			/* text[]; 0 when its key is NULL or failed */
} Listener;

/* The outcome of delivering an event to one instance in a subtransaction. */
#define DELIVERY_FAILED		(-1)	/* an error: the instance got a copy */
#define DELIVERY_TIME_UP	(-2)	/* the job's time ran out: likewise */

/* The activity whose delivery was under way when an error came, or 0. */
static int64 failing_activity = 0;

static SPIPlanPtr listening_plan = NULL;

/*
 * An event kept for an instance failed (its subtransaction was rolled
 * back): count the run on the activity its delivery was at (the wait whose
 * condition failed, say), which keeps its status while the job is retried
 * and is failed, with the error, when the job is; a failure before any
 * wait was reached (its rows could not be read) is noted on a wait of the
 * instance for that table.  The job notes the activity, so that
 * retry_activity delivers the same event again.  An
 * event of the flow's (not yet any instance's) that failed as a whole is
 * retried and noted nowhere else.
 */
void
flow_delivery_note_failure(const ClaimedJob *job, bool final, const RunError *error)
{
	int64		activity = job->activity_id != 0 ? job->activity_id : failing_activity;

	if (job->instance_id == 0)
		return;
	/* it failed before reaching a wait (reading its rows): a wait for it */
	if (activity == 0)
		activity = flow_store_wait_for(job->instance_id, job->event_table);
	if (activity == 0)
		return;
	flow_store_note_event_activity(job->id, activity);
	flow_store_note_run(activity, final, error);
	if (final)
		flow_store_park_events(job->instance_id, job->id);
}

/*
 * Read what an event job carries: its new row, its old row, and the event
 * as jsonb.  An event queued by version 0.4 has no new row: it is judged
 * on the row as it is now, as 0.4 did.
 */
static void
delivery_read(Delivery *d, ClaimedJob *job)
{
	IdentityScope scope;
	JsonbParseState *state = NULL;
	JsonbValue *result;

	d->job = job;
	d->table = cache_entity(job->event_table);
	d->event = job->event[0];
	d->nulls[0] = d->nulls[1] = 'n';
	d->nulls[2] = ' ';
	entity_enter(d->table, &scope);
	if (job->old_row != NULL)
	{
		d->args[1] = stored_row_to_datum(d->table, job->old_row);
		d->nulls[1] = ' ';
	}
	if (d->event == 'd')
	{
		d->args[0] = d->args[1];
		d->nulls[0] = d->nulls[1];
	}
	else if (job->new_row != NULL)
	{
		d->args[0] = stored_row_to_datum(d->table, job->new_row);
		d->nulls[0] = ' ';
	}
	else if (entity_fetch_row(d->table, job->key, &d->args[0]))
		d->nulls[0] = ' ';
	entity_leave(&scope);

	(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	flow_jsonb_push_pair(&state, "event", job->event);
	flow_jsonb_push_pair(&state, "table", get_rel_name(job->event_table));
	entity_push_jsonb_string(&state, WJB_KEY, "key");
	(void) entity_key_push_jsonb(&state, d->table, job->key);
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	d->doc = JsonbValueToJsonb(result);
}

/*
 * The key of the instance row that activity "index" of a version names for
 * the event: its "key" over the event's row, or the event row's own key;
 * 0 when the key is NULL.
 */
static Datum
listener_key(Delivery *d, ProcessInfo *flow, FlowVersion *fv, int index)
{
	FlowActivity *act = &fv->def->activities[index];
	JsonbParseState *state = NULL;
	JsonbValue *result;
	Datum		value;
	bool		isnull;
	int64		hash;
	bool		found;

	if (act->on->key == NULL)
		return d->job->key;
	(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	flow_jsonb_push_pair(&state, "flow", flow->name);
	flow_jsonb_push_number(&state, "version", fv->key.version);
	flow_jsonb_push_pair(&state, "activity_name", act->name);
	flow_jsonb_push_doc(&state, "event", d->doc);
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	d->args[2] = JsonbPGetDatum(JsonbValueToJsonb(result));
	value = flow_version_evaluate(flow, fv, fv->key_plans[index], act->name, d->args,
								  d->nulls, &isnull);
	if (isnull)
		return (Datum) 0;
	/* as the instance's row has it (instances keep their row's own key) */
	return entity_row_key(flow->entity,
						  entity_key_of_jsonb(flow->entity, DatumGetJsonbP(value), &hash),
						  &found);
}

/* A listener_key call in a subtransaction (listener_key_guarded). */
typedef struct KeyCall
{
	Delivery   *d;
	ProcessInfo *flow;
	FlowVersion *fv;
	int			index;
	Datum		key;
} KeyCall;

/*
 * The work of a KeyCall: the key, copied into the caller's memory (the
 * work runs in it), which outlives the subtransaction.
 */
static void
key_call(void *arg)
{
	KeyCall    *c = arg;
	Datum		key = listener_key(c->d, c->flow, c->fv, c->index);

	c->key = key != 0 ? datumCopy(key, false, -1) : (Datum) 0;
}

/*
 * listener_key in a subtransaction: an error is returned as its message
 * (and the key is 0), and keeps no other activity from the event.  A query
 * cancel is not caught.
 */
static Datum
listener_key_guarded(Delivery *d, ProcessInfo *flow, FlowVersion *fv, int index,
					 char **error)
{
	KeyCall		c = {d, flow, fv, index, (Datum) 0};
	ErrorData  *edata;

	*error = NULL;
	if (fv->def->activities[index].on->key == NULL)
		return d->job->key;
	edata = subxact_run(key_call, NULL, &c, true);
	if (edata != NULL)
	{
		*error = edata->message;
		return (Datum) 0;
	}
	return c.key;
}

/* The versions of a flow that wait for events of a table (listening_versions). */
typedef struct ListeningVersions
{
	struct
	{
		int32		process_id;
		Oid			relid;
	}			key;			/* hash key: must be first */
	int			nversions;
	int32	   *versions;		/* in order */
} ListeningVersions;

static HTAB *listening = NULL;
static MemoryContext listening_cxt = NULL;
static uint64 listening_generation = 0;

/*
 * The versions of flow process_id that wait for events of table relid,
 * read once per generation of the rule cache (a new version, or any change
 * of a definition, starts a new one, see cache.c): an executor delivers
 * thousands of events between two changes.
 */
static ListeningVersions *
listening_versions(int32 process_id, Oid relid)
{
	Oid			argtypes[2] = {INT4OID, REGCLASSOID};
	Datum		args[2] = {Int32GetDatum(process_id), ObjectIdGetDatum(relid)};
	ListeningVersions key;
	ListeningVersions *lv;
	PrivilegedScope scope;
	bool		found;

	if (listening == NULL || listening_generation != cache_generation_number())
	{
		HASHCTL		ctl;

		if (listening_cxt == NULL)
			listening_cxt = AllocSetContextCreate(TopMemoryContext,
												  "procflow listening versions",
												  ALLOCSET_SMALL_SIZES);
		else
			MemoryContextReset(listening_cxt);
		ctl.keysize = sizeof(key.key);
		ctl.entrysize = sizeof(ListeningVersions);
		ctl.hcxt = listening_cxt;
		listening = hash_create("procflow listening versions", 16, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		listening_generation = cache_generation_number();
	}
	memset(&key, 0, sizeof(key));
	key.key.process_id = process_id;
	key.key.relid = relid;
	lv = hash_search(listening, &key.key, HASH_FIND, NULL);
	if (lv != NULL)
		return lv;

	catalog_enter_privileged(&scope);
	catalog_keep_plan(&listening_plan,
					  "SELECT version FROM procflow.flow_version"
					  " WHERE process_id = $1 AND $2 = ANY (waits_on) ORDER BY version",
					  2, argtypes);
	if (SPI_execute_plan(listening_plan, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading the versions that wait for an event failed");
	catalog_leave_privileged(&scope);

	lv = hash_search(listening, &key.key, HASH_ENTER, &found);
	lv->nversions = (int) SPI_processed;
	lv->versions = MemoryContextAlloc(listening_cxt, sizeof(int32) * Max(lv->nversions, 1));
	for (int v = 0; v < lv->nversions; v++)
	{
		bool		isnull;

		lv->versions[v] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[v],
													  SPI_tuptable->tupdesc, 1, &isnull));
	}
	return lv;
}

/*
 * The activities that listen for the event, in the versions of the flow
 * that wait for events of its table (only "version", when it is not 0),
 * with the key each names.  With "guard", an activity whose key fails is
 * left out, and the first error is returned in *error; without, the error
 * is raised.  Returns how many, in *listeners.
 */
static int
listeners_of(Delivery *d, ProcessInfo *flow, int32 version, bool guard,
			 Listener **listeners, char **error)
{
	ListeningVersions *lv = listening_versions(flow->id, d->table->relid);
	int			n = 0;
	int			capacity = 4;

	*error = NULL;
	*listeners = palloc(sizeof(Listener) * capacity);
	for (int v = 0; v < lv->nversions; v++)
	{
		FlowVersion *fv;

		if (version != 0 && lv->versions[v] != version)
			continue;
		fv = flow_version_load(flow, lv->versions[v]);

		flow_version_prepare(flow, fv);
		for (int i = 0; i < fv->def->nactivities; i++)
		{
			FlowActivity *act = &fv->def->activities[i];
			Listener   *l;
			char	   *failed = NULL;

			if (act->on == NULL || act->on->event != d->event ||
				fv->wait_entity[i] != d->table->relid)
				continue;
			if (n == capacity)
			{
				capacity *= 2;
				*listeners = repalloc(*listeners, sizeof(Listener) * capacity);
			}
			l = &(*listeners)[n++];
			l->fv = fv;
			l->index = i;
			l->key = guard ? listener_key_guarded(d, flow, fv, i, &failed) :
				listener_key(d, flow, fv, i);
			if (failed != NULL)
			{
				ereport(LOG,
						(errmsg("the key of activity \"%s\" of version %d of flow \"%s\" failed on event job " INT64_FORMAT ": %s",
								act->name, fv->key.version, flow->name, d->job->id, failed)));
				if (*error == NULL)
					*error = psprintf("the key of activity \"%s\" of version %d failed: %s",
									  act->name, fv->key.version, failed);
			}
		}
	}
	return n;
}

/* Did an update change one of the fields an activity watches? */
static bool
changed_watched(ClaimedJob *job, FlowWaitOn *on)
{
	Datum	   *elems;
	bool	   *elnulls;
	int			n;

	if (on->nfields == 0)
		return true;
	if (job->changed == 0)
		return false;
	deconstruct_array(DatumGetArrayTypeP(job->changed), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &elnulls, &n);
	for (int i = 0; i < n; i++)
		for (int f = 0; f < on->nfields; f++)
			if (!elnulls[i] && strcmp(TextDatumGetCString(elems[i]), on->fields[f]) == 0)
				return true;
	return false;
}

/* Are two keys (text[], without NULLs) the same? */
static bool
same_key(Datum a, Datum b)
{
	Datum	   *x;
	Datum	   *y;
	int			nx;
	int			ny;

	deconstruct_array(DatumGetArrayTypeP(a), TEXTOID, -1, false, TYPALIGN_INT, &x, NULL, &nx);
	deconstruct_array(DatumGetArrayTypeP(b), TEXTOID, -1, false, TYPALIGN_INT, &y, NULL, &ny);
	if (nx != ny)
		return false;
	for (int i = 0; i < nx; i++)
		if (VARSIZE_ANY_EXHDR(x[i]) != VARSIZE_ANY_EXHDR(y[i]) ||
			memcmp(VARDATA_ANY(x[i]), VARDATA_ANY(y[i]), VARSIZE_ANY_EXHDR(x[i])) != 0)
			return false;
	return true;
}

/*
 * Does an activity's condition (if any) hold for the event, over its rows
 * and the step's context for that activity?
 */
static bool
condition_holds(Step *s, Delivery *d, FlowActivity *act, int index, int64 activity_id)
{
	bool		isnull;
	Datum		holds;

	if (act->on->condition == NULL)
		return true;
	d->args[2] = step_context(s, act->name, activity_id);
	holds = flow_version_evaluate(s->flow, s->fv, s->fv->plans[index], act->name, d->args,
								  d->nulls, &isnull);
	return !isnull && DatumGetBool(holds);
}

/* A wait of an instance that an event came after, and its listener. */
typedef struct WaitToClose
{
	int64		activity_id;
	Listener   *listener;
} WaitToClose;

/* qsort comparator: the waits in the order they began */
static int
wait_order(const void *a, const void *b)
{
	int64		x = ((const WaitToClose *) a)->activity_id;
	int64		y = ((const WaitToClose *) b)->activity_id;

	return (x > y) - (x < y);
}

/* The id of the event a job delivers: its own, or the one it was kept from. */
static int64
event_id_of(const ClaimedJob *job)
{
	return job->event_id != 0 ? job->event_id : job->id;
}

/* Does the listener listen for this event of this instance's version? */
static bool
listener_hears(Listener *listener, Step *s, Delivery *d)
{
	FlowActivity *act = &listener->fv->def->activities[listener->index];

	if (listener->fv != s->fv || listener->key == 0 ||
		!same_key(listener->key, s->instance.key))
		return false;
	return d->event != 'u' || changed_watched(d->job, act->on);
}

/*
 * The instance's waits that hear the event and that it came after, in the
 * order they began.  Returns how many, in *waits.
 */
static int
waits_to_close(Step *s, Delivery *d, Listener *listeners, int nlisteners, WaitToClose **waits)
{
	ClaimedJob *job = d->job;
	int			n = 0;
	int			capacity = 8;

	*waits = palloc(sizeof(WaitToClose) * capacity);
	for (int l = 0; l < nlisteners; l++)
	{
		FlowActivity *act = &listeners[l].fv->def->activities[listeners[l].index];
		FlowWaiting *waiting;
		int			nwaiting;

		if (act->kind == FLOW_CONDITIONAL_START || !listener_hears(&listeners[l], s, d))
			continue;
		nwaiting = flow_store_waiting(s->instance.id, act->name, job->xid, job->cid,
									  event_id_of(job),
									  job->source_instance, &waiting);
		for (int w = 0; w < nwaiting; w++)
		{
			if (!waiting[w].after)
				continue;
			if (n == capacity)
			{
				capacity *= 2;
				*waits = repalloc(*waits, sizeof(WaitToClose) * capacity);
			}
			(*waits)[n].activity_id = waiting[w].id;
			(*waits)[n].listener = &listeners[l];
			n++;
		}
	}
	qsort(*waits, n, sizeof(WaitToClose), wait_order);
	return n;
}

/*
 * Deliver the event to one locked, active instance, in one step: each of
 * its waits that listens for it, began before it, whose fields changed and
 * whose condition holds closes with outcome "event", in the order they
 * began, and the instance goes on from each (to its end, before the next
 * one closes); then each of its conditional starts that matches starts a
 * branch.  Returns how many took it.
 */
static int
deliver_to_instance(ProcessInfo *flow, Delivery *d, FlowInstance *instance,
					Listener *listeners, int nlisteners)
{
	ClaimedJob *job = d->job;
	Step		s;
	WaitToClose *waits;
	int			nwaits;
	int			took = 0;

	failing_activity = 0;
	step_begin(&s, flow, instance, job->id, job->attempts + 1);
	s.event = d->doc;
	/* a chain of steps starts at the event: the waits it begins take later ones */
	s.clock = event_id_of(job);

	nwaits = waits_to_close(&s, d, listeners, nlisteners, &waits);
	for (int w = 0; w < nwaits && !s.ended; w++)
	{
		Listener   *listener = waits[w].listener;
		FlowActivity *act = &listener->fv->def->activities[listener->index];
		FlowActivityRow row;

		/* what closed before in this step (an end that terminates) */
		if (!flow_store_read_activity(waits[w].activity_id, &row) ||
			row.status != ACTIVITY_WAITING)
			continue;
		failing_activity = waits[w].activity_id;
		if (!condition_holds(&s, d, act, listener->index, waits[w].activity_id))
			continue;
		/* its timer, if it has one */
		if (act->timeout != NULL || act->timeout_sql != NULL)
			flow_store_cancel_jobs(instance->id, waits[w].activity_id, 0,
								   "the wait closed with its event");
		flow_store_close_activity(waits[w].activity_id, ACTIVITY_CLOSED, "event", NULL, false);
		step_rest(&s);
		step_follow(&s, act, "event");
		took++;
	}
	failing_activity = 0;

	for (int l = 0; l < nlisteners && !s.ended; l++)
	{
		FlowActivity *act = &listeners[l].fv->def->activities[listeners[l].index];
		NewActivity a;
		char	   *error;

		if (act->kind != FLOW_CONDITIONAL_START || !listener_hears(&listeners[l], &s, d))
			continue;
		if (!flow_store_started_before(instance->id, job->xid, job->cid) ||
			!condition_holds(&s, d, act, listeners[l].index, 0))
			continue;
		/* a branch of its own begins */
		memset(&a, 0, sizeof(a));
		a.name = act->name;
		a.kind = FLOW_CONDITIONAL_START;
		a.status = ACTIVITY_CLOSED;
		a.outcome = "event";
		took++;
		if (job->source_instance != instance->id)
			step_rest(&s);
		else if (!flow_count_spin(&s, "conditional start", act->name, &error))
		{
			a.error = error;
			/* its own steps' events: a round without rest, as a wait's */
			a.status = ACTIVITY_FAILED;
			a.outcome = NULL;
			(void) flow_store_insert_activity(instance, &a);
			s.made_live = true;
			continue;
		}
		(void) flow_store_insert_activity(instance, &a);
		step_follow(&s, act, NULL);
	}
	step_end(&s);
	return took;
}

/*
 * Keep the event for an instance that cannot take it now, as a job of the
 * instance; "activity" is the one it failed on, if it did.  A parked one is
 * not due until the instance's failed wait is retried or skipped.
 */
static void
keep_for_instance(Delivery *d, ProcessInfo *flow, int64 instance_id, int64 activity,
				  bool parked)
{
	ClaimedJob *job = d->job;
	NewJob		kept;

	memset(&kept, 0, sizeof(kept));
	kept.process_id = flow->id;
	kept.event = job->event;
	kept.ord = job->ord;
	kept.key = job->key;
	kept.old_row = job->old_row ? CStringGetTextDatum(job->old_row) : (Datum) 0;
	kept.new_row = job->new_row ? CStringGetTextDatum(job->new_row) : (Datum) 0;
	kept.changed = job->changed;
	kept.owner = flow->owner;
	kept.instance_id = instance_id;
	kept.activity_id = activity;
	kept.xid = job->xid;
	kept.event_table = job->event_table;
	kept.cid = job->cid;
	kept.event_id = event_id_of(job);
	kept.source_instance = job->source_instance;
	kept.run_at = GetCurrentTimestamp();
	/* when the event came (its transaction began), not when it was kept */
	kept.created_at = Min(job->run_at, kept.run_at);
	if (parked)
		kept.run_at = DT_NOEND;
	(void) queue_insert(&kept);
}

/* A delivery to one instance in a subtransaction (deliver_guarded). */
typedef struct InstanceCall
{
	ProcessInfo *flow;
	Delivery   *d;
	FlowInstance *instance;
	Listener   *listeners;
	int			nlisteners;
	int			took;
} InstanceCall;

/* The work of an InstanceCall. */
static void
instance_call(void *arg)
{
	InstanceCall *c = arg;

	c->took = deliver_to_instance(c->flow, c->d, c->instance, c->listeners, c->nlisteners);
}

/*
 * Deliver the event to one instance in a subtransaction of its own.
 * Returns how many of its waits took it, or, when it failed (the job's
 * time ran out: DELIVERY_TIME_UP), DELIVERY_FAILED: then the instance has
 * a kept copy of the event, whose own runs fail and are retried.  In a
 * session (run_jobs), a query cancel stops the whole call.
 */
static int
deliver_guarded(ProcessInfo *flow, Delivery *d, FlowInstance *instance,
				Listener *listeners, int nlisteners, bool in_executor)
{
	InstanceCall c = {flow, d, instance, listeners, nlisteners, 0};
	ErrorData  *edata = subxact_run(instance_call, NULL, &c, !in_executor);

	if (edata == NULL)
		return c.took;
	keep_for_instance(d, flow, instance->id, failing_activity, false);
	ereport(LOG,
			(errmsg("delivering event job " INT64_FORMAT " of flow \"%s\" to instance " INT64_FORMAT " failed: %s",
					d->job->id, flow->name, instance->id, edata->message),
			 errdetail("The event is kept for the instance, and retried as a job of its own.")));
	failing_activity = 0;
	return edata->sqlerrcode == ERRCODE_QUERY_CANCELED ? DELIVERY_TIME_UP : DELIVERY_FAILED;
}

/* Order instance ids. */
static int
id_cmp(const ListCell *a, const ListCell *b)
{
	int64		x = *(int64 *) lfirst(a);
	int64		y = *(int64 *) lfirst(b);

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * The live instances the event concerns: of each listening version, those
 * of the row its key names; in id order, each once.  NIL with *held set
 * when a transaction in progress is inserting an instance for one of those
 * rows: the event waits for it.
 */
static List *
candidates_of(ProcessInfo *flow, Listener *listeners, int nlisteners, bool *held)
{
	List	   *ids = NIL;
	List	   *unique = NIL;
	ListCell   *lc;

	*held = false;
	for (int l = 0; l < nlisteners; l++)
	{
		bool		seen = false;

		if (listeners[l].key == 0)
			continue;
		for (int k = 0; k < l && !seen; k++)
			seen = listeners[k].key != 0 && listeners[k].fv == listeners[l].fv &&
				same_key(listeners[k].key, listeners[l].key);
		if (seen)
			continue;
		if (flow_store_launch_in_progress(flow->id, listeners[l].key))
		{
			*held = true;
			return NIL;
		}
		ids = list_concat(ids, flow_store_candidates(flow->id, listeners[l].fv->key.version,
													 listeners[l].key));
	}
	list_sort(ids, id_cmp);
	foreach(lc, ids)
		if (unique == NIL || *(int64 *) llast(unique) != *(int64 *) lfirst(lc))
			unique = lappend(unique, lfirst(lc));
	return unique;
}

/*
 * Deliver an event job of the flow (not yet any instance's): to each live
 * instance it concerns, at once or as a kept event.
 */
static const char *
deliver_to_flow(ProcessInfo *flow, Delivery *d, bool in_executor, const char **note)
{
	Listener   *listeners;
	int			nlisteners;
	char	   *key_error;
	List	   *candidates;
	ListCell   *lc;
	bool		held;
	bool		keep_rest = false;
	int			took = 0;
	int			kept = 0;

	nlisteners = listeners_of(d, flow, 0, true, &listeners, &key_error);
	candidates = candidates_of(flow, listeners, nlisteners, &held);
	if (held)
		return FLOW_STEP_HELD;

	foreach(lc, candidates)
	{
		int64		id = *(int64 *) lfirst(lc);
		FlowInstance instance;
		bool		busy;
		int			r;

		/*
		 * Once the job's time is up, or (in an executor) its transaction's
		 * cache of subtransaction ids is full (each instance takes the event
		 * in a subtransaction of its own), the other instances keep it and
		 * take it in jobs of their own.
		 */
		if (!keep_rest && in_executor && !subxact_cache_has_room())
			keep_rest = true;
		if (keep_rest)
		{
			keep_for_instance(d, flow, id, 0, false);
			kept++;
			continue;
		}
		if (!flow_store_lock_for_event(id, &instance, &busy))
		{
			if (busy)
			{
				keep_for_instance(d, flow, id, 0, false);
				kept++;
			}
			continue;
		}
		/* a disabled flow's instances take their events when it is enabled */
		if (!instance.flow_enabled || instance.status == INSTANCE_SUSPENDED ||
			instance.clock != 0 || instance.failed_wait || instance.has_kept)
		{
			keep_for_instance(d, flow, id, 0, instance.failed_wait);
			kept++;
			continue;
		}
		if (instance.status != INSTANCE_ACTIVE)
			continue;
		r = deliver_guarded(flow, d, &instance, listeners, nlisteners, in_executor);
		if (r >= 0)
			took += r;
		else
		{
			kept++;
			keep_rest = r == DELIVERY_TIME_UP;
		}
	}
	*note = key_error;
	if (took == 0 && kept == 0)
	{
		if (*note == NULL)
			*note = "no wait took the event";
		return "skipped";
	}
	return "succeeded";
}

/*
 * Deliver an event kept for one instance (its own job): when the instance
 * can take it, as the step it is at in catching up.  An error fails the job,
 * which is retried and, at its last attempt, fails the activity it failed
 * on.
 */
static const char *
deliver_kept(ProcessInfo *flow, Delivery *d, const char **note)
{
	ClaimedJob *job = d->job;
	FlowInstance instance;
	Listener   *listeners;
	int			nlisteners;
	char	   *key_error;
	bool		busy;

	if (!flow_store_lock_for_event(job->instance_id, &instance, &busy))
	{
		if (busy)
			return FLOW_STEP_HELD;
		*note = "the instance no longer exists";
		return "skipped";
	}
	if (instance.status == INSTANCE_SUSPENDED || !instance.flow_enabled)
		return FLOW_STEP_HELD;
	if (instance.status != INSTANCE_ACTIVE)
	{
		*note = "the instance has ended";
		return "skipped";
	}
	if (instance.failed_wait)
		return FLOW_EVENT_PARKED;
	nlisteners = listeners_of(d, flow, instance.version, false, &listeners, &key_error);
	if (deliver_to_instance(flow, d, &instance, listeners, nlisteners) == 0)
	{
		*note = "no wait took the event";
		return "skipped";
	}
	return "succeeded";
}

/*
 * Run an event job: one of the flow's (deliver it to the instances it
 * concerns), or one kept for an instance.  Returns the job's status, as
 * flow_engine_run_job does.
 */
const char *
flow_delivery_run(ProcessInfo *flow, ClaimedJob *job, bool in_executor, const char **note)
{
	Delivery	d;

	failing_activity = 0;
	memset(&d, 0, sizeof(d));
	delivery_read(&d, job);
	if (job->instance_id != 0)
		return deliver_kept(flow, &d, note);
	return deliver_to_flow(flow, &d, in_executor, note);
}
