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
 * rows.  Either way the ids follow the order in which the jobs were
 * collected, so a row's jobs keep their creation order.
 *
 * Every statement's end writes everything collected so far, including what
 * an enclosing statement collected before a nested one (an immediate
 * action's) ran, so the list only ever holds jobs of statements still
 * running.  A subtransaction that aborts drops the jobs collected in it;
 * one that commits hands them to its parent.  Whatever is left at commit
 * (a statement trigger that did not fire) is written before commit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/datum.h"
#include "utils/memutils.h"

#include "batch.h"
#include "collect.h"

/* Shortest run of jobs that is written as a batch. */
#define BATCH_MIN_ITEMS		8

/* Longest list kept in memory; a longer one is written as it grows. */
#define COLLECT_MAX_JOBS	65536

/* The jobs collected for one process, in collection order. */
typedef struct ProcessJobs
{
	int32		process_id;
	int			njobs;
	int			capacity;
	NewJob	   *jobs;
	int		   *levels;			/* subtransaction nesting level of each */
	bool		cancellable;	/* holds a create or update job */
} ProcessJobs;

static MemoryContext collect_cxt = NULL;
static ProcessJobs *lists = NULL;
static int	nlists = 0;
static int	last_list = 0;

static void collect_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
									 SubTransactionId parentSubid, void *arg);

/* Register the subtransaction callback (from _PG_init). */
void
collect_init(void)
{
	RegisterSubXactCallback(collect_subxact_callback, NULL);
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

	if (collect_cxt == NULL)
		collect_cxt = AllocSetContextCreate(TopTransactionContext,
											"procflow collected jobs",
											ALLOCSET_DEFAULT_SIZES);
	if (lists == NULL)
		lists = MemoryContextAlloc(collect_cxt, sizeof(ProcessJobs) * 4);
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

/* Write one process's jobs: runs of one trigger as batches, the rest as rows. */
static void
write_list(ProcessJobs *l)
{
	int			start = 0;

	while (start < l->njobs)
	{
		NewJob	   *first = &l->jobs[start];
		int			end = start + 1;

		while (end < l->njobs &&
			   l->jobs[end].trigger_id == first->trigger_id &&
			   l->jobs[end].depth == first->depth &&
			   l->jobs[end].run_at == first->run_at)
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

/*
 * Collect a job queued by the row trigger.  Its datums are copied; the
 * caller's may be freed.
 */
void
collect_job(const NewJob *job)
{
	ProcessJobs *l = list_of(job->process_id);
	MemoryContext old = MemoryContextSwitchTo(collect_cxt);
	NewJob	   *copy;

	if (l->njobs == l->capacity)
	{
		int			capacity = l->capacity == 0 ? 64 : l->capacity * 2;

		if (l->jobs == NULL)
		{
			l->jobs = palloc(sizeof(NewJob) * capacity);
			l->levels = palloc(sizeof(int) * capacity);
		}
		else
		{
			l->jobs = repalloc_huge(l->jobs, sizeof(NewJob) * capacity);
			l->levels = repalloc_huge(l->levels, sizeof(int) * capacity);
		}
		l->capacity = capacity;
	}
	copy = &l->jobs[l->njobs];
	*copy = *job;
	copy->key = copy_datum(job->key);
	copy->old_row = copy_datum(job->old_row);
	copy->changed = copy_datum(job->changed);
	l->levels[l->njobs] = GetCurrentTransactionNestLevel();
	l->njobs++;
	if (strcmp(job->event, "delete") != 0)
		l->cancellable = true;
	MemoryContextSwitchTo(old);

	if (l->njobs >= COLLECT_MAX_JOBS)
		write_list(l);
}

/* Write everything collected, and free the memory it took. */
void
collect_flush(void)
{
	for (int i = 0; i < nlists; i++)
		if (lists[i].njobs > 0)
			write_list(&lists[i]);
	collect_forget();
}

/*
 * Write the create and update jobs collected for these processes (int4[]),
 * so that a delete can cancel those of its row.
 */
void
collect_flush_processes(Datum process_ids)
{
	Datum	   *ids;
	int			n;

	if (nlists == 0)
		return;
	deconstruct_array(DatumGetArrayTypeP(process_ids), INT4OID, 4, true, TYPALIGN_INT,
					  &ids, NULL, &n);
	for (int i = 0; i < nlists; i++)
	{
		if (!lists[i].cancellable)
			continue;
		for (int k = 0; k < n; k++)
			if (DatumGetInt32(ids[k]) == lists[i].process_id)
				write_list(&lists[i]);
	}
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
}

/*
 * A subtransaction that aborts drops the jobs collected in it (they are at
 * the end of each list); one that commits hands them to its parent.
 */
static void
collect_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	int			level;

	if (nlists == 0 || (event != SUBXACT_EVENT_ABORT_SUB &&
						event != SUBXACT_EVENT_COMMIT_SUB))
		return;
	level = GetCurrentTransactionNestLevel();
	for (int i = 0; i < nlists; i++)
	{
		ProcessJobs *l = &lists[i];
		int			n = l->njobs;

		while (n > 0 && l->levels[n - 1] >= level)
		{
			n--;
			if (event == SUBXACT_EVENT_COMMIT_SUB)
				l->levels[n] = level - 1;
		}
		if (event == SUBXACT_EVENT_ABORT_SUB)
			l->njobs = n;
	}
}
