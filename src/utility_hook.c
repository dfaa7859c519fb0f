/*-------------------------------------------------------------------------
 *
 * utility_hook.c
 *	  The utility statements procflow follows: COMMIT PREPARED, TRUNCATE,
 *	  ALTER ROLE ... RENAME, and those that need a database without other
 *	  sessions.
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
 * DROP DATABASE, ALTER DATABASE ... RENAME or SET TABLESPACE, and CREATE
 * DATABASE copying a database, refuse to run while other sessions are
 * connected to it: the executors of a served database leave it first
 * (they finish the round they are in; one still there after
 * LEAVE_WAIT_MS is terminated), and the launcher starts none there until
 * the statement is over.  So do this database's executors before DROP
 * EXTENSION procflow, whose locks on procflow's tables would otherwise
 * meet theirs.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/latch.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "action_limits.h"
#include "catalog.h"
#include "shmem.h"
#include "truncate.h"
#include "utility_hook.h"
#include "wakeup.h"

static ProcessUtility_hook_type prev_process_utility = NULL;

/* How long executors are given to leave a database, and then to die. */
#define LEAVE_WAIT_MS	5000

/* How long executors stay away at most if the statement never says it is over. */
#define LEAVE_PAUSE_MS	60000

/* Does a DROP statement drop procflow's extension? */
static bool
drops_procflow(Node *stmt)
{
	ListCell   *lc;

	if (!IsA(stmt, DropStmt) || ((DropStmt *) stmt)->removeType != OBJECT_EXTENSION)
		return false;
	foreach(lc, ((DropStmt *) stmt)->objects)
		if (strcmp(strVal(lfirst(lc)), "procflow") == 0)
			return true;
	return false;
}

/*
 * The database whose executors must leave before a statement runs: the one
 * it drops, renames, moves or copies (which PostgreSQL refuses to do while
 * other sessions are connected to it), or this one when it drops the
 * extension (its executors would otherwise hold locks on the tables it
 * drops, and deadlock with it); InvalidOid for any other statement.
 */
static Oid
database_needed_alone(Node *stmt)
{
	ListCell   *lc;

	if (IsA(stmt, DropdbStmt))
		return get_database_oid(((DropdbStmt *) stmt)->dbname, true);
	if (IsA(stmt, RenameStmt) && ((RenameStmt *) stmt)->renameType == OBJECT_DATABASE)
		return get_database_oid(((RenameStmt *) stmt)->subname, true);
	if (IsA(stmt, AlterDatabaseStmt))
	{
		foreach(lc, ((AlterDatabaseStmt *) stmt)->options)
			if (strcmp(((DefElem *) lfirst(lc))->defname, "tablespace") == 0)
				return get_database_oid(((AlterDatabaseStmt *) stmt)->dbname, true);
	}
	if (IsA(stmt, CreatedbStmt))
	{
		foreach(lc, ((CreatedbStmt *) stmt)->options)
		{
			DefElem    *opt = lfirst(lc);

			if (strcmp(opt->defname, "template") == 0 && opt->arg != NULL)
				return get_database_oid(defGetString(opt), true);
		}
	}
	if (drops_procflow(stmt))
		return MyDatabaseId;
	return InvalidOid;
}

/* Wait up to LEAVE_WAIT_MS for database dboid to have no executor. */
static bool
executors_gone(Oid dboid)
{
	TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), LEAVE_WAIT_MS);

	while (shmem_database_executors(dboid) > 0)
	{
		if (GetCurrentTimestamp() >= until)
			return false;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	return true;
}

/*
 * Will PostgreSQL run this statement on database "dboid" for the caller:
 * the extension's owner for DROP EXTENSION; else the database's owner (or
 * a superuser), with CREATEDB for a copy, and, but for a rename, outside a
 * transaction block?  Executors are sent away only for a
 * statement that will run, so that no role evicts the executors of a
 * database it does not own with a statement that fails.
 */
static bool
will_run(Node *stmt, Oid dboid)
{
	if (drops_procflow(stmt))
	{
		Oid			ext = get_extension_oid("procflow", true);

		return OidIsValid(ext) && pg_extension_ownercheck(ext, GetUserId());
	}
	if (!pg_database_ownercheck(dboid, GetUserId()))
		return false;
	if (IsA(stmt, CreatedbStmt) && !have_createdb_privilege())
		return false;
	return IsA(stmt, RenameStmt) || !IsTransactionBlock();
}

/*
 * Have the executors of database "dboid" leave it, and keep the launcher
 * from starting them there (shmem_pause_database): they finish their round
 * and go; one still there after LEAVE_WAIT_MS (a long job) is terminated,
 * as pg_terminate_backend would (its job counts a failed attempt).
 * Returns whether the database has a slot (then shmem_resume_database
 * lets its executors back).
 */
static bool
send_executors_away(Oid dboid)
{
	if (!shmem_pause_database(dboid, LEAVE_PAUSE_MS))
		return false;
	if (!executors_gone(dboid))
	{
		shmem_terminate_database_executors(dboid);
		(void) executors_gone(dboid);
	}
	return true;
}

/* Run the statement, then do procflow's part of it. */
static void
procflow_process_utility(PlannedStmt *pstmt, const char *queryString,
						 bool readOnlyTree, ProcessUtilityContext context,
						 ParamListInfo params, QueryEnvironment *queryEnv,
						 DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;
	Oid			dboid = database_needed_alone(stmt);
	volatile bool paused = false;

	action_limits_check_utility(stmt);
	truncate_refuse_partition_loss(stmt);
	PG_TRY();
	{
		if (OidIsValid(dboid) && will_run(stmt, dboid))
			paused = send_executors_away(dboid);
		if (prev_process_utility)
			prev_process_utility(pstmt, queryString, readOnlyTree, context, params,
								 queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
									queryEnv, dest, qc);
	}
	PG_CATCH();
	{
		if (paused)
			shmem_resume_database(dboid);
		PG_RE_THROW();
	}
	PG_END_TRY();
	/*
	 * A dropped database's executors are not to come back: the launcher
	 * forgets it once the drop commits.  A database created, copied,
	 * renamed (procflow.database may name it now) or altered (a template
	 * now, or taking no connections) is looked at once that commits.
	 */
	if (paused && !IsA(stmt, DropdbStmt))
		shmem_resume_database(dboid);
	if (IsA(stmt, CreatedbStmt) || IsA(stmt, DropdbStmt) || IsA(stmt, AlterDatabaseStmt) ||
		(IsA(stmt, RenameStmt) && ((RenameStmt *) stmt)->renameType == OBJECT_DATABASE))
		wakeup_launcher_at_commit(InvalidOid);

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
