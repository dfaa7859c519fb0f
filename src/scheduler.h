/*-------------------------------------------------------------------------
 *
 * scheduler.h
 *	  Firing cron triggers: a due schedule becomes a job.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_SCHEDULER_H
#define PROCFLOW_SCHEDULER_H

/* Needs an SPI connection and acts as the extension owner. */
extern int	scheduler_fire_due(Oid as_role);

#endif							/* PROCFLOW_SCHEDULER_H */
