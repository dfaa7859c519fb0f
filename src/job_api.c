/*-------------------------------------------------------------------------
 *
 * job_api.c
 *	  SQL functions on jobs: run_process, retry_job, cancel_job, run_jobs,
 *	  and the helpers behind the views (job keys, the executors' jobs) and
 *	  the installation check.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "action.h"
#include "api.h"
#include "batch.h"
#include "cache.h"
#include "catalog.h"
#include "database_list.h"
#include "entity.h"
#include "queue.h"
#include "job_deadline.h"
#include "runner.h"
#include "shmem.h"
#include "wakeup.h"

PG_FUNCTION_INFO_V1(procflow_run_process);
PG_FUNCTION_INFO_V1(procflow_retry_job);
PG_FUNCTION_INFO_V1(procflow_cancel_job);
PG_FUNCTION_INFO_V1(procflow_run_jobs);
PG_FUNCTION_INFO_V1(procflow_key_to_jsonb);
PG_FUNCTION_INFO_V1(procflow_check_installation);
PG_FUNCTION_INFO_V1(procflow_executor_runs);

/* The statements cancel_job and retry_job run for each job, prepared once. */
static SPIPlanPtr find_pending_plan = NULL;
static SPIPlanPtr find_finished_plan = NULL;
static SPIPlanPtr cancel_plan = NULL;
static SPIPlanPtr due_now_plan = NULL;
static SPIPlanPtr requeue_plan = NULL;
static SPIPlanPtr retried_plan = NULL;

/*
 * procflow.run_process(name, key, delay): queue a run of the process for
 * the entity row with this primary key (or for no row), now or after the
 * delay.  Returns the job id.
 */
Datum
procflow_run_process(PG_FUNCTION_ARGS)
{
	char	   *name = api_text_arg(fcinfo, 0, "name", true);
	OwnedProcess process;
	NewJob		job;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	int64		job_id;

	if (!PG_ARGISNULL(2))
	{
		Interval   *delay = PG_GETARG_INTERVAL_P(2);

		api_check_delay(delay);
		now = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
													  TimestampTzGetDatum(now),
													  IntervalPGetDatum(delay)));
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	api_find_process(name, &process);
	if (process_is_flow(&process))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("process \"%s\" is a flow", name),
				 errdetail("run_process runs light processes; a flow's work is its activities.")));

	memset(&job, 0, sizeof(job));
	job.process_id = process.id;
	job.event = "run";
	job.ord = procflow_order_key(process.execution_order, 0);
	job.depth = action_current_depth();
	job.excluded = action_current_exclusions();
	job.owner = process.owner;
	job.run_at = now;
	if (!PG_ARGISNULL(1))
	{
		EntityShape *entity;

		if (!OidIsValid(process.entity))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("process \"%s\" has no entity, so it takes no key", name)));
		cache_pin();
		entity = cache_entity(process.entity);
		job.key = entity_key_of_jsonb(entity, PG_GETARG_JSONB_P(1), &job.row_hash);
		job.has_row = true;
		cache_unpin();
	}
	job_id = queue_insert(&job);

	SPI_finish();
	PG_RETURN_INT64(job_id);
}

/*
 * Lock the caller's job and return its status (palloc'd); another role's
 * job is reported as not existing, and an instance's step or timer is
 * refused: the functions on activities act on it.  A job that is an item of a batch is
 * made a job row first.
 */
static char *
find_job(int64 job_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(job_id)};
	bool		isnull;
	PrivilegedScope scope;

	catalog_enter_privileged(&scope);
	batch_materialize_job(job_id);
	catalog_leave_privileged(&scope);
	catalog_exec_kept(&find_pending_plan,
					  "SELECT 'pending', p.owner::oid, j.event"
					  "  FROM procflow.job j JOIN procflow.process p ON p.id = j.process_id"
					  " WHERE j.id = $1 FOR UPDATE OF j",
					  1, argtypes, args, NULL, SPI_OK_SELECT);
	/* not pending (any more: an executor may just have finished it) */
	if (SPI_processed == 0)
		catalog_exec_kept(&find_finished_plan,
						  "SELECT j.status, p.owner::oid, j.event"
						  "  FROM procflow.finished_job j"
						  "  JOIN procflow.process p ON p.id = j.process_id"
						  " WHERE j.id = $1",
						  1, argtypes, args, NULL, SPI_OK_SELECT);
	if (SPI_processed == 1 &&
		has_privs_of_role(GetUserId(),
						  DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
														 SPI_tuptable->tupdesc, 2,
														 &isnull))))
	{
		char	   *event = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);

		/* its activity would be left without it */
		if (strcmp(event, "step") == 0 || strcmp(event, "timer") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("job " INT64_FORMAT " is a %s of an instance of a flow", job_id, event),
					 errhint("Act on its activity with procflow.retry_activity() or procflow.skip_activity(), or on its instance with procflow.terminate().")));
		return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	}

	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("job " INT64_FORMAT " does not exist", job_id)));
	return NULL;				/* keep compiler quiet */
}

/*
 * procflow.retry_job(id): queue a failed or cancelled job again, as a new
 * job (the old one stays in the history); a pending job is made due now.
 * Returns the id of the job that will run.
 */
Datum
procflow_retry_job(PG_FUNCTION_ARGS)
{
	int64		job_id;
	int64		result = 0;
	char	   *status;
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1];
	bool		isnull;

	api_require_arg(fcinfo, 0, "id");
	job_id = PG_GETARG_INT64(0);
	args[0] = Int64GetDatum(job_id);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	status = find_job(job_id);

	if (strcmp(status, "pending") == 0)
	{
		catalog_exec_kept(&due_now_plan, "UPDATE procflow.job SET run_at = now() WHERE id = $1",
						  1, argtypes, args, NULL, SPI_OK_UPDATE);
		result = job_id;
	}
	else if (strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0)
	{
		Oid			insert_argtypes[2] = {INT8OID, INT8OID};
		Datum		insert_args[2] = {args[0], Int64GetDatum(queue_allocate_ids(1))};

		catalog_exec_kept(&requeue_plan,
						  "INSERT INTO procflow.job (id, process_id, trigger_id, event, ord,"
						  "  row_hash, key, old_row, changed, depth, excluded, owner, run_at)"
						  " SELECT $2, process_id, trigger_id, event, ord, row_hash, key,"
						  "        old_row, changed, depth, excluded, owner, now()"
						  "   FROM procflow.finished_job WHERE id = $1 RETURNING id",
						  2, insert_argtypes, insert_args, NULL, SPI_OK_INSERT_RETURNING);
		/* pruned since it was found */
		if (SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("job " INT64_FORMAT " does not exist", job_id)));
		result = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 1, &isnull));
		/* the old job now says which job it was queued again as */
		if (catalog_oids()->level == CATALOG_CURRENT)
		{
			insert_args[1] = Int64GetDatum(result);
			catalog_exec_kept(&retried_plan,
							  "INSERT INTO procflow.retried_job (id, retried_as) VALUES ($1, $2)"
							  " ON CONFLICT (id) DO UPDATE SET retried_as = excluded.retried_as",
							  2, insert_argtypes, insert_args, NULL, SPI_OK_INSERT);
		}
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("job " INT64_FORMAT " has %s", job_id, status),
				 errhint("Only failed, cancelled or pending jobs can be retried; run_process starts a new run.")));
	wakeup_note_due(GetCurrentTimestamp());

	SPI_finish();
	PG_RETURN_INT64(result);
}

/*
 * procflow.cancel_job(id): a pending job becomes a cancelled one.  A job an
 * executor is running is waited for; if it then has finished, it cannot be
 * cancelled any more.
 */
Datum
procflow_cancel_job(PG_FUNCTION_ARGS)
{
	int64		job_id;
	char	   *status;
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1];

	api_require_arg(fcinfo, 0, "id");
	job_id = PG_GETARG_INT64(0);
	args[0] = Int64GetDatum(job_id);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	status = find_job(job_id);
	if (strcmp(status, "pending") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("job " INT64_FORMAT " is not pending: it has %s", job_id, status)));
	catalog_exec_kept(&cancel_plan, "DELETE FROM procflow.job WHERE id = $1 RETURNING *",
					  1, argtypes, args, NULL, SPI_OK_DELETE_RETURNING);
	queue_cancel_deleted(SPI_tuptable, SPI_processed,
						 psprintf("cancelled by %s",
								  GetUserNameFromId(GetSessionUserId(), false)));

	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * procflow.run_jobs(max_jobs): run due jobs now, in this session and
 * transaction, as an executor would (each as its process owner, in its own
 * subtransaction).  A superuser runs every role's jobs, other roles the
 * jobs of their own processes.  Returns the number of jobs run.  Not from
 * an action (it would run jobs inside a job), nor while the session has
 * cursors open (the jobs of other owners could read them).
 */
Datum
procflow_run_jobs(PG_FUNCTION_ARGS)
{
	int64		max_jobs = PG_ARGISNULL(0) ? PG_INT64_MAX : PG_GETARG_INT32(0);
	Oid			as_role = superuser() ? InvalidOid : GetUserId();
	int64		total = 0;
	int64		ran = 0;

	if (max_jobs < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_jobs must not be negative")));
	runner_check_session("procflow.run_jobs()");
	(void) catalog_oids();

	while (total < max_jobs)
	{
		int			n_ran;
		int			n = runner_run_due((int) Min(max_jobs - total, 1000), as_role,
									   false, &n_ran);

		if (n == 0)
			break;
		total += n;
		ran += n_ran;
		CHECK_FOR_INTERRUPTS();
	}
	PG_RETURN_INT32((int32) Min(ran, PG_INT32_MAX));
}

/*
 * procflow.key_to_jsonb(entity, key): a job's text[] key as a jsonb object
 * naming the primary key columns; NULL when the table is gone.
 */
Datum
procflow_key_to_jsonb(PG_FUNCTION_ARGS)
{
	Oid			relid;
	JsonbParseState *state = NULL;
	JsonbValue *result;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	relid = PG_GETARG_OID(0);
	if (get_rel_name(relid) == NULL)
		PG_RETURN_NULL();

	cache_pin();
	result = entity_key_push_jsonb(&state, cache_entity(relid), PG_GETARG_DATUM(1));
	cache_unpin();
	PG_RETURN_JSONB_P(JsonbValueToJsonb(result));
}

/*
 * procflow.executor_runs(), behind the procflow.executors view: the
 * executors serving this database, each with its worker number, pid, and
 * the job it runs: when it started and when procflow.max_timeout cuts it,
 * for every role (an executor busy with another role's job is why a due
 * job waits), and the job's id and process only for a role with the
 * privileges of the process's owner.
 */
Datum
procflow_executor_runs(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RunningJob	runs[PROCFLOW_MAX_WORKERS];
	int			n = shmem_database_running(MyDatabaseId, runs);
	int			max_ms = shmem_max_timeout();

	InitMaterializedSRF(fcinfo, 0);
	cache_pin();
	for (int i = 0; i < n; i++)
	{
		RunningJob *r = &runs[i];
		Datum		values[6] = {0};
		bool		nulls[6] = {false, false, true, true, true, true};

		values[0] = Int32GetDatum(r->worker + 1);
		values[1] = Int32GetDatum(r->pid);
		if (r->job_id != 0)
		{
			ProcessInfo *p = cache_process(r->process_id);
			int			limit = job_deadline_limit_ms(r->max_timeout_ms, max_ms);

			if (p != NULL && OidIsValid(p->owner) && has_privs_of_role(GetUserId(), p->owner))
			{
				values[2] = Int64GetDatum(r->job_id);
				values[3] = Int32GetDatum(r->process_id);
				nulls[2] = nulls[3] = false;
			}
			values[4] = TimestampTzGetDatum(r->since);
			nulls[4] = false;
			if (limit > 0)
			{
				values[5] = TimestampTzGetDatum(TimestampTzPlusMilliseconds(r->since, limit));
				nulls[5] = false;
			}
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	cache_unpin();
	return (Datum) 0;
}

/*
 * Run by CREATE EXTENSION: warn when the library is not preloaded, or the
 * database will not be served (database_list.c), since queued jobs would
 * never run; and have the launcher start executors for this database once
 * the extension is committed.
 */
Datum
procflow_check_installation(PG_FUNCTION_ARGS)
{
	if (!shmem_available())
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("procflow is not in shared_preload_libraries, so queued and delayed jobs will not run"),
				 errhint("Add procflow to shared_preload_libraries and restart the server. Immediate processes run without it.")));
	else
	{
		const char *hint;
		const char *why = database_list_why_not_served(MyDatabaseId, &hint);

		if (why != NULL)
			ereport(WARNING,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("procflow's executors will not serve database \"%s\": its queued and delayed jobs will run only when a session calls procflow.run_jobs()",
							get_database_name(MyDatabaseId)),
					 errdetail_internal("%s", why),
					 errhint("%s", hint)));
		wakeup_launcher_at_commit(MyDatabaseId);
	}
	PG_RETURN_VOID();
}
