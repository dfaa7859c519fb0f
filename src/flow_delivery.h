/*-------------------------------------------------------------------------
 *
 * flow_delivery.h
 *	  Delivering entity events to the waits and conditional starts of the
 *	  instances of flows.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_FLOW_DELIVERY_H
#define PROCFLOW_FLOW_DELIVERY_H

#include "cache.h"
#include "queue.h"

/* These need an SPI connection. */
extern const char *flow_delivery_run(ProcessInfo *flow, ClaimedJob *job, bool in_executor,
									 const char **note);
extern void flow_delivery_note_failure(const ClaimedJob *job, bool final,
									   const RunError *error);

#endif							/* PROCFLOW_FLOW_DELIVERY_H */
