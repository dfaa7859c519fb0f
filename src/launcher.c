/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The launcher background worker.
 *
 * One launcher per cluster, registered at preload and started once the
 * server accepts writes (so never on a standby, and at promotion on a
 * promoted one).  It serves every database that may be served
 * (database_list.c: not a template, let by procflow.database) and has the
 * extension.  Only a session in a database sees its extensions, so a
 * database it has not seen before gets a shared slot and one executor, a
 * probe, PROBES_AT_ONCE databases at a time: the probe leaves at once when
 * the extension is not there, and the database is not looked at again
 * until CREATE EXTENSION commits there (which wakes the launcher) or a
 * reload; otherwise the probe stays, and procflow.workers executors run
 * there, restarted when they exit.  An executor that dies soon after it
 * started is restarted with a growing delay, so a database that cannot be
 * served costs a log line now and then, not a tight loop.  The launcher
 * reads pg_database again each time it wakes: at a reload, after CREATE
 * DATABASE and CREATE EXTENSION, when an executor starts or exits, and at
 * least every procflow.max_sleep.
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

#include "database_list.h"
#include "executor_worker.h"
#include "job_deadline.h"
#include "launcher.h"
#include "settings.h"
#include "shmem.h"

/* An executor that lived shorter than this counts as failing to start. */
#define SHORT_LIFE_MS		10000
#define MIN_RESTART_DELAY_MS 1000
#define MAX_RESTART_DELAY_MS 60000

/* How many databases may be probed for the extension at a time. */
#define PROBES_AT_ONCE		2

/* How long a job the launcher cut may go on before its executor ends. */
#define CUT_GRACE_MS		1000

typedef struct ExecutorState
{
	BackgroundWorkerHandle *handle;
	TimestampTz started_at;
	TimestampTz restart_at;		/* do not start before */
	int			restart_delay_ms;
	int64		cut_job;		/* the job watch_job_deadlines cut last, */
	TimestampTz cut_since;		/* the run of it (when it started), */
	TimestampTz cut_at;			/* and when */
} ExecutorState;

typedef struct LauncherSlot
{
	bool		in_use;
	Oid			dboid;
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
	/* by OID: a database renamed while its executors pause keeps it */
	memcpy(worker.bgw_extra, &slots[s].dboid, sizeof(Oid));
	strlcpy(worker.bgw_extra + sizeof(Oid), slots[s].dbname, BGW_EXTRALEN - sizeof(Oid));

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
 * What the launcher knows of a database that may be served (database_list.c):
 * whether a probe (its first executor) found no extension there, and what
 * it said of that in the log.
 */
typedef struct KnownDatabase
{
	Oid			oid;
	char		name[NAMEDATALEN];
	bool		listed;			/* procflow.database names it */
	bool		missing;		/* no extension there: not probed again until
								 * CREATE EXTENSION runs there, or a reload */
	bool		fresh;			/* in this pass: CREATE EXTENSION ran there (or
								 * a reload), so a probe that found none may
								 * have looked just before */
	bool		reported;		/* its missing extension is in the log */
	bool		no_slot_reported;	/* that no slot was free is in the log */
} KnownDatabase;

static KnownDatabase *known = NULL;
static int	nknown = 0;

/* The known database of this OID, or NULL. */
static KnownDatabase *
known_database(Oid oid)
{
	for (int i = 0; i < nknown; i++)
		if (known[i].oid == oid)
			return &known[i];
	return NULL;
}

/* Stop a slot's executors and give the slot up. */
static void
release_slot(int s)
{
	for (int w = 0; w < PROCFLOW_MAX_WORKERS; w++)
		stop_executor(&slots[s].executors[w]);
	slots[s].in_use = false;
	shmem_clear_slot(s);
}

/*
 * Read the databases that may be served again, and keep what is known of
 * each: those in "fresh" (LAUNCHER_RECHECK_MAX long, nfresh of them; all,
 * with "all") got the extension, so a probe looks again.
 */
static void
read_databases(const Oid *fresh, int nfresh, bool all)
{
	CandidateDatabase *list;
	int			n = database_list_read(&list);
	KnownDatabase *now = MemoryContextAllocZero(TopMemoryContext,
												sizeof(KnownDatabase) * Max(n, 1));

	for (int i = 0; i < n; i++)
	{
		KnownDatabase *was = known_database(list[i].oid);
		bool		new_extension = all;

		for (int f = 0; f < nfresh; f++)
			new_extension |= fresh[f] == list[i].oid;
		if (was != NULL && !new_extension)
			now[i] = *was;
		now[i].fresh = new_extension;
		now[i].oid = list[i].oid;
		strlcpy(now[i].name, list[i].name, NAMEDATALEN);
		now[i].listed = list[i].listed;
	}
	if (known != NULL)
		pfree(known);
	known = now;
	nknown = n;
	pfree(list);
}

/*
 * Bring the slots in line with the databases that may be served: a slot
 * whose database is gone (dropped, no longer let by procflow.database, a
 * template now) or whose probe found no extension is given up; databases
 * that may be served, and are not known to lack the extension, get a slot,
 * at most PROBES_AT_ONCE of them being probed at a time.
 */
static void
reconcile_databases(void)
{
	int			probing = 0;

	for (int s = 0; s < PROCFLOW_MAX_DATABASES; s++)
	{
		KnownDatabase *db;

		if (!slots[s].in_use)
			continue;
		db = known_database(slots[s].dboid);
		if (db != NULL && db->fresh && shmem_slot_missing_extension(s))
		{
			/* the probe looked before the extension came: probe again */
			release_slot(s);
			continue;
		}
		if (db != NULL && shmem_slot_missing_extension(s))
		{
			db->missing = true;
			if (db->listed && !db->reported)
				ereport(LOG,
						(errmsg("extension \"procflow\" is not installed in database \"%s\", which procflow.database names",
								db->name),
						 errhint("Run CREATE EXTENSION procflow in that database, or remove it from procflow.database.")));
			db->reported = true;
		}
		if (db == NULL || db->missing)
			release_slot(s);
		else if (!shmem_slot_served(s) && slots[s].executors[0].restart_delay_ms == 0)
			probing++;			/* a probe failing to connect holds back no other */
	}

	for (int i = 0; i < nknown && probing < PROBES_AT_ONCE; i++)
	{
		KnownDatabase *db = &known[i];
		int			free_slot = -1;
		bool		has_slot = false;

		if (db->missing)
			continue;
		for (int s = 0; s < PROCFLOW_MAX_DATABASES; s++)
		{
			if (slots[s].in_use && slots[s].dboid == db->oid)
				has_slot = true;
			else if (!slots[s].in_use && free_slot < 0)
				free_slot = s;
		}
		if (has_slot)
			continue;
		if (free_slot < 0)
		{
			if (!db->no_slot_reported)
				ereport(LOG,
						(errmsg("procflow serves at most %d databases; database \"%s\" is not served",
								PROCFLOW_MAX_DATABASES, db->name),
						 errhint("Name the databases to serve in procflow.database.")));
			db->no_slot_reported = true;
			continue;
		}
		memset(&slots[free_slot], 0, sizeof(LauncherSlot));
		slots[free_slot].in_use = true;
		slots[free_slot].dboid = db->oid;
		strlcpy(slots[free_slot].dbname, db->name, NAMEDATALEN);
		shmem_assign_slot(free_slot, db->oid, db->name);
		probing++;
	}
}

/* Say which names in procflow.database are no database that can be served. */
static void
report_unknown_names(void)
{
	CandidateDatabase *list;
	int			n = database_list_read(&list);
	List	   *unknown = database_list_unknown_names(list, n);
	ListCell   *lc;

	foreach(lc, unknown)
		ereport(LOG,
				(errmsg("procflow.database names \"%s\", which is no database procflow can serve",
						(char *) lfirst(lc)),
				 errdetail("It does not exist, does not accept connections, or is a template.")));
	list_free_deep(unknown);
	pfree(list);
}

/*
 * Start the executors that should run and do not: procflow.workers of a
 * database that is served, the first alone of one being probed, none of one
 * whose executors are paused (shmem_pause_database).  Returns the time of
 * the earliest delayed start, or DT_NOEND.  "recheck" (CREATE EXTENSION
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
		TimestampTz paused_until;
		int			workers;

		if (!slot->in_use)
			continue;
		paused_until = shmem_slot_paused_until(s);
		if (paused_until > now)
		{
			next = Min(next, paused_until);
			continue;
		}
		workers = shmem_slot_served(s) ? procflow_workers : Min(procflow_workers, 1);
		for (int w = 0; w < PROCFLOW_MAX_WORKERS; w++)
		{
			ExecutorState *ex = &slot->executors[w];
			bool		wanted = w < workers;

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
				if (!TimestampDifferenceExceeds(ex->started_at, now, SHORT_LIFE_MS))
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
			int			limit = job_deadline_limit_ms(r->max_timeout_ms, procflow_max_timeout);
			TimestampTz deadline;

			/* none, or the one the executor armed itself */
			if (r->job_id == 0 || limit == r->max_timeout_ms)
				continue;
			deadline = TimestampTzPlusMilliseconds(r->since, limit);
			if (now < deadline)
				next = Min(next, deadline);
			else if (ex->cut_job != r->job_id || ex->cut_since != r->since)
			{
				shmem_cut_job(s, r, false);
				ex->cut_job = r->job_id;
				ex->cut_since = r->since;
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
	shmem_end_orphaned_executors(10000);
	for (int s = 0; s < PROCFLOW_MAX_DATABASES; s++)
		shmem_clear_slot(s);

	shmem_publish_max_timeout(procflow_max_timeout);
	report_unknown_names();
	read_databases(NULL, 0, true);

	for (;;)
	{
		TimestampTz next;
		long		timeout = procflow_max_sleep;
		Oid			fresh[LAUNCHER_RECHECK_MAX];
		int			nfresh;
		bool		all = false;

		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();

		if (ConfigReloadPending)
		{
			/* a reload also has every database probed again */
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			shmem_publish_max_timeout(procflow_max_timeout);
			report_unknown_names();
			all = true;
		}

		nfresh = shmem_take_launcher_recheck(fresh, &all);
		read_databases(fresh, nfresh, all);
		reconcile_databases();
		next = Min(tend_executors(nfresh > 0 || all), watch_job_deadlines());
		if (next != DT_NOEND)
			timeout = Min(timeout,
						  TimestampDifferenceMilliseconds(GetCurrentTimestamp(), next));

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
	}
}
