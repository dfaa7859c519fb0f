/*-------------------------------------------------------------------------
 *
 * job_deadline.c
 *	  The time an executor gives one job.
 *
 * procflow.max_timeout bounds everything an executor does for one job, so
 * that no role can hold an executor, and with it other roles' work, for
 * longer: the action, and also conditions, decisions, keys, a task's
 * values, the re-reading of entity rows, and the lock waits of any of
 * them.  It is the statement timeout, armed when the job starts and
 * disarmed when it ends; an action's own timeout (its process's, or its
 * activity's) narrows it while the action runs, never beyond the job's
 * deadline.  When it fires, the job fails with "canceling statement due to
 * statement timeout", as any error, and is retried.  SQL can catch that
 * cancel and go on (an EXCEPTION WHEN query_canceled block in a loop): a
 * job still running OVERRUN_GRACE_MS after its deadline ends its executor,
 * as pg_terminate_backend would, with an error no SQL can catch; the
 * launcher starts the executor again, and the job, noted as running
 * (inflight.c), counts that as a failed attempt.
 *
 * procflow.max_timeout is the value the launcher published (shmem.c), read
 * as each job starts.  A job that started under a longer one (or none)
 * before a reload lowered it is the launcher's to cut: it sends SIGUSR2,
 * and job_deadline_cut_handler cancels the job, or ends the executor when
 * the job goes on a second after that, as the deadline would have.
 *
 * Only executors use it: in a session, procflow.run_jobs() keeps the
 * session's own statement_timeout.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "job_deadline.h"
#include "shmem.h"

/* How long past its deadline a job that ignores the cancel may run. */
#define OVERRUN_GRACE_MS 1000

/* When the running job's time is up; 0 when it has no limit. */
static TimestampTz deadline = 0;

/* The timeout that ends an executor whose job overran its deadline. */
static TimeoutId overrun_timeout = MAX_TIMEOUTS;

/* The running job, for the signal handler; 0 between jobs. */
static volatile int64 running_job = 0;

/* Did the launcher cut the running (or last) job? */
static volatile sig_atomic_t cut_by_launcher = false;

/* The job ignored its cancel: end the executor, as a termination does. */
static void
overrun_handler(void)
{
	ProcDiePending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}

/*
 * A job starts, at "since": its time runs until procflow.max_timeout has
 * passed (none when 0), and the executor's shared slot says what it runs.
 */
void
job_deadline_begin(int64 job_id, int32 process_id, TimestampTz since)
{
	int			max_ms = shmem_max_timeout();

	deadline = 0;
	cut_by_launcher = false;
	running_job = job_id;
	shmem_note_running(job_id, process_id, since, max_ms);
	/* published meanwhile: the launcher may have looked before the note */
	if (shmem_max_timeout() != max_ms)
	{
		max_ms = shmem_max_timeout();
		shmem_note_running(job_id, process_id, since, max_ms);
	}
	if (max_ms > 0)
	{
		if (overrun_timeout == MAX_TIMEOUTS)
			overrun_timeout = RegisterTimeout(USER_TIMEOUT, overrun_handler);
		deadline = TimestampTzPlusMilliseconds(since, max_ms);
		enable_timeout_at(STATEMENT_TIMEOUT, deadline);
		enable_timeout_at(overrun_timeout,
						  TimestampTzPlusMilliseconds(deadline, OVERRUN_GRACE_MS));
	}
}

/*
 * An action with its own timeout (ms, 0 for none) starts: it may run that
 * long, but not past the job's deadline.
 */
void
job_deadline_narrow(int64 timeout_ms)
{
	TimestampTz until;

	if (timeout_ms <= 0)
		return;
	until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	if (deadline != 0 && deadline < until)
		until = deadline;
	enable_timeout_at(STATEMENT_TIMEOUT, until);
}

/* The action returned: the job's deadline again. */
void
job_deadline_widen(void)
{
	if (deadline != 0)
		enable_timeout_at(STATEMENT_TIMEOUT, deadline);
	else
		disable_timeout(STATEMENT_TIMEOUT, false);
}

/* The job ended, or failed: no deadline. */
void
job_deadline_end(void)
{
	running_job = 0;
	/* a cut that came after the job's last look at interrupts: not the next job's */
	if (cut_by_launcher)
		QueryCancelPending = false;
	shmem_note_running(0, 0, 0, 0);
	deadline = 0;
	disable_timeout(STATEMENT_TIMEOUT, false);
	if (overrun_timeout != MAX_TIMEOUTS)
		disable_timeout(overrun_timeout, false);
}

/*
 * The limit a running job has, in ms (0: none): the procflow.max_timeout
 * it started under (its own deadline), or the current one when that is
 * lower, as the launcher enforces (launcher.c); a raised limit applies to
 * the jobs that start after it.
 */
int
job_deadline_limit_ms(int started_under_ms, int current_ms)
{
	if (started_under_ms <= 0)
		return Max(current_ms, 0);
	if (current_ms <= 0)
		return started_under_ms;
	return Min(started_under_ms, current_ms);
}

/* Was the job that ran last cut by the launcher (job_deadline_cut_handler)? */
bool
job_deadline_was_cut(void)
{
	return cut_by_launcher;
}

/*
 * SIGUSR2: the launcher cut a job that started before procflow.max_timeout
 * was lowered and has run past it.  If that job is still the running one,
 * cancel it as its statement timeout would, or end the executor when the
 * job went on after the cancel, as its overrun would.
 */
void
job_deadline_cut_handler(SIGNAL_ARGS)
{
	int			save_errno = errno;
	int64		job_id = running_job;
	int			how = job_id != 0 ? shmem_job_cut(job_id) : 0;

	if (how != 0)
	{
		cut_by_launcher = true;
		if (how == 2)
			ProcDiePending = true;
		else
			QueryCancelPending = true;
		InterruptPending = true;
	}
	SetLatch(MyLatch);
	errno = save_errno;
}
