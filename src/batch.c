/*-------------------------------------------------------------------------
 *
 * batch.c
 *	  Batches: the pending jobs of one bulk statement, stored as one row.
 *
 * A statement that queues many jobs of one trigger (collect.c) writes them
 * as one row of procflow.job_batch: the rows' hashes, keys, old rows and
 * changed columns as arrays, and a range of job ids, item i having id
 * first_id + i - 1.  (A single integer key is its row hash, see entity.c,
 * and is not stored twice.)  That costs the writing statement one row
 * instead of a job row and three index entries per captured row.
 *
 * An executor claims a due batch (locking its row), takes the next items,
 * runs each in a subtransaction like a job, and writes the job row of each
 * run with its outcome: the run's history row is the only row it writes.
 * Every item taken gets its job row, in the history or (waiting) in the
 * queue, so the items taken so far are those up to the highest job id of
 * the batch's range in either; the batch row itself is not updated, and is
 * deleted once all its items are taken.  (Pruning the history spares the
 * job rows of a batch that still exists.)
 * Item order is kept as for jobs: a batch waits for older batches of its
 * process; an item whose row has an older pending job is not run but
 * written as a pending job (it "materializes") and waits for that job; and
 * jobs of the process newer than the batch's untaken items wait for the
 * batch (see the claim in queue.c).
 *
 * A batch also materializes as a whole, its untaken items becoming pending
 * job rows with their own ids, where single jobs are needed: when a row is
 * deleted (to cancel its jobs), when a job of it is cancelled or retried,
 * when its process's pending jobs are cancelled, and when it is not due but
 * holds back due work of its process.
 *
 * An executor keeps the arrays of the batch it works on in memory: they do
 * not change while the batch exists.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "batch.h"
#include "catalog.h"
#include "direct_insert.h"
#include "entity.h"
#include "wakeup.h"

/* Columns of procflow.job_batch, in table order. */
enum
{
	BATCH_FIRST_ID,
	BATCH_PROCESS_ID,
	BATCH_TRIGGER_ID,
	BATCH_EVENT,
	BATCH_ORD,
	BATCH_DEPTH,
	BATCH_RUN_AT,
	BATCH_CREATED_AT,
	BATCH_KEY_COLUMNS,
	BATCH_ITEMS,
	BATCH_ROW_HASHES,
	BATCH_KEYS,
	BATCH_OLD_ROWS,
	BATCH_CHANGED,
	BATCH_EXCLUDED,
	BATCH_OWNER,
	BATCH_XID,
	BATCH_EVENT_TABLE,
	BATCH_CID,
	BATCH_NEW_ROWS,
	BATCH_SOURCE_INSTANCE,
	BATCH_NATTS
};

/*
 * The batch read last, kept for the next call (an executor takes a batch's
 * items over many transactions), and the batch the executor is taking
 * items from now, which reading another one (a delete in an action
 * materializes batches) must not free.  Each lives in its own memory.
 */
static Batch *loaded = NULL;
static Oid	loaded_from = InvalidOid;	/* procflow.job_batch it was read from */
static Batch *pinned = NULL;
static bool pinned_materialized = false;	/* it became job rows meanwhile */

/* [1] for a catalog that runs flows */
static SPIPlanPtr claim_plan[2];
static SPIPlanPtr peek_plan[2];
/* [1] for a catalog whose batches have the columns of events for waits */
static SPIPlanPtr load_plan[2];
static SPIPlanPtr taken_plan = NULL;
static SPIPlanPtr waiting_plan = NULL;
static SPIPlanPtr delete_plan = NULL;
static SPIPlanPtr by_process_plan = NULL;
static SPIPlanPtr by_process_skip_plan = NULL;
static SPIPlanPtr by_job_plan = NULL;
static SPIPlanPtr blocking_plan = NULL;

/* The text form of an array datum, as text. */
static Datum
array_as_text(Datum array)
{
	return CStringGetTextDatum(OidOutputFunctionCall(F_ARRAY_OUT, array));
}

/*
 * Write n collected jobs of one trigger, one depth, one run_at and one set
 * of excluded processes as a batch row.  The caller has checked the rights
 * to queue them.
 */
void
batch_write(const NewJob *jobs, int n)
{
	Datum		values[BATCH_NATTS];
	bool		nulls[BATCH_NATTS];
	Datum	   *hashes = palloc(sizeof(Datum) * n);
	Datum	   *keys = palloc(sizeof(Datum) * n);
	Datum	   *old_rows = NULL;
	Datum	   *new_rows = NULL;
	Datum	   *changed = NULL;
	int			key_columns = 0;
	int			natts = BATCH_NATTS;

	/* 0 key columns: the keys are the row hashes (see entity.c) */
	if (jobs[0].key != 0)
	{
		ArrayType  *first_key = DatumGetArrayTypeP(jobs[0].key);

		key_columns = ArrayGetNItems(ARR_NDIM(first_key), ARR_DIMS(first_key));
	}

	if (jobs[0].old_row != 0)
		old_rows = palloc(sizeof(Datum) * n);
	if (jobs[0].new_row != 0)
		new_rows = palloc(sizeof(Datum) * n);
	if (jobs[0].changed != 0)
		changed = palloc(sizeof(Datum) * n);
	for (int i = 0; i < n; i++)
	{
		hashes[i] = Int64GetDatum(jobs[i].row_hash);
		/* a single-column key's text is its only element, stored as is */
		if (key_columns == 0)
			keys[i] = (Datum) 0;
		else if (key_columns == 1)
		{
			ArrayType  *key = DatumGetArrayTypeP(jobs[i].key);

			Assert(ARR_NDIM(key) == 1 && !ARR_HASNULL(key));
			keys[i] = PointerGetDatum((char *) key + ARR_OVERHEAD_NONULLS(1));
		}
		else
			keys[i] = array_as_text(jobs[i].key);
		if (old_rows != NULL)
			old_rows[i] = jobs[i].old_row;
		if (new_rows != NULL)
			new_rows[i] = jobs[i].new_row;
		if (changed != NULL)
			changed[i] = array_as_text(jobs[i].changed);
	}

	memset(nulls, false, sizeof(nulls));
	values[BATCH_FIRST_ID] = Int64GetDatum(queue_allocate_ids(n));
	values[BATCH_PROCESS_ID] = Int32GetDatum(jobs[0].process_id);
	values[BATCH_TRIGGER_ID] = Int64GetDatum(jobs[0].trigger_id);
	nulls[BATCH_TRIGGER_ID] = jobs[0].trigger_id == 0;
	values[BATCH_EVENT] = CStringGetTextDatum(jobs[0].event);
	values[BATCH_ORD] = Int64GetDatum(jobs[0].ord);
	values[BATCH_DEPTH] = Int32GetDatum(jobs[0].depth);
	values[BATCH_RUN_AT] = TimestampTzGetDatum(jobs[0].run_at);
	values[BATCH_CREATED_AT] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	values[BATCH_KEY_COLUMNS] = Int32GetDatum(key_columns);
	values[BATCH_ITEMS] = Int32GetDatum(n);
	values[BATCH_ROW_HASHES] = queue_array(hashes, NULL, n, INT8OID);
	values[BATCH_KEYS] = key_columns > 0 ? queue_array(keys, NULL, n, TEXTOID) : (Datum) 0;
	nulls[BATCH_KEYS] = key_columns == 0;
	values[BATCH_OLD_ROWS] = old_rows ? queue_array(old_rows, NULL, n, TEXTOID) : (Datum) 0;
	nulls[BATCH_OLD_ROWS] = old_rows == NULL;
	values[BATCH_CHANGED] = changed ? queue_array(changed, NULL, n, TEXTOID) : (Datum) 0;
	nulls[BATCH_CHANGED] = changed == NULL;
	values[BATCH_EXCLUDED] = jobs[0].excluded;
	nulls[BATCH_EXCLUDED] = jobs[0].excluded == 0;
	values[BATCH_OWNER] = ObjectIdGetDatum(jobs[0].owner);
	values[BATCH_XID] = UInt64GetDatum(jobs[0].xid);
	nulls[BATCH_XID] = jobs[0].xid == 0;
	values[BATCH_EVENT_TABLE] = ObjectIdGetDatum(jobs[0].event_table);
	nulls[BATCH_EVENT_TABLE] = !OidIsValid(jobs[0].event_table);
	values[BATCH_CID] = Int32GetDatum((int32) jobs[0].cid);
	nulls[BATCH_CID] = jobs[0].xid == 0;
	values[BATCH_NEW_ROWS] = new_rows ? queue_array(new_rows, NULL, n, TEXTOID) : (Datum) 0;
	nulls[BATCH_NEW_ROWS] = new_rows == NULL;
	values[BATCH_SOURCE_INSTANCE] = Int64GetDatum(jobs[0].source_instance);
	nulls[BATCH_SOURCE_INSTANCE] = jobs[0].source_instance == 0;

	/* the columns of the tables' version (see catalog.h) */
	if (catalog_oids()->level == CATALOG_BEFORE_FLOWS)
		natts = BATCH_XID;
	else if (catalog_oids()->level == CATALOG_FLOWS_0_4)
		natts = BATCH_NEW_ROWS;
	direct_insert(catalog_oids()->job_batch, natts, values, nulls);
	wakeup_note_due(jobs[0].run_at);
}

/* Free a batch's memory unless it is still kept or pinned. */
static void
free_batch(Batch *b)
{
	if (b != NULL && b != loaded && b != pinned)
		MemoryContextDelete(b->cxt);
}

/* Take apart a text[] column of the load query's result, in its memory. */
static Datum *
text_elements(HeapTuple tup, TupleDesc desc, int col, int expected)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);
	Datum	   *elems;
	int			n;

	if (isnull)
		return NULL;
	/* a copy: a small array points into the SPI result, which goes away */
	deconstruct_array(DatumGetArrayTypePCopy(d), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, NULL, &n);
	if (n != expected)
		elog(ERROR, "procflow batch has %d elements where %d items were expected",
			 n, expected);
	return elems;
}

/*
 * The batch with this first id, its arrays read once and kept while the
 * backend works on it; next_item is set by the caller.
 */
static Batch *
load_batch(int64 first_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(first_id)};
	MemoryContext old;
	HeapTuple	tup;
	TupleDesc	desc;
	Batch	   *b;
	bool		isnull;
	Datum		d;
	Datum	   *hashes;
	int			n;

	/* ids start again when the extension is created again: mind the table */
	MemoryContext cxt;
	Batch	   *previous = loaded;
	int			flows = catalog_oids()->has_flows ? 1 : 0;

	if (loaded != NULL && loaded->first_id == first_id &&
		loaded_from == catalog_oids()->job_batch)
		return loaded;

	/* in transaction memory until read whole: an error frees it */
	cxt = AllocSetContextCreate(CurrentMemoryContext, "procflow batch",
								ALLOCSET_DEFAULT_SIZES);

#define LOAD_SQL(event_columns) \
	"SELECT process_id, trigger_id, event, ord, depth, run_at, created_at," \
	"       key_columns, items, row_hashes, keys, old_rows, changed, excluded, owner" \
	event_columns \
	"  FROM procflow.job_batch WHERE first_id = $1"

	if (flows)
		catalog_keep_plan(&load_plan[1], LOAD_SQL(", xid, event_table, cid, new_rows, source_instance"), 1,
						  argtypes);
	else
		catalog_keep_plan(&load_plan[0], LOAD_SQL(""), 1, argtypes);
	/*
	 * Not read-only: a statement snapshot of its own, as the query that found
	 * (and locked) the batch had; the round's snapshot may be older than a
	 * batch committed since.
	 */
	if (SPI_execute_plan(load_plan[flows], args, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "procflow batch " INT64_FORMAT " is gone", first_id);
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	old = MemoryContextSwitchTo(cxt);
	b = palloc0(sizeof(Batch));
	b->cxt = cxt;
	b->first_id = first_id;
	b->process_id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
	d = SPI_getbinval(tup, desc, 2, &isnull);
	b->trigger_id = isnull ? 0 : DatumGetInt64(d);
	strlcpy(b->event, TextDatumGetCString(SPI_getbinval(tup, desc, 3, &isnull)),
			sizeof(b->event));
	b->ord = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
	b->depth = DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull));
	b->run_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 6, &isnull));
	b->created_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 7, &isnull));
	b->key_columns = DatumGetInt32(SPI_getbinval(tup, desc, 8, &isnull));
	b->items = DatumGetInt32(SPI_getbinval(tup, desc, 9, &isnull));
	deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 10, &isnull)),
					  INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &hashes, NULL, &n);
	if (n != b->items)
		elog(ERROR, "procflow batch has %d row hashes for %d items", n, b->items);
	b->row_hashes = palloc(sizeof(int64) * n);
	for (int i = 0; i < n; i++)
		b->row_hashes[i] = DatumGetInt64(hashes[i]);
	b->keys = text_elements(tup, desc, 11, b->items);
	b->old_rows = text_elements(tup, desc, 12, b->items);
	b->changed = text_elements(tup, desc, 13, b->items);
	d = SPI_getbinval(tup, desc, 14, &isnull);
	b->excluded = isnull ? (Datum) 0 : datumCopy(d, false, -1);
	b->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 15, &isnull));
	if (flows)
	{
		d = SPI_getbinval(tup, desc, 16, &isnull);
		b->xid = isnull ? 0 : DatumGetUInt64(d);
		d = SPI_getbinval(tup, desc, 17, &isnull);
		b->event_table = isnull ? InvalidOid : DatumGetObjectId(d);
		d = SPI_getbinval(tup, desc, 18, &isnull);
		b->cid = isnull ? 0 : (uint32) DatumGetInt32(d);
		b->new_rows = text_elements(tup, desc, 19, b->items);
		d = SPI_getbinval(tup, desc, 20, &isnull);
		b->source_instance = isnull ? 0 : DatumGetInt64(d);
	}
	MemoryContextSwitchTo(old);
	SPI_freetuptable(SPI_tuptable);

	MemoryContextSetParent(cxt, TopMemoryContext);
	loaded = b;
	loaded_from = catalog_oids()->job_batch;
	free_batch(previous);
	return b;
}

/*
 * The first untaken item of a locked batch: one after the item with the
 * highest job id in its range.  Asked after the lock is held, so that the
 * snapshot sees the job rows of whoever held it before.
 */
static int
next_untaken_item(int64 first_id, int items)
{
	Oid			argtypes[2] = {INT8OID, INT4OID};
	Datum		args[2] = {Int64GetDatum(first_id), Int32GetDatum(items)};
	bool		isnull;
	Datum		d;

	catalog_prefer_indexes();
	catalog_keep_plan(&taken_plan,
			  "SELECT greatest((SELECT max(id) FROM procflow.job"
			  "                  WHERE id >= $1 AND id < $1 + $2),"
			  "                 (SELECT max(id) FROM procflow.finished_job"
			  "                  WHERE id >= $1 AND id < $1 + $2))",
			  2, argtypes);
	if (SPI_execute_plan(taken_plan, args, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "reading the progress of a batch failed");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	SPI_freetuptable(SPI_tuptable);
	return isnull ? 1 : (int) (DatumGetInt64(d) - first_id + 2);
}

/* The first ids of the batches a locking query returned; returns how many. */
static int
locked_batch_ids(int64 **first_ids)
{
	int			n = (int) SPI_processed;
	bool		isnull;

	*first_ids = palloc(sizeof(int64) * Max(n, 1));
	for (int i = 0; i < n; i++)
		(*first_ids)[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
													  SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return n;
}

/* A locked batch, read, with its first untaken item. */
static Batch *
locked_batch(int64 first_id)
{
	Batch	   *b = load_batch(first_id);

	b->next_item = next_untaken_item(b->first_id, b->items);
	return b;
}

/*
 * The owner's first due batch (in order key, run_at and id order) of a
 * process that "enabled" says may run it (as in queue.c: enabled, or a
 * disabled flow's events for waits; only light processes in a catalog
 * whose flows wait for ALTER EXTENSION UPDATE), with no older batch, of
 * processes whose owner as_role has the privileges of (when as_role is
 * valid).
 */
#define FIRST_DUE_BATCH(enabled) \
	"SELECT b.first_id, b.ord, b.run_at FROM procflow.job_batch b" \
	" WHERE b.owner = $3 AND b.run_at <= $2" \
	"   AND EXISTS (SELECT 1 FROM procflow.process p" \
	"                WHERE p.id = b.process_id AND " enabled \
	"                  AND ($1::oid IS NULL" \
	"                       OR pg_catalog.pg_has_role($1::oid, p.owner, 'USAGE')))" \
	"   AND NOT EXISTS (SELECT 1 FROM procflow.job_batch e" \
	"                    WHERE e.process_id = b.process_id" \
	"                      AND e.first_id < b.first_id)" \
	" ORDER BY b.ord, b.run_at, b.first_id LIMIT 1"

/*
 * Find the owner's first due batch into SPI_tuptable (no row when there is
 * none); with "lock", lock it, skipping batches another executor holds.
 */
static void
find_first_due_batch(Oid owner, Oid as_role, bool lock)
{
	Oid			argtypes[3] = {OIDOID, TIMESTAMPTZOID, OIDOID};
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};
	SPIPlanPtr	plan;

	int			flows = catalog_oids()->has_flows ? 1 : 0;

#define ENABLED_FLOWS "(p.enabled OR b.xid IS NOT NULL)"
#define ENABLED_LIGHT "p.enabled AND p.action IS NOT NULL"
	if (lock && flows)
		plan = catalog_keep_plan(&claim_plan[1], FIRST_DUE_BATCH(ENABLED_FLOWS)
								 " FOR UPDATE OF b SKIP LOCKED", 3, argtypes);
	else if (lock)
		plan = catalog_keep_plan(&claim_plan[0], FIRST_DUE_BATCH(ENABLED_LIGHT)
								 " FOR UPDATE OF b SKIP LOCKED", 3, argtypes);
	else if (flows)
		plan = catalog_keep_plan(&peek_plan[1], FIRST_DUE_BATCH(ENABLED_FLOWS), 3, argtypes);
	else
		plan = catalog_keep_plan(&peek_plan[0], FIRST_DUE_BATCH(ENABLED_LIGHT), 3, argtypes);
	args[0] = ObjectIdGetDatum(as_role);
	args[1] = TimestampTzGetDatum(GetCurrentTimestamp());
	args[2] = ObjectIdGetDatum(owner);
	if (!OidIsValid(as_role))
		nulls[0] = 'n';
	if (SPI_execute_plan(plan, args, nulls, !lock, 1) != SPI_OK_SELECT)
		elog(ERROR, "looking for a due batch failed");
}

/*
 * Claim the owner's (see queue_owners) first due batch, locking it; NULL
 * when none.  The batch stays in memory until batch_release (or the next
 * claim).
 */
Batch *
batch_claim(Oid owner, Oid as_role)
{
	int64	   *first_ids;

	batch_release();
	find_first_due_batch(owner, as_role, true);
	if (locked_batch_ids(&first_ids) == 0)
		return NULL;
	pinned = locked_batch(first_ids[0]);
	pinned_materialized = false;
	return pinned;
}

/* The executor is done with the batch it claimed. */
void
batch_release(void)
{
	Batch	   *b = pinned;

	pinned = NULL;
	free_batch(b);
}

/*
 * The order key, run_at and first id of the owner's first due batch that
 * batch_claim would take, without locking it; false when it has none.
 */
bool
batch_peek(Oid owner, Oid as_role, int64 *ord, TimestampTz *run_at, int64 *first_id)
{
	bool		isnull;
	HeapTuple	tup;

	find_first_due_batch(owner, as_role, false);
	if (SPI_processed == 0)
		return false;
	tup = SPI_tuptable->vals[0];
	*first_id = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
	*ord = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
	*run_at = DatumGetTimestampTz(SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull));
	return true;
}

/*
 * Has the claimed batch become job rows since it was claimed?  An action
 * run for one of its items can make it so (it deletes a row of the
 * process's table, cancels one of its jobs, disables its process): the
 * items not taken yet are then pending jobs, the one running included.
 */
bool
batch_materialized(void)
{
	return pinned_materialized;
}

/*
 * Mark the items from..to (inclusive) of a claimed batch whose row has an
 * older pending job: they must wait for it.
 */
void
batch_find_waiting(Batch *batch, int from, int to, bool *waits)
{
	Oid			argtypes[3] = {INT8ARRAYOID, INT4OID, INT8OID};
	Datum		args[3];
	Datum	   *hashes = palloc(sizeof(Datum) * (to - from + 1));
	bool		isnull;

	for (int i = from; i <= to; i++)
		hashes[i - from] = Int64GetDatum(batch->row_hashes[i - 1]);
	catalog_prefer_indexes();
	catalog_keep_plan(&waiting_plan,
			  "SELECT u.i::int4 FROM pg_catalog.unnest($1) WITH ORDINALITY AS u(h, i)"
			  " WHERE EXISTS (SELECT 1 FROM procflow.job e"
			  "                WHERE e.process_id = $2"
			  "                  AND e.row_hash = u.h AND e.id < $3 + u.i - 1)",
			  3, argtypes);
	args[0] = queue_array(hashes, NULL, to - from + 1, INT8OID);
	args[1] = Int32GetDatum(batch->process_id);
	args[2] = Int64GetDatum(batch->first_id + from - 1);
	if (SPI_execute_plan(waiting_plan, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "looking for older jobs of a batch's rows failed");
	memset(waits, false, sizeof(bool) * (to - from + 1));
	for (uint64 r = 0; r < SPI_processed; r++)
		waits[DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[r],
										  SPI_tuptable->tupdesc, 1, &isnull)) - 1] = true;
	SPI_freetuptable(SPI_tuptable);
}

/*
 * Record that the items of a batch before next_item are taken (their job
 * rows say so); drop the batch when all are.
 */
void
batch_advance(int64 first_id, int items, int next_item)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(first_id)};

	if (next_item > items)
	{
		catalog_keep_plan(&delete_plan, "DELETE FROM procflow.job_batch WHERE first_id = $1",
						  1, argtypes);
		if (SPI_execute_plan(delete_plan, args, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "removing a finished batch failed");
	}
}

/* The key of an item as a text[] datum. */
static Datum
item_key(Batch *batch, int item)
{
	Datum		key;

	if (batch->key_columns == 0)
		return entity_key_of_hash(batch->row_hashes[item - 1]);
	key = batch->keys[item - 1];
	if (batch->key_columns == 1)
		return queue_array(&key, NULL, 1, TEXTOID);
	return OidInputFunctionCall(F_ARRAY_IN, TextDatumGetCString(key), TEXTOID, -1);
}

/* The changed columns of an item as a text[] datum, or 0. */
static Datum
item_changed(Batch *batch, int item)
{
	if (batch->changed == NULL)
		return (Datum) 0;
	return OidInputFunctionCall(F_ARRAY_IN,
								TextDatumGetCString(batch->changed[item - 1]),
								TEXTOID, -1);
}

/* An item (from 1) as the pending job it stands for. */
void
batch_item_job(Batch *batch, int item, NewJob *job)
{
	memset(job, 0, sizeof(NewJob));
	job->id = batch->first_id + item - 1;
	job->process_id = batch->process_id;
	job->trigger_id = batch->trigger_id;
	job->event = batch->event;
	job->ord = batch->ord;
	job->has_row = true;
	job->row_hash = batch->row_hashes[item - 1];
	job->key = item_key(batch, item);
	job->old_row = batch->old_rows ? batch->old_rows[item - 1] : (Datum) 0;
	job->new_row = batch->new_rows ? batch->new_rows[item - 1] : (Datum) 0;
	job->source_instance = batch->source_instance;
	job->changed = item_changed(batch, item);
	job->depth = batch->depth;
	job->excluded = batch->excluded;
	job->owner = batch->owner;
	job->xid = batch->xid;
	job->event_table = batch->event_table;
	job->cid = batch->cid;
	job->run_at = batch->run_at;
	job->created_at = batch->created_at;
}

/*
 * Turn the untaken items of the batches a locking query returned into
 * pending job rows, and remove the batches.
 */
static void
materialize_locked(void)
{
	int64	   *first_ids;
	int			n = locked_batch_ids(&first_ids);

	/* one at a time: reading a batch may free the one read before */
	for (int i = 0; i < n; i++)
	{
		Batch	   *b = locked_batch(first_ids[i]);

		for (int item = b->next_item; item <= b->items; item++)
		{
			NewJob		job;

			batch_item_job(b, item, &job);
			(void) queue_insert(&job);
		}
		batch_advance(b->first_id, b->items, b->items + 1);
		if (pinned != NULL && b->first_id == pinned->first_id)
			pinned_materialized = true;
	}
}

/*
 * Materialize the batches of these processes (int4[]); with skip_locked,
 * not those an executor is working on.
 */
void
batch_materialize_processes(Datum process_ids, bool skip_locked)
{
	Oid			argtypes[1] = {INT4ARRAYOID};
	Datum		args[1] = {process_ids};
	SPIPlanPtr	plan;

#define BATCHES_OF_PROCESSES \
	"SELECT first_id FROM procflow.job_batch WHERE process_id = ANY ($1)" \
	" ORDER BY first_id FOR UPDATE"

	if (skip_locked)
		plan = catalog_keep_plan(&by_process_skip_plan, BATCHES_OF_PROCESSES " SKIP LOCKED",
								 1, argtypes);
	else
		plan = catalog_keep_plan(&by_process_plan, BATCHES_OF_PROCESSES, 1, argtypes);
	if (SPI_execute_plan(plan, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading the batches of processes failed");
	materialize_locked();
}

/* Materialize the batch that holds this job id, if any. */
void
batch_materialize_job(int64 job_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(job_id)};

	catalog_keep_plan(&by_job_plan,
			  "SELECT first_id FROM procflow.job_batch"
			  " WHERE first_id <= $1 AND $1 < first_id + items"
			  " FOR UPDATE",
			  1, argtypes);
	if (SPI_execute_plan(by_job_plan, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading the batch of a job failed");
	materialize_locked();
}

/*
 * Materialize the batches that are not due but hold back due work of
 * their process: a due job queued after them, or a due batch.
 */
void
batch_materialize_blocking(void)
{
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	Datum		args[1] = {TimestampTzGetDatum(GetCurrentTimestamp())};

	catalog_prefer_indexes();
	catalog_keep_generic_plan(&blocking_plan,
			  "SELECT b.first_id FROM procflow.job_batch b"
			  " WHERE b.run_at > $1"
			  "   AND (EXISTS (SELECT 1 FROM procflow.job j"
			  "                 WHERE j.process_id = b.process_id"
			  "                   AND j.id > b.first_id AND j.run_at <= $1)"
			  "        OR EXISTS (SELECT 1 FROM procflow.job_batch n"
			  "                    WHERE n.process_id = b.process_id"
			  "                      AND n.first_id > b.first_id AND n.run_at <= $1))"
			  " ORDER BY b.first_id FOR UPDATE OF b SKIP LOCKED",
			  1, argtypes);
	if (SPI_execute_plan(blocking_plan, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "looking for batches that hold back due work failed");
	materialize_locked();
}
