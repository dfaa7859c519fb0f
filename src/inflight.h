/*-------------------------------------------------------------------------
 *
 * inflight.h
 *	  The job an executor is running, kept where a crash leaves it.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_INFLIGHT_H
#define PROCFLOW_INFLIGHT_H

/* What an executor notes before it runs a job. */
typedef struct InflightNote
{
	int64		job_id;			/* the job it runs, or 0 */
	int64		chained_after;	/* a step chained to a job's run, whose row is
								 * not written yet: that job, else 0 */
	char		activity[NAMEDATALEN];	/* the chained step's activity */
} InflightNote;

extern void inflight_open(int worker);
extern void inflight_note(int64 job_id, int64 chained_after, const char *activity);
extern bool inflight_left_behind(int worker, InflightNote *note);
extern void inflight_forget(int worker);

#endif							/* PROCFLOW_INFLIGHT_H */
