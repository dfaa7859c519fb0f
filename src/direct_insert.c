/*-------------------------------------------------------------------------
 *
 * direct_insert.c
 *	  Inserting rows into procflow's tables, and updating them, without SPI.
 *
 * Queueing a job is on the hot path of every captured row, and an executor
 * writes one history row per run, so these inserts bypass SPI and the
 * executor: the row is formed by the caller and inserted with the table AM
 * and the index machinery directly (partial-index predicates included).
 * A relation opened for this stays open, with its indexes, for the rest of
 * the transaction; it is closed just before commit.  No permission is
 * checked here: callers have checked what the current user may do.
 *
 * An update (direct_update) finds the row by its primary key and replaces
 * it as UPDATE would, with new index entries unless it is a HOT update;
 * when another transaction changed the row meanwhile, it leaves it to the
 * caller's UPDATE statement, which waits for that one and looks again.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "executor/executor.h"
#include "nodes/execnodes.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

#include "direct_insert.h"

/* A relation open for inserting until the end of the transaction. */
typedef struct InsertTarget
{
	Oid			relid;
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
	struct InsertTarget *next;
} InsertTarget;

static InsertTarget *targets = NULL;

/*
 * Open relid and its indexes for inserting until transaction end; natts is
 * the number of columns the caller forms rows of (-1: it reads them from
 * direct_insert_desc).
 */
static InsertTarget *
open_target(Oid relid, int natts)
{
	ResourceOwner save_owner = CurrentResourceOwner;
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	InsertTarget *t = palloc0(sizeof(InsertTarget));

	/* keep the relation references past any subtransaction's end */
	CurrentResourceOwner = TopTransactionResourceOwner;
	t->relid = relid;
	t->rel = table_open(relid, RowExclusiveLock);
	if (natts >= 0 && RelationGetDescr(t->rel)->natts != natts)
		elog(ERROR, "relation \"%s\" has %d columns, expected %d",
			 RelationGetRelationName(t->rel), RelationGetDescr(t->rel)->natts, natts);
	t->estate = CreateExecutorState();
	t->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(t->rri, t->rel, 1, NULL, 0);
	ExecOpenIndices(t->rri, false);
	t->slot = MakeSingleTupleTableSlot(RelationGetDescr(t->rel), &TTSOpsVirtual);
	t->next = targets;
	targets = t;
	CurrentResourceOwner = save_owner;
	MemoryContextSwitchTo(old);
	return t;
}

/* The open target of relid, opened now if it is not yet. */
static InsertTarget *
target_of(Oid relid, int natts)
{
	InsertTarget *t;

	for (t = targets; t != NULL; t = t->next)
		if (t->relid == relid)
			return t;
	return open_target(relid, natts);
}

/*
 * The columns of relid as direct_insert takes them, for a caller that
 * places its values by the columns' names (a table that upgrades changed).
 * Valid until the end of the transaction.
 */
TupleDesc
direct_insert_desc(Oid relid)
{
	return RelationGetDescr(target_of(relid, -1)->rel);
}

/*
 * Insert one row of natts columns into relid, with its index entries.  The
 * values are copied into the row before this returns.
 */
void
direct_insert(Oid relid, int natts, Datum *values, bool *nulls)
{
	InsertTarget *t = target_of(relid, natts);
	TupleTableSlot *slot = t->slot;

	if (RelationGetDescr(t->rel)->natts != natts)
		elog(ERROR, "relation \"%s\" has %d columns, expected %d",
			 RelationGetRelationName(t->rel), RelationGetDescr(t->rel)->natts, natts);

	ExecClearTuple(slot);
	memcpy(slot->tts_values, values, sizeof(Datum) * natts);
	memcpy(slot->tts_isnull, nulls, sizeof(bool) * natts);
	ExecStoreVirtualTuple(slot);

	table_tuple_insert(t->rel, slot, GetCurrentCommandId(true), 0, NULL);
	ExecInsertIndexTuples(t->rri, slot, t->estate, false, false, NULL, NIL);
	ResetPerTupleExprContext(t->estate);
}

/*
 * The row of relid whose primary key (a single int8 column) is id, as a
 * new snapshot sees it: a copy in the caller's memory context, with its
 * place in *tid; NULL when there is none.
 */
HeapTuple
direct_fetch(Oid relid, int64 id, ItemPointer tid)
{
	InsertTarget *t = target_of(relid, -1);
	Oid			pkey = RelationGetPrimaryKeyIndex(t->rel);
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	HeapTuple	copy = NULL;

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(id));
	scan = systable_beginscan(t->rel, pkey, true, snapshot, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		copy = heap_copytuple(tup);
		*tid = tup->t_self;
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	return copy;
}

/*
 * Replace the row at tid (read by direct_fetch) of relid with these
 * values, and make the new version visible to the next command.  False,
 * with nothing changed, when another transaction updated or deleted the
 * row since it was read: the caller's UPDATE statement then waits for that
 * one and looks again.
 */
bool
direct_update(Oid relid, ItemPointer tid, Datum *values, bool *nulls)
{
	InsertTarget *t = target_of(relid, -1);
	TupleTableSlot *slot = t->slot;
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	bool		update_indexes;
	TM_Result	result;

	ExecClearTuple(slot);
	memcpy(slot->tts_values, values, sizeof(Datum) * slot->tts_tupleDescriptor->natts);
	memcpy(slot->tts_isnull, nulls, sizeof(bool) * slot->tts_tupleDescriptor->natts);
	ExecStoreVirtualTuple(slot);
	result = table_tuple_update(t->rel, tid, slot, GetCurrentCommandId(true), snapshot,
								InvalidSnapshot, true, &tmfd, &lockmode, &update_indexes);
	UnregisterSnapshot(snapshot);
	if (result != TM_Ok)
		return false;
	/* not flagged as an update: that hint reads the columns a plan updates */
	if (update_indexes)
		ExecInsertIndexTuples(t->rri, slot, t->estate, false, false, NULL, NIL);
	ResetPerTupleExprContext(t->estate);
	CommandCounterIncrement();
	return true;
}

/* Close what direct_insert opened; called just before commit. */
void
direct_insert_close_all(void)
{
	ResourceOwner save_owner = CurrentResourceOwner;

	CurrentResourceOwner = TopTransactionResourceOwner;
	while (targets != NULL)
	{
		InsertTarget *t = targets;

		targets = t->next;
		ExecDropSingleTupleTableSlot(t->slot);
		ExecCloseIndices(t->rri);
		table_close(t->rel, NoLock);
		FreeExecutorState(t->estate);
	}
	CurrentResourceOwner = save_owner;
}

/*
 * Forget the open relations at transaction abort, which has released them;
 * their memory goes with the transaction.
 */
void
direct_insert_forget_all(void)
{
	targets = NULL;
}
