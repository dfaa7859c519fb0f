/*-------------------------------------------------------------------------
 *
 * job_state.h
 *	  What a job or an action leaves in its session and transaction, and
 *	  clearing it before the next one runs.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_JOB_STATE_H
#define PROCFLOW_JOB_STATE_H

#include "nodes/memnodes.h"

#define JOB_STATE_MAX_PORTALS 16

/* The portals that existed before a job or action ran. */
typedef struct JobState
{
	int			nportals;
	bool		overflow;		/* more than JOB_STATE_MAX_PORTALS */
	MemoryContext portals[JOB_STATE_MAX_PORTALS];
} JobState;

extern void job_state_begin(JobState *state);
extern void job_state_close_portals(const JobState *state);
extern bool job_state_has_cursors(void);
extern void job_state_release_session_locks(void);

#endif							/* PROCFLOW_JOB_STATE_H */
