/*-------------------------------------------------------------------------
 *
 * flow_engine.h
 *	  Advancing instances of flows: launching them, running their steps and
 *	  timers, and what the functions on instances and activities do.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_FLOW_ENGINE_H
#define PROCFLOW_FLOW_ENGINE_H

#include "access/xact.h"

#include "cache.h"
#include "flow_store.h"
#include "queue.h"

/*
 * The status of a job run by the engine that could not take its instance
 * now, and how long it waits before it runs again.
 */
#define FLOW_STEP_HELD "held"
#define FLOW_HELD_RETRY_MS 20

/*
 * The status of an event kept for an instance with a failed wait: it waits,
 * not due, until retry_activity or skip_activity of that wait.
 */
#define FLOW_EVENT_PARKED "parked"

/* These need an SPI connection. */
extern int64 flow_engine_launch(ProcessInfo *flow, Datum key, Jsonb *vars, int64 parent,
								int64 parent_activity);
extern const char *flow_engine_run_job(ProcessInfo *flow, ClaimedJob *job, bool in_executor,
									   const char **note);
extern void flow_engine_note_failure(const ClaimedJob *job, bool final,
									 const RunError *error);
extern void flow_engine_terminate(FlowInstance *instance, int64 except_job, bool tell_parent);
extern void flow_engine_set_suspended(FlowInstance *instance, bool suspend);
extern void flow_engine_terminate_flow(int32 process_id);
extern void flow_engine_complete_task(ProcessInfo *flow, FlowInstance *instance,
									  FlowActivityRow *activity, const char *outcome,
									  Jsonb *vars, const char *by);
extern void flow_engine_notify_task(int64 activity_id);
extern void flow_engine_skip(ProcessInfo *flow, FlowInstance *instance,
							 FlowActivityRow *activity, const char *by);
extern void flow_engine_retry(ProcessInfo *flow, FlowInstance *instance,
							  FlowActivityRow *activity);

/* Steps chained to a job's run (runner.c) */
extern void flow_engine_chain_open(int64 job_id, int64 origin);
extern void flow_engine_set_clock(TimestampTz as_of);
extern bool flow_engine_chain_take(NewJob *step, char *activity);
extern void flow_engine_subxact_event(SubXactEvent event);

#endif							/* PROCFLOW_FLOW_ENGINE_H */
