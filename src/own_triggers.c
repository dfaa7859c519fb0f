/*-------------------------------------------------------------------------
 *
 * own_triggers.c
 *	  The trigger functions on procflow's own tables.
 *
 * Whatever changes a definition (procflow's functions, a restore, a
 * superuser's UPDATE) or inserts job rows by SQL (a restore of pending
 * jobs, retry_job) is heard here: sessions are told that definitions
 * changed, and the executors are woken at commit.  These functions fire
 * only on procflow's own tables; EXECUTE on them is revoked from PUBLIC.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "wakeup.h"

PG_FUNCTION_INFO_V1(procflow_definitions_changed);
PG_FUNCTION_INFO_V1(procflow_jobs_inserted);

/*
 * Refuse to run as a trigger on anything but procflow's own tables: these
 * functions announce changes and wake the executors, which a trigger of a
 * role's own must not make every session do.
 */
static void
check_own_trigger(FunctionCallInfo fcinfo, const char *function)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "%s: not called by trigger manager", function);
	if (RelationGetNamespace(trigdata->tg_relation) != catalog_oids()->namespace)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s fires only on procflow's own tables", function)));
}

/*
 * Row trigger (and TRUNCATE trigger) on the definition tables: announce
 * the change, and wake the executors at commit: an enabled or restored
 * process can make held jobs runnable.  Announcing once per row costs
 * little: the invalidations of one relation in a command are sent once.
 */
Datum
procflow_definitions_changed(PG_FUNCTION_ARGS)
{
	check_own_trigger(fcinfo, "procflow.definitions_changed()");
	catalog_announce_change();
	wakeup_note_due(GetCurrentTimestamp());
	return PointerGetDatum(NULL);
}

/*
 * Statement trigger on procflow.job: rows inserted by SQL were not noted
 * by queue_insert; wake the executors at commit so that they read the
 * queue again.
 */
Datum
procflow_jobs_inserted(PG_FUNCTION_ARGS)
{
	check_own_trigger(fcinfo, "procflow.jobs_inserted()");
	wakeup_note_due(GetCurrentTimestamp());
	return PointerGetDatum(NULL);
}
