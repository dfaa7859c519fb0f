/*-------------------------------------------------------------------------
 *
 * collect.h
 *	  Collecting the jobs a statement queues, to write them at its end.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_COLLECT_H
#define PROCFLOW_COLLECT_H

#include "queue.h"

extern void collect_job(const NewJob *job);
extern void collect_deleted_row(Datum process_ids, int64 row_hash, Datum key);
extern void collect_statement_end(void);
extern void collect_flush(void);
extern void collect_forget(void);
extern void collect_xact_event(XactEvent event);
extern void collect_subxact_event(SubXactEvent event);

#endif							/* PROCFLOW_COLLECT_H */
