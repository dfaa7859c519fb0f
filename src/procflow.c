/*-------------------------------------------------------------------------
 *
 * procflow.c
 *	  Module entry point: defines the settings (settings.c), installs the
 *	  hooks, requests shared memory and registers the launcher background
 *	  worker.
 *
 * procflow must be in shared_preload_libraries for its background workers
 * to run.  Loaded later (by CREATE EXTENSION or a function call), it still
 * defines its settings and captures events, but nothing drains the queue.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"

#include "settings.h"
#include "launcher.h"
#include "queue.h"
#include "rotation.h"
#include "collect.h"
#include "flow_engine.h"
#include "shmem.h"
#include "action.h"
#include "cache.h"
#include "utility_hook.h"
#include "wakeup.h"
#include "action_limits.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static void procflow_xact_callback(XactEvent event, void *arg);

/*
 * Transaction end, the one place procflow hears of it, in the order the
 * layers need: the collected jobs are written (collect.c) before the queue
 * closes the relations it inserted into (queue.c); at commit the jobs
 * cancelled are counted (rotation.c) and the executors are woken
 * (wakeup.c); then the cache's pins are dropped (cache.c) and the stack of
 * running actions is emptied (action.c).
 */
static void
procflow_xact_callback(XactEvent event, void *arg)
{
	collect_xact_event(event);
	queue_xact_event(event);
	rotation_xact_event(event);
	wakeup_xact_event(event);
	cache_xact_event(event);
	action_xact_event(event);
}

/*
 * Subtransaction end: the jobs collected in it (collect.c) and the step
 * chained in it (flow_jobs.c) go with an abort, or to its parent; the
 * actions that ran in an aborted one are gone (action.c).
 */
static void
procflow_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	collect_subxact_event(event);
	flow_engine_subxact_event(event);
	action_subxact_event(event);
}

/*
 * Define the settings, and when preloaded, request shared memory and
 * register the launcher.
 */
void
_PG_init(void)
{
	settings_define();


	cache_init();
	RegisterXactCallback(procflow_xact_callback, NULL);
	RegisterSubXactCallback(procflow_subxact_callback, NULL);
	utility_init();
	action_limits_init();

	if (!process_shared_preload_libraries_in_progress)
		return;

	shmem_init();
	launcher_register();
}
