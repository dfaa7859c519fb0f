/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  Shared state and wake-ups.
 *
 * The launcher gives each database it serves, or probes for the extension,
 * a slot.  Executors of that database publish their PGPROC numbers in it, so that a backend
 * committing new work can set their latches, and keep in "next_wakeup" the
 * earliest time one of them will look at the queue.  A commit whose work is
 * due before that time moves it forward and wakes them; any other commit
 * leaves them asleep.  This is what lets executors sleep exactly until the
 * next run_at instead of polling.
 *
 * The slot also says which partition of procflow.job takes new due jobs
 * (rotation.c); backends of the database read it when they queue a job.
 *
 * Each executor keeps in its slot the job it runs, for procflow.executors
 * and for the launcher, which publishes procflow.max_timeout as it read it
 * last and cuts the jobs that started under a longer one (launcher.c).
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/transam.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/wait_event.h"

#include "settings.h"
#include "shmem.h"

#define NO_WAKEUP	PG_INT64_MAX

/* shared max_timeout before the launcher published one */
#define NO_MAX_TIMEOUT PG_UINT32_MAX

/*
 * The job one executor runs, written by that executor as each job starts
 * and ends with a count of changes that is odd while it writes, so that a
 * reader sees one job whole (as pgstat's st_changecount does).  cut_job is
 * the launcher's: it cut that job, and with cut_end set it ends the
 * executor (job_deadline.c reads both in a signal handler).
 */
typedef struct ExecutorRun
{
	pg_atomic_uint32 changes;
	int64		job_id;
	int32		process_id;
	TimestampTz since;
	int			max_timeout_ms;
	pg_atomic_uint64 cut_job;
	pg_atomic_uint32 cut_end;
} ExecutorRun;

typedef struct DatabaseSlot
{
	bool		in_use;
	bool		missing_extension;	/* executor found no extension there */
	bool		served;			/* an executor found the extension there */
	Oid			dboid;
	char		dbname[NAMEDATALEN];
	TimestampTz paused_until;	/* executors leave, and are not started,
								 * until then (shmem_pause_database) */
	int			executor_procno[PROCFLOW_MAX_WORKERS];	/* -1 when none */
	pg_atomic_uint64 next_wakeup;	/* TimestampTz; NO_WAKEUP when none */
	QueueRotation rotation;
	int64		cancelled[JOB_PARTITIONS];	/* jobs cancelled in each
											 * partition since it was last
											 * rewritten (rotation.c) */
	TransactionId cancelled_xid[JOB_PARTITIONS];	/* the latest transaction
													 * that cancelled them */
	pg_atomic_uint64 unchained[PROCFLOW_MAX_WORKERS];	/* per worker: a job
														 * whose chained step
														 * crashed it, or 0 */
	ExecutorRun runs[PROCFLOW_MAX_WORKERS];
} DatabaseSlot;

typedef struct ProcflowShared
{
	slock_t		mutex;			/* protects everything but next_wakeup */
	int			launcher_procno;	/* -1 when not running */
	int			recheck_count;	/* databases whose extension was created ... */
	Oid			recheck[LAUNCHER_RECHECK_MAX];	/* ... (launcher_recheck: too many) */
	bool		launcher_recheck;	/* look at every database again */
	pg_atomic_uint32 max_timeout_ms;	/* procflow.max_timeout as the
										 * launcher read it last */
	DatabaseSlot slots[PROCFLOW_MAX_DATABASES];
} ProcflowShared;

static ProcflowShared *shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static int	attached_slot = -1;
static int	attached_worker = -1;

static void shmem_request(void);
static void shmem_startup(void);
static void shmem_executor_detach(int code, Datum arg);
static void set_latch_of(int procno);
static void clear_run(ExecutorRun *run);
static int	slot_running(DatabaseSlot *s, RunningJob *runs);
static bool lower_next_wakeup(pg_atomic_uint64 *next, TimestampTz t,
							  TimestampTz *result);

/* Install the hooks; called from _PG_init while preloading. */
void
shmem_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shmem_startup;
}

/* Reserve our share of shared memory. */
static void
shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(ProcflowShared)));
}

/* Create or attach to the shared state; initialise it only when new. */
static void
shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("procflow", sizeof(ProcflowShared), &found);
	if (!found)
	{
		SpinLockInit(&shared->mutex);
		shared->launcher_procno = -1;
		shared->launcher_recheck = false;
		shared->recheck_count = 0;
		pg_atomic_init_u32(&shared->max_timeout_ms, NO_MAX_TIMEOUT);
		for (int i = 0; i < PROCFLOW_MAX_DATABASES; i++)
		{
			DatabaseSlot *s = &shared->slots[i];

			s->in_use = false;
			s->missing_extension = false;
			s->served = false;
			s->dboid = InvalidOid;
			s->dbname[0] = '\0';
			s->paused_until = 0;
			for (int w = 0; w < PROCFLOW_MAX_WORKERS; w++)
				s->executor_procno[w] = -1;
			pg_atomic_init_u64(&s->next_wakeup, NO_WAKEUP);
			for (int w = 0; w < PROCFLOW_MAX_WORKERS; w++)
			{
				pg_atomic_init_u64(&s->unchained[w], 0);
				pg_atomic_init_u32(&s->runs[w].changes, 0);
				pg_atomic_init_u64(&s->runs[w].cut_job, 0);
				pg_atomic_init_u32(&s->runs[w].cut_end, 0);
				clear_run(&s->runs[w]);
			}
			memset(&s->rotation, 0, sizeof(QueueRotation));
			memset(s->cancelled, 0, sizeof(s->cancelled));
			memset(s->cancelled_xid, 0, sizeof(s->cancelled_xid));
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/* True when the library was preloaded, so executors can exist. */
bool
shmem_available(void)
{
	return shared != NULL;
}

/* Publish (or withdraw) the launcher's latch. */
void
shmem_set_launcher(bool running)
{
	SpinLockAcquire(&shared->mutex);
	shared->launcher_procno = running ? MyProc->pgprocno : -1;
	SpinLockRelease(&shared->mutex);
}

/* Give a slot to a database; its executors fill in the rest. */
void
shmem_assign_slot(int slot, Oid dboid, const char *dbname)
{
	DatabaseSlot *s = &shared->slots[slot];

	SpinLockAcquire(&shared->mutex);
	s->in_use = true;
	s->missing_extension = false;
	s->served = false;
	s->dboid = dboid;
	s->paused_until = 0;
	strlcpy(s->dbname, dbname, NAMEDATALEN);
	memset(&s->rotation, 0, sizeof(QueueRotation));
	memset(s->cancelled, 0, sizeof(s->cancelled));
	memset(s->cancelled_xid, 0, sizeof(s->cancelled_xid));
	SpinLockRelease(&shared->mutex);
	pg_atomic_write_u64(&s->next_wakeup, NO_WAKEUP);
	for (int w = 0; w < PROCFLOW_MAX_WORKERS; w++)
	{
		pg_atomic_write_u64(&s->unchained[w], 0);
		clear_run(&s->runs[w]);
	}
}

/* Free a slot whose database is no longer served. */
void
shmem_clear_slot(int slot)
{
	DatabaseSlot *s = &shared->slots[slot];

	SpinLockAcquire(&shared->mutex);
	s->in_use = false;
	s->missing_extension = false;
	s->served = false;
	s->dboid = InvalidOid;
	s->dbname[0] = '\0';
	s->paused_until = 0;
	SpinLockRelease(&shared->mutex);
}

/* Has an executor of this slot found the extension (it serves it)? */
bool
shmem_slot_served(int slot)
{
	bool		served;

	SpinLockAcquire(&shared->mutex);
	served = shared->slots[slot].served;
	SpinLockRelease(&shared->mutex);
	return served;
}

/* Until when are the slot's executors paused (shmem_pause_database); 0: not. */
TimestampTz
shmem_slot_paused_until(int slot)
{
	TimestampTz until;

	SpinLockAcquire(&shared->mutex);
	until = shared->slots[slot].paused_until;
	SpinLockRelease(&shared->mutex);
	return until;
}

/* Executor: is it to leave its database (shmem_pause_database)? */
bool
shmem_slot_leaving(int slot)
{
	return shmem_slot_paused_until(slot) > GetCurrentTimestamp();
}

/*
 * A statement that needs database "dboid" without other sessions (DROP
 * DATABASE, ALTER DATABASE ... RENAME or SET TABLESPACE, CREATE DATABASE
 * copying it) is about to run: its executors are to leave (their latches
 * are set), and none is started there for pause_ms or until
 * shmem_resume_database.  Returns whether the database has a slot.
 */
bool
shmem_pause_database(Oid dboid, int pause_ms)
{
	int			procnos[PROCFLOW_MAX_WORKERS];
	int			n = 0;
	bool		found = false;

	if (shared == NULL)
		return false;
	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < PROCFLOW_MAX_DATABASES; i++)
	{
		DatabaseSlot *s = &shared->slots[i];

		if (!s->in_use || s->dboid != dboid)
			continue;
		found = true;
		s->paused_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), pause_ms);
		for (int w = 0; w < PROCFLOW_MAX_WORKERS; w++)
			if (s->executor_procno[w] >= 0)
				procnos[n++] = s->executor_procno[w];
	}
	SpinLockRelease(&shared->mutex);
	for (int i = 0; i < n; i++)
		set_latch_of(procnos[i]);
	return found;
}

/*
 * Terminate the executors of every database (InvalidOid) or of one;
 * returns how many were still connected.
 */
static int
terminate_executors(Oid dboid)
{
	int			pids[PROCFLOW_MAX_DATABASES * PROCFLOW_MAX_WORKERS];
	int			n = 0;

	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < PROCFLOW_MAX_DATABASES; i++)
	{
		DatabaseSlot *s = &shared->slots[i];

		if (!s->in_use || (OidIsValid(dboid) && s->dboid != dboid))
			continue;
		for (int w = 0; w < PROCFLOW_MAX_WORKERS; w++)
			if (s->executor_procno[w] >= 0)
				pids[n++] = ProcGlobal->allProcs[s->executor_procno[w]].pid;
	}
	SpinLockRelease(&shared->mutex);
	for (int i = 0; i < n; i++)
		(void) kill(pids[i], SIGTERM);
	return n;
}

/*
 * Launcher, as it starts: executors that a launcher before it started
 * (it exited, the server did not) are terminated, and waited for up to
 * wait_ms, so that no database has two sets of executors and no probe
 * counts a running executor's job as crashed.
 */
void
shmem_end_orphaned_executors(int wait_ms)
{
	TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), wait_ms);

	while (terminate_executors(InvalidOid) > 0 && GetCurrentTimestamp() < until)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 50,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Terminate the executors still connected to database "dboid", as
 * pg_terminate_backend would: their PIDs are read from their slot just
 * before they are signalled, as pg_terminate_backend reads one.
 */
void
shmem_terminate_database_executors(Oid dboid)
{
	(void) terminate_executors(dboid);
}

/* How many executors are connected to database "dboid". */
int
shmem_database_executors(Oid dboid)
{
	int			n = 0;

	if (shared == NULL)
		return 0;
	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < PROCFLOW_MAX_DATABASES; i++)
	{
		DatabaseSlot *s = &shared->slots[i];

		if (!s->in_use || s->dboid != dboid)
			continue;
		for (int w = 0; w < PROCFLOW_MAX_WORKERS; w++)
			n += s->executor_procno[w] >= 0 ? 1 : 0;
	}
	SpinLockRelease(&shared->mutex);
	return n;
}

/* The statement shmem_pause_database paused for is over: executors may start. */
void
shmem_resume_database(Oid dboid)
{
	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < PROCFLOW_MAX_DATABASES; i++)
		if (shared->slots[i].in_use && shared->slots[i].dboid == dboid)
			shared->slots[i].paused_until = 0;
	SpinLockRelease(&shared->mutex);
	shmem_wake_launcher(InvalidOid);
}

/* Did an executor of this slot report that the extension is missing? */
bool
shmem_slot_missing_extension(int slot)
{
	bool		missing;

	SpinLockAcquire(&shared->mutex);
	missing = shared->slots[slot].missing_extension;
	SpinLockRelease(&shared->mutex);
	return missing;
}

/*
 * Register the calling executor in its slot, so that commits can wake it;
 * it is removed again when the process exits.  Returns whether it is the
 * first executor there (the launcher's probe: no other runs there until
 * shmem_executor_serving).
 */
bool
shmem_executor_attach(int slot, int worker)
{
	DatabaseSlot *s = &shared->slots[slot];
	bool		first;

	SpinLockAcquire(&shared->mutex);
	first = !s->served;
	s->executor_procno[worker] = MyProc->pgprocno;
	SpinLockRelease(&shared->mutex);

	attached_slot = slot;
	attached_worker = worker;
	before_shmem_exit(shmem_executor_detach, (Datum) 0);
	return first;
}

/*
 * The calling executor found the extension, and counted what the
 * executors before it left behind: the slot is served, and the launcher
 * starts the other executors.
 */
void
shmem_executor_serving(void)
{
	DatabaseSlot *s = &shared->slots[attached_slot];
	bool		first;
	int			launcher;

	SpinLockAcquire(&shared->mutex);
	first = !s->served;
	s->served = true;
	launcher = shared->launcher_procno;
	SpinLockRelease(&shared->mutex);
	if (first && launcher >= 0)
		set_latch_of(launcher);
}

/* Exit callback: withdraw the executor's latch from its slot. */
static void
shmem_executor_detach(int code, Datum arg)
{
	DatabaseSlot *s = &shared->slots[attached_slot];

	SpinLockAcquire(&shared->mutex);
	if (s->executor_procno[attached_worker] == MyProc->pgprocno)
		s->executor_procno[attached_worker] = -1;
	SpinLockRelease(&shared->mutex);
	clear_run(&s->runs[attached_worker]);
}

/* An executor's run: none. */
static void
clear_run(ExecutorRun *run)
{
	pg_atomic_fetch_add_u32(&run->changes, 1);
	run->job_id = 0;
	run->process_id = 0;
	run->since = 0;
	run->max_timeout_ms = 0;
	pg_atomic_fetch_add_u32(&run->changes, 1);
}

/*
 * The calling executor starts a job (or, with job_id 0, ends one): publish
 * it.  The counts of changes are atomic operations, each a full barrier.
 */
void
shmem_note_running(int64 job_id, int32 process_id, TimestampTz since, int max_timeout_ms)
{
	ExecutorRun *run = &shared->slots[attached_slot].runs[attached_worker];

	pg_atomic_fetch_add_u32(&run->changes, 1);
	run->job_id = job_id;
	run->process_id = process_id;
	run->since = since;
	run->max_timeout_ms = max_timeout_ms;
	pg_atomic_fetch_add_u32(&run->changes, 1);
}

/*
 * procflow.max_timeout as the launcher read it last: executors use it for
 * each job, so that a reload applies to the next job they start, not to
 * their next round; their own setting while no launcher published one.
 */
int
shmem_max_timeout(void)
{
	uint32		ms;

	if (shared == NULL)			/* not preloaded: no launcher, no executors */
		return procflow_max_timeout;
	ms = pg_atomic_read_u32(&shared->max_timeout_ms);
	return ms == NO_MAX_TIMEOUT ? procflow_max_timeout : (int) ms;
}

/*
 * Did the launcher cut this running job?  0: no; 1: cancel it; 2: end the
 * executor.  Called in a signal handler: atomic reads only.
 */
int
shmem_job_cut(int64 job_id)
{
	ExecutorRun *run = &shared->slots[attached_slot].runs[attached_worker];

	if (pg_atomic_read_u64(&run->cut_job) != (uint64) job_id)
		return 0;
	pg_read_barrier();
	return pg_atomic_read_u32(&run->cut_end) != 0 ? 2 : 1;
}

/*
 * The calling executor found that a step chained to this job's run crashed
 * its predecessor: no executor of the database chains steps to that job's
 * next run (runner.c), so that the step runs, and is counted, as a job of
 * its own.
 */
void
shmem_forbid_chain(int64 job_id)
{
	pg_atomic_write_u64(&shared->slots[attached_slot].unchained[attached_worker],
						(uint64) job_id);
}

/* Must this job's run not chain steps (shmem_forbid_chain)? */
bool
shmem_chain_forbidden(int64 job_id)
{
	DatabaseSlot *s;

	if (attached_slot < 0)
		return false;
	s = &shared->slots[attached_slot];
	for (int w = 0; w < PROCFLOW_MAX_WORKERS; w++)
		if (pg_atomic_read_u64(&s->unchained[w]) == (uint64) job_id)
			return true;
	return false;
}

/* Record whether the slot's database lacks the extension. */
void
shmem_set_missing_extension(int slot, bool missing)
{
	SpinLockAcquire(&shared->mutex);
	shared->slots[slot].missing_extension = missing;
	SpinLockRelease(&shared->mutex);
}

/*
 * Called by an executor after resetting its latch and before reading the
 * queue: from now on every commit of due work wakes it, so nothing that
 * commits while it reads can be missed.
 */
void
shmem_prepare_sleep(int slot)
{
	/* an exchange, for its full barrier before the executor reads the queue */
	(void) pg_atomic_exchange_u64(&shared->slots[slot].next_wakeup, NO_WAKEUP);
}

/*
 * Called by an executor once it knows the earliest due time in the queue
 * (or none, as DT_NOEND): lower the shared wake-up time to it, and return
 * the time to sleep until, which may be earlier when a commit moved it.
 */
TimestampTz
shmem_settle_wakeup(int slot, TimestampTz next_due)
{
	TimestampTz result;

	(void) lower_next_wakeup(&shared->slots[slot].next_wakeup, next_due, &result);
	return result;
}

/* Read the rotation state of the executor's database. */
void
shmem_get_rotation(int slot, QueueRotation *rotation)
{
	SpinLockAcquire(&shared->mutex);
	*rotation = shared->slots[slot].rotation;
	SpinLockRelease(&shared->mutex);
}

/* Publish the rotation state of the executor's database. */
void
shmem_set_rotation(int slot, const QueueRotation *rotation)
{
	SpinLockAcquire(&shared->mutex);
	shared->slots[slot].rotation = *rotation;
	SpinLockRelease(&shared->mutex);
}

/*
 * Transaction xid of database "dboid", which cancelled jobs, committed: add
 * how many it removed from each partition (counts, JOB_PARTITIONS long).
 */
void
shmem_note_cancelled(Oid dboid, const int64 *counts, TransactionId xid)
{
	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < PROCFLOW_MAX_DATABASES; i++)
	{
		DatabaseSlot *s = &shared->slots[i];

		if (s->in_use && s->dboid == dboid)
		{
			for (int p = 0; p < JOB_PARTITIONS; p++)
			{
				if (counts[p] == 0)
					continue;
				s->cancelled[p] += counts[p];
				if (!TransactionIdIsValid(s->cancelled_xid[p]) ||
					TransactionIdFollows(xid, s->cancelled_xid[p]))
					s->cancelled_xid[p] = xid;
			}
			break;
		}
	}
	SpinLockRelease(&shared->mutex);
}

/*
 * How many jobs were cancelled in each partition of the executor's
 * database, and the latest transaction that cancelled some there.
 */
void
shmem_get_cancelled(int slot, int64 *counts, TransactionId *xids)
{
	SpinLockAcquire(&shared->mutex);
	memcpy(counts, shared->slots[slot].cancelled, sizeof(int64) * JOB_PARTITIONS);
	memcpy(xids, shared->slots[slot].cancelled_xid, sizeof(TransactionId) * JOB_PARTITIONS);
	SpinLockRelease(&shared->mutex);
}

/* A partition was rewritten: forget the n cancelled jobs it no longer holds. */
void
shmem_forget_cancelled(int slot, int partition, int64 n)
{
	SpinLockAcquire(&shared->mutex);
	shared->slots[slot].cancelled[partition] =
		Max(shared->slots[slot].cancelled[partition] - n, 0);
	SpinLockRelease(&shared->mutex);
}

/*
 * The partition of procflow.job that new due jobs of database "dboid" go
 * to; the first rotating one when no executor has chosen yet (or none
 * serves the database).
 */
int
shmem_current_partition(Oid dboid)
{
	int			partition = 0;

	if (shared != NULL)
	{
		SpinLockAcquire(&shared->mutex);
		for (int i = 0; i < PROCFLOW_MAX_DATABASES; i++)
		{
			if (shared->slots[i].in_use && shared->slots[i].dboid == dboid)
			{
				partition = shared->slots[i].rotation.current;
				break;
			}
		}
		SpinLockRelease(&shared->mutex);
	}
	return partition > 0 ? partition : JOB_HELD_PARTITION + 1;
}

/*
 * Lower a slot's wake-up time to t unless it is already at or before t.
 * Returns whether it was lowered; *result is the wake-up time afterwards.
 */
static bool
lower_next_wakeup(pg_atomic_uint64 *next, TimestampTz t, TimestampTz *result)
{
	uint64		current = pg_atomic_read_u64(next);

	while ((TimestampTz) current > t)
	{
		if (pg_atomic_compare_exchange_u64(next, &current, (uint64) t))
		{
			*result = t;
			return true;
		}
	}
	*result = (TimestampTz) current;
	return false;
}

/* Set the latch of the process with this PGPROC number. */
static void
set_latch_of(int procno)
{
	SetLatch(&ProcGlobal->allProcs[procno].procLatch);
}

/*
 * A transaction that queued work due at "due" has committed in database
 * "dboid": if that is earlier than the executors planned to wake up, move
 * their wake-up forward and set their latches.
 */
void
shmem_wake_executors(Oid dboid, TimestampTz due)
{
	int			procnos[PROCFLOW_MAX_WORKERS];
	int			n = 0;
	DatabaseSlot *s = NULL;
	TimestampTz wake_at;

	if (shared == NULL)
		return;

	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < PROCFLOW_MAX_DATABASES; i++)
	{
		if (shared->slots[i].in_use && shared->slots[i].dboid == dboid)
		{
			s = &shared->slots[i];
			break;
		}
	}
	if (s != NULL)
	{
		for (int w = 0; w < PROCFLOW_MAX_WORKERS; w++)
			if (s->executor_procno[w] >= 0)
				procnos[n++] = s->executor_procno[w];
	}
	SpinLockRelease(&shared->mutex);

	/* nothing to do when they wake up early enough already */
	if (s == NULL || !lower_next_wakeup(&s->next_wakeup, due, &wake_at))
		return;

	for (int i = 0; i < n; i++)
		set_latch_of(procnos[i]);
}

/*
 * Wake the launcher, which reads the cluster's databases again: "dboid"
 * got the extension (CREATE EXTENSION committed there), so its probe looks
 * again; with InvalidOid, a database came or went, and only new ones are
 * probed.
 */
void
shmem_wake_launcher(Oid dboid)
{
	int			procno;

	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	procno = shared->launcher_procno;
	if (OidIsValid(dboid))
	{
		if (shared->recheck_count < LAUNCHER_RECHECK_MAX)
			shared->recheck[shared->recheck_count++] = dboid;
		else
			shared->launcher_recheck = true;
	}
	SpinLockRelease(&shared->mutex);
	if (procno >= 0)
		set_latch_of(procno);
}

/*
 * Are all PROCFLOW_MAX_DATABASES slots given to other databases than
 * "dboid", so that it cannot be served now?
 */
bool
shmem_slots_full_without(Oid dboid)
{
	bool		full = true;

	if (shared == NULL)
		return false;
	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < PROCFLOW_MAX_DATABASES && full; i++)
		full = shared->slots[i].in_use && shared->slots[i].dboid != dboid;
	SpinLockRelease(&shared->mutex);
	return full;
}

/* Launcher: publish procflow.max_timeout as read (shmem_max_timeout). */
void
shmem_publish_max_timeout(int max_timeout_ms)
{
	pg_atomic_write_u32(&shared->max_timeout_ms, (uint32) max_timeout_ms);
	pg_memory_barrier();
}

/*
 * The executors of a slot with what each runs, read whole (see
 * ExecutorRun), in "runs" (PROCFLOW_MAX_WORKERS long); returns how many.
 */
static int
slot_running(DatabaseSlot *s, RunningJob *runs)
{
	int			procnos[PROCFLOW_MAX_WORKERS];
	int			n = 0;

	SpinLockAcquire(&shared->mutex);
	for (int w = 0; w < PROCFLOW_MAX_WORKERS; w++)
		procnos[w] = s->in_use ? s->executor_procno[w] : -1;
	SpinLockRelease(&shared->mutex);

	for (int w = 0; w < PROCFLOW_MAX_WORKERS; w++)
	{
		ExecutorRun *run = &s->runs[w];
		RunningJob *r = &runs[n];
		uint32		before;

		if (procnos[w] < 0)
			continue;
		for (;;)
		{
			before = pg_atomic_read_u32(&run->changes);
			pg_read_barrier();
			r->job_id = run->job_id;
			r->process_id = run->process_id;
			r->since = run->since;
			r->max_timeout_ms = run->max_timeout_ms;
			pg_read_barrier();
			if ((before & 1) == 0 && pg_atomic_read_u32(&run->changes) == before)
				break;
			pg_spin_delay();
		}
		r->worker = w;
		r->pid = ProcGlobal->allProcs[procnos[w]].pid;
		n++;
	}
	return n;
}

/* Launcher: the executors of a slot with their jobs (slot_running). */
int
shmem_slot_running(int slot, RunningJob *runs)
{
	return slot_running(&shared->slots[slot], runs);
}

/*
 * The executors of database "dboid" with their jobs (slot_running); none
 * when no launcher serves it.
 */
int
shmem_database_running(Oid dboid, RunningJob *runs)
{
	if (shared == NULL)
		return 0;
	for (int i = 0; i < PROCFLOW_MAX_DATABASES; i++)
	{
		DatabaseSlot *s = &shared->slots[i];
		bool		match;

		SpinLockAcquire(&shared->mutex);
		match = s->in_use && s->dboid == dboid;
		SpinLockRelease(&shared->mutex);
		if (match)
			return slot_running(s, runs);
	}
	return 0;
}

/*
 * Launcher: cut the job an executor runs (see RunningJob), or with "end"
 * end the executor; the executor's signal handler acts only if it still
 * runs that job (shmem_job_cut).
 */
void
shmem_cut_job(int slot, const RunningJob *run, bool end)
{
	DatabaseSlot *s = &shared->slots[slot];
	ExecutorRun *er = &s->runs[run->worker];
	int			procno;

	pg_atomic_write_u32(&er->cut_end, end ? 1 : 0);
	pg_write_barrier();
	pg_atomic_write_u64(&er->cut_job, (uint64) run->job_id);
	pg_memory_barrier();
	SpinLockAcquire(&shared->mutex);
	procno = s->executor_procno[run->worker];
	SpinLockRelease(&shared->mutex);
	/* the same process still: not one that took its place */
	if (procno >= 0 && ProcGlobal->allProcs[procno].pid == run->pid)
		kill(run->pid, SIGUSR2);
}

/*
 * Launcher: the databases that got the extension since the last call (in
 * dboids, LAUNCHER_RECHECK_MAX long); with *all set, too many to name: look at
 * every one.
 */
int
shmem_take_launcher_recheck(Oid *dboids, bool *all)
{
	int			n;

	SpinLockAcquire(&shared->mutex);
	n = shared->recheck_count;
	memcpy(dboids, shared->recheck, sizeof(Oid) * n);
	if (shared->launcher_recheck)
		*all = true;			/* the caller may have set it already */
	shared->recheck_count = 0;
	shared->launcher_recheck = false;
	SpinLockRelease(&shared->mutex);
	return n;
}
