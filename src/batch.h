/*-------------------------------------------------------------------------
 *
 * batch.h
 *	  Batches: the pending jobs of one bulk statement, stored as one row.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_BATCH_H
#define PROCFLOW_BATCH_H

#include "queue.h"

/* A batch row, its arrays taken apart. */
typedef struct Batch
{
	MemoryContext cxt;			/* where it and its arrays live */
	int64		first_id;		/* id of item 1 */
	int32		process_id;
	int64		trigger_id;		/* 0 when the trigger is gone */
	char		event[8];
	int64		ord;
	int32		depth;
	TimestampTz run_at;
	TimestampTz created_at;
	int			key_columns;
	int			items;
	int			next_item;		/* first item not taken yet, when locked */
	int64	   *row_hashes;
	Datum	   *keys;			/* text, or NULL when the keys are the hashes */
	Datum	   *old_rows;		/* text, or NULL for none */
	Datum	   *new_rows;		/* text, or NULL for none */
	int64		source_instance;	/* events a step of an instance wrote */
	Datum	   *changed;		/* text of a text[], or NULL for none */
	Datum		excluded;		/* int4[], or 0 */
	Oid			owner;			/* its process's owner when queued */
	uint64		xid;			/* events for waits: the writing transaction */
	Oid			event_table;	/* the table, */
	uint32		cid;			/* and the command */
} Batch;

extern void batch_write(const NewJob *jobs, int n);

/* These need an SPI connection and act as the extension owner. */
extern Batch *batch_claim(Oid owner, Oid as_role);
extern bool batch_peek(Oid owner, Oid as_role, int64 *ord, TimestampTz *run_at,
					   int64 *first_id);
extern void batch_find_waiting(Batch *batch, int from, int to, bool *waits);
extern void batch_release(void);
extern bool batch_materialized(void);
extern void batch_advance(int64 first_id, int items, int next_item);
extern void batch_materialize_processes(Datum process_ids, bool skip_locked);
extern void batch_materialize_job(int64 job_id);
extern void batch_materialize_blocking(void);

extern void batch_item_job(Batch *batch, int item, NewJob *job);

#endif							/* PROCFLOW_BATCH_H */
