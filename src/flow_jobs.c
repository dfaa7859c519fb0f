/*-------------------------------------------------------------------------
 *
 * flow_jobs.c
 *	  Step and timer jobs of activities; the step chained to a running job.
 *
 * An automatic activity's run is a "step" job, a wait's timeout or a
 * task's times are "timer" jobs; each is queued like any job (queue.c),
 * claimed by the executors in execution order, with retries and backoff.
 * The next step that an executor's run of a job queues, due at once, is
 * handed to the executor instead (runner.c runs it right after, in the
 * same round), unless another step of the instance is queued before it.
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
#include "settings.h"

/*
 * The step chained to a job's run.  An executor may run the next automatic
 * step that a job's run queues, due at once, in the same transaction right
 * after it (runner.c), rather than have it wait for a claim: the step is
 * held here, its job row not written, until the runner takes it.  One that
 * an aborted subtransaction queued goes with it (flow_engine_subxact_event).
 */
typedef struct ChainSlot
{
	int64		job_id;			/* the job whose run may hand one over, or 0 */
	int64		origin;			/* the claimed job that the chain began with */
	bool		filled;
	int			level;			/* the transaction nesting level that queued
								 * it */
	NewJob		step;
	char		activity[NAMEDATALEN];
} ChainSlot;

static ChainSlot chain;

/*
 * The next step that the run of this job queues may be handed over; the
 * chain began with the claimed job "origin" (job_id itself, or the job that
 * the chain of steps before it was chained to).
 */
void
flow_engine_chain_open(int64 job_id, int64 origin)
{
	memset(&chain, 0, sizeof(chain));
	chain.job_id = job_id;
	chain.origin = origin;
}

/*
 * May the step that the step s queues be chained to its run: is the chain
 * open for its job, and none taken yet, and has the instance no other step
 * queued (which was queued first, so runs first; only an instance of a
 * version with a split or a conditional start can have one)?
 */
static bool
may_chain(Step *s)
{
	return s->job_id != 0 && chain.job_id == s->job_id && !chain.filled &&
		(!s->fv->parallel || !flow_store_has_queued(s->instance.id, chain.origin, false));
}

/*
 * Take the step chained to the run that flow_engine_chain_open named, if
 * it queued one (and the subtransactions that did committed); its job row
 * is the caller's to write.  activity gets its activity's name.  Closes the
 * chain.
 */
bool
flow_engine_chain_take(NewJob *step, char *activity)
{
	bool		filled = chain.filled;

	if (filled)
	{
		*step = chain.step;
		strlcpy(activity, chain.activity, NAMEDATALEN);
	}
	memset(&chain, 0, sizeof(chain));
	return filled;
}

/*
 * A subtransaction ends: one that aborts drops the chained step queued in
 * it; one that commits hands it to its parent.
 */
void
flow_engine_subxact_event(SubXactEvent event)
{
	int			level;

	if (!chain.filled)
		return;
	level = GetCurrentTransactionNestLevel();
	if (chain.level < level)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
		chain.filled = false;
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
		chain.level = level - 1;
}

/*
 * Queue a step or timer job of an activity of the step's instance.  A step
 * of an instance that waits for events, queued when no chain of its steps
 * runs, starts one: its job's place in the queue is the chain's clock.  The
 * first step that the run of a job whose chain is open queues is handed to
 * the runner instead of written.
 */
void
flow_queue_activity_job(Step *s, int64 activity_id, const char *activity, const char *event,
						TimestampTz run_at)
{
	int64		id;

	NewJob		job;

	memset(&job, 0, sizeof(job));
	job.process_id = s->flow->id;
	job.event = event;
	job.ord = procflow_order_key(s->flow->execution_order, 0);
	job.owner = s->flow->owner;
	job.instance_id = s->instance.id;
	job.activity_id = activity_id;
	job.run_at = run_at;
	if (strcmp(event, "step") == 0 && may_chain(s))
	{
		job.id = id = queue_allocate_ids(1);
		chain.step = job;
		chain.filled = true;
		chain.level = GetCurrentTransactionNestLevel();
		strlcpy(chain.activity, activity, NAMEDATALEN);
	}
	else
		id = queue_insert(&job);
	if (strcmp(event, "step") == 0)
	{
		s->queued_step = true;
		if (s->clock == 0 && s->fv != NULL && s->fv->listens)
			s->clock = id;
	}
}
