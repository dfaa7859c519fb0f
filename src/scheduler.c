/*-------------------------------------------------------------------------
 *
 * scheduler.c
 *	  Firing cron triggers: a due schedule becomes a job.
 *
 * A cron trigger keeps in procflow.trigger.next_run_at the next time its
 * schedule fires.  When that time has come, whoever runs due work (an
 * executor, or run_jobs() in a session) queues one job of the process, due
 * at that time, and moves next_run_at to the schedule's first time after
 * now, in the same transaction and under the trigger row's lock: one due
 * time makes one job, also with several executors, and runs missed while
 * nothing fired (the server was down) make one job, not one per missed
 * time.  The job is then claimed and run like any other.
 *
 * A disabled process's schedule does not fire; enabling it moves
 * next_run_at to the first time after the moment it is enabled.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "cron.h"
#include "queue.h"
#include "scheduler.h"

static SPIPlanPtr due_plan = NULL;
static SPIPlanPtr advance_plan = NULL;

/*
 * Queue a job for each due cron trigger of an enabled process (of
 * processes whose owner as_role has the privileges of, when as_role is
 * valid) and move the triggers to their next times.  Returns how many
 * fired.
 */
int
scheduler_fire_due(Oid as_role)
{
	Oid			argtypes[2] = {OIDOID, TIMESTAMPTZOID};
	Datum		args[2];
	char		nulls[2] = {' ', ' '};
	TimestampTz now = GetCurrentTimestamp();
	SPITupleTable *due;
	int			n;

	catalog_keep_plan(&due_plan,
			  "SELECT t.id, t.process_id, t.cron, t.next_run_at, t.priority, p.execution_order,"
			  "       p.owner"
			  "  FROM procflow.trigger t JOIN procflow.process p ON p.id = t.process_id"
			  " WHERE t.cron IS NOT NULL AND t.next_run_at <= $2 AND p.enabled"
			  "   AND ($1::oid IS NULL OR pg_catalog.pg_has_role($1::oid, p.owner, 'USAGE'))"
			  " ORDER BY t.next_run_at, t.id"
			  "   FOR UPDATE OF t SKIP LOCKED",
			  2, argtypes);
	args[0] = ObjectIdGetDatum(as_role);
	args[1] = TimestampTzGetDatum(now);
	if (!OidIsValid(as_role))
		nulls[0] = 'n';
	if (SPI_execute_plan(due_plan, args, nulls, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading due cron triggers failed");
	due = SPI_tuptable;
	n = (int) SPI_processed;

	for (int i = 0; i < n; i++)
	{
		HeapTuple	tup = due->vals[i];
		TupleDesc	desc = due->tupdesc;
		bool		isnull;
		NewJob		job;
		Oid			advance_types[2] = {INT8OID, TIMESTAMPTZOID};
		Datum		advance_args[2];

		memset(&job, 0, sizeof(job));
		job.trigger_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		job.process_id = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		job.event = "cron";
		job.run_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 4, &isnull));
		job.ord = procflow_order_key(DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull)),
								  DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull)));
		job.owner = DatumGetObjectId(SPI_getbinval(tup, desc, 7, &isnull));
		(void) queue_insert(&job);

		catalog_keep_plan(&advance_plan,
				  "UPDATE procflow.trigger SET next_run_at = $2 WHERE id = $1",
				  2, advance_types);
		advance_args[0] = Int64GetDatum(job.trigger_id);
		advance_args[1] = TimestampTzGetDatum(cron_next_of(SPI_getvalue(tup, desc, 3), now));
		if (SPI_execute_plan(advance_plan, advance_args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "moving a cron trigger to its next time failed");
	}
	SPI_freetuptable(due);
	return n;
}
