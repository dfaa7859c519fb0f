/*-------------------------------------------------------------------------
 *
 * subxact.c
 *	  Running a piece of work in a subtransaction of its own.
 *
 * As PL/pgSQL's exception blocks do: the work runs in an internal
 * subtransaction; an error rolls back the work alone and is handed to the
 * caller, which goes on in its own (sub)transaction.  procflow runs each
 * job so (runner.c), and within an event's job the delivery to each
 * instance (flow_delivery.c), so that one failing piece never takes the
 * others with it.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "storage/proc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "subxact.h"

/*
 * Run work(arg) in a subtransaction.  Returns NULL when it succeeded, else
 * the error (in the caller's memory context), the subtransaction rolled
 * back.  on_error(arg), if given, runs first when it failed, before the
 * rollback (to disarm a timer, say).  With rethrow_cancel, a query cancel
 * (or statement timeout) is not caught: rolled back, it stops the caller
 * too.  Any other error is the caller's to rethrow or to record.
 */
ErrorData *
subxact_run(SubxactWork work, SubxactWork on_error, void *arg, bool rethrow_cancel)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		work(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		if (on_error != NULL)
			on_error(arg);
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		/* rethrown once the subtransaction is gone, as PL/pgSQL does */
		if (rethrow_cancel && edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			ReThrowError(edata);
	}
	PG_END_TRY();
	return edata;
}

/*
 * Has this backend room, SUBXACT_CACHE_ROOM ids kept free, in its cache of
 * subtransaction ids?  A subtransaction that writes gets an id of its own;
 * past PGPROC_MAX_CACHED_SUBXIDS of them the cache overflows, and every
 * other session's snapshot has to look this transaction's subtransactions
 * up in pg_subtrans until it ends.  Work that runs many pieces in
 * subtransactions (a round of jobs, an event's delivery to many instances)
 * stops while there is room, and leaves the rest for a later transaction.
 */
bool
subxact_cache_has_room(void)
{
	return subxact_cache_room() > 0;
}

/*
 * How many more subtransactions that write this transaction can run before
 * subxact_cache_has_room says no: at most as many pieces of work as can
 * still start in it.
 */
int
subxact_cache_room(void)
{
	if (MyProc->subxidStatus.overflowed)
		return 0;
	return Max(PGPROC_MAX_CACHED_SUBXIDS - SUBXACT_CACHE_ROOM - MyProc->subxidStatus.count, 0);
}
