/*-------------------------------------------------------------------------
 *
 * capture.h
 *	  The row trigger that turns entity-table writes into process runs.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_CAPTURE_H
#define PROCFLOW_CAPTURE_H

/* Names of the row and statement triggers procflow installs on entity tables. */
#define CAPTURE_TRIGGER_NAME "procflow_capture"
#define CAPTURE_FLUSH_TRIGGER_NAME "procflow_capture_flush"
#define CAPTURE_TRUNCATE_TRIGGER_NAME "procflow_capture_truncate"

#endif							/* PROCFLOW_CAPTURE_H */
