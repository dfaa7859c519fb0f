/*-------------------------------------------------------------------------
 *
 * inflight.h
 *	  The job an executor is running, kept where a crash leaves it.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_INFLIGHT_H
#define PROCFLOW_INFLIGHT_H

extern void inflight_open(int worker);
extern void inflight_note(int64 job_id);
extern int64 inflight_left_behind(int worker);
extern void inflight_forget(int worker);

#endif							/* PROCFLOW_INFLIGHT_H */
