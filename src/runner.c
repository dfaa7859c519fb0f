/*-------------------------------------------------------------------------
 *
 * runner.c
 *	  Claiming due jobs and running them.
 *
 * Executors (and procflow.run_jobs() in a session) claim a set of due
 * jobs, or the next items of a due batch (batch.c), and run each in a
 * subtransaction of their transaction.  A job's action runs inside that
 * subtransaction; the write that makes the job row its own history row
 * follows it in the same transaction, so they commit together: a job that
 * touches only the database runs exactly once.  A
 * failing job's subtransaction is rolled back alone; its error is then
 * recorded with the next retry time, or as a final failure after
 * max_attempts, and the batch goes on.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "action.h"
#include "batch.h"
#include "cache.h"
#include "catalog.h"
#include "entity.h"
#include "procflow.h"
#include "queue.h"
#include "runner.h"
#include "scheduler.h"

/* Longest wait before a retry. */
#define MAX_RETRY_DELAY_MS	(3600 * 1000)

/*
 * Run the action of one claimed job as the process owner.  Returns the
 * job's status: "succeeded", or "skipped" with the reason in *note when the
 * row is gone or the condition no longer holds.
 */
static const char *
run_action(ProcessInfo *p, ClaimedJob *job, bool use_timeouts, const char **note)
{
	Datum		args[ACTION_NARGS] = {0, 0, 0};
	char		nulls[ACTION_NARGS] = {'n', 'n', ' '};
	OwnerScope	scope;
	const char *status = "succeeded";

	action_enter_owner(p->owner, p->search_path, &scope);
	action_push(p, job->depth + 1);

	if (p->entity != NULL && job->old_row != NULL)
	{
		args[1] = OidInputFunctionCall(F_RECORD_IN, job->old_row,
									   p->entity->rowtype, -1);
		nulls[1] = ' ';
	}
	if (strcmp(job->event, "delete") == 0)
	{
		args[0] = args[1];
		nulls[0] = nulls[1];
	}
	else if (p->entity != NULL && job->key != 0)
	{
		if (entity_fetch_row(p->entity, job->key, &args[0]))
			nulls[0] = ' ';
		else
		{
			status = "skipped";
			*note = "the entity row no longer exists";
		}
	}

	if (nulls[0] == ' ' || job->key == 0)
	{
		args[2] = action_context(p, job->event, job->trigger_id, job->id,
								 job->attempts + 1, job->key, job->changed);
		if (!action_condition_holds(p, args, nulls))
		{
			status = "skipped";
			*note = "the condition no longer holds";
		}
		else
		{
			if (use_timeouts && p->timeout_ms > 0)
				enable_timeout_after(STATEMENT_TIMEOUT, (int) Min(p->timeout_ms, INT_MAX));
			action_execute(p, args, nulls);
			if (use_timeouts && p->timeout_ms > 0)
				disable_timeout(STATEMENT_TIMEOUT, false);
		}
	}

	action_pop();
	action_leave_owner(&scope);
	return status;
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
 * The outcome of a failed run: retry later, or keep the job as failed.
 * The error is logged as well.
 */
static void
failure_outcome(ProcessInfo *p, ClaimedJob *job, ErrorData *edata,
				JobOutcome *outcome)
{
	int			attempts = job->attempts + 1;
	bool		final = p == NULL || attempts >= p->max_attempts;

	outcome->error_code = pstrdup(unpack_sql_state(edata->sqlerrcode));
	outcome->message = pstrdup(edata->message ? edata->message : "");
	outcome->detail = edata->detail ? pstrdup(edata->detail) : NULL;
	if (final)
	{
		outcome->status = "failed";
		outcome->finished_at = GetCurrentTimestamp();
	}
	else
	{
		outcome->status = "pending";
		outcome->retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														retry_delay_ms(attempts));
	}

	ereport(LOG,
			(errmsg("procflow: job " INT64_FORMAT " of process \"%s\" failed (attempt %d of %d)%s: %s",
					job->id, p ? p->name : "?", attempts,
					p ? p->max_attempts : attempts,
					final ? ", giving up" : "", edata->message)));
}

/*
 * Run one claimed job in a subtransaction and fill in its outcome.  The
 * outcomes are written by the batch's transaction itself, which holds the
 * jobs' row locks: updating a row from the subtransaction would turn that
 * lock into a MultiXact that every later claim would have to look into.
 */
static void
run_job(ClaimedJob *job, bool use_timeouts, JobOutcome *outcome)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ProcessInfo *volatile p = NULL;
	ErrorData  *volatile edata = NULL;

	memset(outcome, 0, sizeof(JobOutcome));
	outcome->id = job->id;
	outcome->started_at = GetCurrentTimestamp();

	cache_pin();
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		/* inside: a process that cannot be read (its table dropped) fails the job */
		p = cache_process(job->process_id);
		if (p == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("process %d does not exist", job->process_id)));
		if (use_timeouts)
			pgstat_report_activity(STATE_RUNNING,
								   psprintf("procflow job " INT64_FORMAT " (process %s, %s)",
											job->id, p->name, job->event));
		outcome->status = run_action(p, job, use_timeouts, &outcome->message);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		if (use_timeouts)
			disable_timeout(STATEMENT_TIMEOUT, false);
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_END_TRY();

	if (edata == NULL)
		outcome->finished_at = GetCurrentTimestamp();
	else
	{
		failure_outcome(p, job, edata, outcome);
		FreeErrorData(edata);
	}
	cache_unpin();
}

/*
 * Run the next items of a claimed batch, at most max_items, and write the
 * job row of each: its run's outcome, or a pending job when it waits for
 * an older job of its row (or for an item of its row that is to be
 * retried).  Returns the number of items taken; *ran says how many ran.
 */
static int
run_batch_items(Batch *batch, int max_items, bool use_timeouts, int *ran)
{
	int			from = batch->next_item;
	int			to = Min(batch->items, from + max_items - 1);
	int			n = to - from + 1;
	bool	   *waits = palloc(sizeof(bool) * n);
	NewJob	   *rows = palloc(sizeof(NewJob) * n);
	int64	   *held = palloc(sizeof(int64) * n);
	int			nheld = 0;
	PrivilegedScope scope;

	catalog_enter_privileged(&scope);
	batch_find_waiting(batch, from, to, waits);
	catalog_leave_privileged(&scope);

	for (int i = 0; i < n; i++)
	{
		int			item = from + i;
		int64		hash = batch->row_hashes[item - 1];
		bool		wait = waits[i];

		for (int h = 0; h < nheld && !wait; h++)
			wait = held[h] == hash;
		batch_item_job(batch, item, &rows[i]);
		if (!wait)
		{
			ClaimedJob	job;
			JobOutcome	outcome;

			queue_claimed_from(&rows[i], &job);
			run_job(&job, use_timeouts, &outcome);
			queue_set_outcome(&rows[i], &outcome);
			(*ran)++;
			wait = strcmp(outcome.status, "pending") == 0;
		}
		if (wait)
			held[nheld++] = hash;
	}

	for (int i = 0; i < n; i++)
		(void) queue_insert(&rows[i]);
	catalog_enter_privileged(&scope);
	batch_advance(batch->first_id, batch->items, to + 1);
	catalog_leave_privileged(&scope);
	batch_release();
	return n;
}

/*
 * Fire the due cron triggers, then claim due work (of processes whose owner
 * as_role has the privileges of, when as_role is valid) and run it in the
 * current transaction: up to max_jobs jobs, or as many items of the first
 * due batch, whichever comes first in execution order.  use_timeouts arms
 * each process's timeout as the statement timeout (executors only: a
 * session keeps its own statement_timeout).  Returns the number of jobs and
 * items taken, 0 when nothing was due; *ran says how many of them ran
 * (batch items that wait for an older job of their row are taken without
 * running).
 */
int
runner_run_due(int max_jobs, Oid as_role, bool use_timeouts, int *ran)
{
	ClaimedJob *jobs;
	JobOutcome *outcomes;
	Batch	   *batch;
	int			njobs;
	PrivilegedScope scope;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	catalog_enter_privileged(&scope);
	scheduler_fire_due(as_role);
	batch_materialize_blocking();
	batch = batch_claim(as_role);
	jobs = queue_claim(max_jobs, as_role, batch != NULL, batch ? batch->ord : 0,
					   &njobs);
	catalog_leave_privileged(&scope);

	*ran = 0;
	if (njobs == 0 && batch != NULL)
	{
		njobs = run_batch_items(batch, max_jobs, use_timeouts, ran);
		SPI_finish();
		return njobs;
	}
	*ran = njobs;

	outcomes = palloc(sizeof(JobOutcome) * Max(njobs, 1));
	for (int i = 0; i < njobs; i++)
		run_job(&jobs[i], use_timeouts, &outcomes[i]);

	catalog_enter_privileged(&scope);
	queue_record_outcomes(outcomes, njobs);
	catalog_leave_privileged(&scope);

	SPI_finish();
	return njobs;
}
