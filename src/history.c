/*-------------------------------------------------------------------------
 *
 * history.c
 *	  Pruning what procflow keeps after it is over: the job history and
 *	  the instances of flows that ended.
 *
 * The first executor of a database prunes at the pace it looks for due
 * jobs (executor_worker.c): finished jobs and ended instances older than
 * procflow.history_retention go, in one transaction, with what only they
 * need (retry_job's notes of pruned jobs, an instance's activities by
 * cascade).  Some stay longer: the job rows of a batch that still exists
 * tell how far it got, and a subflow's child whose end its parent has not
 * taken yet is still to be read.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"

#include "catalog.h"
#include "history.h"

static SPIPlanPtr prune_jobs_plan = NULL;
static SPIPlanPtr prune_retried_plan = NULL;
static SPIPlanPtr prune_instances_plan = NULL;

/* Run a DELETE prepared once and kept in *plan; returns how many rows went. */
static uint64
prune(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes, Datum *args)
{
	int			ret;

	catalog_keep_plan(plan, sql, nargs, argtypes);
	ret = SPI_execute_plan(*plan, args, NULL, false, 0);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "pruning the history failed: %s", SPI_result_code_string(ret));
	return SPI_processed;
}

/*
 * Delete the finished jobs and the ended instances older than the
 * retention (see the file's comment for those kept).  The caller holds an
 * SPI connection and acts as the extension owner.  Returns how many jobs
 * were deleted.
 */
uint64
history_prune(int retention_seconds)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(retention_seconds)};
	uint64		pruned;

	pruned = prune(&prune_jobs_plan,
				   "DELETE FROM procflow.finished_job j"
				   " WHERE j.finished_at < pg_catalog.now() - pg_catalog.make_interval(secs => $1)"
				   "   AND NOT EXISTS (SELECT 1 FROM procflow.job_batch b"
				   "                    WHERE j.id >= b.first_id AND j.id < b.first_id + b.items)",
				   1, argtypes, args);
	/* the tables of an older version, before ALTER EXTENSION ... UPDATE */
	if (catalog_oids()->level != CATALOG_CURRENT)
		return pruned;
	if (pruned > 0)
		(void) prune(&prune_retried_plan,
					 "DELETE FROM procflow.retried_job r"
					 " WHERE NOT EXISTS (SELECT 1 FROM procflow.finished_job j"
					 "                    WHERE j.id = r.id)",
					 0, NULL, NULL);
	(void) prune(&prune_instances_plan,
				 "DELETE FROM procflow.instance c"
				 " WHERE c.finished_at < pg_catalog.now() - pg_catalog.make_interval(secs => $1)"
				 "   AND NOT EXISTS (SELECT 1 FROM procflow.activity a"
				 "                    WHERE a.id = c.parent_activity AND a.closed_at IS NULL)",
				 1, argtypes, args);
	return pruned;
}
