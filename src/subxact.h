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

/* Subtransaction ids kept free in the cache for the work started next. */
#define SUBXACT_CACHE_ROOM	8

extern ErrorData *subxact_run(SubxactWork work, SubxactWork on_error, void *arg,
							  bool rethrow_cancel);
extern bool subxact_cache_has_room(void);
extern int	subxact_cache_room(void);

#endif							/* PROCFLOW_SUBXACT_H */
