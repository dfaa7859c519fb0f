/*-------------------------------------------------------------------------
 *
 * instance_api.h
 *	  Finding and locking the caller's instances and activities, for the
 *	  SQL functions that act on them.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_INSTANCE_API_H
#define PROCFLOW_INSTANCE_API_H

#include "fmgr.h"

#include "cache.h"
#include "flow_store.h"

extern int64 instance_api_id_arg(FunctionCallInfo fcinfo, const char *argname);
extern ProcessInfo *instance_api_lock(int64 id, FlowInstance *instance);
extern ProcessInfo *instance_api_lock_activity(int64 id, bool granted, FlowInstance *instance,
											   FlowActivityRow *activity,
											   const char *action);

#endif							/* PROCFLOW_INSTANCE_API_H */
