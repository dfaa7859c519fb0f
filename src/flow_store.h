/*-------------------------------------------------------------------------
 *
 * flow_store.h
 *	  The rows of flows at run time: instances, their activities, and the
 *	  step and timer jobs that belong to them.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_FLOW_STORE_H
#define PROCFLOW_FLOW_STORE_H

#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "flow_definition.h"
#include "run_error.h"

/* The statuses of an instance (procflow.instance.status). */
typedef enum InstanceStatus
{
	INSTANCE_ACTIVE,
	INSTANCE_SUSPENDED,
	INSTANCE_COMPLETED,
	INSTANCE_TERMINATED
} InstanceStatus;

/* The statuses of an activity (procflow.activity.status). */
typedef enum ActivityStatus
{
	ACTIVITY_SCHEDULED,
	ACTIVITY_READY,
	ACTIVITY_OPEN,
	ACTIVITY_WAITING,
	ACTIVITY_CLOSED,
	ACTIVITY_SKIPPED,
	ACTIVITY_CANCELLED,
	ACTIVITY_FAILED
} ActivityStatus;

/* An instance row. */
typedef struct FlowInstance
{
	int64		id;
	int32		process_id;
	int32		version;
	Datum		key;			/* text[] of the entity row's key, or 0 */
	InstanceStatus status;
	Jsonb	   *vars;
	int64		parent;			/* 0 when none */
	int64		parent_activity;	/* the parent's subflow activity, or 0 */
	int64		clock;			/* while a chain of its steps runs, the place
								 * in the queue (a job id) it started at; 0
								 * otherwise (see flow_delivery.c) */
	int32		spins;			/* waits closed at once since it last took an
								 * event */
	bool		failed_wait;	/* it has a wait that failed on an event, which
								 * retry_activity delivers again (read when
								 * locked) */
	bool		flow_enabled;	/* locked for an event: its flow is enabled */
	bool		has_kept;		/* locked for an event: events are kept for it */
} FlowInstance;

/* An activity row, as the engine and the functions look at it. */
typedef struct FlowActivityRow
{
	int64		id;
	int64		instance_id;
	char	   *name;
	FlowKind	kind;
	ActivityStatus status;
	int32		attempts;
	char	   *assignee;		/* a task's, or NULL */
	char	   *group;			/* a task's, or NULL */
	Jsonb	   *form;			/* a task's form, or NULL */
	TimestampTz run_at;			/* 0 when none */
	TimestampTz timeout_at;		/* a task's timeout, 0 when none */
	TimestampTz created_at;
} FlowActivityRow;

/* An activity row to insert. */
typedef struct NewActivity
{
	const char *name;
	FlowKind	kind;
	ActivityStatus status;
	const char *outcome;		/* NULL when none */
	TimestampTz run_at;			/* 0 when none */
	TimestampTz created_at;		/* when it began: the time its run_at or
								 * timeout_at counts from; 0: now */
	Datum		began;			/* a wait: the pg_snapshot it began in (the
								 * events it takes committed after it), or 0 */
	int64		began_after;	/* and its instance's clock, after which it
								 * takes the queued events too; or 0 */
	const char *error;			/* a failed activity: why, else NULL */
	Oid			wait_entity;	/* a wait for an event: the table */
	Datum		wait_key;		/* and the instance's key (text[]), or 0 */
	const char *arrived;		/* a join: the first activity that arrived */
	const char *assignee;		/* a task: who and which group does it, */
	const char *group;
	const char *instructions;	/* what to do, */
	TimestampTz due_at;			/* by when (0: none), */
	TimestampTz timeout_at;		/* and when it times out (0: never) */
	const char *form;			/* and its form (JSON text), or NULL */
} NewActivity;

/* A waiting activity an event may close, and whether it came after it. */
typedef struct FlowWaiting
{
	int64		id;
	bool		after;
} FlowWaiting;

extern const char *instance_status_name(InstanceStatus status);
extern const char *activity_status_name(ActivityStatus status);
extern Datum flow_store_latest_snapshot(void);

/* These need an SPI connection; they act as the extension owner. */
extern int64 flow_store_insert_instance(int32 process_id, int32 version, Datum key,
										Jsonb *vars, int64 parent, int64 parent_activity,
										Datum began);
extern bool flow_store_lock_instance(int64 id, bool wait, FlowInstance *instance,
									 bool *busy);
extern bool flow_store_lock_for_event(int64 id, FlowInstance *instance, bool *busy);
extern bool flow_store_launch_in_progress(int32 process_id, Datum key);
extern List *flow_store_candidates(int32 process_id, int32 version, Datum key);
extern int	flow_store_waiting(int64 instance_id, const char *name, uint64 xid, uint32 cid,
							   int64 event_id, int64 source, FlowWaiting **waiting);
extern bool flow_store_started_before(int64 instance_id, uint64 xid, uint32 cid);
extern void flow_store_set_clock(int64 instance_id, int64 clock);
extern bool flow_store_next_job(int64 instance_id, TimestampTz until, int64 *job_id,
								TimestampTz *run_at, bool *timer);
extern bool flow_store_has_queued(int64 instance_id, int64 except_job, bool kept);
extern int64 flow_store_queue_end(void);
extern void flow_store_set_spins(int64 instance_id, int32 spins);
extern void flow_store_note_event_activity(int64 job_id, int64 activity_id);
extern int64 flow_store_wait_for(int64 instance_id, Oid table);
extern void flow_store_park_events(int64 instance_id, int64 failed_job);
extern void flow_store_unpark_events(int64 instance_id);
extern bool flow_store_failed_event(int64 instance_id, int64 activity_id);
extern void flow_store_set_status(int64 instance_id, InstanceStatus status);
extern void flow_store_merge_vars(int64 instance_id, Jsonb *vars);
extern void flow_store_note_vars_change(int64 instance_id, Jsonb *vars, const char *by);
extern bool flow_store_complete_if_idle(int64 instance_id);
extern bool flow_store_read_activity(int64 id, FlowActivityRow *row);
extern int64 flow_store_insert_activity(const FlowInstance *instance,
										const NewActivity *activity);
extern void flow_store_close_activity(int64 id, ActivityStatus status, const char *outcome,
									  const char *closed_by, bool ran);
extern void flow_store_note_run(int64 id, bool failed, const RunError *error);
extern void flow_store_fail(int64 id, const char *message);
extern void flow_store_reopen(int64 id, ActivityStatus status, bool due_now);
extern void flow_store_set_task(int64 id, ActivityStatus status, const char *assignee);
extern bool flow_store_child(int64 instance_id, int64 activity_id, InstanceStatus *status,
							 Jsonb **vars);
extern List *flow_store_live_children(int64 instance_id);
extern int64 flow_store_join_arrive(int64 instance_id, const char *name, const char *from,
									int *narrived);
extern void flow_store_cancel_live(int64 instance_id, int64 except_job);
extern void flow_store_cancel_jobs(int64 instance_id, int64 activity_id, int64 except_job,
								   const char *reason);
extern bool flow_store_instance_owner(int64 instance_id, Oid *owner);
extern bool flow_store_flow_enabled(int32 process_id);
extern int64 flow_store_activity_instance(int64 activity_id);
extern int32 flow_store_instance_flow(int64 instance_id);
extern int32 flow_store_flow_by_name(const char *name, Oid owner);
extern List *flow_store_live_instances(int32 process_id);

#endif							/* PROCFLOW_FLOW_STORE_H */
