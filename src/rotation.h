/*-------------------------------------------------------------------------
 *
 * rotation.h
 *	  The rotating partitions of the job queue.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_ROTATION_H
#define PROCFLOW_ROTATION_H

#include "access/xact.h"
#include "datatype/timestamp.h"

/* How often an executor looks at the partitions, in milliseconds. */
#define ROTATION_INTERVAL_MS	1000

extern int	rotation_partition_for(TimestampTz run_at);
extern void rotation_note_cancelled(int partition);
extern void rotation_xact_event(XactEvent event);

/* Needs an SPI connection and acts as the extension owner. */
extern void rotation_maintain(int slot);

#endif							/* PROCFLOW_ROTATION_H */
