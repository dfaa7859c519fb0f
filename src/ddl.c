/*-------------------------------------------------------------------------
 *
 * ddl.c
 *	  Keeping definitions and pending jobs right across ALTER TABLE of an
 *	  entity table.
 *
 * Two event triggers of the extension call these functions for every
 * ALTER TABLE:
 *
 * - Renaming a column renames it where procflow keeps it: in the "fields"
 *   of update triggers, and in the old rows and changed columns of pending
 *   jobs and batches (stored_row.c), on the table and on every table that
 *   inherits the rename (partitions, inheritance children).  The history
 *   keeps the names of its time.
 *
 * - The primary key names the rows of pending jobs.  An ALTER TABLE that
 *   leaves an entity table without a primary key is refused, as dropping
 *   the table is; one that changes the key's columns is refused while the
 *   table's processes have pending jobs, whose keys would then name other
 *   rows.  (The key's columns are read before and after the command.)
 *
 * Dropping a column that an update trigger watches is refused by the
 * extension's sql_drop trigger (procflow--*.sql), as dropping the table.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "catalog.h"

PG_FUNCTION_INFO_V1(procflow_table_altering);
PG_FUNCTION_INFO_V1(procflow_table_altered);

/* The primary key of an entity table as an ALTER TABLE found it. */
typedef struct KeyBefore
{
	Oid			relid;
	char	   *columns;		/* text of its column numbers, or NULL */
} KeyBefore;

static KeyBefore key_before;
static LocalTransactionId key_before_xact = InvalidLocalTransactionId;

/* The parse tree of the command an event trigger fires for. */
static Node *
event_parsetree(FunctionCallInfo fcinfo, const char *what)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "%s: not fired by event trigger manager", what);
	return ((EventTriggerData *) fcinfo->context)->parsetree;
}

/*
 * The names of the processes bound to relid, comma-separated, or NULL when
 * none is.  The caller holds an SPI connection.
 */
static char *
processes_of(Oid relid, bool with_pending_jobs)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(relid)};
	char	   *names;

	catalog_exec(with_pending_jobs ?
				 "SELECT pg_catalog.string_agg(pg_catalog.quote_ident(p.name), ', ' ORDER BY p.name)"
				 "  FROM procflow.process p WHERE p.entity = $1::pg_catalog.regclass"
				 "   AND (EXISTS (SELECT 1 FROM procflow.job j WHERE j.process_id = p.id)"
				 "        OR EXISTS (SELECT 1 FROM procflow.job_batch b WHERE b.process_id = p.id))" :
				 "SELECT pg_catalog.string_agg(pg_catalog.quote_ident(p.name), ', ' ORDER BY p.name)"
				 "  FROM procflow.process p WHERE p.entity = $1::pg_catalog.regclass",
				 1, argtypes, args, NULL, SPI_OK_SELECT);
	names = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	return names ? pstrdup(names) : NULL;
}

/*
 * The column numbers of relid's primary key, with their types, typmods and
 * collations, as text, or NULL: a key column whose type changes names its
 * rows in another text form, so that is a change of the key too.
 */
static char *
primary_key_columns(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(relid)};
	char	   *columns;

	catalog_exec("SELECT c.conkey::text || ' ' ||"
				 "       (SELECT string_agg(format('%s/%s/%s', a.atttypid, a.atttypmod,"
				 "                                 a.attcollation), ',' ORDER BY a.attnum)"
				 "          FROM pg_catalog.pg_attribute a"
				 "         WHERE a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey))"
				 "  FROM pg_catalog.pg_constraint c"
				 " WHERE c.conrelid = $1 AND c.contype = 'p'",
				 1, argtypes, args, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return NULL;
	columns = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	return columns ? MemoryContextStrdup(TopTransactionContext, columns) : NULL;
}

/*
 * ddl_command_start of ALTER TABLE: note the primary key of an entity
 * table, to compare at the end.
 */
Datum
procflow_table_altering(PG_FUNCTION_ARGS)
{
	Node	   *parsetree = event_parsetree(fcinfo, "procflow_table_altering");
	AlterTableStmt *stmt;
	Oid			relid;

	key_before_xact = InvalidLocalTransactionId;
	if (!IsA(parsetree, AlterTableStmt) || catalog_oids_if_installed() == NULL)
		PG_RETURN_VOID();
	stmt = (AlterTableStmt *) parsetree;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(relid))
		PG_RETURN_VOID();

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (processes_of(relid, false) != NULL)
	{
		key_before.relid = relid;
		key_before.columns = primary_key_columns(relid);
		key_before_xact = MyProc->lxid;
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * End of an ALTER TABLE of an entity table: refuse a lost primary key, or
 * a changed one while jobs are pending.
 */
static void
check_primary_key(void)
{
	char	   *columns;
	char	   *processes;
	Oid			relid = key_before.relid;

	key_before_xact = InvalidLocalTransactionId;
	/* a key added where there was none (a restore adds it after the data) */
	if (get_rel_name(relid) == NULL || key_before.columns == NULL)
		return;
	columns = primary_key_columns(relid);
	if (columns != NULL && key_before.columns != NULL &&
		strcmp(columns, key_before.columns) == 0)
		return;
	if (columns == NULL)
	{
		processes = processes_of(relid, false);
		if (processes != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("cannot drop the primary key of table %s because processes use it",
							get_rel_name(relid)),
					 errdetail("Processes %s identify its rows by their primary key.", processes),
					 errhint("Add the new primary key in the same ALTER TABLE, or drop the processes first.")));
		return;
	}
	processes = processes_of(relid, true);
	if (processes != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("cannot change the primary key of table %s while its processes have pending jobs",
						get_rel_name(relid)),
				 errdetail("The pending jobs of processes %s name their rows by the current key.",
						   processes),
				 errhint("Let the jobs run, or cancel them, first.")));
}

/*
 * Rename column "from" to "to" where procflow keeps it, for the processes
 * of relid.
 */
static void
rename_column(Oid relid, const char *from, const char *to)
{
	Oid			argtypes[3] = {OIDOID, TEXTOID, TEXTOID};
	Datum		args[3];

	args[0] = ObjectIdGetDatum(relid);
	args[1] = CStringGetTextDatum(from);
	args[2] = CStringGetTextDatum(to);

#define OF_ENTITY(alias) \
	" FROM procflow.process p WHERE p.id = " alias ".process_id" \
	"  AND p.entity = $1::pg_catalog.regclass"
#define RENAMED_ROW(row) \
	"CASE WHEN " row " LIKE '{%' AND (" row ")::pg_catalog.jsonb ? $2" \
	" THEN (((" row ")::pg_catalog.jsonb - $2)" \
	"       || pg_catalog.jsonb_build_object($3, (" row ")::pg_catalog.jsonb -> $2))::text" \
	" ELSE " row " END"

	catalog_exec("UPDATE procflow.trigger t SET fields = pg_catalog.array_replace(t.fields, $2, $3)"
				 OF_ENTITY("t") " AND $2 = ANY (t.fields)",
				 3, argtypes, args, NULL, SPI_OK_UPDATE);
	catalog_exec("UPDATE procflow.job j"
				 "   SET old_row = " RENAMED_ROW("j.old_row") ","
				 "       changed = pg_catalog.array_replace(j.changed, $2, $3)"
				 OF_ENTITY("j") " AND (j.old_row IS NOT NULL OR j.changed IS NOT NULL)",
				 3, argtypes, args, NULL, SPI_OK_UPDATE);
	catalog_exec("UPDATE procflow.job_batch b"
				 "   SET old_rows = (SELECT pg_catalog.array_agg(" RENAMED_ROW("u.r") " ORDER BY u.n)"
				 "                     FROM pg_catalog.unnest(b.old_rows) WITH ORDINALITY AS u(r, n)),"
				 "       changed = (SELECT pg_catalog.array_agg(pg_catalog.array_replace("
				 "                           u.c::pg_catalog.text[], $2, $3)::text ORDER BY u.n)"
				 "                    FROM pg_catalog.unnest(b.changed) WITH ORDINALITY AS u(c, n))"
				 OF_ENTITY("b") " AND (b.old_rows IS NOT NULL OR b.changed IS NOT NULL)",
				 3, argtypes, args, NULL, SPI_OK_UPDATE);
}

/* ALTER TABLE ... RENAME COLUMN: follow it on the table and its heirs. */
static void
follow_rename(RenameStmt *stmt)
{
	Oid			relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	List	   *relids;
	ListCell   *lc;

	if (!OidIsValid(relid))
		return;
	relids = stmt->relation->inh ? find_all_inheritors(relid, NoLock, NULL) :
		list_make1_oid(relid);
	foreach(lc, relids)
		rename_column(lfirst_oid(lc), stmt->subname, stmt->newname);
}

/* ddl_command_end of ALTER TABLE. */
Datum
procflow_table_altered(PG_FUNCTION_ARGS)
{
	Node	   *parsetree = event_parsetree(fcinfo, "procflow_table_altered");
	bool		check_key = key_before_xact == MyProc->lxid &&
		key_before_xact != InvalidLocalTransactionId;

	if (catalog_oids_if_installed() == NULL)
		PG_RETURN_VOID();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (check_key)
		check_primary_key();
	if (IsA(parsetree, RenameStmt) &&
		((RenameStmt *) parsetree)->renameType == OBJECT_COLUMN)
		follow_rename((RenameStmt *) parsetree);
	SPI_finish();
	PG_RETURN_VOID();
}
