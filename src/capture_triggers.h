/*-------------------------------------------------------------------------
 *
 * capture_triggers.h
 *	  The triggers procflow installs on entity tables.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_CAPTURE_TRIGGERS_H
#define PROCFLOW_CAPTURE_TRIGGERS_H

#include "utils/array.h"

extern void capture_triggers_sync(Oid entity);
extern void capture_triggers_sync_waits(ArrayType *tables);

#endif							/* PROCFLOW_CAPTURE_TRIGGERS_H */
