/*-------------------------------------------------------------------------
 *
 * queue.h
 *	  The job queue: enqueueing from the row trigger, claiming, completing
 *	  and failing jobs.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_QUEUE_H
#define PROCFLOW_QUEUE_H

#include "access/xact.h"
#include "executor/spi.h"
#include "storage/itemptr.h"
#include "utils/elog.h"
#include "utils/timestamp.h"

#include "run_error.h"

/*
 * A job row to insert: a pending job, or (with status set) the finished
 * run of a batch item, which is its history row.  The rows of
 * procflow.job and procflow.finished_job have the same columns.
 */
typedef struct NewJob
{
	int64		id;				/* 0: allocate one */
	int32		process_id;
	int64		trigger_id;		/* 0 when started by run_process */
	const char *event;			/* create, update, delete or run */
	int64		ord;			/* procflow_order_key() */
	bool		has_row;		/* row_hash and key are set (a key may be set
								 * alone: an event kept for one instance) */
	int64		row_hash;
	Datum		key;			/* text[] of primary-key values, or 0 when
								 * the key is the row hash (see entity.c) */
	Datum		old_row;		/* text (see stored_row.c), or 0 */
	Datum		changed;		/* text[] of changed columns, or 0 */
	int32		depth;			/* nesting of the action that queued it */
	Datum		excluded;		/* int4[] of the processes its run must not
								 * trigger (see action.c), or 0 */
	Oid			owner;			/* its process's owner: whose turn it waits for */
	int64		instance_id;	/* a flow's step or timer: its instance and */
	int64		activity_id;	/* activity, else 0 */
	uint64		xid;			/* an event for waits: the writing transaction's
								 * full id, else 0 */
	Oid			event_table;	/* the table it happened on */
	uint32		cid;			/* and the command in that transaction */
	Datum		new_row;		/* its new row (text, see stored_row.c), or 0 */
	int64		event_id;		/* kept for an instance: the event it was kept
								 * from, else 0 */
	int64		source_instance;	/* an event a step of an instance wrote:
									 * that instance, else 0 */
	TimestampTz run_at;
	TimestampTz created_at;		/* 0: the transaction's start */
	/* the outcome of a run; status NULL for a job not run yet */
	const char *status;
	int32		attempts;
	TimestampTz started_at;
	TimestampTz finished_at;
	RunError	error;			/* of the run, or why it did not run */
} NewJob;

/* A job claimed for running. */
typedef struct ClaimedJob
{
	Oid			relid;			/* the partition its row is in */
	ItemPointerData tid;		/* and where */
	bool		locked;			/* locked by this transaction */
	int64		id;
	int32		process_id;
	int64		trigger_id;		/* 0 when none */
	char		event[8];
	Datum		key;			/* text[], or 0 */
	char	   *old_row;		/* see stored_row.c, or NULL */
	Datum		changed;		/* text[], or 0 */
	int32		depth;
	Datum		excluded;		/* int4[], or 0 */
	int32		attempts;		/* runs before this one */
	int64		ord;			/* its place in the queue's order */
	TimestampTz run_at;
	int64		instance_id;	/* see NewJob */
	int64		activity_id;
	uint64		xid;
	Oid			event_table;
	uint32		cid;
	char	   *new_row;		/* see stored_row.c, or NULL */
	int64		event_id;
	int64		source_instance;
} ClaimedJob;

/* What a job is, which says who runs it. */
typedef enum JobKind
{
	JOB_ACTION,					/* a light process's action (runner.c) */
	JOB_FLOW_STEP,				/* a flow's step or timer (flow_run.c) */
	JOB_FLOW_EVENT				/* an event for waits (flow_delivery.c) */
} JobKind;

/* The kind of a claimed job: an event has its transaction's id, a step its activity. */
static inline JobKind
claimed_job_kind(const ClaimedJob *job)
{
	if (job->xid != 0)
		return JOB_FLOW_EVENT;
	return job->activity_id != 0 ? JOB_FLOW_STEP : JOB_ACTION;
}

/* The outcome of one run of a claimed job. */
typedef struct JobOutcome
{
	int64		id;
	const char *status;			/* succeeded, skipped, failed, or pending
								 * again for a retry */
	bool		held;			/* pending again without having run: not an
								 * attempt (a flow step whose instance was
								 * busy) */
	TimestampTz started_at;
	TimestampTz finished_at;	/* 0 when pending again */
	TimestampTz retry_at;		/* when pending again */
	RunError	error;			/* of a failure, or why the job was skipped
								 * (message alone) */
} JobOutcome;

extern void queue_xact_event(XactEvent event);
extern int64 queue_allocate_ids(int64 n);
extern int64 queue_insert(const NewJob *job);
extern void queue_claimed_from(const NewJob *job, ClaimedJob *claimed);
extern void queue_set_outcome(NewJob *job, const JobOutcome *outcome);
extern Datum queue_array(Datum *values, bool *isnull, int n, Oid elemtype);

/* These need an SPI connection and act as the extension owner. */
/* Most owners whose turns a round looks at. */
#define QUEUE_MAX_OWNERS	1024

extern int	queue_owners(Oid *owners, int max_owners);
extern ClaimedJob *queue_claim(Oid owner, int max_jobs, Oid as_role, bool below_ord,
							   int64 ord_bound, bool lock, int *njobs);
extern bool queue_read_job(int64 job_id, ClaimedJob *job);
extern bool queue_lock_claimed(ClaimedJob *job);
extern void queue_record_outcomes(const JobOutcome *outcomes, int n);
extern void queue_cancel_deleted(SPITupleTable *deleted, uint64 n, const char *reason);
extern TimestampTz queue_next_due(void);

#endif							/* PROCFLOW_QUEUE_H */
