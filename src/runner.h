/*-------------------------------------------------------------------------
 *
 * runner.h
 *	  Claiming due jobs and running them, each in its own subtransaction.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_RUNNER_H
#define PROCFLOW_RUNNER_H

#include "inflight.h"

extern int	runner_run_due(int max_jobs, Oid as_role, bool in_executor, int *ran);
extern void runner_count_crashed(const InflightNote *note);
extern void runner_check_session(const char *function);
extern bool runner_run_one(int64 job_id, const char *note);

#endif							/* PROCFLOW_RUNNER_H */
