/*-------------------------------------------------------------------------
 *
 * capture.h
 *	  The row trigger that turns entity-table writes into process runs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_CAPTURE_H
#define PROCFLOW_CAPTURE_H

/* Name of the trigger procflow installs on entity tables. */
#define CAPTURE_TRIGGER_NAME "procflow_capture"

#endif							/* PROCFLOW_CAPTURE_H */
