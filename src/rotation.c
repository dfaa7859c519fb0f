/*-------------------------------------------------------------------------
 *
 * rotation.c
 *	  Rotating the partitions of the job queue.
 *
 * A finished job's row is deleted from procflow.job.  Vacuum removes such
 * a row, and a btree forgets its index entries, only once no snapshot can
 * see it any more; a transaction holding an old snapshot (idle in
 * transaction, a long report, a standby with hot_standby_feedback) keeps
 * every row deleted since, and each claim, which finds the oldest due jobs
 * through an index, would walk all their entries.  TRUNCATE does not wait
 * for snapshots.  So, as PgQ does with its rotating event tables, new due
 * jobs go to one of the partitions job_1 to job_3 at a time: executors move
 * on to the next one once it holds ROTATE_PAGES pages, or after
 * ROTATE_AFTER_MS while something holds back the removal of dead rows (see
 * horizon_held_back), and empty a partition from COMPACT_AFTER_MS after it
 * stopped taking jobs.  Jobs that wait there for something else than an
 * executor (a retry, a disabled process, an older job of their row) are
 * moved to job_0; due ones are left to the executors, so that a backlog is
 * not written twice.  Jobs due later than ROTATE_AFTER_MS go to job_0
 * directly; vacuum looks after it.
 *
 * TRUNCATE is not MVCC-safe: a transaction whose snapshot is older than it,
 * reading the partition afterwards, would miss jobs that were pending in its
 * snapshot.  So a partition is truncated only once it has been seen empty,
 * and only while no transaction older than that holds a snapshot and works
 * (pg_dump, a report in REPEATABLE READ); a transaction that has been idle
 * in transaction for IDLE_GRACE_MS does not hold it back, and is the one
 * that may find jobs missing from the queue (they ran meanwhile).
 *
 * TRUNCATE, and moving jobs, need an ACCESS EXCLUSIVE lock, and every
 * claim locks every partition.  An executor first tries to take it without
 * waiting; when that fails, it waits at most LOCK_WAIT_MS: the other
 * executors' claims queue behind the request while their running
 * transactions finish.  When that times out too (someone reads the queue in
 * a long transaction), the executors wait for no lock for a while, doubling
 * up to MAX_BACKOFF_MS, so that such a reader costs the others at most a
 * short pause now and then.  Autovacuum, whose lock would make every such
 * wait time out, is off on the rotating partitions: they need no vacuum.
 *
 * Cancelling jobs (cancel_job, disable_process with cancel_pending, a
 * deleted entity row, an ended instance) deletes their rows wherever they
 * are, not in the order they would have run: a million cancelled at once
 * stay in front of every claim in the partition's index until it is
 * emptied, and a partition that still holds jobs is not.  Transactions
 * count the jobs they cancel in each partition (in shared memory, at
 * commit; rows of a rolled-back subtransaction are counted too, which
 * costs at most a rewrite too many), and an executor rewrites a partition
 * in which at least REWRITE_AFTER_CANCELLED jobs were cancelled, and no
 * fewer than it still holds (by the statistics' count of live rows), once
 * no snapshot can see them any more: as VACUUM FULL does, under the lock
 * TRUNCATE takes.  Its jobs stay where they are, in a partition without
 * the dead.  A partition that is truncated forgets its cancelled jobs.
 *
 * The partition that takes new jobs lives in shared memory (shmem.c).  A
 * backend that read it just before a rotation puts its jobs into a partition
 * that is no longer current; a later round empties that one again, so
 * nothing depends on every backend seeing the same partition.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/transam.h"
#include "commands/cluster.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/procarray.h"
#include "utils/backend_status.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "rotation.h"
#include "shmem.h"
#include "subxact.h"

/* A partition takes new due jobs until it has this many pages (8 MB) ... */
#define ROTATE_PAGES		1024
/* ... or for this long while dead rows cannot be removed. */
#define ROTATE_AFTER_MS		10000
/* It is truncated this long after it stopped taking jobs ... */
#define COMPACT_AFTER_MS	5000
/* Waiting jobs moved out of a partition at most per round. */
#define COMPACT_MAX_MOVED	10000
/* Longest wait for the lock that TRUNCATE needs ... */
#define LOCK_WAIT_MS		200
/* ... and longest pause in waiting after such waits timed out. */
#define MAX_BACKOFF_MS		8000
/* A transaction idle this long no longer holds back a truncation. */
#define IDLE_GRACE_MS		10000
/* A partition is rewritten once this many of its jobs were cancelled. */
#define REWRITE_AFTER_CANCELLED 10000

/* Jobs this transaction cancelled in each partition. */
static int64 cancelled_here[JOB_PARTITIONS];
static bool cancelled_any = false;
static TransactionId cancelling_xid = InvalidTransactionId;

/* The number of the partition a new pending job due at run_at goes to. */
int
rotation_partition_for(TimestampTz run_at)
{
	if (run_at > TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ROTATE_AFTER_MS))
		return JOB_HELD_PARTITION;
	return shmem_current_partition(MyDatabaseId);
}

/* A job of "partition" was cancelled: its row is dead in the claim path. */
void
rotation_note_cancelled(int partition)
{
	if (partition >= 0 && partition < JOB_PARTITIONS)
	{
		cancelled_here[partition]++;
		cancelled_any = true;
		/* it deleted the row: it has an id */
		cancelling_xid = GetTopTransactionId();
	}
}

/* Transaction end: at commit, count the cancelled jobs for the executors. */
void
rotation_xact_event(XactEvent event)
{
	if (!cancelled_any)
		return;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			shmem_note_cancelled(MyDatabaseId, cancelled_here, cancelling_xid);
			/* FALLTHROUGH */
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			memset(cancelled_here, 0, sizeof(cancelled_here));
			cancelled_any = false;
			cancelling_xid = InvalidTransactionId;
			break;
		default:
			break;
	}
}

/* Size of a partition in pages; it stays locked against DDL until commit. */
static BlockNumber
partition_pages(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	BlockNumber pages = RelationGetNumberOfBlocks(rel);

	table_close(rel, NoLock);
	return pages;
}

/* Lock the relation (*arg) for TRUNCATE, waiting at most LOCK_WAIT_MS. */
static void
lock_with_timeout(void *arg)
{
	Oid			relid = *(Oid *) arg;
	int			guc_level = NewGUCNestLevel();
	char		timeout[32];

	snprintf(timeout, sizeof(timeout), "%d", LOCK_WAIT_MS);
	(void) set_config_option("lock_timeout", timeout, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	LockRelationOid(relid, AccessExclusiveLock);
	AtEOXact_GUC(true, guc_level);
}

/*
 * Wait at most LOCK_WAIT_MS for an ACCESS EXCLUSIVE lock on relid, in a
 * subtransaction that keeps the lock when it is granted.  Returns whether it
 * was; a timeout (or a deadlock) is no error here.
 */
static bool
wait_for_exclusive_lock(Oid relid)
{
	ErrorData  *edata = subxact_run(lock_with_timeout, NULL, &relid, false);

	if (edata == NULL)
		return true;
	if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE &&
		edata->sqlerrcode != ERRCODE_T_R_DEADLOCK_DETECTED)
		ReThrowError(edata);
	FreeErrorData(edata);
	return false;
}

/*
 * The lock TRUNCATE needs on a partition: at once when nobody holds a lock
 * on it, else by a short wait unless such waits are paused (see above).
 */
static bool
lock_partition(Oid relid, QueueRotation *r, TimestampTz now)
{
	if (ConditionalLockRelationOid(relid, AccessExclusiveLock))
		return true;
	if (now < r->wait_after)
		return false;
	if (wait_for_exclusive_lock(relid))
	{
		r->wait_backoff_ms = 0;
		return true;
	}
	r->wait_backoff_ms = Min(Max(r->wait_backoff_ms * 2, ROTATION_INTERVAL_MS),
							 MAX_BACKOFF_MS);
	r->wait_after = TimestampTzPlusMilliseconds(now, r->wait_backoff_ms);
	return false;
}

/* Does a partition hold any job? */
static bool
partition_has_jobs(int partition)
{
	char		sql[128];
	bool		isnull;

	snprintf(sql, sizeof(sql),
			 "SELECT EXISTS (SELECT FROM procflow.job_%d)", partition);
	catalog_exec(sql, 0, NULL, NULL, NULL, SPI_OK_SELECT);
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * The jobs of a partition that wait for something else than an executor:
 * their retry or delay, the enabling of their process, or an older job of
 * their row.  Due jobs are left to the executors.
 */
#define WAITING_JOBS \
	"SELECT w.id FROM procflow.job_%d w" \
	" WHERE w.run_at > pg_catalog.now()" \
	"    OR NOT EXISTS (SELECT FROM procflow.process p" \
	"                    WHERE p.id = w.process_id AND p.enabled)" \
	"    OR EXISTS (SELECT FROM procflow.job e" \
	"                WHERE e.process_id = w.process_id" \
	"                  AND e.row_hash = w.row_hash AND e.id < w.id)"

/*
 * Move up to COMPACT_MAX_MOVED waiting jobs of a partition to the held one,
 * if it has any: under the lock, as nobody may claim or finish them
 * meanwhile, but without taking it when there is nothing to move.
 */
static void
move_waiting_jobs(Oid relid, int partition, QueueRotation *r, TimestampTz now)
{
	char		sql[1024];
	bool		isnull;

	snprintf(sql, sizeof(sql), "SELECT EXISTS (" WAITING_JOBS ")", partition);
	catalog_exec(sql, 0, NULL, NULL, NULL, SPI_OK_SELECT);
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
									SPI_tuptable->tupdesc, 1, &isnull)) ||
		!lock_partition(relid, r, now))
		return;
	snprintf(sql, sizeof(sql),
			 "UPDATE procflow.job SET partition = %d"
			 " WHERE partition = %d AND id IN (" WAITING_JOBS " LIMIT %d)",
			 JOB_HELD_PARTITION, partition, partition, COMPACT_MAX_MOVED);
	catalog_exec(sql, 0, NULL, NULL, NULL, SPI_OK_UPDATE);
}

/*
 * Could a transaction that started before "since" still read the queue with
 * its snapshot (a pg_dump, a report in REPEATABLE READ)?  Any other client
 * backend of this database in a transaction that holds a snapshot and
 * started before then counts, unless it has been idle in transaction for
 * IDLE_GRACE_MS.  The backend status entries are read directly, as
 * pg_stat_activity does, so that nothing is hidden by its privilege checks;
 * without track_activities the start and the state are unknown, and every
 * such transaction counts.
 */
static bool
older_snapshot_at_work(TimestampTz since)
{
	TimestampTz idle_limit = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														 -IDLE_GRACE_MS);
	int			n = pgstat_fetch_stat_numbackends();

	for (int i = 1; i <= n; i++)
	{
		LocalPgBackendStatus *local = pgstat_fetch_stat_local_beentry(i);
		PgBackendStatus *be;

		if (local == NULL || !TransactionIdIsValid(local->backend_xmin))
			continue;
		be = &local->backendStatus;
		if (be->st_backendType != B_BACKEND || be->st_procpid == MyProcPid ||
			be->st_databaseid != MyDatabaseId)
			continue;
		if (be->st_xact_start_timestamp == 0)
			return true;
		if (be->st_xact_start_timestamp >= since)
			continue;
		if (be->st_state == STATE_IDLEINTRANSACTION &&
			be->st_state_start_timestamp < idle_limit)
			continue;
		return true;
	}
	return false;
}

/*
 * Empty a partition that stopped taking jobs, in two steps.  First, once
 * the executors have run its due jobs and the waiting ones are moved to
 * the held partition, note the time it was seen empty.  Then truncate it,
 * under the lock and still empty, unless a transaction older than that
 * time could yet read it (see older_snapshot_at_work): a snapshot taken
 * after it saw the partition empty, so TRUNCATE changes nothing it sees.
 * Partitions that are already empty on disk are left alone.
 */
static void
compact_partition(const CatalogOids *c, int slot, int partition, QueueRotation *r,
				  TimestampTz now)
{
	Oid			relid = c->job_partitions[partition];
	char		sql[128];

	if (partition_pages(relid) == 0)
	{
		r->empty_since[partition] = 0;
		return;
	}

	if (r->empty_since[partition] == 0)
	{
		if (!partition_has_jobs(partition))
		{
			/* a snapshot taken from now on sees it empty, as ours did */
			r->empty_since[partition] = GetCurrentTimestamp();
		}
		else
			move_waiting_jobs(relid, partition, r, now);
		return;
	}

	if (older_snapshot_at_work(r->empty_since[partition]) ||
		!lock_partition(relid, r, now))
		return;
	/* a backend that had read the previous current partition may add a job */
	if (partition_has_jobs(partition))
	{
		r->empty_since[partition] = 0;
		return;
	}
	snprintf(sql, sizeof(sql), "TRUNCATE procflow.job_%d", partition);
	catalog_exec(sql, 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	r->empty_since[partition] = 0;
	shmem_forget_cancelled(slot, partition, PG_INT64_MAX);
}

/* Rewrite the partition (*arg) as VACUUM FULL does; its lock is held. */
static void
rewrite_partition(void *arg)
{
	ClusterParams params = {0};

	cluster_rel(*(Oid *) arg, InvalidOid, &params);
}

/*
 * Rewrite the partitions in which many jobs were cancelled (see above),
 * once no snapshot can see the cancelled rows and if their lock can be
 * had, and while it holds more cancelled jobs than live ones; else it is
 * looked at again in a later round.  The count is forgotten once the
 * partition is rewritten or empty; a rewrite that fails is logged and
 * forgotten too, rather than failing every round.
 */
static void
rewrite_cancelled(const CatalogOids *c, int slot, QueueRotation *r, TimestampTz now)
{
	int64		cancelled[JOB_PARTITIONS];
	TransactionId xids[JOB_PARTITIONS];

	shmem_get_cancelled(slot, cancelled, xids);
	for (int p = 0; p < JOB_PARTITIONS; p++)
	{
		Oid			relid = c->job_partitions[p];
		PgStat_StatTabEntry *stats;
		Relation	rel;
		TransactionId horizon;
		ErrorData  *edata;

		if (cancelled[p] < REWRITE_AFTER_CANCELLED)
			continue;
		if (partition_pages(relid) == 0)
		{
			/* emptied meanwhile */
			shmem_forget_cancelled(slot, p, cancelled[p]);
			continue;
		}
		/* mostly live jobs (as far as the statistics know yet): not now */
		stats = pgstat_fetch_stat_tabentry(relid);
		if (stats != NULL && stats->n_live_tuples > cancelled[p])
			continue;
		/* a snapshot that can still see the cancelled rows: later */
		rel = table_open(relid, AccessShareLock);
		horizon = GetOldestNonRemovableTransactionId(rel);
		table_close(rel, NoLock);
		if (!TransactionIdPrecedes(xids[p], horizon) || !lock_partition(relid, r, now))
			continue;
		ereport(DEBUG1,
				(errmsg("rewriting procflow.job_%d: " INT64_FORMAT " jobs cancelled in it",
						p, cancelled[p])));
		edata = subxact_run(rewrite_partition, NULL, &relid, false);
		if (edata != NULL)
		{
			ereport(WARNING,
					(errmsg("could not rewrite procflow.job_%d after " INT64_FORMAT " jobs were cancelled in it: %s",
							p, cancelled[p], edata->message)));
			FreeErrorData(edata);
		}
		shmem_forget_cancelled(slot, p, cancelled[p]);
	}
}

/*
 * Has the horizon below which dead rows of the queue can be removed stood
 * still for ROTATE_AFTER_MS?  Then an old snapshot (or a standby's feedback,
 * a prepared transaction, a replication slot) keeps the rows of finished
 * jobs in the claim path, and the current partition is left on time rather
 * than when full.  Executors finishing jobs move the horizon on otherwise.
 */
static bool
horizon_held_back(const CatalogOids *c, QueueRotation *r, TimestampTz now)
{
	Relation	rel = table_open(c->job_partitions[r->current], AccessShareLock);
	TransactionId horizon = GetOldestNonRemovableTransactionId(rel);

	table_close(rel, NoLock);
	if (horizon != r->horizon)
	{
		r->horizon = horizon;
		r->horizon_since = now;
	}
	return TimestampDifferenceExceeds(r->horizon_since, now, ROTATE_AFTER_MS);
}

/*
 * One round of rotation for the database of executor slot "slot": truncate
 * the partitions that stopped taking jobs long enough ago, and move new due
 * jobs on to the next partition when the current one has had its time (or
 * is full) and the next one is empty.  One executor at a time does this:
 * the others find procflow.job locked and skip the round.
 */
void
rotation_maintain(int slot)
{
	const CatalogOids *c = catalog_oids();
	TimestampTz now = GetCurrentTimestamp();
	QueueRotation r;
	int			next;
	BlockNumber current_pages;
	bool		held_back;

	if (!ConditionalLockRelationOid(c->job, ShareUpdateExclusiveLock))
		return;

	shmem_get_rotation(slot, &r);
	if (r.current == 0)
	{
		/* after a restart, give every partition its time again */
		r.current = JOB_HELD_PARTITION + 1;
		for (int p = 0; p < JOB_PARTITIONS; p++)
			r.since[p] = now;
	}

	for (int p = JOB_HELD_PARTITION + 1; p < JOB_PARTITIONS; p++)
		if (p != r.current &&
			TimestampDifferenceExceeds(r.since[p], now, COMPACT_AFTER_MS))
			compact_partition(c, slot, p, &r, now);

	held_back = horizon_held_back(c, &r, now);
	next = r.current + 1 < JOB_PARTITIONS ? r.current + 1 : JOB_HELD_PARTITION + 1;
	current_pages = partition_pages(c->job_partitions[r.current]);
	if (current_pages > 0 &&
		(current_pages >= ROTATE_PAGES ||
		 (held_back &&
		  TimestampDifferenceExceeds(r.since[r.current], now, ROTATE_AFTER_MS))) &&
		partition_pages(c->job_partitions[next]) == 0)
	{
		r.since[r.current] = now;
		r.current = next;
		r.since[next] = now;
	}
	rewrite_cancelled(c, slot, &r, now);
	shmem_set_rotation(slot, &r);
}
