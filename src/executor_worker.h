/*-------------------------------------------------------------------------
 *
 * executor_worker.h
 *	  The executor background worker: runs one database's due jobs.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_EXECUTOR_WORKER_H
#define PROCFLOW_EXECUTOR_WORKER_H

#include "fmgr.h"

/* bgw_main_arg of an executor: slot * PROCFLOW_MAX_WORKERS + worker. */
#define EXECUTOR_ARG(slot, worker) ((slot) * PROCFLOW_MAX_WORKERS + (worker))

extern PGDLLEXPORT void procflow_executor_main(Datum main_arg);

#endif							/* PROCFLOW_EXECUTOR_WORKER_H */
