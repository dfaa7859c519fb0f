/*-------------------------------------------------------------------------
 *
 * stored_row.h
 *	  A job's copy of its row before the change, kept by column name.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_STORED_ROW_H
#define PROCFLOW_STORED_ROW_H

#include "access/htup.h"

#include "cache.h"

extern Datum stored_row_of_tuple(EntityShape *entity, HeapTuple tuple);
extern Datum stored_row_to_datum(EntityShape *entity, const char *stored);

#endif							/* PROCFLOW_STORED_ROW_H */
