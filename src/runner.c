/*-------------------------------------------------------------------------
 *
 * runner.c
 *	  Claiming due jobs and running them.
 *
 * Executors (and procflow.run_jobs() in a session) read a set of due jobs,
 * or claim the next items of a due batch (batch.c), and run each in a
 * subtransaction of their transaction.  A job's action runs inside that
 * subtransaction; the write that makes the job row its own history row
 * follows it in the same transaction, so they commit together: a job that
 * touches only the database runs exactly once.  A failing job's
 * subtransaction is rolled back alone; its error is then recorded with the
 * next retry time, or as a final failure after max_attempts, and the round
 * goes on.
 *
 * A job is locked only when it starts (queue.c), not when it is read: the
 * jobs of a round that have not started yet can be cancelled at once, and
 * another executor takes them while this one runs a slow job.  A round
 * stops taking jobs after ROUND_MS, so that it does not hold the jobs it
 * ran for long either; and a batch whose item ran longer than that is
 * turned into single jobs, which executors then share.
 *
 * Before an executor runs a job it notes the job's id (inflight.c): a job
 * that crashes the server is then counted as a failed attempt when the
 * executors start again, and ends as failed instead of crashing it for
 * ever.
 *
 * An executor runs the next automatic step that a flow's step or event
 * queues, due at once, right after it in the same round (a chain, see
 * run_chain): it does not wait for a claim, and its job row is written
 * once, with its outcome.  A step chained to a job's run that crashes the
 * server is noted with that job; the job then runs again without chaining
 * steps to its run, and the step, queued as a job of its own, has its
 * crashes counted.
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
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "action.h"
#include "batch.h"
#include "cache.h"
#include "catalog.h"
#include "entity.h"
#include "flow_delivery.h"
#include "flow_engine.h"
#include "inflight.h"
#include "job_deadline.h"
#include "job_state.h"
#include "settings.h"
#include "queue.h"
#include "runner.h"
#include "scheduler.h"
#include "shmem.h"
#include "subxact.h"
#include "stored_row.h"

/* Longest wait before a retry. */
#define MAX_RETRY_DELAY_MS	(3600 * 1000)

/* A round takes no new job after this long; a job this long is slow. */
#define ROUND_MS			50

/*
 * Read the job's rows as the entity table's owner: the old row, and for
 * anything but a delete the row as it is now.  Returns false when that row
 * is gone.
 */
static bool
read_job_rows(ProcessInfo *p, ClaimedJob *job, Datum *args, char *nulls)
{
	IdentityScope scope;
	bool		found = true;

	entity_enter(p->entity, &scope);
	if (job->old_row != NULL)
	{
		args[1] = stored_row_to_datum(p->entity, job->old_row);
		nulls[1] = ' ';
	}
	if (strcmp(job->event, "delete") == 0)
	{
		args[0] = args[1];
		nulls[0] = nulls[1];
	}
	else if (job->key != 0)
	{
		found = entity_fetch_row(p->entity, job->key, &args[0]);
		if (found)
			nulls[0] = ' ';
	}
	entity_leave(&scope);
	return found;
}

/*
 * Run the action of one claimed job as the process owner (a flow's job
 * launches an instance of it instead).  Returns the job's status:
 * "succeeded", or "skipped" with the reason in *note when the row is gone
 * or the condition no longer holds.
 */
static const char *
run_action(ProcessInfo *p, ClaimedJob *job, bool in_executor, const char **note)
{
	Datum		args[ACTION_NARGS] = {0, 0, 0};
	char		nulls[ACTION_NARGS] = {'n', 'n', ' '};
	OwnerScope	scope;
	const char *status = "succeeded";

	if (p->entity != NULL && !read_job_rows(p, job, args, nulls))
	{
		*note = "the entity row no longer exists";
		return "skipped";
	}

	args[2] = action_context(p, job->event, job->trigger_id, job->id,
							 job->attempts + 1, job->key, job->changed);
	action_enter_process(p, &scope);
	action_push(p, job->depth + 1, job->excluded, 0);
	if (!action_condition_holds(p, args, nulls))
	{
		status = "skipped";
		*note = "the condition no longer holds";
	}
	else
	{
		if (in_executor)
			job_deadline_narrow(p->timeout_ms);
		if (process_is_flow(p))
			(void) flow_engine_launch(p, job->key, NULL, 0, 0);
		else
			action_execute(p, args, nulls);
		if (in_executor)
			job_deadline_widen();
	}
	action_pop();
	action_leave_owner(&scope);
	return status;
}

/*
 * A flow's job failed: the activity it ran (a step's, a timer's, or the
 * wait a kept event's delivery was at) notes the run, and fails with the
 * job.
 */
static void
note_flow_failure(const ClaimedJob *job, bool final, const RunError *error)
{
	switch (claimed_job_kind(job))
	{
		case JOB_FLOW_EVENT:
			flow_delivery_note_failure(job, final, error);
			break;
		case JOB_FLOW_STEP:
			flow_engine_note_failure(job, final, error);
			break;
		case JOB_ACTION:
			break;
	}
}

/* Delay before retry number "attempts": procflow.retry_delay, doubling. */
static int64
retry_delay_ms(int attempts)
{
	int64		delay = procflow_retry_delay;

	for (int i = 1; i < attempts && delay < MAX_RETRY_DELAY_MS; i++)
		delay *= 2;
	return Min(delay, MAX_RETRY_DELAY_MS);
}

/*
 * The name and max_attempts of a process that could not be read whole (its
 * entity table is gone, or has no primary key for a while, as during a
 * restore): false when the process does not exist.  The caller holds an
 * SPI connection.
 */
static bool
process_basics(int32 process_id, char **name, int *max_attempts)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(process_id)};
	bool		isnull;

	catalog_exec("SELECT name, max_attempts FROM procflow.process WHERE id = $1",
				 1, argtypes, args, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return false;
	*name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	*max_attempts = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 2, &isnull));
	return true;
}

/*
 * The outcome of a failed run (the job had "attempts" runs before it) of a
 * job of the given process: retry later, or keep the job as failed after
 * max_attempts, or at once when the process does not exist.  The error is
 * logged as well.
 */
static void
failure_outcome(int32 process_id, int64 job_id, int attempts, const RunError *error,
				JobOutcome *outcome)
{
	int			attempt = attempts + 1;
	char	   *name = "?";
	int			max_attempts = 1;
	bool		exists = process_basics(process_id, &name, &max_attempts);
	bool		final = !exists || attempt >= max_attempts;

	outcome->error.code = pstrdup(error->code);
	outcome->error.message = pstrdup(error->message ? error->message : "");
	outcome->error.detail = error->detail ? pstrdup(error->detail) : NULL;
	outcome->error.context = error->context ? pstrdup(error->context) : NULL;
	if (final)
	{
		outcome->status = "failed";
		outcome->finished_at = GetCurrentTimestamp();
		ereport(LOG,
				(errmsg("job " INT64_FORMAT " of process \"%s\" failed for good at attempt %d: %s",
						job_id, name, attempt, outcome->error.message)));
	}
	else
	{
		outcome->status = "pending";
		outcome->retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														retry_delay_ms(attempt));
		ereport(LOG,
				(errmsg("job " INT64_FORMAT " of process \"%s\" failed at attempt %d of %d: %s",
						job_id, name, attempt, max_attempts, outcome->error.message)));
	}
}

/* What a job's run in its subtransaction needs (run_job). */
typedef struct JobRun
{
	ClaimedJob *job;
	bool		in_executor;
	JobOutcome *outcome;
	JobState   *state;
} JobRun;

/*
 * The run of one job, in its subtransaction: it reads what committed
 * before it, the definitions (the invalidations they sent) and rows (a
 * snapshot of its own), not only what committed before the round began.
 * A process that cannot be read (its table dropped) fails the job.
 */
static void
run_job_work(void *arg)
{
	JobRun	   *r = arg;
	ClaimedJob *job = r->job;
	ProcessInfo *p;

	AcceptInvalidationMessages();
	PushActiveSnapshot(GetTransactionSnapshot());
	p = cache_process(job->process_id);
	if (p == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("process %d does not exist", job->process_id)));
	if (r->in_executor)
		pgstat_report_activity(STATE_RUNNING,
							   psprintf("procflow job " INT64_FORMAT " (process %s, %s)",
										job->id, p->name, job->event));
	switch (claimed_job_kind(job))
	{
		case JOB_FLOW_EVENT:
			r->outcome->status = flow_delivery_run(p, job, r->in_executor,
												   &r->outcome->error.message);
			break;
		case JOB_FLOW_STEP:
			r->outcome->status = flow_engine_run_job(p, job, r->in_executor,
													 &r->outcome->error.message);
			break;
		case JOB_ACTION:
			r->outcome->status = run_action(p, job, r->in_executor,
											&r->outcome->error.message);
			break;
	}
	job_state_close_portals(r->state);
	PopActiveSnapshot();
	if (r->in_executor)
		job_deadline_end();
}

/* A job's run failed: its deadline goes before its subtransaction does. */
static void
run_job_failed(void *arg)
{
	if (((JobRun *) arg)->in_executor)
		job_deadline_end();
}

/*
 * Run one claimed job in a subtransaction and fill in its outcome.  The
 * outcomes are written by the round's transaction itself, which holds the
 * jobs' row locks: updating a row from the subtransaction would turn that
 * lock into a MultiXact that every later claim would have to look into.
 * In a session (run_jobs), a query cancel or the session's statement
 * timeout stops the whole call instead of failing the job.
 */
static void
run_job(ClaimedJob *job, bool in_executor, int64 chained_after, const char *activity,
		JobOutcome *outcome)
{
	ErrorData  *edata;
	JobState	state;
	JobRun		r = {job, in_executor, outcome, &state};

	memset(outcome, 0, sizeof(JobOutcome));
	outcome->id = job->id;
	outcome->started_at = GetCurrentTimestamp();
	if (in_executor)
		inflight_note(job->id, chained_after, activity);

	cache_pin();
	job_state_begin(&state);
	if (in_executor)
		job_deadline_begin(job->id, job->process_id, outcome->started_at);
	edata = subxact_run(run_job_work, run_job_failed, &r, !in_executor);

	if (in_executor)
	{
		/* also after a failure: session-level locks outlive the rollback */
		job_state_release_session_locks();
		inflight_note(0, 0, NULL);
	}
	if (edata == NULL && strcmp(outcome->status, FLOW_STEP_HELD) == 0)
	{
		/* its instance is busy: again in a moment, not as an attempt */
		outcome->status = "pending";
		outcome->held = true;
		outcome->retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														FLOW_HELD_RETRY_MS);
	}
	else if (edata == NULL && strcmp(outcome->status, FLOW_EVENT_PARKED) == 0)
	{
		/* its instance has a failed wait: until that wait is retried or skipped */
		outcome->status = "pending";
		outcome->held = true;
		outcome->retry_at = DT_NOEND;
	}
	else if (edata == NULL)
		outcome->finished_at = GetCurrentTimestamp();
	else
	{
		RunError	error = {unpack_sql_state(edata->sqlerrcode), edata->message,
		edata->detail, edata->context};

		if (in_executor && job_deadline_was_cut())
		{
			/* the launcher's cancel, for a deadline lowered while it ran */
			error.message = "canceling statement due to statement timeout";
			error.detail = psprintf("The job ran longer than procflow.max_timeout, lowered to %d ms while it ran.",
									shmem_max_timeout());
		}

		failure_outcome(job->process_id, job->id, job->attempts, &error, outcome);
		note_flow_failure(job, strcmp(outcome->status, "failed") == 0, &outcome->error);
		FreeErrorData(edata);
	}
	cache_unpin();
}

/*
 * Does a round stop taking jobs: has it run ROUND_MS, or filled this
 * backend's cache of subtransaction ids (each job runs in a subtransaction,
 * see subxact_cache_has_room)?
 */
static bool
round_is_over(TimestampTz round_start)
{
	return TimestampDifferenceExceeds(round_start, GetCurrentTimestamp(), ROUND_MS) ||
		!subxact_cache_has_room();
}

/*
 * Run the next items of a claimed batch, at most max_items, and write the
 * job row of each as soon as it is taken: its run's outcome, or a pending
 * job when it waits for an older job of its row (or for an item of its row
 * that is to be retried).  The round stops after ROUND_MS; if an item ran
 * that long, the rest of the batch becomes single jobs, so that all
 * executors can take them.  If an item's action made the batch job rows
 * (see batch_materialized), that item's outcome goes to its job row and
 * the round ends.  Returns the number of items taken; *ran says how many
 * ran.
 */
static int
run_batch_items(Batch *batch, int max_items, bool in_executor, int *ran)
{
	int			from = batch->next_item;
	/* each item runs in a subtransaction: look only at those that can run */
	int			to = Min(batch->items, from + Min(max_items, Max(subxact_cache_room(), 1)) - 1);
	int			n = to - from + 1;
	bool	   *waits = palloc(sizeof(bool) * n);
	int64	   *held = palloc(sizeof(int64) * n);
	int			nheld = 0;
	int			taken = 0;
	bool		slow = false;
	TimestampTz round_start = GetCurrentTimestamp();
	PrivilegedScope scope;

	catalog_enter_privileged(&scope);
	batch_find_waiting(batch, from, to, waits);
	catalog_leave_privileged(&scope);

	for (int i = 0; i < n; i++)
	{
		int			item = from + i;
		int64		hash = batch->row_hashes[item - 1];
		bool		wait = waits[i];
		NewJob		row;

		if (taken > 0 && round_is_over(round_start))
			break;
		for (int h = 0; h < nheld && !wait; h++)
			wait = held[h] == hash;
		batch_item_job(batch, item, &row);
		if (!wait)
		{
			ClaimedJob	job;
			JobOutcome	outcome;

			queue_claimed_from(&row, &job);
			run_job(&job, in_executor, 0, NULL, &outcome);
			if (!outcome.held)
				(*ran)++;
			taken++;
			if (batch_materialized())
			{
				/* the item is a pending job row now: finish that one */
				catalog_enter_privileged(&scope);
				queue_record_outcomes(&outcome, 1);
				catalog_leave_privileged(&scope);
				batch_release();
				return taken;
			}
			queue_set_outcome(&row, &outcome);
			wait = strcmp(outcome.status, "pending") == 0;
			slow |= TimestampDifferenceExceeds(outcome.started_at, GetCurrentTimestamp(),
											   ROUND_MS);
		}
		else
			taken++;
		(void) queue_insert(&row);
		if (wait)
			held[nheld++] = hash;
	}

	catalog_enter_privileged(&scope);
	batch_advance(batch->first_id, batch->items, from + taken);
	if (slow && from + taken <= batch->items)
		batch_materialize_job(batch->first_id + from + taken - 1);
	catalog_leave_privileged(&scope);
	batch_release();
	return taken;
}

/*
 * Run the steps chained to the run of job "origin" that just ended
 * (flow_engine_chain_open): the next automatic step of its instance that
 * it queued, due at once, runs right after it, in a subtransaction of its
 * own like any job, then the one that step queued, and so on until none
 * follows or the round is over; the one left then is queued.  Each step's
 * job row is written once, with its outcome (a failure's retry, or a held
 * step's next try, as for any job).  Nobody else can see these steps before
 * the round commits.  Returns how many ran; *taken counts the held too.
 */
static int
run_chain(int64 origin, TimestampTz round_start, int *taken)
{
	NewJob		step;
	char		activity[NAMEDATALEN];
	int			nran = 0;

	while (flow_engine_chain_take(&step, activity))
	{
		ClaimedJob	job;
		JobOutcome	outcome;

		if (round_is_over(round_start))
		{
			(void) queue_insert(&step);
			break;
		}
		queue_claimed_from(&step, &job);
		flow_engine_chain_open(step.id, origin);
		run_job(&job, true, origin, activity, &outcome);
		queue_set_outcome(&step, &outcome);
		(void) queue_insert(&step);
		(*taken)++;
		if (!outcome.held)
			nran++;
	}
	return nran;
}

/*
 * Run due jobs read by queue_claim: each is locked when it starts, and
 * skipped when another executor holds it or it changed meanwhile; an
 * executor runs the steps chained to each (run_chain).  Stops taking jobs
 * after ROUND_MS.  Returns how many claimed jobs ran, with an outcome each;
 * *chained_taken and *chained_ran count the chained steps.
 */
static int
run_claimed(ClaimedJob *jobs, int njobs, bool in_executor, JobOutcome *outcomes,
			int *chained_taken, int *chained_ran)
{
	TimestampTz round_start = GetCurrentTimestamp();
	int			nrun = 0;

	for (int i = 0; i < njobs; i++)
	{
		bool		chain;

		if (nrun > 0 && round_is_over(round_start))
			break;
		if (!jobs[i].locked && !queue_lock_claimed(&jobs[i]))
			continue;
		/* what follows a job due after the round began must not see an earlier now() */
		chain = in_executor && jobs[i].run_at <= GetCurrentTransactionStartTimestamp() &&
			!shmem_chain_forbidden(jobs[i].id);
		if (chain)
			flow_engine_chain_open(jobs[i].id, jobs[i].id);
		run_job(&jobs[i], in_executor, 0, NULL, &outcomes[nrun]);
		nrun++;
		if (chain)
			*chained_ran += run_chain(jobs[i].id, round_start, chained_taken);
	}
	return nrun;
}

/*
 * One owner's turn: claim its due work and run it in the current
 * transaction, up to max_jobs jobs or as many items of its first due batch,
 * whichever comes first in execution order.  Returns the number of jobs and
 * items taken, 0 when the owner has nothing due that no one else runs.
 */
static int
run_owner_turn(Oid owner, int max_jobs, Oid as_role, bool in_executor, int *ran)
{
	ClaimedJob *jobs;
	JobOutcome *outcomes;
	Batch	   *batch;
	int			njobs;
	int			nrun;
	int			chained_taken = 0;
	int			chained_ran = 0;
	PrivilegedScope scope;

	catalog_enter_privileged(&scope);
	batch = batch_claim(owner, as_role);
	jobs = queue_claim(owner, max_jobs, as_role, batch != NULL, batch ? batch->ord : 0,
					   false, &njobs);
	catalog_leave_privileged(&scope);

	*ran = 0;
	if (njobs == 0 && batch != NULL)
		return run_batch_items(batch, max_jobs, in_executor, ran);
	batch_release();

	outcomes = palloc(sizeof(JobOutcome) * Max(njobs, 1));
	nrun = run_claimed(jobs, njobs, in_executor, outcomes, &chained_taken, &chained_ran);
	if (nrun == 0 && njobs > 0)
	{
		/* others hold all of them: take the first job that nobody holds */
		catalog_enter_privileged(&scope);
		jobs = queue_claim(owner, 1, as_role, false, 0, true, &njobs);
		catalog_leave_privileged(&scope);
		nrun = run_claimed(jobs, njobs, in_executor, outcomes, &chained_taken,
						   &chained_ran);
	}
	/* a held job did not run */
	for (int i = 0; i < nrun; i++)
		if (!outcomes[i].held)
			(*ran)++;
	*ran += chained_ran;

	catalog_enter_privileged(&scope);
	queue_record_outcomes(outcomes, nrun);
	catalog_leave_privileged(&scope);
	return nrun + chained_taken;
}

/* Does (ord, run_at, id) a come before b in the queue's order? */
static bool
comes_before(int64 ord_a, TimestampTz run_at_a, int64 id_a,
			 int64 ord_b, TimestampTz run_at_b, int64 id_b)
{
	if (ord_a != ord_b)
		return ord_a < ord_b;
	if (run_at_a != run_at_b)
		return run_at_a < run_at_b;
	return id_a < id_b;
}

/*
 * With procflow.role_turns off: the index of the owner whose first due job
 * or batch comes first in one order across all roles (execution order,
 * priority, run_at, id), or -1 when none has due work.
 */
static int
first_in_global_order(Oid *owners, int nowners, Oid as_role)
{
	int			best = -1;
	int64		best_ord = 0;
	TimestampTz best_run_at = 0;
	int64		best_id = 0;
	PrivilegedScope scope;

	catalog_enter_privileged(&scope);
	for (int i = 0; i < nowners; i++)
	{
		int			n;
		ClaimedJob *job = queue_claim(owners[i], 1, as_role, false, 0, false, &n);
		int64		ord;
		TimestampTz run_at;
		int64		id;

		if (n > 0 && (best < 0 || comes_before(job->ord, job->run_at, job->id,
											   best_ord, best_run_at, best_id)))
		{
			best = i;
			best_ord = job->ord;
			best_run_at = job->run_at;
			best_id = job->id;
		}
		if (batch_peek(owners[i], as_role, &ord, &run_at, &id) &&
			(best < 0 || comes_before(ord, run_at, id, best_ord, best_run_at, best_id)))
		{
			best = i;
			best_ord = ord;
			best_run_at = run_at;
			best_id = id;
		}
	}
	catalog_leave_privileged(&scope);
	return best;
}

/*
 * Fire the due cron triggers, then run due work (of processes whose owner
 * as_role has the privileges of, when as_role is valid) in the current
 * transaction, for one owner: roles take turns, each round serving the
 * next role after the one served last that has due work, so that one
 * role's flood of work (or of work with a smaller execution order)
 * delays another's due job by about one round per executor; execution
 * order and priority rank each role's own work.  in_executor arms each
 * process's timeout as the statement timeout and notes the running job
 * (executors only: a session keeps its own statement_timeout).  Returns
 * the number of jobs and items taken, 0 when nothing was due that no one
 * else runs; *ran says how many of them ran (batch items that wait for an
 * older job of their row are taken without running).  With
 * procflow.role_turns off, each round serves the owner whose first due
 * job comes first in one order across roles.
 */
int
runner_run_due(int max_jobs, Oid as_role, bool in_executor, int *ran)
{
	static Oid	last_owner = InvalidOid;
	Oid		   *owners = palloc(sizeof(Oid) * QUEUE_MAX_OWNERS);
	int			nowners;
	int			start = 0;
	int			taken = 0;
	PrivilegedScope scope;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	catalog_enter_privileged(&scope);
	/* the jobs of the schedules that fired are claimed in this same round */
	if (scheduler_fire_due(as_role) > 0)
		CommandCounterIncrement();
	batch_materialize_blocking();
	nowners = queue_owners(owners, QUEUE_MAX_OWNERS);
	catalog_leave_privileged(&scope);

	/* the first owner after the one served last, or first in one order */
	if (!procflow_role_turns)
		start = Max(first_in_global_order(owners, nowners, as_role), 0);
	else
		while (start < nowners && owners[start] <= last_owner)
			start++;
	*ran = 0;
	for (int k = 0; k < nowners && taken == 0; k++)
	{
		Oid			owner = owners[(start + k) % nowners];

		taken = run_owner_turn(owner, max_jobs, as_role, in_executor, ran);
		if (taken > 0)
			last_owner = owner;
	}
	SPI_finish();
	return taken;
}

/*
 * An executor starts: the job its predecessor (same database and worker
 * number, "worker") noted as running when it ended without a clean exit
 * crashed it, or was running when the server crashed.  If it is still
 * pending, count that as a failed attempt.  A step chained to a job's run
 * left no row: that job runs again without chaining steps, so that the
 * step runs as a job of its own.  Runs in the caller's transaction.
 */
void
runner_count_crashed(const InflightNote *note)
{
	int64		job_id = note->job_id;
	PrivilegedScope scope;
	JobOutcome	outcome;
	ClaimedJob	job;
	RunError	crash = {unpack_sql_state(ERRCODE_CRASH_SHUTDOWN),
		"the server process running this job terminated abnormally",
	"The job may have crashed it; it counts as a failed attempt.", NULL};
	bool		pending;

	if (note->chained_after != 0)
	{
		shmem_forbid_chain(note->chained_after);
		ereport(LOG,
				(errmsg("the server process running activity \"%s\", chained to the run of job " INT64_FORMAT ", terminated abnormally",
						note->activity, note->chained_after),
				 errdetail("That job runs again with the steps it queues as jobs of their own; the activity's job then counts its failed attempts.")));
		return;
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	catalog_enter_privileged(&scope);
	batch_materialize_job(job_id);
	pending = queue_read_job(job_id, &job);
	catalog_leave_privileged(&scope);
	if (pending)
	{
		memset(&outcome, 0, sizeof(outcome));
		outcome.id = job_id;
		outcome.started_at = GetCurrentTimestamp();
		failure_outcome(job.process_id, job_id, job.attempts, &crash, &outcome);
		note_flow_failure(&job, strcmp(outcome.status, "failed") == 0, &outcome.error);
		catalog_enter_privileged(&scope);
		queue_record_outcomes(&outcome, 1);
		catalog_leave_privileged(&scope);
	}
	SPI_finish();
}

/*
 * Refuse to run jobs in this session where they could not run as in an
 * executor ("function" names the caller, run_jobs or run_timers): inside a
 * job's own action, at an isolation level that keeps one snapshot (each job
 * reads what committed before it), or with cursors open (the jobs' actions,
 * run as their owners, could read them).
 */
void
runner_check_session(const char *function)
{
	if (action_current_depth() > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s cannot be called from the action or condition of a process", function),
				 errdetail("It would run jobs inside the job or event that runs the action.")));
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s must run at isolation level READ COMMITTED", function),
				 errdetail("Each job reads what committed before it ran, as in an executor.")));
	if (job_state_has_cursors())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s does not run jobs while this session has cursors open", function),
				 errdetail("The actions of the jobs, run as their owners, could read them."),
				 errhint("Close them first (CLOSE ALL).")));
}

/*
 * Run one pending job now, in the caller's transaction, as run_jobs() runs
 * a job (procflow.run_timers), and record its outcome with "note" (or
 * none) as its history's message when it succeeds.  Returns whether it ran:
 * false when it is not pending, or was held (its instance busy).
 */
bool
runner_run_one(int64 job_id, const char *note)
{
	ClaimedJob	job;
	JobOutcome	outcome;
	PrivilegedScope scope;
	bool		pending;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	catalog_enter_privileged(&scope);
	pending = queue_read_job(job_id, &job);
	catalog_leave_privileged(&scope);
	if (pending)
	{
		run_job(&job, false, 0, NULL, &outcome);
		if (note != NULL && strcmp(outcome.status, "succeeded") == 0)
			outcome.error.message = pstrdup(note);
		catalog_enter_privileged(&scope);
		queue_record_outcomes(&outcome, 1);
		catalog_leave_privileged(&scope);
	}
	SPI_finish();
	return pending && !outcome.held;
}
