/*-------------------------------------------------------------------------
 *
 * job_deadline.h
 *	  The time an executor gives one job.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_JOB_DEADLINE_H
#define PROCFLOW_JOB_DEADLINE_H

extern void job_deadline_begin(int max_ms);
extern void job_deadline_narrow(int64 timeout_ms);
extern void job_deadline_widen(void);
extern void job_deadline_end(void);

#endif							/* PROCFLOW_JOB_DEADLINE_H */
