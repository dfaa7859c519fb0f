/*-------------------------------------------------------------------------
 *
 * action.h
 *	  Running a process's condition and action as its owner.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_ACTION_H
#define PROCFLOW_ACTION_H

#include "executor/spi.h"

#include "cache.h"
#include "identity.h"

/* Number of parameters of an action or condition: $1 row, $2 old row, $3 context. */
#define ACTION_NARGS 3

/* Saved identity and settings while acting as a process's owner. */
typedef IdentityScope OwnerScope;

extern void action_xact_event(XactEvent event);
extern void action_subxact_event(SubXactEvent event);
extern void action_enter_owner(Oid owner, const char *search_path, OwnerScope *scope);
extern void action_enter_process(ProcessInfo *process, OwnerScope *scope);
extern void action_enter_process_path(ProcessInfo *process, const char *search_path,
									  OwnerScope *scope);
extern void action_leave_owner(OwnerScope *scope);

extern SPIPlanPtr action_prepare_expression(const char *sql, Oid rowtype, Oid *type);
extern SPIPlanPtr action_prepare(const char *sql, bool is_condition, Oid rowtype);
extern bool action_condition_holds(ProcessInfo *process, Datum *args, const char *nulls);
extern void action_execute(ProcessInfo *process, Datum *args, const char *nulls);
extern void action_run_plan(SPIPlanPtr plan, const char *what, const char *name,
							Datum *args, const char *nulls);
extern Datum action_context(ProcessInfo *process, const char *event, int64 trigger_id,
							int64 job_id, int attempt, Datum key, Datum changed);

extern void action_push(ProcessInfo *process, int depth, Datum inherited,
						int64 instance_id);
extern void action_pop(void);
extern void action_check_depth(ProcessInfo *process, int depth);
extern int	action_current_depth(void);
extern int64 action_current_instance(void);
extern bool action_excluded(int32 process_id);
extern Datum action_current_exclusions(void);
extern bool action_runs_instance(int64 instance_id);

#endif							/* PROCFLOW_ACTION_H */
