/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The launcher background worker.
 *
 * One launcher per cluster, registered at preload and started once the
 * server accepts writes (so never on a standby, and at promotion on a
 * promoted one).  It gives each database named in procflow.database a
 * shared slot and keeps procflow.workers executors running for it,
 * restarting any that exit.  An executor that dies soon after it started
 * is restarted with a growing delay, so a database that cannot be served
 * (it does not exist, say) costs a log line now and then, not a tight
 * loop.  A database without the extension is tried again after
 * procflow.max_sleep, or at once when CREATE EXTENSION wakes the launcher.
 * SIGHUP re-reads the list.
 *
 * It also publishes procflow.max_timeout, which executors read as each
 * job starts, and cuts the jobs that started under a longer one before a
 * reload lowered it (watch_job_deadlines): no role holds an executor past
 * the limit, however long its job began before the limit was set.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

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
#include "utils/timestamp.h"
#include "utils/varlena.h"
#include "utils/wait_event.h"

#include "executor_worker.h"
#include "launcher.h"
#include "settings.h"
#include "shmem.h"

/* An executor that lived shorter than this counts as failing to start. */
#define SHORT_LIFE_MS		10000
#define MIN_RESTART_DELAY_MS 1000
#define MAX_RESTART_DELAY_MS 60000

/* How long a job the launcher cut may go on before its executor ends. */
#define CUT_GRACE_MS		1000

typedef struct ExecutorState
{
	BackgroundWorkerHandle *handle;
	TimestampTz started_at;
	TimestampTz restart_at;		/* do not start before */
	int			restart_delay_ms;
	int64		cut_job;		/* the job watch_job_deadlines cut last ... */
	TimestampTz cut_at;			/* ... and when */
} ExecutorState;

typedef struct LauncherSlot
{
	bool		in_use;
	char		dbname[NAMEDATALEN];
	ExecutorState executors[PROCFLOW_MAX_WORKERS];
} LauncherSlot;

static LauncherSlot slots[PROCFLOW_MAX_DATABASES];

/* Register the launcher; called from _PG_init while preloading. */
void
launcher_register(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 1;
	strcpy(worker.bgw_library_name, "procflow");
	strcpy(worker.bgw_function_name, "procflow_launcher_main");
	strcpy(worker.bgw_name, "procflow launcher");
	strcpy(worker.bgw_type, "procflow launcher");
	RegisterBackgroundWorker(&worker);
}

/* Withdraw the launcher's latch from shared memory at exit. */
static void
launcher_detach(int code, Datum arg)
{
	shmem_set_launcher(false);
}

/* Is the executor running (or starting)? */
static bool
executor_alive(ExecutorState *ex)
{
	pid_t		pid;

	if (ex->handle == NULL)
		return false;
	if (GetBackgroundWorkerPid(ex->handle, &pid) == BGWH_STOPPED)
	{
		pfree(ex->handle);
		ex->handle = NULL;
		return false;
	}
	return true;
}

/* Ask an executor to stop, and forget it. */
static void
stop_executor(ExecutorState *ex)
{
	if (ex->handle != NULL)
	{
		TerminateBackgroundWorker(ex->handle);
		pfree(ex->handle);
		ex->handle = NULL;
	}
}

/* Start executor "w" of slot "s" now. */
static void
start_executor(int s, int w)
{
	BackgroundWorker worker;
	ExecutorState *ex = &slots[s].executors[w];
	MemoryContext old;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strcpy(worker.bgw_library_name, "procflow");
	strcpy(worker.bgw_function_name, "procflow_executor_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "procflow executor %d for database %s",
			 w, slots[s].dbname);
	strcpy(worker.bgw_type, "procflow executor");
	worker.bgw_main_arg = Int32GetDatum(EXECUTOR_ARG(s, w));
	worker.bgw_notify_pid = MyProcPid;
	strlcpy(worker.bgw_extra, slots[s].dbname, BGW_EXTRALEN);

	old = MemoryContextSwitchTo(TopMemoryContext);
	if (!RegisterDynamicBackgroundWorker(&worker, &ex->handle))
	{
		ex->handle = NULL;
		ereport(LOG,
				(errmsg("could not start an executor for database \"%s\"",
						slots[s].dbname),
				 errhint("Raise max_worker_processes.")));
	}
	MemoryContextSwitchTo(old);
	ex->started_at = GetCurrentTimestamp();
}

/*
 * Bring the slots in line with procflow.database: new names get a slot,
 * names no longer listed lose theirs and their executors.
 */
static void
reconcile_databases(void)
{
	char	   *raw = pstrdup(procflow_database ? procflow_database : "");
	List	   *names = NIL;
	ListCell   *lc;

	if (!SplitGUCList(raw, ',', &names))
	{
		ereport(LOG,
				(errmsg("invalid list syntax in procflow.database: \"%s\"",
						procflow_database)));
		names = NIL;
	}

	for (int s = 0; s < PROCFLOW_MAX_DATABASES; s++)
	{
		bool		listed = false;

		if (!slots[s].in_use)
			continue;
		foreach(lc, names)
			listed |= strcmp((char *) lfirst(lc), slots[s].dbname) == 0;
		if (!listed)
		{
			for (int w = 0; w < PROCFLOW_MAX_WORKERS; w++)
				stop_executor(&slots[s].executors[w]);
			slots[s].in_use = false;
			shmem_clear_slot(s);
		}
	}

	foreach(lc, names)
	{
		char	   *name = lfirst(lc);
		int			free_slot = -1;
		bool		found = false;

		if (name[0] == '\0')
			continue;
		for (int s = 0; s < PROCFLOW_MAX_DATABASES; s++)
		{
			if (slots[s].in_use && strcmp(slots[s].dbname, name) == 0)
				found = true;
			else if (!slots[s].in_use && free_slot < 0)
				free_slot = s;
		}
		if (found)
			continue;
		if (free_slot < 0)
		{
			ereport(LOG,
					(errmsg("procflow.database names more than %d databases; \"%s\" is not served",
							PROCFLOW_MAX_DATABASES, name)));
			continue;
		}
		memset(&slots[free_slot], 0, sizeof(LauncherSlot));
		slots[free_slot].in_use = true;
		strlcpy(slots[free_slot].dbname, name, NAMEDATALEN);
		shmem_assign_slot(free_slot, name);
	}
	list_free(names);
	pfree(raw);
}

/*
 * Start the executors that should run and do not; returns the time of the
 * earliest delayed restart, or DT_NOEND.  "recheck" (CREATE EXTENSION
 * somewhere) starts them at once, whatever their restart delay.
 */
static TimestampTz
tend_executors(bool recheck)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz next = DT_NOEND;

	for (int s = 0; s < PROCFLOW_MAX_DATABASES; s++)
	{
		LauncherSlot *slot = &slots[s];

		if (!slot->in_use)
			continue;
		for (int w = 0; w < PROCFLOW_MAX_WORKERS; w++)
		{
			ExecutorState *ex = &slot->executors[w];
			bool		wanted = w < procflow_workers;

			if (executor_alive(ex))
			{
				if (!wanted)
					stop_executor(ex);
				continue;
			}
			if (!wanted)
				continue;

			/* it exited: how soon may it start again? */
			if (ex->started_at != 0 && ex->restart_at <= ex->started_at)
			{
				if (shmem_slot_missing_extension(s))
					ex->restart_delay_ms = procflow_max_sleep;
				else if (!TimestampDifferenceExceeds(ex->started_at, now, SHORT_LIFE_MS))
					ex->restart_delay_ms = Min(Max(ex->restart_delay_ms * 2,
												   MIN_RESTART_DELAY_MS),
											   MAX_RESTART_DELAY_MS);
				else
					ex->restart_delay_ms = 0;
				ex->restart_at = TimestampTzPlusMilliseconds(now, ex->restart_delay_ms);
			}
			if (recheck)
			{
				/* a new start: what it backed off from may be over */
				ex->restart_at = now;
				ex->restart_delay_ms = 0;
			}

			if (ex->restart_at <= now)
				start_executor(s, w);
			else if (ex->restart_at < next)
				next = ex->restart_at;
		}
	}
	return next;
}

/*
 * Cut the jobs that started before procflow.max_timeout was lowered (or
 * set) and have run past it, as their own deadline would have (see
 * job_deadline.c): cancel each, and end its executor if it goes on
 * CUT_GRACE_MS after the cancel.  A job that started under the current limit, or
 * a shorter one, keeps its own deadline.  Returns when to look again, or
 * DT_NOEND.
 */
static TimestampTz
watch_job_deadlines(void)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz next = DT_NOEND;
	RunningJob	runs[PROCFLOW_MAX_WORKERS];

	if (procflow_max_timeout <= 0)
		return DT_NOEND;
	for (int s = 0; s < PROCFLOW_MAX_DATABASES; s++)
	{
		int			n;

		if (!slots[s].in_use)
			continue;
		n = shmem_slot_running(s, runs);
		for (int i = 0; i < n; i++)
		{
			RunningJob *r = &runs[i];
			ExecutorState *ex = &slots[s].executors[r->worker];
			TimestampTz deadline;

			if (r->job_id == 0 ||
				(r->max_timeout_ms > 0 && r->max_timeout_ms <= procflow_max_timeout))
				continue;
			deadline = TimestampTzPlusMilliseconds(r->since, procflow_max_timeout);
			if (now < deadline)
				next = Min(next, deadline);
			else if (ex->cut_job != r->job_id)
			{
				shmem_cut_job(s, r, false);
				ex->cut_job = r->job_id;
				ex->cut_at = now;
				next = Min(next, TimestampTzPlusMilliseconds(now, CUT_GRACE_MS));
			}
			else if (TimestampDifferenceExceeds(ex->cut_at, now, CUT_GRACE_MS))
				shmem_cut_job(s, r, true);
			else
				next = Min(next, TimestampTzPlusMilliseconds(ex->cut_at, CUT_GRACE_MS));
		}
	}
	return next;
}

/*
 * Main entry point of the launcher.
 */
void
procflow_launcher_main(Datum main_arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	/* no database: this only makes the launcher visible in pg_stat_activity */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	memset(slots, 0, sizeof(slots));
	shmem_set_launcher(true);
	before_shmem_exit(launcher_detach, (Datum) 0);
	for (int s = 0; s < PROCFLOW_MAX_DATABASES; s++)
		shmem_clear_slot(s);

	reconcile_databases();
	shmem_publish_max_timeout(procflow_max_timeout);

	for (;;)
	{
		TimestampTz next;
		long		timeout = procflow_max_sleep;
		bool		recheck;

		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			reconcile_databases();
			shmem_publish_max_timeout(procflow_max_timeout);
		}

		recheck = shmem_take_launcher_recheck();
		next = Min(tend_executors(recheck), watch_job_deadlines());
		if (next != DT_NOEND)
			timeout = Min(timeout,
						  TimestampDifferenceMilliseconds(GetCurrentTimestamp(), next));

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
	}
}
