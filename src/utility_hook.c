/*-------------------------------------------------------------------------
 *
 * utility_hook.c
 *	  The utility statements procflow follows: COMMIT PREPARED, TRUNCATE
 *	  and ALTER ROLE ... RENAME.
 *
 * A transaction that queues jobs wakes the executors when it commits
 * (queue.c).  A prepared transaction commits later, in COMMIT PREPARED,
 * possibly in another session, which knows nothing of the jobs it holds:
 * so every COMMIT PREPARED wakes the executors of its database, which then
 * look at the queue (a prepared transaction that queued nothing costs them
 * one look).
 *
 * TRUNCATE of a partition of an entity table fires no trigger of the
 * entity; procflow learns of it here (truncate.c), and refuses here, before
 * the statement runs, to drop or detach a partition whose rows' deletion a
 * wait waits for.
 *
 * A statement that an action may not run is refused first (action_limits.c).
 *
 * ALTER ROLE ... RENAME renames the role in procflow's catalog of this
 * database at once (the owner of a process is kept by OID and by name, the
 * name for restores); other databases follow when their executors next
 * look (executor_worker.c).
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/timestamp.h"

#include "action_limits.h"
#include "catalog.h"
#include "queue.h"
#include "truncate.h"
#include "utility_hook.h"
#include "wakeup.h"

static ProcessUtility_hook_type prev_process_utility = NULL;

/* Run the statement, then do procflow's part of it. */
static void
procflow_process_utility(PlannedStmt *pstmt, const char *queryString,
						 bool readOnlyTree, ProcessUtilityContext context,
						 ParamListInfo params, QueryEnvironment *queryEnv,
						 DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;

	action_limits_check_utility(stmt);
	truncate_refuse_partition_loss(stmt);
	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, readOnlyTree, context, params,
							 queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);

	if (IsA(stmt, TransactionStmt) &&
		((TransactionStmt *) stmt)->kind == TRANS_STMT_COMMIT_PREPARED)
		wakeup_note_due(GetCurrentTimestamp());
	else if (IsA(stmt, TruncateStmt))
		truncate_partitions_done(((TruncateStmt *) stmt)->relations);
	else if (IsA(stmt, RenameStmt) &&
			 ((RenameStmt *) stmt)->renameType == OBJECT_ROLE &&
			 catalog_oids_if_installed() != NULL)
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		catalog_refresh_owner_names();
		SPI_finish();
	}
}

/* Install the hook (from _PG_init). */
void
utility_init(void)
{
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = procflow_process_utility;
}
