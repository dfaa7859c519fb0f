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

/* How long past its deadline a job that ignores the cancel may run. */
#define OVERRUN_GRACE_MS 1000

/* When the running job's time is up; 0 when it has no limit. */
static TimestampTz deadline = 0;

/* The timeout that ends an executor whose job overran its deadline. */
static TimeoutId overrun_timeout = MAX_TIMEOUTS;

/* The job ignored its cancel: end the executor, as a termination does. */
static void
overrun_handler(void)
{
	ProcDiePending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}

/*
 * A job starts: its time runs until max_ms (procflow.max_timeout) have
 * passed; 0 for no limit.
 */
void
job_deadline_begin(int max_ms)
{
	deadline = 0;
	if (max_ms > 0)
	{
		if (overrun_timeout == MAX_TIMEOUTS)
			overrun_timeout = RegisterTimeout(USER_TIMEOUT, overrun_handler);
		deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), max_ms);
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
	deadline = 0;
	disable_timeout(STATEMENT_TIMEOUT, false);
	if (overrun_timeout != MAX_TIMEOUTS)
		disable_timeout(overrun_timeout, false);
}
