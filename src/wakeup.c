/*-------------------------------------------------------------------------
 *
 * wakeup.c
 *	  Waking the executors (and the launcher) when a transaction that
 *	  queued work commits.
 *
 * Whatever queues work, or changes what may run (a job row inserted
 * directly or by SQL, a definition changed, COMMIT PREPARED), notes here
 * the earliest time it is due; at commit, the executors of the database are
 * woken if that is before their next wake-up (see shmem.c), and not at all
 * otherwise, which is what lets them sleep exactly until the next run_at.
 * CREATE EXTENSION has the launcher probe this database again, CREATE
 * DATABASE has it read the list of databases again.  Nothing is woken at
 * abort.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include "shmem.h"
#include "wakeup.h"

static bool due_noted = false;
static bool wake_launcher = false;
static Oid	launcher_dboid = InvalidOid;
static TimestampTz earliest_due = 0;

/* Remember that this transaction queued work due at "due". */
void
wakeup_note_due(TimestampTz due)
{
	if (!due_noted || due < earliest_due)
		earliest_due = due;
	due_noted = true;
}

/*
 * At commit, have the launcher look at the databases again: with "dboid",
 * that one got the extension; with InvalidOid, one was created.
 */
void
wakeup_launcher_at_commit(Oid dboid)
{
	wake_launcher = true;
	launcher_dboid = dboid;
}

/* Transaction end: wake at commit whom the transaction noted. */
void
wakeup_xact_event(XactEvent event)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			if (due_noted)
				shmem_wake_executors(MyDatabaseId, earliest_due);
			if (wake_launcher)
				shmem_wake_launcher(launcher_dboid);
			due_noted = wake_launcher = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			due_noted = wake_launcher = false;
			break;
		default:
			break;
	}
}
