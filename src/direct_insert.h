/*-------------------------------------------------------------------------
 *
 * direct_insert.h
 *	  Inserting rows into procflow's queue tables without SPI.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_DIRECT_INSERT_H
#define PROCFLOW_DIRECT_INSERT_H

#include "access/htup.h"
#include "access/tupdesc.h"
#include "storage/itemptr.h"
#include "utils/relcache.h"

extern void direct_insert(Oid relid, int natts, Datum *values, bool *nulls);
extern TupleDesc direct_insert_desc(Oid relid);
extern HeapTuple direct_fetch(Oid relid, int64 id, ItemPointer tid);
extern bool direct_update(Oid relid, ItemPointer tid, Datum *values, bool *nulls);
extern void direct_insert_close_all(void);
extern void direct_insert_forget_all(void);

#endif							/* PROCFLOW_DIRECT_INSERT_H */
