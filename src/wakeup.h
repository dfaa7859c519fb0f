/*-------------------------------------------------------------------------
 *
 * wakeup.h
 *	  Waking the executors (and the launcher) when a transaction that
 *	  queued work commits.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_WAKEUP_H
#define PROCFLOW_WAKEUP_H

#include "access/xact.h"
#include "datatype/timestamp.h"

extern void wakeup_note_due(TimestampTz due);
extern void wakeup_launcher_at_commit(Oid dboid);
extern void wakeup_xact_event(XactEvent event);

#endif							/* PROCFLOW_WAKEUP_H */
