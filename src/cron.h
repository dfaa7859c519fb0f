/*-------------------------------------------------------------------------
 *
 * cron.h
 *	  Cron schedules: parsing, and the next time a schedule fires.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_CRON_H
#define PROCFLOW_CRON_H

#include "datatype/timestamp.h"

/* A parsed schedule: one bit per value a field allows. */
typedef struct CronSchedule
{
	uint64		seconds;		/* bits 0-59 */
	uint64		minutes;		/* bits 0-59 */
	uint32		hours;			/* bits 0-23 */
	uint32		days;			/* bits 1-31 */
	uint32		months;			/* bits 1-12 */
	uint32		weekdays;		/* bits 0-6, Sunday 0 */
	bool		days_star;		/* day-of-month field starts with '*' */
	bool		weekdays_star;	/* day-of-week field starts with '*' */
} CronSchedule;

extern void cron_parse(const char *expr, CronSchedule *schedule);
extern TimestampTz cron_next(const CronSchedule *schedule, TimestampTz after,
							 const char *timezone);
extern TimestampTz cron_next_of(const char *expr, TimestampTz after);

#endif							/* PROCFLOW_CRON_H */
