/*-------------------------------------------------------------------------
 *
 * subxact.h
 *	  Running a piece of work in a subtransaction of its own.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_SUBXACT_H
#define PROCFLOW_SUBXACT_H

typedef void (*SubxactWork) (void *arg);

extern ErrorData *subxact_run(SubxactWork work, SubxactWork on_error, void *arg,
							  bool rethrow_cancel);

#endif							/* PROCFLOW_SUBXACT_H */
