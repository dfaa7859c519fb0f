/*-------------------------------------------------------------------------
 *
 * flow_engine_int.h
 *	  What the files of the flow engine share: versions read and prepared
 *	  to run, and the step of one instance.  Private to the engine's files;
 *	  the rest of procflow uses flow_engine.h.
 *
 * The engine is a family of files, each using only those above it here:
 *
 *	flow_version.c	versions of flows, read and prepared to run
 *	flow_jobs.c		the step and timer jobs of activities; the step chained
 *					to the job that runs
 *	flow_step.c		the step of one instance: its context, how it ends;
 *					telling the taskbox
 *	flow_follow.c	following links: entering activities, launching instances
 *	flow_run.c		running step and timer jobs
 *	flow_delivery.c delivering events to waits and conditional starts
 *	flow_control.c	what the functions on instances and activities do
 *
 * docs/internals.md follows an event from its row to the next activity.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_FLOW_ENGINE_INT_H
#define PROCFLOW_FLOW_ENGINE_INT_H

#include "access/xact.h"

#include "cache.h"
#include "flow_definition.h"
#include "flow_store.h"

/*
 * How many waits an instance may close at once, without taking an event in
 * between, before one fails instead: a cycle through a wait whose event
 * already holds would spin without end.
 */
#define FLOW_MAX_SPINS 100

/*
 * A timeout shorter than this after its activity began rests its instance
 * no more than a timeout that had already passed: a cycle through a wait
 * (or a task) that times out a microsecond after it begins would otherwise
 * run without end, one round of the queue at a time.
 */
#define FLOW_MIN_REST_MS 1000

/* The values of a task that may be SQL, in FlowVersion.value_plans. */
enum
{
	VALUE_ASSIGNEE,
	VALUE_GROUP,
	VALUE_INSTRUCTIONS,
	VALUE_DUE,
	VALUE_START_DELAY,
	HUMAN_VALUES
};

/* A version of a flow, read and prepared to run. */
typedef struct VersionKey
{
	Oid			catalog;		/* procflow.process: ids start again when the
								 * extension is created again */
	int32		process_id;
	int32		version;
} VersionKey;

typedef struct FlowVersion
{
	VersionKey	key;			/* hash key: must be first */
	MemoryContext cxt;			/* the definition lives here */
	MemoryContext plans_cxt;	/* the arrays of plans live here */
	uint64		generation;		/* of the rule cache it was prepared in */
	Jsonb	   *doc;			/* the definition */
	Oid			rowtype;		/* of the entity when prepared */
	char	   *search_path;
	FlowDefinition *def;
	SPIPlanPtr *plans;			/* per activity: its action, or its wait's
								 * condition; NULL when none or not yet */
	SPIPlanPtr *timeout_plans;	/* a wait's timestamptz expression */
	SPIPlanPtr *link_plans;		/* per link of a decision: its case */
	SPIPlanPtr *key_plans;		/* a wait's or subflow's key, as jsonb */
	SPIPlanPtr *vars_plans;		/* a subflow's vars; a task's form with its
								 * computed defaults */
	SPIPlanPtr (*value_plans)[HUMAN_VALUES];	/* a task's values given as SQL */
	Oid		   *wait_entity;	/* a wait for an event: its table */
	Oid		   *waits_on;		/* the tables its waits were checked with */
	int			nwaits_on;
	int64	   *timeout_ms;		/* an automatic activity's statement timeout */
	bool		listens;		/* a wait or conditional start waits for events */
	bool		parallel;		/* an instance may have several steps queued
								 * at once (a split, a conditional start) */
	bool		prepared;
} FlowVersion;

/* One step of one instance, from step_begin to step_end. */
typedef struct Step
{
	ProcessInfo *flow;
	FlowVersion *fv;
	FlowInstance instance;
	int64		job_id;			/* the running job, or 0 */
	int			attempt;
	bool		have_row;		/* row read */
	Datum		row;
	bool		row_null;
	bool		ended;			/* an end terminated the instance */
	bool		made_live;		/* it began an activity that is live */
	bool		queued_step;	/* it queued a step of its instance */
	bool		closed_begun;	/* it closed an activity it may have begun (a
								 * join, a subflow whose child ended at once) */
	int32		spins;			/* instance.spins as the step leaves it */
	int64		clock;			/* instance.clock as the step leaves it */
	Jsonb	   *event;			/* the event a wait is closed by, or NULL */
} Step;

/*
 * When a step queued now is due: at its transaction's start, as the events
 * the transaction writes are, so that the jobs one transaction queues (a
 * launch's first step and the events of its later statements, the steps
 * and events of one executor round or run_jobs() call) run in the order
 * they were queued.
 */
static inline TimestampTz
step_due_now(void)
{
	return GetCurrentTransactionStartTimestamp();
}

/* flow_version.c */
extern FlowVersion *flow_version_load(ProcessInfo *flow, int32 version);
extern void flow_version_prepare(ProcessInfo *flow, FlowVersion *fv);
extern int	flow_activity_index(FlowDefinition *def, const char *name);
extern int	flow_link_index(FlowDefinition *def, int activity, int link);

extern Datum flow_version_evaluate(ProcessInfo *flow, FlowVersion *fv, SPIPlanPtr plan,
								   const char *activity_name, Datum *args, char *nulls,
								   bool *isnull);

/* flow_step.c */
extern TimestampTz flow_now(void);
extern int	step_activity_index(Step *s, const char *name);
extern void step_begin(Step *s, ProcessInfo *flow, FlowInstance *instance, int64 job_id,
					   int attempt);
extern void step_end(Step *s);
extern void step_rest(Step *s);
extern void step_read_row(Step *s);
extern void step_merge_vars(Step *s, Jsonb *vars);
extern Datum step_context(Step *s, const char *activity_name, int64 activity_id);
extern void step_args(Step *s, const char *activity_name, int64 activity_id, Datum *args,
					  char *nulls);
extern Datum step_evaluate(Step *s, SPIPlanPtr plan, const char *activity_name, bool *isnull);
extern bool flow_has_ended(InstanceStatus status);
extern void flow_terminate_listed(List *ids, bool tell_parent);

/* flow_jobs.c */
extern void flow_queue_activity_job(Step *s, int64 activity_id, const char *activity,
									const char *event, TimestampTz run_at);

/* flow_follow.c */
extern void step_follow(Step *s, FlowActivity *act, const char *outcome);
extern bool flow_count_spin(Step *s, const char *kind, const char *name, char **error);
extern bool flow_launch_child(Step *s, int index, FlowActivity *act, int64 activity_id,
							  bool raise, char **error);
extern void flow_take_child_end(Step *s, FlowActivity *act, int64 activity_id,
								InstanceStatus status, Jsonb *vars);

extern void flow_jsonb_push_pair(JsonbParseState **state, const char *key, const char *value);
extern void flow_jsonb_push_number(JsonbParseState **state, const char *key, int64 number);
extern void flow_jsonb_push_doc(JsonbParseState **state, const char *key, Jsonb *doc);

#endif							/* PROCFLOW_FLOW_ENGINE_INT_H */
