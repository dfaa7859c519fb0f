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

#include "datatype/timestamp.h"

extern void job_deadline_begin(int64 job_id, int32 process_id, TimestampTz since);
extern void job_deadline_narrow(int64 timeout_ms);
extern void job_deadline_widen(void);
extern void job_deadline_end(void);
extern bool job_deadline_was_cut(void);
extern int	job_deadline_limit_ms(int started_under_ms, int current_ms);
extern void job_deadline_cut_handler(SIGNAL_ARGS);

#endif							/* PROCFLOW_JOB_DEADLINE_H */
