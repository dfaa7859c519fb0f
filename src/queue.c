/*-------------------------------------------------------------------------
 *
 * queue.c
 *	  The job queue in procflow.job, and the history in
 *	  procflow.finished_job.
 *
 * Job rows are inserted directly (see direct_insert.c): pending jobs from
 * the row trigger and run_process, into the partition that rotation.c
 * says, and the history rows of batch items (batch.c) that executors have
 * run.  A job that finishes, or is cancelled, leaves the queue: its row is
 * deleted there and written to the history.  Claiming, completing and
 * failing jobs run in executors through SPI plans prepared once.
 *
 * A transaction that queued work notes the earliest run_at it queued, to
 * wake the executors at commit (wakeup.c).
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "executor/tuptable.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "storage/itemptr.h"

#include "catalog.h"
#include "direct_insert.h"
#include "entity.h"
#include "queue.h"
#include "rotation.h"
#include "wakeup.h"

/* Columns of procflow.job, in table order. */
enum
{
	JOB_ID,
	JOB_PROCESS_ID,
	JOB_TRIGGER_ID,
	JOB_EVENT,
	JOB_ORD,
	JOB_ROW_HASH,
	JOB_KEY,
	JOB_OLD_ROW,
	JOB_CHANGED,
	JOB_DEPTH,
	JOB_STATUS,
	JOB_RUN_AT,
	JOB_ATTEMPTS,
	JOB_CREATED_AT,
	JOB_STARTED_AT,
	JOB_FINISHED_AT,
	JOB_ERROR_CODE,
	JOB_ERROR_MESSAGE,
	JOB_ERROR_DETAIL,
	JOB_PARTITION,
	JOB_EXCLUDED,
	JOB_OWNER,
	JOB_INSTANCE_ID,
	JOB_ACTIVITY_ID,
	JOB_XID,
	JOB_EVENT_TABLE,
	JOB_CID,
	JOB_NEW_ROW,
	JOB_EVENT_ID,
	JOB_SOURCE_INSTANCE,
	JOB_ERROR_CONTEXT,
	JOB_NATTS
};

/*
 * procflow.finished_job has the columns of procflow.job but the partition
 * number: the same up to JOB_PARTITION, then the ones after it.
 */
#define FINISHED_JOB_NATTS	(JOB_NATTS - 1)

/* Job statuses and events as text, made once per transaction. */
static const char *const job_words[] = {
	"pending", "succeeded", "failed", "skipped", "cancelled",
	"create", "update", "delete", "run", "cron", "step", "timer"
};
static Datum *job_word_datums = NULL;


/* The plans that read flows' columns: [1] for a catalog that has them. */
static SPIPlanPtr claim_plan[2];
static SPIPlanPtr claim_locking_plan[2];
static SPIPlanPtr owners_plan = NULL;
static SPIPlanPtr finish_plan = NULL;
static SPIPlanPtr retry_plan[2];
static SPIPlanPtr next_due_plan[2];
static SPIPlanPtr next_due_other_plan = NULL;


/*
 * Reserve n consecutive job ids and return the first.  Every id procflow
 * hands out comes from here: a batch of queued jobs needs a range, which is
 * one nextval and one setval of procflow.job_id_seq, made atomic by a lock
 * that every allocation takes and releases at once.  Ids increase in the
 * order jobs are queued, which is what per-row ordering relies on.
 */
int64
queue_allocate_ids(int64 n)
{
	const CatalogOids *c = catalog_oids();
	int64		first;

	Assert(n >= 1);
	LockDatabaseObject(RelationRelationId, c->job_id_seq, 0, ExclusiveLock);
	first = nextval_internal(c->job_id_seq, false);
	if (n > 1)
	{
		Oid			save_userid;
		int			save_sec_context;

		/* setval checks the privileges of the current user */
		GetUserIdAndSecContext(&save_userid, &save_sec_context);
		SetUserIdAndSecContext(c->owner,
							   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
		DirectFunctionCall3(setval3_oid, ObjectIdGetDatum(c->job_id_seq),
							Int64GetDatum(first + n - 1), BoolGetDatum(true));
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	UnlockDatabaseObject(RelationRelationId, c->job_id_seq, 0, ExclusiveLock);
	return first;
}

/* A status or event name as a text datum that lasts the transaction. */
static Datum
job_word(const char *word)
{
	if (job_word_datums == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		job_word_datums = palloc(sizeof(Datum) * lengthof(job_words));
		for (size_t i = 0; i < lengthof(job_words); i++)
			job_word_datums[i] = CStringGetTextDatum(job_words[i]);
		MemoryContextSwitchTo(old);
	}
	for (size_t i = 0; i < lengthof(job_words); i++)
		if (strcmp(word, job_words[i]) == 0)
			return job_word_datums[i];
	elog(ERROR, "unknown job status or event \"%s\"", word);
	return (Datum) 0;			/* keep compiler quiet */
}

/*
 * The columns of procflow.job: all of them, or, in a database whose
 * extension is not updated yet, those its version has (no flow runs
 * there, see catalog.h).
 */
static int
job_natts(void)
{
	switch (catalog_oids()->level)
	{
		case CATALOG_BEFORE_FLOWS:
			return JOB_INSTANCE_ID;
		case CATALOG_FLOWS_0_4:
			return JOB_NEW_ROW;
		case CATALOG_CURRENT:
			break;
	}
	return JOB_NATTS;
}

/* Set a nullable column of a job row. */
static inline void
set_column(Datum *values, bool *nulls, int col, Datum value, bool isnull)
{
	values[col] = value;
	nulls[col] = isnull;
}

/* Set the error columns of a job row. */
static void
set_error_columns(Datum *values, bool *nulls, const RunError *error)
{
	const char *texts[4] = {error->code, error->message, error->detail, error->context};
	const int	cols[4] = {JOB_ERROR_CODE, JOB_ERROR_MESSAGE, JOB_ERROR_DETAIL,
	JOB_ERROR_CONTEXT};

	for (int i = 0; i < 4; i++)
		set_column(values, nulls, cols[i],
				   texts[i] != NULL ? CStringGetTextDatum(texts[i]) : (Datum) 0,
				   texts[i] == NULL);
}

/*
 * Insert a row of procflow.job's columns (values, nulls: JOB_NATTS long)
 * into procflow.finished_job, which has no partition column.
 */
static void
insert_finished(Datum *values, bool *nulls)
{
	for (int col = JOB_PARTITION; col < FINISHED_JOB_NATTS; col++)
	{
		values[col] = values[col + 1];
		nulls[col] = nulls[col + 1];
	}
	direct_insert(catalog_oids()->finished_job, job_natts() - 1, values, nulls);
}

/*
 * Insert one job row and return its id: a pending job (status NULL) into
 * the partition of the queue that its run_at calls for, or the history row
 * of a batch item's run.  The caller has checked the rights to do so; no
 * permission is checked here.
 */
int64
queue_insert(const NewJob *job)
{
	Datum		values[JOB_NATTS];
	bool		nulls[JOB_NATTS];
	int64		id = job->id != 0 ? job->id : queue_allocate_ids(1);
	const char *status = job->status != NULL ? job->status : "pending";

	set_column(values, nulls, JOB_ID, Int64GetDatum(id), false);
	set_column(values, nulls, JOB_PROCESS_ID, Int32GetDatum(job->process_id), false);
	set_column(values, nulls, JOB_TRIGGER_ID, Int64GetDatum(job->trigger_id),
			   job->trigger_id == 0);
	set_column(values, nulls, JOB_EVENT, job_word(job->event), false);
	set_column(values, nulls, JOB_ORD, Int64GetDatum(job->ord), false);
	set_column(values, nulls, JOB_ROW_HASH, Int64GetDatum(job->row_hash), !job->has_row);
	set_column(values, nulls, JOB_KEY,
			   job->key != 0 ? job->key : entity_key_of_hash(job->row_hash),
			   !job->has_row && job->key == 0);
	set_column(values, nulls, JOB_OLD_ROW, job->old_row, job->old_row == 0);
	set_column(values, nulls, JOB_CHANGED, job->changed, job->changed == 0);
	set_column(values, nulls, JOB_DEPTH, Int32GetDatum(job->depth), false);
	set_column(values, nulls, JOB_EXCLUDED, job->excluded, job->excluded == 0);
	set_column(values, nulls, JOB_OWNER, ObjectIdGetDatum(job->owner), false);
	set_column(values, nulls, JOB_INSTANCE_ID, Int64GetDatum(job->instance_id),
			   job->instance_id == 0);
	set_column(values, nulls, JOB_ACTIVITY_ID, Int64GetDatum(job->activity_id),
			   job->activity_id == 0);
	set_column(values, nulls, JOB_XID, UInt64GetDatum(job->xid),
			   job->xid == 0);
	set_column(values, nulls, JOB_EVENT_TABLE, ObjectIdGetDatum(job->event_table),
			   !OidIsValid(job->event_table));
	set_column(values, nulls, JOB_CID, Int32GetDatum((int32) job->cid), job->xid == 0);
	set_column(values, nulls, JOB_NEW_ROW, job->new_row, job->new_row == 0);
	set_column(values, nulls, JOB_EVENT_ID, Int64GetDatum(job->event_id),
			   job->event_id == 0);
	set_column(values, nulls, JOB_SOURCE_INSTANCE, Int64GetDatum(job->source_instance),
			   job->source_instance == 0);
	set_column(values, nulls, JOB_STATUS, job_word(status), false);
	set_column(values, nulls, JOB_RUN_AT, TimestampTzGetDatum(job->run_at), false);
	set_column(values, nulls, JOB_ATTEMPTS, Int32GetDatum(job->attempts), false);
	set_column(values, nulls, JOB_CREATED_AT,
			   TimestampTzGetDatum(job->created_at != 0 ? job->created_at :
								   GetCurrentTransactionStartTimestamp()), false);
	set_column(values, nulls, JOB_STARTED_AT, TimestampTzGetDatum(job->started_at),
			   job->started_at == 0);
	set_column(values, nulls, JOB_FINISHED_AT, TimestampTzGetDatum(job->finished_at),
			   job->finished_at == 0);
	set_error_columns(values, nulls, &job->error);

	if (strcmp(status, "pending") == 0)
	{
		int			partition = rotation_partition_for(job->run_at);

		set_column(values, nulls, JOB_PARTITION, Int32GetDatum(partition), false);
		direct_insert(catalog_oids()->job_partitions[partition], job_natts(),
					  values, nulls);
		wakeup_note_due(job->run_at);
	}
	else
		insert_finished(values, nulls);
	return id;
}

/*
 * A job row not written yet (a batch item) as a claimed job, to be run;
 * the claimed job shares the row's datums.
 */
void
queue_claimed_from(const NewJob *job, ClaimedJob *claimed)
{
	memset(claimed, 0, sizeof(ClaimedJob));
	claimed->id = job->id;
	claimed->process_id = job->process_id;
	claimed->trigger_id = job->trigger_id;
	strlcpy(claimed->event, job->event, sizeof(claimed->event));
	claimed->key = job->key;
	claimed->old_row = job->old_row != 0 ? TextDatumGetCString(job->old_row) : NULL;
	claimed->new_row = job->new_row != 0 ? TextDatumGetCString(job->new_row) : NULL;
	claimed->event_id = job->event_id;
	claimed->source_instance = job->source_instance;
	claimed->changed = job->changed;
	claimed->depth = job->depth;
	claimed->excluded = job->excluded;
	claimed->attempts = job->attempts;
	claimed->instance_id = job->instance_id;
	claimed->activity_id = job->activity_id;
	claimed->xid = job->xid;
	claimed->event_table = job->event_table;
	claimed->cid = job->cid;
}

/*
 * Make a job row the record of one run: its outcome, or (pending again)
 * the retry it waits for.
 */
void
queue_set_outcome(NewJob *job, const JobOutcome *outcome)
{
	job->status = outcome->status;
	if (!outcome->held)
		job->attempts++;
	job->started_at = outcome->started_at;
	job->finished_at = outcome->finished_at;
	if (outcome->retry_at != 0)
		job->run_at = outcome->retry_at;
	job->error = outcome->error;
}

/*
 * Before commit, close the relations opened for inserting (collect.c has
 * written what the statements collected, see procflow.c); forget them at
 * abort.
 */
void
queue_xact_event(XactEvent event)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			direct_insert_close_all();
			job_word_datums = NULL;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			direct_insert_forget_all();
			job_word_datums = NULL;
			break;
		default:
			break;
	}
}

/*
 * The order keys of one owner's pending jobs, one row each, in key order;
 * claims take the due jobs of each group by run_at and id.  The recursive
 * part walks the keys through the claim index, so that neither many future
 * jobs nor many due ones make a claim slow.
 */
#define GROUPS_CTE \
	"WITH RECURSIVE grp(ord) AS (" \
	"  (SELECT j.ord FROM procflow.job j WHERE j.owner = $5 ORDER BY j.ord LIMIT 1)" \
	"  UNION ALL" \
	"  SELECT (SELECT j.ord FROM procflow.job j" \
	"           WHERE j.owner = $5 AND j.ord > g.ord" \
	"           ORDER BY j.ord LIMIT 1)" \
	"    FROM grp g WHERE g.ord IS NOT NULL) "

/*
 * The order of one row's jobs: no older pending job of the same process
 * and row, so that they run one at a time in creation order.
 */
#define ROW_ORDER(alias) \
	" NOT EXISTS (SELECT 1 FROM procflow.job e" \
	"              WHERE e.process_id = " alias ".process_id" \
	"                AND e.row_hash = " alias ".row_hash AND e.id < " alias ".id)"

/*
 * The same, when claiming in a catalog that runs flows.  A flow's events
 * (not yet any instance's) are delivered in the order they were queued,
 * whatever their rows: an instance may wait for an update of its row and
 * then a payment, and a round that skipped the update (queued behind the
 * row's creation) for the later payment would lose the payment.  So one
 * transaction at a time takes a flow's events (an advisory lock on the
 * flow, held until the round ends), and runs them in the order it claims
 * them; the row rule holds for every other job.
 */
#define CLAIM_ROW_ORDER(alias) \
	" CASE WHEN " alias ".xid IS NOT NULL AND " alias ".instance_id IS NULL" \
	"      THEN pg_catalog.pg_try_advisory_xact_lock(" FLOW_EVENTS_LOCK_CLASS "," \
	"                                                " alias ".process_id)" \
	"      ELSE" ROW_ORDER(alias) " END"

/* The first key of that advisory lock: procflow's own space of keys. */
#define FLOW_EVENTS_LOCK_CLASS "'procflow.process'::pg_catalog.regclass::pg_catalog.int4"

/*
 * A job of the owner's (job alias) that may run: in the order key's group,
 * of a process that "enabled" says may run it (whose owner "role" has the
 * privileges of, if given), in its row's order ("row_order"), with no
 * older batch of its process (batch.c): it may hold its row; and what
 * "instance" says of the jobs of one instance of a flow.
 */
#define RUNNABLE(alias, role, enabled, row_order, instance) \
	" " alias ".owner = $5 AND " alias ".ord = g.ord" \
	" AND EXISTS (SELECT 1 FROM procflow.process p" \
	"              WHERE p.id = " alias ".process_id AND " enabled \
	"                AND (" role "::oid IS NULL" \
	"                     OR pg_catalog.pg_has_role(" role "::oid, p.owner, 'USAGE')))" \
	" AND" row_order \
	" AND NOT EXISTS (SELECT 1 FROM procflow.job_batch b" \
	"                  WHERE b.process_id = " alias ".process_id" \
	"                    AND b.first_id < " alias ".id) " \
	instance

/*
 * Which processes' jobs run: enabled ones; in a catalog that runs flows,
 * also a disabled flow's events for waits, which are delivered to its
 * instances as kept events (flow_delivery.c).  In a catalog whose flows
 * wait for ALTER EXTENSION UPDATE, only light processes' jobs.
 */
#define ENABLED_FLOWS(alias) \
	"(p.enabled OR (" alias ".xid IS NOT NULL AND " alias ".instance_id IS NULL))"
#define ENABLED_LIGHT "p.enabled AND p.action IS NOT NULL"

/*
 * The part of RUNNABLE about the jobs of one instance of a flow (a step, a
 * timer, an event kept for it), for a catalog that runs flows.  A
 * suspended instance's jobs are held (the job of an instance that ended
 * runs, and is skipped).  Its kept events are delivered one at a time, in
 * the order they came, each after the instance's pending steps (those the
 * one before led to) and its timers due before the event was kept; a timer
 * waits for the events kept before it was due; a step waits for the steps
 * queued before it that are due (however many executors there are).  So an
 * instance catches up on what it missed in the order things happened, and
 * its parallel branches' steps run in the order they were queued.
 */
#define INSTANCE_RUNNABLE(alias) \
	" AND (" alias ".instance_id IS NULL" \
	"      OR (NOT EXISTS (SELECT 1 FROM procflow.instance i" \
	"                       WHERE i.id = " alias ".instance_id AND i.status = 'suspended')" \
	"          AND CASE WHEN " alias ".xid IS NOT NULL" \
	"              THEN NOT EXISTS (SELECT 1 FROM procflow.job h" \
	"                                WHERE h.instance_id = " alias ".instance_id" \
	"                                  AND ((h.xid IS NOT NULL" \
	"                                        AND h.event_id < " alias ".event_id)" \
	"                                       OR h.event = 'step'" \
	"                                       OR (h.event = 'timer'" \
	"                                           AND h.run_at <= " alias ".created_at)))" \
	"              WHEN " alias ".event = 'timer'" \
	"              THEN NOT EXISTS (SELECT 1 FROM procflow.job h" \
	"                                WHERE h.instance_id = " alias ".instance_id" \
	"                                  AND h.xid IS NOT NULL" \
	"                                  AND h.created_at < " alias ".run_at)" \
	"              WHEN " alias ".event = 'step'" \
	"              THEN NOT EXISTS (SELECT 1 FROM procflow.job h" \
	"                                WHERE h.instance_id = " alias ".instance_id" \
	"                                  AND h.id < " alias ".id AND h.event = 'step'" \
	"                                  AND h.run_at <= " alias ".run_at)" \
	"              ELSE true END)) "

/*
 * The owners that have pending jobs or batches, in OID order, from the
 * claim index (a walk over its first column) and the batches; at most
 * max_owners of them.  Executors take turns between them (runner.c).
 * Returns how many; the caller holds an SPI connection and acts as the
 * extension owner.  Read with a new snapshot, which sees the jobs the
 * caller's transaction queued just before (a schedule that fired).
 */
int
queue_owners(Oid *owners, int max_owners)
{
	Datum		args[1] = {Int32GetDatum(max_owners)};
	Oid			argtypes[1] = {INT4OID};
	int			n;

	catalog_prefer_indexes();
	catalog_keep_plan(&owners_plan,
					  "WITH RECURSIVE own(owner) AS ("
					  "  (SELECT j.owner FROM procflow.job j ORDER BY j.owner LIMIT 1)"
					  "  UNION ALL"
					  "  SELECT (SELECT j.owner FROM procflow.job j"
					  "           WHERE j.owner > o.owner ORDER BY j.owner LIMIT 1)"
					  "    FROM own o WHERE o.owner IS NOT NULL) "
					  "SELECT owner FROM own WHERE owner IS NOT NULL"
					  " UNION SELECT owner FROM procflow.job_batch"
					  " ORDER BY 1 LIMIT $1",
					  1, argtypes);
	if (SPI_execute_plan(owners_plan, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading the owners of pending jobs failed");
	n = (int) SPI_processed;
	for (int i = 0; i < n; i++)
	{
		bool		isnull;

		owners[i] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
												   SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
	return n;
}

/* A copy of a string (or NULL) in the memory of the caller of SPI. */
static char *
upper_string(const char *value)
{
	char	   *copy;

	if (value == NULL)
		return NULL;
	copy = SPI_palloc(strlen(value) + 1);
	strcpy(copy, value);
	return copy;
}

/*
 * The claim's statement: the due jobs of one owner, group by group of
 * execution order, runnable by the rules above (claim_plan_for picks the
 * variant).
 */
#define FLOW_COLUMNS \
	", c.instance_id, c.activity_id, c.xid, c.event_table, c.cid, c.new_row, c.event_id," \
	" c.source_instance"
/* The columns of a job row c that claimed_job_from_row reads, before FLOW_COLUMNS. */
#define JOB_COLUMNS \
	"c.tableoid, c.ctid, c.id, c.process_id, c.trigger_id, c.event, c.key," \
	" c.old_row, c.changed, c.depth, c.attempts, c.excluded, c.ord, c.run_at"
#define CLAIM_SQL(locking, flow_columns, enabled, row_order, instance) \
	GROUPS_CTE \
	"SELECT " JOB_COLUMNS \
	flow_columns \
	"  FROM grp g, LATERAL (" \
	"    SELECT j.tableoid, j.ctid, j.* FROM procflow.job j" \
	"     WHERE j.run_at <= $3 AND" \
	RUNNABLE("j", "$2", enabled, row_order, instance) \
	"     ORDER BY j.run_at, j.id LIMIT $1" \
	locking ") c" \
	" WHERE g.ord IS NOT NULL AND ($4::int8 IS NULL OR g.ord < $4)" \
	" LIMIT $1"

/*
 * The claim's statement, prepared once per variant: locking the jobs it
 * reads (when others hold the first ones) or not, and with the flows'
 * columns and rules or, in a database whose flows wait for ALTER
 * EXTENSION UPDATE, without.
 */
static SPIPlanPtr
claim_plan_for(bool lock, bool flows)
{
	Oid			argtypes[5] = {INT4OID, OIDOID, TIMESTAMPTZOID, INT8OID, OIDOID};

	catalog_prefer_indexes();
	if (lock && flows)
		catalog_keep_plan(&claim_locking_plan[1],
						  CLAIM_SQL("     FOR UPDATE OF j SKIP LOCKED", FLOW_COLUMNS,
									ENABLED_FLOWS("j"), CLAIM_ROW_ORDER("j"),
									INSTANCE_RUNNABLE("j")), 5, argtypes);
	else if (lock)
		catalog_keep_plan(&claim_locking_plan[0],
						  CLAIM_SQL("     FOR UPDATE OF j SKIP LOCKED", "", ENABLED_LIGHT,
									ROW_ORDER("j"), ""),
						  5, argtypes);
	else if (flows)
		catalog_keep_plan(&claim_plan[1], CLAIM_SQL("", FLOW_COLUMNS, ENABLED_FLOWS("j"),
													CLAIM_ROW_ORDER("j"),
													INSTANCE_RUNNABLE("j")),
						  5, argtypes);
	else
		catalog_keep_plan(&claim_plan[0], CLAIM_SQL("", "", ENABLED_LIGHT, ROW_ORDER("j"), ""),
						  5, argtypes);
	return lock ? claim_locking_plan[flows] : claim_plan[flows];
}

/* A row of the claim's statement as a claimed job. */
static void
claimed_job_from_row(HeapTuple tup, TupleDesc desc, bool flows, bool locked, ClaimedJob *job)
{
	bool		isnull;
	Datum		d;
	char	   *event;

	job->relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
	ItemPointerCopy((ItemPointer) DatumGetPointer(SPI_getbinval(tup, desc, 2, &isnull)),
					&job->tid);
	job->locked = locked;
	job->id = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
	job->process_id = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
	d = SPI_getbinval(tup, desc, 5, &isnull);
	job->trigger_id = isnull ? 0 : DatumGetInt64(d);
	event = SPI_getvalue(tup, desc, 6);
	strlcpy(job->event, event, sizeof(job->event));
	d = SPI_getbinval(tup, desc, 7, &isnull);
	job->key = isnull ? 0 : SPI_datumTransfer(d, false, -1);
	job->old_row = upper_string(SPI_getvalue(tup, desc, 8));
	d = SPI_getbinval(tup, desc, 9, &isnull);
	job->changed = isnull ? 0 : SPI_datumTransfer(d, false, -1);
	job->depth = DatumGetInt32(SPI_getbinval(tup, desc, 10, &isnull));
	job->attempts = DatumGetInt32(SPI_getbinval(tup, desc, 11, &isnull));
	d = SPI_getbinval(tup, desc, 12, &isnull);
	job->excluded = isnull ? 0 : SPI_datumTransfer(d, false, -1);
	job->ord = DatumGetInt64(SPI_getbinval(tup, desc, 13, &isnull));
	job->run_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 14, &isnull));
	job->instance_id = 0;
	job->activity_id = 0;
	job->xid = 0;
	job->event_table = InvalidOid;
	job->cid = 0;
	job->new_row = NULL;
	job->event_id = 0;
	job->source_instance = 0;
	if (flows)
	{
		d = SPI_getbinval(tup, desc, 15, &isnull);
		job->instance_id = isnull ? 0 : DatumGetInt64(d);
		d = SPI_getbinval(tup, desc, 16, &isnull);
		job->activity_id = isnull ? 0 : DatumGetInt64(d);
		d = SPI_getbinval(tup, desc, 17, &isnull);
		job->xid = isnull ? 0 : DatumGetUInt64(d);
		d = SPI_getbinval(tup, desc, 18, &isnull);
		job->event_table = isnull ? InvalidOid : DatumGetObjectId(d);
		d = SPI_getbinval(tup, desc, 19, &isnull);
		job->cid = isnull ? 0 : (uint32) DatumGetInt32(d);
		job->new_row = upper_string(SPI_getvalue(tup, desc, 20));
		d = SPI_getbinval(tup, desc, 21, &isnull);
		job->event_id = isnull ? 0 : DatumGetInt64(d);
		d = SPI_getbinval(tup, desc, 22, &isnull);
		job->source_instance = isnull ? 0 : DatumGetInt64(d);
	}
}

/*
 * Read up to max_jobs due jobs of one owner (see queue_owners).  With
 * "lock", lock them, skipping jobs locked by another executor; without,
 * leave each to be locked when it starts (queue_lock_claimed), so that the
 * jobs read but not started yet can be cancelled, and taken by another
 * executor, meanwhile.  With as_role set, only jobs of processes whose
 * owner that role has the privileges of; with below_ord, only jobs whose
 * order key is below ord_bound.  The result is allocated in the caller's
 * memory context.
 */
ClaimedJob *
queue_claim(Oid owner, int max_jobs, Oid as_role, bool below_ord, int64 ord_bound,
			bool lock, int *njobs)
{
	Datum		args[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	ClaimedJob *jobs;
	int			ret;
	bool		flows = catalog_oids()->has_flows;

	args[0] = Int32GetDatum(max_jobs);
	args[1] = ObjectIdGetDatum(as_role);
	args[2] = TimestampTzGetDatum(GetCurrentTimestamp());
	args[3] = Int64GetDatum(ord_bound);
	args[4] = ObjectIdGetDatum(owner);
	if (!OidIsValid(as_role))
		nulls[1] = 'n';
	if (!below_ord)
		nulls[3] = 'n';
	ret = SPI_execute_plan(claim_plan_for(lock, flows), args, nulls, false, max_jobs);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "claiming jobs failed: %s", SPI_result_code_string(ret));

	*njobs = (int) SPI_processed;
	jobs = SPI_palloc(sizeof(ClaimedJob) * Max(*njobs, 1));
	for (int i = 0; i < *njobs; i++)
		claimed_job_from_row(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, flows, lock,
							 &jobs[i]);
	SPI_freetuptable(SPI_tuptable);
	return jobs;
}

/*
 * Read one pending job by its id, locked, as queue_claim would have claimed
 * it (an executor that died in it counts its failed attempt, runner.c);
 * false when it is not pending (a batch's item is not a job row until
 * batch_materialize_job makes it one).
 */
bool
queue_read_job(int64 job_id, ClaimedJob *job)
{
	static SPIPlanPtr plans[2] = {NULL, NULL};
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(job_id)};
	bool		flows = catalog_oids()->has_flows;

	if (flows)
		catalog_exec_kept(&plans[1],
						  "SELECT " JOB_COLUMNS FLOW_COLUMNS
						  "  FROM procflow.job c WHERE c.id = $1 FOR UPDATE",
						  1, argtypes, args, NULL, SPI_OK_SELECT);
	else
		catalog_exec_kept(&plans[0],
						  "SELECT " JOB_COLUMNS
						  "  FROM procflow.job c WHERE c.id = $1 FOR UPDATE",
						  1, argtypes, args, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		return false;
	claimed_job_from_row(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, flows, true, job);
	return true;
}

/*
 * Lock a job read by queue_claim as it starts.  False when another
 * transaction holds it (an executor runs it), or when it was finished,
 * cancelled, retried or moved since it was read: then it is not run.
 */
bool
queue_lock_claimed(ClaimedJob *job)
{
	Relation	rel = table_open(job->relid, RowShareLock);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	TM_FailureData tmfd;
	TM_Result	result;

	result = table_tuple_lock(rel, &job->tid, GetActiveSnapshot(), slot,
							  GetCurrentCommandId(false), LockTupleExclusive,
							  LockWaitSkip, 0, &tmfd);
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, NoLock);
	job->locked = result == TM_Ok;
	return job->locked;
}

/* A one-dimensional array of n datums of a type, NULL where isnull says so. */
Datum
queue_array(Datum *values, bool *isnull, int n, Oid elemtype)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			dims[1] = {n};
	int			lbs[1] = {1};

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(values, isnull, 1, dims, lbs, elemtype,
											  typlen, typbyval, typalign));
}

/*
 * Write rows that a DELETE ... RETURNING just removed from procflow.job
 * into procflow.finished_job, each with its outcome: "all" for every row (a
 * cancellation), or else the element of "outcomes" that the row's extra
 * last column numbers (from 1).  An outcome with a start time counts as a
 * run: the row's attempts go up by one and it gets that start time; a
 * cancelled job keeps the start of its last attempt, if any.
 */
static void
queue_finish_deleted(SPITupleTable *deleted, uint64 n, const JobOutcome *all,
					 const JobOutcome *outcomes)
{
	TupleDesc	desc = deleted->tupdesc;
	Datum		values[JOB_NATTS + 1];
	bool		nulls[JOB_NATTS + 1];

	if (desc->natts != (all != NULL ? job_natts() : job_natts() + 1))
		elog(ERROR, "finishing jobs: unexpected row of %d columns", desc->natts);

	for (uint64 r = 0; r < n; r++)
	{
		const JobOutcome *o = all;

		heap_deform_tuple(deleted->vals[r], desc, values, nulls);
		if (o == NULL)
			o = &outcomes[DatumGetInt32(values[job_natts()]) - 1];
		else
			rotation_note_cancelled(DatumGetInt32(values[JOB_PARTITION]));

		set_column(values, nulls, JOB_STATUS, job_word(o->status), false);
		if (o->started_at != 0)
		{
			values[JOB_ATTEMPTS] = Int32GetDatum(DatumGetInt32(values[JOB_ATTEMPTS]) + 1);
			set_column(values, nulls, JOB_STARTED_AT,
					   TimestampTzGetDatum(o->started_at), false);
		}
		set_column(values, nulls, JOB_FINISHED_AT, TimestampTzGetDatum(o->finished_at),
				   false);
		set_error_columns(values, nulls, &o->error);
		insert_finished(values, nulls);
	}
}

/*
 * Write the rows that a DELETE ... RETURNING * just removed from
 * procflow.job into the history as cancelled, for "reason".  A later job
 * of the same row may have been waiting for a cancelled one: the
 * executors look again at commit.
 */
void
queue_cancel_deleted(SPITupleTable *deleted, uint64 n, const char *reason)
{
	JobOutcome	outcome;

	memset(&outcome, 0, sizeof(outcome));
	outcome.status = "cancelled";
	outcome.finished_at = GetCurrentTimestamp();
	outcome.error.message = reason;
	queue_finish_deleted(deleted, n, &outcome, NULL);
	if (n > 0)
		wakeup_note_due(outcome.finished_at);
}

/*
 * Record the outcomes of a set of runs: the rows of finished jobs move to
 * the history (succeeded, skipped, failed) with one statement, the rows of
 * jobs to be retried stay with the retry time and the error with another.
 * A job whose row its own action removed (it cancelled its own job, or
 * dropped its process) has no outcome to record: whatever removed the row
 * wrote its history.  Nothing an action does may keep the others' outcomes
 * from being recorded.
 */
void
queue_record_outcomes(const JobOutcome *outcomes, int n)
{
	JobOutcome *finished = palloc(sizeof(JobOutcome) * Max(n, 1));
	Datum	   *finished_ids = palloc(sizeof(Datum) * Max(n, 1));
	int			nfinished = 0;
	Datum	   *values[8];
	bool	   *isnull[8];
	int			nretried = 0;
	Oid			elemtypes[8] = {INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	int			ret;

	catalog_prefer_indexes();
	for (int c = 0; c < 8; c++)
	{
		values[c] = palloc(sizeof(Datum) * Max(n, 1));
		isnull[c] = palloc0(sizeof(bool) * Max(n, 1));
	}
	for (int i = 0; i < n; i++)
	{
		const JobOutcome *o = &outcomes[i];
		const char *texts[4] = {o->error.code, o->error.message, o->error.detail,
		o->error.context};
		int			r = nretried;

		if (strcmp(o->status, "pending") != 0)
		{
			finished_ids[nfinished] = Int64GetDatum(o->id);
			finished[nfinished++] = *o;
			continue;
		}
		values[0][r] = Int64GetDatum(o->id);
		values[1][r] = TimestampTzGetDatum(o->started_at);
		values[2][r] = TimestampTzGetDatum(o->retry_at);
		values[3][r] = Int32GetDatum(o->held ? 0 : 1);
		for (int t = 0; t < 4; t++)
		{
			isnull[4 + t][r] = texts[t] == NULL;
			if (texts[t] != NULL)
				values[4 + t][r] = CStringGetTextDatum(texts[t]);
		}
		nretried++;
	}

	if (nfinished > 0)
	{
		Oid			argtypes[1] = {INT8ARRAYOID};
		Datum		args[1];

		catalog_keep_plan(&finish_plan,
						  "DELETE FROM procflow.job j"
						  " USING pg_catalog.unnest($1) WITH ORDINALITY AS o(id, i)"
						  " WHERE j.id = o.id"
						  " RETURNING j.*, o.i::int4",
						  1, argtypes);
		args[0] = queue_array(finished_ids, NULL, nfinished, INT8OID);
		ret = SPI_execute_plan(finish_plan, args, NULL, false, 0);
		if (ret != SPI_OK_DELETE_RETURNING)
			elog(ERROR, "recording the outcome of %d jobs failed: %s", nfinished,
				 SPI_result_code_string(ret));
		queue_finish_deleted(SPI_tuptable, SPI_processed, NULL, finished);
		SPI_freetuptable(SPI_tuptable);
	}

	if (nretried > 0)
	{
		Oid			argtypes[8] = {INT8ARRAYOID, TIMESTAMPTZARRAYOID,
			TIMESTAMPTZARRAYOID, INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
		TEXTARRAYOID, TEXTARRAYOID};
		Datum		args[8];
		bool		current = catalog_oids()->level == CATALOG_CURRENT;

		/*
		 * A held run keeps the error and start of the last attempt.  A
		 * catalog not updated to 0.5 has no error_context (and passes none).
		 */
		if (retry_plan[current] == NULL)
			catalog_keep_plan(&retry_plan[current],
							  psprintf("UPDATE procflow.job j"
									   "   SET attempts = j.attempts + o.counts,"
									   "       started_at = CASE o.counts WHEN 1 THEN o.started_at ELSE j.started_at END,"
									   "       run_at = o.retry_at,"
									   "       error_code = CASE o.counts WHEN 1 THEN o.code ELSE j.error_code END,"
									   "       error_message = CASE o.counts WHEN 1 THEN o.message ELSE j.error_message END,"
									   "       error_detail = CASE o.counts WHEN 1 THEN o.detail ELSE j.error_detail END"
									   "%s"
									   "  FROM unnest($1, $2, $3, $4, $5, $6, $7%s)"
									   "       AS o(id, started_at, retry_at, counts, code, message, detail%s)"
									   " WHERE j.id = o.id",
									   current ? ", error_context = CASE o.counts WHEN 1 THEN o.context ELSE j.error_context END" : "",
									   current ? ", $8" : "",
									   current ? ", context" : ""),
							  current ? 8 : 7, argtypes);
		for (int c = 0; c < 8; c++)
			args[c] = queue_array(values[c], isnull[c], nretried, elemtypes[c]);
		ret = SPI_execute_plan(retry_plan[current], args, NULL, false, 0);
		if (ret != SPI_OK_UPDATE)
			elog(ERROR, "recording the retry of %d jobs failed: %s", nretried,
				 SPI_result_code_string(ret));
	}
}

/*
 * The earliest future run_at of a runnable job or batch, or next time of a
 * cron trigger, or DT_NOEND.  Due
 * ones are not looked at: an executor asks only after a claim found
 * nothing, so any due job is locked by another executor, which goes on
 * claiming after it.
 */
TimestampTz
queue_next_due(void)
{
	int			ret;
	bool		isnull;
	Datum		d;
	Datum		args[5];
	Oid			owners[QUEUE_MAX_OWNERS];
	int			nowners;
	TimestampTz next;
	int			flows = catalog_oids()->has_flows ? 1 : 0;

	catalog_prefer_indexes();
	{
		/* $2 to $4 are those of the claim; this statement uses $1 and $5 */
		Oid			argtypes[5] = {TIMESTAMPTZOID, OIDOID, TIMESTAMPTZOID, INT8OID, OIDOID};

#define NEXT_DUE_SQL(enabled, instance) \
	GROUPS_CTE \
	"SELECT min(n.run_at)" \
	"  FROM grp g, LATERAL (" \
	"    SELECT j.run_at FROM procflow.job j" \
	"     WHERE j.run_at > $1 AND" \
	RUNNABLE("j", "NULL", enabled, ROW_ORDER("j"), instance) \
	"     ORDER BY j.run_at, j.id LIMIT 1) n" \
	" WHERE g.ord IS NOT NULL"

		if (flows)
			catalog_keep_plan(&next_due_plan[1],
							  NEXT_DUE_SQL(ENABLED_FLOWS("j"), INSTANCE_RUNNABLE("j")), 5,
							  argtypes);
		else
			catalog_keep_plan(&next_due_plan[0], NEXT_DUE_SQL(ENABLED_LIGHT, ""), 5, argtypes);
		catalog_keep_plan(&next_due_other_plan,
						  "SELECT least((SELECT min(b.run_at) FROM procflow.job_batch b"
						  "               JOIN procflow.process p ON p.id = b.process_id"
						  "              WHERE b.run_at > $1 AND p.enabled),"
						  "             (SELECT min(t.next_run_at) FROM procflow.trigger t"
						  "               JOIN procflow.process p ON p.id = t.process_id"
						  "              WHERE t.next_run_at > $1 AND t.cron IS NOT NULL"
						  "                AND p.enabled))",
						  1, argtypes);
	}

	memset(args, 0, sizeof(args));
	args[0] = TimestampTzGetDatum(GetCurrentTimestamp());
	ret = SPI_execute_plan(next_due_other_plan, args, NULL, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "reading the next due time failed: %s", SPI_result_code_string(ret));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	next = isnull ? DT_NOEND : DatumGetTimestampTz(d);

	nowners = queue_owners(owners, QUEUE_MAX_OWNERS);
	for (int i = 0; i < nowners; i++)
	{
		args[4] = ObjectIdGetDatum(owners[i]);
		ret = SPI_execute_plan(next_due_plan[flows], args, " nnn ", true, 1);
		if (ret != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "reading the next due time failed: %s", SPI_result_code_string(ret));
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull && DatumGetTimestampTz(d) < next)
			next = DatumGetTimestampTz(d);
	}
	return next;
}
