/*-------------------------------------------------------------------------
 *
 * settings.h
 *	  Settings (GUCs) and limits shared by all of procflow's source files.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_SETTINGS_H
#define PROCFLOW_SETTINGS_H

/* Upper bounds of the shared state, fixed at server start. */
#define PROCFLOW_MAX_DATABASES	32
#define PROCFLOW_MAX_WORKERS	16

/*
 * Partitions of procflow.job: job_0 holds jobs due later and is never
 * truncated; new due jobs go to the rotating ones (see rotation.c).
 */
#define JOB_PARTITIONS		4
#define JOB_HELD_PARTITION	0

/*
 * The order of due work, as one sortable key: execution order ascending,
 * then priority descending (the execution order in the high 32 bits, the
 * priority inverted in the low 32 bits).
 */
static inline int64
procflow_order_key(int32 execution_order, int32 priority)
{
	uint32		inverted = (uint32) ((int64) PG_INT32_MAX - priority);

	return (int64) (((uint64) (int64) execution_order << 32) | inverted);
}

/* GUC variables (see settings.c for their meaning). */
extern char *procflow_database;
extern int	procflow_workers;
extern int	procflow_batch_size;
extern int	procflow_max_sleep;
extern int	procflow_history_retention;
extern bool procflow_enabled;
extern int	procflow_max_depth;
extern int	procflow_retry_delay;
extern int	procflow_max_timeout;
extern bool procflow_role_turns;
extern char *procflow_timezone;

extern void settings_define(void);

#endif							/* PROCFLOW_SETTINGS_H */
