/*-------------------------------------------------------------------------
 *
 * executor_worker.c
 *	  The executor background worker.
 *
 * The launcher starts procflow.workers executors for each database that
 * has the extension (launcher.c), the first alone while it probes one.  An
 * executor connects to its database (by OID) as the bootstrap superuser,
 * and leaves at once, saying nothing, when the extension is not there;
 * else it loops: run rounds, each claiming due jobs and
 * running them in one transaction (see runner.c), until a round finds
 * nothing due, then sleep
 * until the earliest future run_at, or until a commit that queued earlier
 * work sets its latch (see shmem.c), or at most procflow.max_sleep.  The
 * first executor of a database also prunes the history at that pace
 * (history.c), and renames the owners of processes whose roles were
 * renamed.
 * While there is work, executors also rotate the queue's partitions every
 * second (see rotation.c).
 *
 * An error outside a job (a job's own errors are handled by the runner)
 * aborts the batch, which is then retried: its jobs' work was rolled back
 * with it.  If the extension is gone from the database, the executor says
 * so once in the log and exits; the launcher looks again when CREATE
 * EXTENSION runs there.  It also leaves, between rounds, when a statement
 * needs its database without other sessions (utility_hook.c).
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "catalog.h"
#include "executor_worker.h"
#include "history.h"
#include "inflight.h"
#include "job_deadline.h"
#include "settings.h"
#include "queue.h"
#include "rotation.h"
#include "runner.h"
#include "shmem.h"

/* Pause after an unexpected error, so that a persistent one cannot spin. */
#define ERROR_PAUSE_MS	1000

static int	my_slot;
static int	my_worker;
static TimestampTz last_rotation = 0;

/* Is the extension installed in this database?  Own transaction. */
static bool
extension_installed(void)
{
	bool		installed;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	installed = OidIsValid(get_extension_oid("procflow", true)) &&
		catalog_oids_if_installed() != NULL;
	CommitTransactionCommand();
	return installed;
}

/*
 * Count a failed attempt of the job that the executor of this database
 * and worker number before this one was running when it died, if any (see
 * runner_count_crashed for a step chained to a job's run).
 */
static void
count_crashed_job(int worker)
{
	InflightNote note;

	if (inflight_left_behind(worker, &note))
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		runner_count_crashed(&note);
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	inflight_forget(worker);
}

/*
 * One round of due work in its own transaction; returns the number of jobs
 * and batch items taken (0 when nothing was due).
 */
static int
run_round(void)
{
	int			n;
	int			ran;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	n = runner_run_due(procflow_batch_size, InvalidOid, true, &ran);
	PopActiveSnapshot();
	CommitTransactionCommand();
	return n;
}

/*
 * A round of rotation of the queue's partitions (rotation.c) in its own
 * transaction, at most every ROTATION_INTERVAL_MS.
 */
static void
rotate_queue(void)
{
	PrivilegedScope scope;

	if (!TimestampDifferenceExceeds(last_rotation, GetCurrentTimestamp(),
									ROTATION_INTERVAL_MS))
		return;
	last_rotation = GetCurrentTimestamp();

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	/* its lock is held until commit; losing a truncation in a crash is harmless */
	(void) set_config_option("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	pgstat_report_activity(STATE_RUNNING, "procflow: rotating the job queue");
	catalog_enter_privileged(&scope);
	rotation_maintain(my_slot);
	catalog_leave_privileged(&scope);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/*
 * Read-only look at the queue: when is the next job due?  Prunes the
 * history first when it is time.
 */
static TimestampTz
next_due(bool prune)
{
	TimestampTz due;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	{
		PrivilegedScope scope;

		catalog_enter_privileged(&scope);
		if (prune)
		{
			pgstat_report_activity(STATE_RUNNING, "procflow: pruning job history");
			(void) history_prune(procflow_history_retention);
			catalog_refresh_owner_names();
		}
		pgstat_report_activity(STATE_RUNNING, "procflow: reading the next due time");
		due = queue_next_due();
		catalog_leave_privileged(&scope);
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	return due;
}

/* Milliseconds from now until "until", at least 0 and at most max_sleep. */
static long
sleep_ms(TimestampTz until)
{
	TimestampTz now = GetCurrentTimestamp();

	if (until <= now)
		return 0;
	return Min(TimestampDifferenceMilliseconds(now, until), (long) procflow_max_sleep);
}

/*
 * Main entry point of an executor.
 */
void
procflow_executor_main(Datum main_arg)
{
	Oid			dboid;
	char		dbname[NAMEDATALEN];
	volatile TimestampTz last_prune = 0;
	sigjmp_buf	local_sigjmp_buf;
	MemoryContext loop_cxt;

	my_slot = DatumGetInt32(main_arg) / PROCFLOW_MAX_WORKERS;
	my_worker = DatumGetInt32(main_arg) % PROCFLOW_MAX_WORKERS;
	memcpy(&dboid, MyBgworkerEntry->bgw_extra, sizeof(Oid));
	strlcpy(dbname, MyBgworkerEntry->bgw_extra + sizeof(Oid), NAMEDATALEN);

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	pqsignal(SIGUSR2, job_deadline_cut_handler);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	/* each job reads what committed before it (runner.c): never one snapshot a transaction */
	SetConfigOption("default_transaction_isolation", "read committed", PGC_SUSET,
					PGC_S_OVERRIDE);
	pgstat_report_appname("procflow executor");

	if (!extension_installed())
	{
		/* a probe: the launcher says so when procflow.database names it */
		shmem_set_missing_extension(my_slot, true);
		proc_exit(0);
	}
	shmem_set_missing_extension(my_slot, false);
	/*
	 * The first executor of a database counts what every executor before it
	 * left behind (after a crash, the others start only once it has, so
	 * none of them runs those jobs first); the others, their own.
	 */
	if (shmem_executor_attach(my_slot, my_worker))
	{
		for (int w = 0; w < PROCFLOW_MAX_WORKERS; w++)
			count_crashed_job(w);
	}
	else
		count_crashed_job(my_worker);
	shmem_executor_serving();
	inflight_open(my_worker);

	loop_cxt = AllocSetContextCreate(TopMemoryContext, "procflow executor loop",
									 ALLOCSET_DEFAULT_SIZES);

	/*
	 * Errors outside a job land here, as in bgwriter.c: report, clean up the
	 * transaction, pause, and go on with the loop.
	 */
	if (sigsetjmp(local_sigjmp_buf, 1) != 0)
	{
		/* not using PG_TRY, so the error context stack is reset by hand */
		error_context_stack = NULL;
		HOLD_INTERRUPTS();
		disable_all_timeouts(false);
		EmitErrorReport();
		AbortOutOfAnyTransaction();
		FlushErrorState();
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(loop_cxt);
		RESUME_INTERRUPTS();

		if (!extension_installed())
		{
			ereport(LOG,
					(errmsg("extension \"procflow\" was dropped from database \"%s\"; executor exits",
							dbname)));
			shmem_set_missing_extension(my_slot, true);
			proc_exit(0);
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 ERROR_PAUSE_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	PG_exception_stack = &local_sigjmp_buf;

	for (;;)
	{
		TimestampTz wake_at;
		bool		prune;

		MemoryContextSwitchTo(loop_cxt);
		MemoryContextReset(loop_cxt);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();

		if (shmem_slot_leaving(my_slot))
		{
			ereport(LOG,
					(errmsg("procflow executor leaves database \"%s\" for a statement that needs it without other sessions",
							dbname)));
			proc_exit(0);
		}
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		/* from here on, every commit of due work sets our latch */
		shmem_prepare_sleep(my_slot);

		if (procflow_enabled)
		{
			/* a statement that needs the database alone waits for no backlog */
			while (run_round() > 0 && !shmem_slot_leaving(my_slot))
			{
				CHECK_FOR_INTERRUPTS();
				MemoryContextReset(loop_cxt);
				rotate_queue();
			}
			if (shmem_slot_leaving(my_slot))
				continue;
		}

		prune = my_worker == 0 &&
			TimestampDifferenceExceeds(last_prune, GetCurrentTimestamp(),
									   procflow_max_sleep);
		if (prune)
			last_prune = GetCurrentTimestamp();
		wake_at = procflow_enabled ? next_due(prune) : DT_NOEND;
		wake_at = shmem_settle_wakeup(my_slot, wake_at);
		pgstat_report_stat(true);
		pgstat_report_activity(STATE_IDLE, NULL);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms(wake_at), PG_WAIT_EXTENSION);
	}
}
