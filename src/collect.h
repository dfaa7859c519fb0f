/*-------------------------------------------------------------------------
 *
 * collect.h
 *	  Collecting the jobs a statement queues, to write them at its end.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_COLLECT_H
#define PROCFLOW_COLLECT_H

#include "queue.h"

extern void collect_init(void);
extern void collect_job(const NewJob *job);
extern void collect_flush(void);
extern void collect_flush_processes(Datum process_ids);
extern void collect_forget(void);

#endif							/* PROCFLOW_COLLECT_H */
