/*-------------------------------------------------------------------------
 *
 * history.h
 *	  Pruning the job history and the instances of flows that ended.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_HISTORY_H
#define PROCFLOW_HISTORY_H

extern uint64 history_prune(int retention_seconds);

#endif							/* PROCFLOW_HISTORY_H */
