/*-------------------------------------------------------------------------
 *
 * shmem.h
 *	  Shared state of procflow: one slot per served database, with the
 *	  latches of its executors, the earliest time one must wake up, and the
 *	  rotation of its queue partitions.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_SHMEM_H
#define PROCFLOW_SHMEM_H

#include "datatype/timestamp.h"

#include "settings.h"

/* The rotation of procflow.job's partitions in one database (rotation.c). */
typedef struct QueueRotation
{
	int			current;		/* the partition new due jobs go to; 0 before
								 * the first rotation round */
	TimestampTz since[JOB_PARTITIONS];	/* when each last became or stopped
										 * being the current one */
	TimestampTz empty_since[JOB_PARTITIONS];	/* when each was seen empty,
												 * or 0 */
	TransactionId horizon;		/* the removal horizon last seen ... */
	TimestampTz horizon_since;	/* ... and since when */
	TimestampTz wait_after;		/* no waiting for a lock before this */
	int			wait_backoff_ms;	/* the pause after a wait timed out */
} QueueRotation;

extern void shmem_init(void);
extern bool shmem_available(void);

/*
 * The job an executor is running, as procflow.executors and the launcher's
 * watch over procflow.max_timeout see it.
 */
typedef struct RunningJob
{
	int			worker;			/* 0 .. procflow.workers - 1 */
	int			pid;
	int64		job_id;			/* 0 when it runs none */
	int32		process_id;
	TimestampTz since;			/* when the job started */
	int			max_timeout_ms; /* procflow.max_timeout it started under */
} RunningJob;

/* Databases with a new extension the launcher is told of one by one. */
#define LAUNCHER_RECHECK_MAX 8

/* Launcher side. */
extern void shmem_set_launcher(bool running);
extern void shmem_assign_slot(int slot, Oid dboid, const char *dbname);
extern void shmem_clear_slot(int slot);
extern bool shmem_slot_missing_extension(int slot);
extern int	shmem_take_launcher_recheck(Oid *dboids, bool *all);
extern bool shmem_slot_served(int slot);
extern TimestampTz shmem_slot_paused_until(int slot);
extern void shmem_publish_max_timeout(int max_timeout_ms);
extern void shmem_end_orphaned_executors(int wait_ms);
extern int	shmem_slot_running(int slot, RunningJob *runs);
extern void shmem_cut_job(int slot, const RunningJob *run, bool end);

/* Executor side. */
extern bool shmem_executor_attach(int slot, int worker);
extern void shmem_executor_serving(void);
extern void shmem_set_missing_extension(int slot, bool missing);
extern bool shmem_slot_leaving(int slot);
extern void shmem_prepare_sleep(int slot);
extern TimestampTz shmem_settle_wakeup(int slot, TimestampTz next_due);
extern void shmem_get_rotation(int slot, QueueRotation *rotation);
extern void shmem_set_rotation(int slot, const QueueRotation *rotation);
extern void shmem_get_cancelled(int slot, int64 *counts, TransactionId *xids);
extern void shmem_forget_cancelled(int slot, int partition, int64 n);
extern void shmem_forbid_chain(int64 job_id);
extern bool shmem_chain_forbidden(int64 job_id);
extern int	shmem_max_timeout(void);
extern void shmem_note_running(int64 job_id, int32 process_id, TimestampTz since,
							   int max_timeout_ms);
extern int	shmem_job_cut(int64 job_id);

/* Any backend. */
extern void shmem_wake_executors(Oid dboid, TimestampTz due);
extern void shmem_wake_launcher(Oid dboid);
extern bool shmem_pause_database(Oid dboid, int pause_ms);
extern void shmem_terminate_database_executors(Oid dboid);
extern int	shmem_database_executors(Oid dboid);
extern void shmem_resume_database(Oid dboid);
extern int	shmem_current_partition(Oid dboid);
extern void shmem_note_cancelled(Oid dboid, const int64 *counts, TransactionId xid);
extern int	shmem_database_running(Oid dboid, RunningJob *runs);
extern bool shmem_slots_full_without(Oid dboid);

#endif							/* PROCFLOW_SHMEM_H */
