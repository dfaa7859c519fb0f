/*-------------------------------------------------------------------------
 *
 * truncate.h
 *	  What TRUNCATE of an entity table, or of one of its partitions, does
 *	  to the pending jobs of its rows.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_TRUNCATE_H
#define PROCFLOW_TRUNCATE_H

#include "nodes/parsenodes.h"

extern void truncate_cancel_jobs(Oid entity, bool whole);
extern void truncate_refuse_if_deletion_awaited(Oid table, const char *what);
extern void truncate_partitions_done(List *relations);
extern void truncate_refuse_partition_loss(Node *stmt);

#endif							/* PROCFLOW_TRUNCATE_H */
