/*-------------------------------------------------------------------------
 *
 * instance_api.c
 *	  SQL functions on instances of flows and their activities: launch,
 *	  suspend, resume, terminate, retry_activity, update_vars, and
 *	  run_timers for tests (skip_activity, which a task's worker may call
 *	  too, is task_api.c's).
 *
 * A role acts on the instances of the flows whose owner it has the
 * privileges of (itself, or a role it is a member of), as the views show
 * them; another role's instance is refused with 42501.  Each function
 * takes the instance's row lock first (flow_store.c), so it waits for a
 * step an executor is running on the instance, and states are checked
 * after it: a function never acts on a state that is already gone.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "action.h"
#include "api.h"
#include "cache.h"
#include "entity.h"
#include "flow_engine.h"
#include "flow_store.h"
#include "instance_api.h"
#include "runner.h"
#include "wakeup.h"

PG_FUNCTION_INFO_V1(procflow_launch);
PG_FUNCTION_INFO_V1(procflow_suspend);
PG_FUNCTION_INFO_V1(procflow_resume);
PG_FUNCTION_INFO_V1(procflow_terminate);
PG_FUNCTION_INFO_V1(procflow_retry_activity);
PG_FUNCTION_INFO_V1(procflow_update_vars);
PG_FUNCTION_INFO_V1(procflow_run_timers);

/* The most jobs one call of procflow.run_timers runs. */
#define RUN_TIMERS_MAX 10000

/* The id an instance or task function takes first: not NULL. */
int64
instance_api_id_arg(FunctionCallInfo fcinfo, const char *argname)
{
	api_require_arg(fcinfo, 0, argname);
	return PG_GETARG_INT64(0);
}

/*
 * Lock the caller's instance and read it, with its flow (pinned in the
 * cache: the caller unpins it).  Unless "granted" (the caller decided the
 * right to, as for a task's worker), the caller must have the privileges
 * of the flow's owner; a refusal names the activity the caller asked for
 * ("activity", else 0: the instance), not an instance it may not see.  The
 * caller holds an SPI connection.
 */
static ProcessInfo *
lock_instance(int64 id, bool granted, int64 activity, FlowInstance *instance)
{
	Oid			owner;
	bool		busy;
	ProcessInfo *flow;

	if (!flow_store_instance_owner(id, &owner))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("instance " INT64_FORMAT " does not exist", id)));
	if (!granted && !has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 activity != 0 ?
				 errmsg("permission denied for activity " INT64_FORMAT, activity) :
				 errmsg("permission denied for instance " INT64_FORMAT, id),
				 errdetail("Only roles with the privileges of the flow's owner act on its instances.")));
	if (action_runs_instance(id))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("instance " INT64_FORMAT " is running a step in this session", id),
				 errdetail("A step cannot suspend, resume, terminate or change its own instance.")));
	if (!flow_store_lock_instance(id, true, instance, &busy))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("instance " INT64_FORMAT " does not exist", id)));
	cache_pin();
	flow = cache_process(instance->process_id);
	if (flow == NULL)
		elog(ERROR, "flow %d of instance " INT64_FORMAT " does not exist",
			 instance->process_id, id);
	return flow;
}

/* Lock an instance the caller has the privileges of its owner for (see lock_instance). */
ProcessInfo *
instance_api_lock(int64 id, FlowInstance *instance)
{
	return lock_instance(id, false, 0, instance);
}

/* Refuse to act on an instance whose status is not the one required. */
static void
require_status(FlowInstance *instance, InstanceStatus status, const char *action)
{
	if (instance->status != status)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot %s instance " INT64_FORMAT ": it is %s", action,
						instance->id, instance_status_name(instance->status))));
}

/*
 * procflow.launch(flow, key, vars): start an instance of the flow's
 * current version for the entity row with this key (none for a flow
 * without entity table), with these vars.  Returns its id.
 */
Datum
procflow_launch(PG_FUNCTION_ARGS)
{
	char	   *name = api_text_arg(fcinfo, 0, "flow", true);
	OwnedProcess process;
	ProcessInfo *flow;
	Datum		key = (Datum) 0;
	Jsonb	   *vars = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	int64		id;

	if (vars != NULL && (JB_ROOT_IS_SCALAR(vars) || !JB_ROOT_IS_OBJECT(vars)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("vars must be a JSON object")));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	api_require_flow_catalog();
	api_lookup_process(name, &process, false);
	if (!process_is_flow(&process))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("process \"%s\" is not a flow", name),
				 errhint("Light processes run with procflow.run_process().")));
	cache_pin();
	flow = cache_process(process.id);
	if (flow == NULL)
		elog(ERROR, "flow \"%s\" could not be read", name);
	if (!process.enabled)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("flow \"%s\" is disabled", name),
				 errhint("Enable it with procflow.enable_process().")));
	if (flow->entity != NULL)
	{
		int64		hash;
		bool		found;

		if (PG_ARGISNULL(1))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("flow \"%s\" needs the key of a row of table \"%s\"", name,
							get_rel_name(flow->entity->relid))));
		key = entity_key_of_jsonb(flow->entity, PG_GETARG_JSONB_P(1), &hash);
		/* the row's own key: 1.5 names the numeric 1.50 as the row has it */
		key = entity_row_key(flow->entity, key, &found);
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
					 errmsg("table \"%s\" has no row with key %s",
							get_rel_name(flow->entity->relid),
							JsonbToCString(NULL, &PG_GETARG_JSONB_P(1)->root, -1)),
					 errdetail("An instance of flow \"%s\" is for one row of its table.", name)));
	}
	else if (!PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("flow \"%s\" has no entity, so it takes no key", name)));

	id = flow_engine_launch(flow, key, vars, 0, 0);
	cache_unpin();
	SPI_finish();
	PG_RETURN_INT64(id);
}

/*
 * procflow.suspend(instance): hold the instance's steps, timers and
 * delivered events until it is resumed.
 */
Datum
procflow_suspend(PG_FUNCTION_ARGS)
{
	int64		id = instance_api_id_arg(fcinfo, "instance");
	FlowInstance instance;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	(void) instance_api_lock(id, &instance);
	require_status(&instance, INSTANCE_ACTIVE, "suspend");
	flow_engine_set_suspended(&instance, true);
	cache_unpin();
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * procflow.resume(instance): release what suspend held; timeouts that
 * passed meanwhile fire now.
 */
Datum
procflow_resume(PG_FUNCTION_ARGS)
{
	int64		id = instance_api_id_arg(fcinfo, "instance");
	FlowInstance instance;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	(void) instance_api_lock(id, &instance);
	require_status(&instance, INSTANCE_SUSPENDED, "resume");
	flow_engine_set_suspended(&instance, false);
	wakeup_note_due(GetCurrentTimestamp());
	cache_unpin();
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * procflow.terminate(instance): cancel every live activity, remove the
 * pending steps and timers; the instance is terminated.
 */
Datum
procflow_terminate(PG_FUNCTION_ARGS)
{
	int64		id = instance_api_id_arg(fcinfo, "instance");
	FlowInstance instance;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	(void) instance_api_lock(id, &instance);
	if (instance.status != INSTANCE_ACTIVE && instance.status != INSTANCE_SUSPENDED)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot terminate instance " INT64_FORMAT ": it is %s", id,
						instance_status_name(instance.status))));
	flow_engine_terminate(&instance, 0, true);
	cache_unpin();
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * Lock the instance of the caller's activity and read both; the instance
 * must be active ("action" names what the caller does, for the error).
 * Unless "granted" (a task's worker), the caller must have the privileges
 * of the flow's owner.
 */
ProcessInfo *
instance_api_lock_activity(int64 id, bool granted, FlowInstance *instance,
						   FlowActivityRow *activity, const char *action)
{
	int64		instance_id = flow_store_activity_instance(id);
	ProcessInfo *flow;

	if (instance_id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("activity " INT64_FORMAT " does not exist", id)));
	flow = lock_instance(instance_id, granted, id, instance);
	if (!flow_store_read_activity(id, activity))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("activity " INT64_FORMAT " does not exist", id)));
	if (instance->status != INSTANCE_ACTIVE)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot %s activity " INT64_FORMAT ": its instance is %s", action, id,
						instance_status_name(instance->status))));
	return flow;
}

/*
 * procflow.retry_activity(activity): run a failed automatic activity again,
 * or a failed wait's timeout.
 */
Datum
procflow_retry_activity(PG_FUNCTION_ARGS)
{
	int64		id = instance_api_id_arg(fcinfo, "activity");
	FlowInstance instance;
	FlowActivityRow activity;
	ProcessInfo *flow;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	flow = instance_api_lock_activity(id, false, &instance, &activity, "retry");
	if (activity.status != ACTIVITY_FAILED)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot retry activity " INT64_FORMAT ": it is %s", id,
						activity_status_name(activity.status)),
				 errhint("Failed automatic activities, and waits whose timeout failed, are retried.")));
	flow_engine_retry(flow, &instance, &activity);
	cache_unpin();
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * procflow.update_vars(instance, vars): merge vars into a live instance's,
 * as complete_task does, for a person who corrects them; the change, with
 * who made it and the vars before, is kept (procflow.vars_changes).
 */
Datum
procflow_update_vars(PG_FUNCTION_ARGS)
{
	int64		id = instance_api_id_arg(fcinfo, "instance");
	Jsonb	   *vars;
	FlowInstance instance;

	api_require_arg(fcinfo, 1, "vars");
	vars = PG_GETARG_JSONB_P(1);
	if (JB_ROOT_IS_SCALAR(vars) || !JB_ROOT_IS_OBJECT(vars))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("vars must be a JSON object")));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	(void) instance_api_lock(id, &instance);
	if (instance.status != INSTANCE_ACTIVE && instance.status != INSTANCE_SUSPENDED)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot change the vars of instance " INT64_FORMAT ": it is %s", id,
						instance_status_name(instance.status))));
	/* an empty object changes nothing, and is not kept */
	if (JB_ROOT_COUNT(vars) > 0)
	{
		flow_store_note_vars_change(id, vars, GetUserNameFromId(GetUserId(), false));
		flow_store_merge_vars(id, vars);
	}
	cache_unpin();
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * procflow.run_timers(instance, until): for tests, run the instance's
 * timers (a wait's or a task's timeout, a task's start delay) due by
 * "until" as if their time had come, one after another in the order they
 * are due, with the steps each leads to; returns how many jobs ran.  While
 * a timer runs, and the steps after it, the engine takes the timer's time
 * as now (flow_engine_set_clock), so a task times out, and the times set
 * from then count from it: a 30-day escalation and the reminder 7 days
 * after it both run when "until" is 40 days ahead, the reminder not when it
 * is 31.  SQL the flow runs still sees the clock's now().  Each timer
 * run so is recorded in the job history as such.  Only for a role with the
 * privileges of the flow's owner; an active instance; at most
 * RUN_TIMERS_MAX jobs a call.
 */
Datum
procflow_run_timers(PG_FUNCTION_ARGS)
{
	int64		id = instance_api_id_arg(fcinfo, "instance");
	TimestampTz until;
	FlowInstance instance;
	ProcessInfo *flow;
	int			ran = 0;

	api_require_arg(fcinfo, 1, "until");
	until = PG_GETARG_TIMESTAMPTZ(1);
	runner_check_session("procflow.run_timers()");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	flow = instance_api_lock(id, &instance);
	require_status(&instance, INSTANCE_ACTIVE, "run the timers of");
	if (!flow->enabled)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot run the timers of instance " INT64_FORMAT ": flow \"%s\" is disabled",
						id, flow->name),
				 errdetail("A disabled flow's jobs are held until it is enabled.")));
	cache_unpin();

	PG_TRY();
	{
		int64		job_id;
		TimestampTz run_at;
		bool		timer;
		TimestampTz as_of = 0;

		/* the time only goes forward: a timer's steps run at its time too */
		while (ran < RUN_TIMERS_MAX &&
			   flow_store_next_job(id, until, &job_id, &run_at, &timer))
		{
			char	   *note = NULL;

			if (timer && run_at > GetCurrentTimestamp())
			{
				as_of = Max(as_of, run_at);
				note = psprintf("run early by procflow.run_timers as if at %s, called by %s",
								timestamptz_to_str(run_at),
								GetUserNameFromId(GetUserId(), false));
			}
			flow_engine_set_clock(as_of);
			if (!runner_run_one(job_id, note))
				break;
			ran++;
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_FINALLY();
	{
		flow_engine_set_clock(0);
	}
	PG_END_TRY();
	SPI_finish();
	PG_RETURN_INT32(ran);
}
