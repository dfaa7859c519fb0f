/*-------------------------------------------------------------------------
 *
 * collect.c
 *	  Collecting the jobs a statement queues, to write them at its end.
 *
 * The row trigger does not write queued jobs itself: it appends them, per
 * process, to a list in transaction memory, and the statement trigger
 * writes them when the statement ends.  A run of at least BATCH_MIN_ITEMS
 * consecutive jobs of one trigger (a bulk INSERT, UPDATE or DELETE) becomes
 * one batch row (batch.c) with a range of job ids; shorter runs become job
 * rows.  A process with several rules on a table collects their jobs row
 * by row (a flow that launches on create and waits for creates: launch,
 * event, launch, event, ...); before they are written, each rule's jobs
 * are brought together (see group_by_rule), so that runs form.  Either
 * way a row's jobs get ids in the order they were collected, and so do a
 * rule's jobs and a flow's events.
 *
 * Deleting a row cancels the pending create and update jobs of its row.
 * Those still collected are marked cancelled at once (they are written as
 * cancelled history rows); the deleted row is noted, and when the
 * statement's jobs are written, one statement cancels the written jobs of
 * all the rows it deleted (rather than one query per row).
 *
 * Everything collected belongs to the (sub)transaction that collected it:
 * a subtransaction that aborts drops its jobs and deleted rows, and undoes
 * the cancellations it made; one that commits hands them to its parent.
 * So a statement's end writes only when nothing collected belongs to an
 * enclosing (sub)transaction: a statement nested in a subtransaction (a
 * trigger's exception block, say) leaves what it collected, and what the
 * statement around it collected, to the enclosing statement's end, where
 * all of it is written in collection order.  Whatever is left at commit (a
 * statement trigger that did not fire: a statement on a partition) is
 * written before commit.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "storage/lmgr.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "batch.h"
#include "cache.h"
#include "catalog.h"
#include "collect.h"

/* Shortest run of jobs that is written as a batch. */
#define BATCH_MIN_ITEMS		8

/* Longest list kept in memory; a longer one is written as it grows. */
#define COLLECT_MAX_JOBS	65536

/* Most rules of one process whose jobs a stretch brings together. */
#define GROUP_MAX_RULES		16

/* The jobs collected for one process, in collection order. */
typedef struct ProcessJobs
{
	int32		process_id;
	int			njobs;
	int			capacity;
	NewJob	   *jobs;
	int		   *levels;			/* subtransaction nesting level of each */
	int		   *cancelled;		/* level of the delete that cancelled it, or 0 */
	bool		cancellable;	/* holds a create or update job */
} ProcessJobs;

/* A deleted row whose written create and update jobs are to be cancelled. */
typedef struct DeletedRow
{
	Datum		process_ids;	/* int4[] of the processes concerned */
	int64		row_hash;
	Datum		key;			/* text of its text[], or 0 when the key is the
								 * row hash (see entity.c) */
	int			level;
} DeletedRow;

static MemoryContext collect_cxt = NULL;
static ProcessJobs *lists = NULL;
static int	nlists = 0;
static int	last_list = 0;
static DeletedRow *deleted = NULL;
static int	ndeleted = 0;
static int	deleted_capacity = 0;
static bool any_cancelled = false;

/* [1] for a catalog whose jobs have the columns of events for waits */
static SPIPlanPtr cancel_plan[2];

/* The memory everything collected lives in, made on first use. */
static MemoryContext
memory(void)
{
	if (collect_cxt == NULL)
		collect_cxt = AllocSetContextCreate(TopTransactionContext,
											"procflow collected jobs",
											ALLOCSET_DEFAULT_SIZES);
	return collect_cxt;
}

/* The list of a process, created when missing. */
static ProcessJobs *
list_of(int32 process_id)
{
	ProcessJobs *l;

	if (nlists > 0 && lists[last_list].process_id == process_id)
		return &lists[last_list];
	for (int i = 0; i < nlists; i++)
		if (lists[i].process_id == process_id)
		{
			last_list = i;
			return &lists[i];
		}

	if (lists == NULL)
		lists = MemoryContextAlloc(memory(), sizeof(ProcessJobs) * 4);
	else if (nlists % 4 == 0)
		lists = repalloc(lists, sizeof(ProcessJobs) * (nlists + 4));
	l = &lists[nlists];
	memset(l, 0, sizeof(ProcessJobs));
	l->process_id = process_id;
	last_list = nlists++;
	return l;
}

/* A copy of a varlena datum in collect_cxt, or 0 for 0. */
static inline Datum
copy_datum(Datum d)
{
	return d == 0 ? (Datum) 0 : datumCopy(d, false, -1);
}

/* Are two varlena datums (or 0 for none) the same? */
static inline bool
same_datum(Datum a, Datum b)
{
	if (a == 0 || b == 0)
		return a == b;
	return datum_image_eq(a, b, false, -1);
}

/*
 * May what was collected be written now, at subtransaction nesting level
 * "level"?  Only when none of it belongs to an enclosing level.
 */
static bool
writable_at(int level)
{
	for (int i = 0; i < nlists; i++)
		if (lists[i].njobs > 0 && lists[i].levels[0] < level)
			return false;
	return ndeleted == 0 || deleted[0].level >= level;
}

/*
 * Cancel the written create and update jobs of the deleted rows noted so
 * far: first the batches of their processes become job rows, then one
 * statement per set of processes moves the rows' jobs to the history.
 * Jobs an executor holds (it runs them) are left to find the row gone.
 */
static void
cancel_deleted_rows(void)
{
	PrivilegedScope scope;
	int			start = 0;

	bool		snapshot_pushed = false;

	if (ndeleted == 0)
		return;
	/* before commit (a statement on a partition fired no statement trigger) */
	if (!ActiveSnapshotSet())
	{
		PushActiveSnapshot(GetTransactionSnapshot());
		snapshot_pushed = true;
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	catalog_enter_privileged(&scope);
	catalog_prefer_indexes();
	while (start < ndeleted)
	{
		Datum		ids = deleted[start].process_ids;
		int			end = start;
		Datum	   *hashes = palloc(sizeof(Datum) * (ndeleted - start));
		Datum	   *keys = palloc(sizeof(Datum) * (ndeleted - start));
		Oid			argtypes[3] = {INT4ARRAYOID, INT8ARRAYOID, TEXTARRAYOID};
		Datum		args[3];
		int			ret;
		int			flows = catalog_oids()->level != CATALOG_BEFORE_FLOWS ? 1 : 0;

		/* the rows of one table share their process ids */
		bool	   *keynulls = palloc(sizeof(bool) * (ndeleted - start));

		while (end < ndeleted && same_datum(deleted[end].process_ids, ids))
		{
			hashes[end - start] = Int64GetDatum(deleted[end].row_hash);
			keys[end - start] = deleted[end].key;
			keynulls[end - start] = deleted[end].key == 0;
			end++;
		}
		batch_materialize_processes(ids, true);
#define CANCEL_SQL(not_events) \
	"DELETE FROM procflow.job j" \
	" WHERE j.id IN (SELECT e.id FROM procflow.job e," \
	"                       ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3)) AS d(h, k)" \
	"                 WHERE e.process_id = ANY ($1)" \
	"                   AND e.row_hash = d.h" \
	"                   AND (d.k IS NULL OR e.key = d.k::pg_catalog.text[])" \
	"                   AND e.event IN ('create', 'update')" \
	not_events \
	"                   FOR UPDATE OF e SKIP LOCKED)" \
	" RETURNING j.*"

		/* events for waits are delivered, whatever happens to the row next */
		if (flows)
			catalog_keep_plan(&cancel_plan[1], CANCEL_SQL("                   AND e.xid IS NULL"), 3, argtypes);
		else
			catalog_keep_plan(&cancel_plan[0], CANCEL_SQL(""), 3, argtypes);
		args[0] = ids;
		args[1] = queue_array(hashes, NULL, end - start, INT8OID);
		args[2] = queue_array(keys, keynulls, end - start, TEXTOID);
		ret = SPI_execute_plan(cancel_plan[flows], args, NULL, false, 0);
		if (ret != SPI_OK_DELETE_RETURNING)
			elog(ERROR, "cancelling the jobs of deleted rows failed: %s",
				 SPI_result_code_string(ret));
		queue_cancel_deleted(SPI_tuptable, SPI_processed, "the entity row was deleted");
		SPI_freetuptable(SPI_tuptable);
		start = end;
	}
	catalog_leave_privileged(&scope);
	SPI_finish();
	if (snapshot_pushed)
		PopActiveSnapshot();
	ndeleted = 0;
}

/*
 * Before writing jobs of a process (other than events for waits), lock the
 * process until the transaction ends, in the mode disable_process with
 * cancel_pending waits for: it cancels them once this transaction commits.
 * A process that is disabled by now (its rules were read before) takes
 * none of them: false.
 */
static bool
queue_lock_process(ProcessJobs *l)
{
	ProcessInfo *p;
	bool		enabled;
	bool		any = false;

	for (int i = 0; i < l->njobs && !any; i++)
		any = l->jobs[i].xid == 0;
	if (!any)
		return true;
	LockDatabaseObject(catalog_oids()->process, l->process_id, 0, RowExclusiveLock);
	/* a disable_process we waited for has sent its invalidation by now */
	AcceptInvalidationMessages();
	cache_pin();
	p = cache_process(l->process_id);
	enabled = p != NULL && p->enabled;
	cache_unpin();
	return enabled;
}

/*
 * The rule a collected job came from, for group_by_rule: its trigger, or
 * for a flow's events for waits all of them as one (they keep their order
 * among themselves, whatever their table or kind).
 */
static inline int64
rule_of(const NewJob *job)
{
	return job->xid != 0 ? -1 : job->trigger_id;
}

/*
 * Copy the jobs (and their cancelled marks) of l from "start" to "end" to
 * the arrays jobs and cancelled from *out on, a rule's jobs after another's,
 * the rules in the order they first come, each in its own order.  A stretch
 * with more than GROUP_MAX_RULES rules is copied as it is.
 */
static void
copy_grouped(ProcessJobs *l, int start, int end, NewJob *jobs, int *cancelled, int *out)
{
	int64		rules[GROUP_MAX_RULES];
	int			nrules = 0;

	for (int i = start; i < end && nrules <= GROUP_MAX_RULES; i++)
	{
		int			r = 0;

		while (r < nrules && rules[r] != rule_of(&l->jobs[i]))
			r++;
		if (r == nrules && nrules++ < GROUP_MAX_RULES)
			rules[r] = rule_of(&l->jobs[i]);
	}
	if (nrules > GROUP_MAX_RULES)
	{
		nrules = 1;
		rules[0] = PG_INT64_MIN;	/* matches nothing: all as they are */
	}
	for (int r = 0; r < nrules; r++)
		for (int i = start; i < end; i++)
			if (rules[0] == PG_INT64_MIN || rule_of(&l->jobs[i]) == rules[r])
			{
				jobs[*out] = l->jobs[i];
				cancelled[*out] = l->cancelled[i];
				(*out)++;
			}
}

/* A row's latest rule in a stretch (group_by_rule). */
typedef struct RowRule
{
	int64		row_hash;		/* the key */
	int			stretch;		/* the stretch the rank is of */
	int			rank;			/* the highest rank of a rule it had a job of */
} RowRule;

/*
 * Bring each rule's collected jobs of a process together, so that a bulk
 * statement's jobs form batches even when several rules of the process
 * take each row.  The rules of a stretch are ranked in the order they
 * first come, and its jobs copied rule after rule; a stretch ends before a
 * job of a row that already had one of a later rule, so a row's jobs keep
 * the order they were collected in, as do each rule's jobs and a flow's
 * events (delivered in the order they were queued).  The jobs' levels are
 * not moved with them: they are written right after, which needs none.
 */
static void
group_by_rule(ProcessJobs *l)
{
	HASHCTL		ctl;
	HTAB	   *rows;
	NewJob	   *jobs;
	int		   *cancelled;
	int64		rules[GROUP_MAX_RULES];
	int			nrules = 0;
	int			stretch = 0;
	int			start = 0;
	int			out = 0;
	bool		mixed = false;

	for (int i = 1; i < l->njobs && !mixed; i++)
		mixed = rule_of(&l->jobs[i]) != rule_of(&l->jobs[0]);
	if (!mixed)
		return;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(RowRule);
	ctl.hcxt = CurrentMemoryContext;
	rows = hash_create("procflow rows of collected jobs", l->njobs, &ctl,
					   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	jobs = MemoryContextAllocHuge(memory(), sizeof(NewJob) * l->njobs);
	cancelled = MemoryContextAllocHuge(memory(), sizeof(int) * l->njobs);
	for (int i = 0; i < l->njobs; i++)
	{
		const NewJob *job = &l->jobs[i];
		int			rank = 0;
		RowRule    *row;
		bool		found;

		while (rank < nrules && rules[rank] != rule_of(job))
			rank++;
		if (rank == nrules && nrules < GROUP_MAX_RULES)
			rules[nrules++] = rule_of(job);
		if (!job->has_row)
			continue;
		row = hash_search(rows, &job->row_hash, HASH_ENTER, &found);
		if (found && row->stretch == stretch && row->rank > rank)
		{
			/* the row had a job of a later rule: the stretch ends here */
			copy_grouped(l, start, i, jobs, cancelled, &out);
			start = i;
			stretch++;
			nrules = 0;
			i--;				/* and a new one begins with this job */
			continue;
		}
		if (!found || row->stretch != stretch)
		{
			row->stretch = stretch;
			row->rank = rank;
		}
		else
			row->rank = Max(row->rank, rank);
	}
	copy_grouped(l, start, l->njobs, jobs, cancelled, &out);
	hash_destroy(rows);
	Assert(out == l->njobs);
	memcpy(l->jobs, jobs, sizeof(NewJob) * l->njobs);
	memcpy(l->cancelled, cancelled, sizeof(int) * l->njobs);
	pfree(jobs);
	pfree(cancelled);
}

/*
 * Write one process's jobs: runs of one trigger as batches, the rest as
 * rows; a job cancelled by a delete, or queued for a process that was
 * disabled meanwhile, as its cancelled history row.
 */
static void
write_list(ProcessJobs *l)
{
	int			start = 0;

	if (!queue_lock_process(l))
	{
		for (int i = 0; i < l->njobs; i++)
			if (l->jobs[i].xid == 0 && l->cancelled[i] == 0)
				l->cancelled[i] = -1;
	}
	group_by_rule(l);

	while (start < l->njobs)
	{
		NewJob	   *first = &l->jobs[start];
		int			end = start + 1;

		if (l->cancelled[start] != 0)
		{
			first->status = "cancelled";
			first->finished_at = GetCurrentTimestamp();
			first->error.message = l->cancelled[start] < 0 ?
				"cancelled when the process was disabled" : "the entity row was deleted";
			(void) queue_insert(first);
			start++;
			continue;
		}
		while (end < l->njobs &&
			   l->cancelled[end] == 0 &&
			   l->jobs[end].trigger_id == first->trigger_id &&
			   l->jobs[end].event_table == first->event_table &&
			   l->jobs[end].cid == first->cid &&
			   l->jobs[end].source_instance == first->source_instance &&
			   strcmp(l->jobs[end].event, first->event) == 0 &&
			   l->jobs[end].depth == first->depth &&
			   l->jobs[end].run_at == first->run_at &&
			   same_datum(l->jobs[end].excluded, first->excluded))
			end++;
		if (end - start >= BATCH_MIN_ITEMS)
			batch_write(&l->jobs[start], end - start);
		else
			for (int i = start; i < end; i++)
				(void) queue_insert(&l->jobs[i]);
		start = end;
	}
	l->njobs = 0;
	l->cancellable = false;
}

/* Write everything collected: the deletes' cancellations first. */
static void
write_all(void)
{
	cancel_deleted_rows();
	for (int i = 0; i < nlists; i++)
		if (lists[i].njobs > 0)
			write_list(&lists[i]);
}

/*
 * Collect a job queued by the row trigger.  Its datums are copied; the
 * caller's may be freed.
 */
void
collect_job(const NewJob *job)
{
	ProcessJobs *l = list_of(job->process_id);
	MemoryContext old = MemoryContextSwitchTo(memory());
	NewJob	   *copy;

	if (l->njobs == l->capacity)
	{
		int			capacity = l->capacity == 0 ? 64 : l->capacity * 2;

		if (l->jobs == NULL)
		{
			l->jobs = palloc(sizeof(NewJob) * capacity);
			l->levels = palloc(sizeof(int) * capacity);
			l->cancelled = palloc(sizeof(int) * capacity);
		}
		else
		{
			l->jobs = repalloc_huge(l->jobs, sizeof(NewJob) * capacity);
			l->levels = repalloc_huge(l->levels, sizeof(int) * capacity);
			l->cancelled = repalloc_huge(l->cancelled, sizeof(int) * capacity);
		}
		l->capacity = capacity;
	}
	copy = &l->jobs[l->njobs];
	*copy = *job;
	copy->key = copy_datum(job->key);
	copy->old_row = copy_datum(job->old_row);
	copy->new_row = copy_datum(job->new_row);
	copy->changed = copy_datum(job->changed);
	copy->excluded = copy_datum(job->excluded);
	l->levels[l->njobs] = GetCurrentTransactionNestLevel();
	l->cancelled[l->njobs] = 0;
	l->njobs++;
	if (strcmp(job->event, "delete") != 0)
		l->cancellable = true;
	MemoryContextSwitchTo(old);

	if (l->njobs >= COLLECT_MAX_JOBS && writable_at(GetCurrentTransactionNestLevel()))
		write_all();
}

/*
 * A row of a table was deleted: cancel the create and update jobs of its
 * row (key: its text[] key, or 0 when the row hash is the key) that the
 * given processes (int4[]) have collected so far, and note the row to
 * cancel those already written.
 */
void
collect_deleted_row(Datum process_ids, int64 row_hash, Datum key)
{
	int			level = GetCurrentTransactionNestLevel();
	Datum	   *ids;
	int			n;
	MemoryContext old;

	deconstruct_array(DatumGetArrayTypeP(process_ids), INT4OID, 4, true, TYPALIGN_INT,
					  &ids, NULL, &n);
	for (int i = 0; i < nlists; i++)
	{
		ProcessJobs *l = &lists[i];
		bool		concerned = false;

		if (!l->cancellable)
			continue;
		for (int k = 0; k < n && !concerned; k++)
			concerned = DatumGetInt32(ids[k]) == l->process_id;
		if (!concerned)
			continue;
		for (int j = 0; j < l->njobs; j++)
		{
			NewJob	   *job = &l->jobs[j];

			/* events for waits are delivered, whatever happens next */
			if (l->cancelled[j] == 0 && job->row_hash == row_hash &&
				strcmp(job->event, "delete") != 0 && job->xid == 0 &&
				(job->key == 0 || key == 0 || same_datum(job->key, key)))
			{
				l->cancelled[j] = level;
				any_cancelled = true;
			}
		}
	}

	old = MemoryContextSwitchTo(memory());
	if (ndeleted == deleted_capacity)
	{
		deleted_capacity = deleted_capacity == 0 ? 64 : deleted_capacity * 2;
		if (deleted == NULL)
			deleted = palloc(sizeof(DeletedRow) * deleted_capacity);
		else
			deleted = repalloc_huge(deleted, sizeof(DeletedRow) * deleted_capacity);
	}
	/* rows of one table share one copy of their process ids */
	if (ndeleted > 0 && same_datum(deleted[ndeleted - 1].process_ids, process_ids))
		deleted[ndeleted].process_ids = deleted[ndeleted - 1].process_ids;
	else
		deleted[ndeleted].process_ids = copy_datum(process_ids);
	deleted[ndeleted].row_hash = row_hash;
	deleted[ndeleted].key = key == 0 ? (Datum) 0 :
		CStringGetTextDatum(OidOutputFunctionCall(F_ARRAY_OUT, key));
	deleted[ndeleted].level = level;
	ndeleted++;
	MemoryContextSwitchTo(old);
}

/*
 * A statement ended: write what was collected, unless some of it belongs
 * to an enclosing (sub)transaction (then the enclosing statement's end
 * writes all of it).
 */
void
collect_statement_end(void)
{
	if (nlists == 0 && ndeleted == 0)
		return;
	if (!writable_at(GetCurrentTransactionNestLevel()))
		return;
	write_all();
	collect_forget();
}

/* The transaction commits: write everything left. */
void
collect_flush(void)
{
	if (nlists == 0 && ndeleted == 0)
		return;
	write_all();
	collect_forget();
}

/* Drop what was collected (after writing it, or at abort). */
void
collect_forget(void)
{
	if (collect_cxt != NULL && CurrentMemoryContext != collect_cxt)
		MemoryContextDelete(collect_cxt);
	collect_cxt = NULL;
	lists = NULL;
	nlists = 0;
	last_list = 0;
	deleted = NULL;
	ndeleted = 0;
	deleted_capacity = 0;
	any_cancelled = false;
}

/*
 * Transaction end (called from procflow.c before queue.c's part): write
 * what is left before commit or PREPARE, forget it at abort.
 */
void
collect_xact_event(XactEvent event)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			collect_flush();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			collect_forget();
			break;
		default:
			break;
	}
}

/*
 * A subtransaction that aborts drops the jobs and deleted rows collected
 * in it (they are at the end of each list) and undoes its cancellations;
 * one that commits hands all of them to its parent.
 */
void
collect_subxact_event(SubXactEvent event)
{
	int			level;
	bool		commit = event == SUBXACT_EVENT_COMMIT_SUB;

	if ((nlists == 0 && ndeleted == 0) ||
		(event != SUBXACT_EVENT_ABORT_SUB && !commit))
		return;
	level = GetCurrentTransactionNestLevel();
	for (int i = 0; i < nlists; i++)
	{
		ProcessJobs *l = &lists[i];
		int			n = l->njobs;

		while (n > 0 && l->levels[n - 1] >= level)
		{
			n--;
			if (commit)
				l->levels[n] = level - 1;
		}
		if (!commit)
			l->njobs = n;
		for (int j = 0; any_cancelled && j < l->njobs; j++)
			if (l->cancelled[j] >= level)
				l->cancelled[j] = commit ? level - 1 : 0;
	}
	while (ndeleted > 0 && deleted[ndeleted - 1].level >= level)
	{
		if (commit)
		{
			for (int j = ndeleted - 1; j >= 0 && deleted[j].level >= level; j--)
				deleted[j].level = level - 1;
			break;
		}
		ndeleted--;
	}
}
