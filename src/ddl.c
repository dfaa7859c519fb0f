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
 * - The primary key names the rows of pending jobs and of instances.  An
 *   ALTER TABLE that leaves an entity table without a primary key is
 *   refused, as dropping the table is; one that changes the key's columns
 *   is refused while the table's processes have pending jobs or live
 *   instances, whose keys would then name other rows.  (The key's columns
 *   are read before and after the command.)
 *
 * - A flow's version names columns and tables in its waits' "fields", in
 *   its SQL over the rows of its table and of the tables its waits wait
 *   for, and the tables themselves.  An ALTER TABLE that could change what
 *   those names mean (a rename, a dropped column or constraint, a column of
 *   another type) has every version that live instances run, and every
 *   current one, checked again against the table as it now is, and is
 *   refused when one no longer holds.
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
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "catalog.h"
#include "flow_definition.h"
#include "truncate.h"

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

/*
 * The table of an ALTER TABLE that may change what names mean (see
 * renaming_table), found before the command (a renamed table is not found
 * by its old name after).
 */
static Oid	renamed_table = InvalidOid;
static LocalTransactionId renamed_table_xact = InvalidLocalTransactionId;

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

	catalog_exec(with_pending_jobs && catalog_oids()->has_flows ?
				 "SELECT pg_catalog.string_agg(pg_catalog.quote_ident(p.name), ', ' ORDER BY p.name)"
				 "  FROM procflow.process p WHERE p.entity = $1::pg_catalog.regclass"
				 "   AND (EXISTS (SELECT 1 FROM procflow.job j WHERE j.process_id = p.id)"
				 "        OR EXISTS (SELECT 1 FROM procflow.job_batch b WHERE b.process_id = p.id)"
				 "        OR EXISTS (SELECT 1 FROM procflow.instance i"
				 "                    WHERE i.process_id = p.id AND i.finished_at IS NULL))" :
				 with_pending_jobs ?
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
 * The table whose names an ALTER TABLE may change the meaning of: the
 * table renamed or moved to another schema, or one of whose columns is
 * renamed, dropped or given another type, or one of whose constraints is
 * dropped; InvalidOid for any
 * other command (adding a column or a key, as a restore does, changes no
 * name a version uses).
 */
static Oid
renaming_table(Node *parsetree)
{
	ListCell   *lc;

	if (IsA(parsetree, RenameStmt))
	{
		RenameStmt *stmt = (RenameStmt *) parsetree;

		if ((stmt->renameType == OBJECT_COLUMN || stmt->renameType == OBJECT_TABLE) &&
			stmt->relation != NULL)
			return RangeVarGetRelid(stmt->relation, NoLock, true);
		return InvalidOid;
	}
	if (IsA(parsetree, AlterObjectSchemaStmt))
	{
		AlterObjectSchemaStmt *stmt = (AlterObjectSchemaStmt *) parsetree;

		if (stmt->objectType == OBJECT_TABLE && stmt->relation != NULL)
			return RangeVarGetRelid(stmt->relation, NoLock, true);
		return InvalidOid;
	}
	if (!IsA(parsetree, AlterTableStmt))
		return InvalidOid;
	foreach(lc, ((AlterTableStmt *) parsetree)->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		if (cmd->subtype == AT_DropColumn || cmd->subtype == AT_AlterColumnType ||
			cmd->subtype == AT_DropConstraint)
			return RangeVarGetRelid(((AlterTableStmt *) parsetree)->relation, NoLock, true);
	}
	return InvalidOid;
}

/*
 * ddl_command_start of ALTER TABLE: note the primary key of an entity
 * table, to compare at the end, and a table whose names the command may
 * change the meaning of, to check the flows that use it at the end.
 */
Datum
procflow_table_altering(PG_FUNCTION_ARGS)
{
	Node	   *parsetree = event_parsetree(fcinfo, "procflow_table_altering");
	AlterTableStmt *stmt;
	Oid			relid;

	key_before_xact = InvalidLocalTransactionId;
	renamed_table_xact = InvalidLocalTransactionId;
	if (catalog_oids_if_installed() == NULL)
		PG_RETURN_VOID();
	renamed_table = renaming_table(parsetree);
	if (OidIsValid(renamed_table))
		renamed_table_xact = MyProc->lxid;
	if (!IsA(parsetree, AlterTableStmt))
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
				 errmsg("cannot change the primary key of table %s while its processes have pending jobs or live instances",
						get_rel_name(relid)),
				 errdetail("The pending jobs and live instances of processes %s name their rows by the current key.",
						   processes),
				 errhint("Let the jobs run, or cancel them, and the instances finish, first.")));
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
	if (!catalog_oids()->has_flows)
		return;
	/* events for waits of the table, whatever flow they are for */
	catalog_exec("UPDATE procflow.job j"
				 "   SET old_row = " RENAMED_ROW("j.old_row") ","
				 "       new_row = " RENAMED_ROW("j.new_row") ","
				 "       changed = pg_catalog.array_replace(j.changed, $2, $3)"
				 " WHERE j.event_table = $1::pg_catalog.regclass",
				 3, argtypes, args, NULL, SPI_OK_UPDATE);
	catalog_exec("UPDATE procflow.job_batch b"
				 "   SET old_rows = (SELECT pg_catalog.array_agg(" RENAMED_ROW("u.r") " ORDER BY u.n)"
				 "                     FROM pg_catalog.unnest(b.old_rows) WITH ORDINALITY AS u(r, n)),"
				 "       new_rows = (SELECT pg_catalog.array_agg(" RENAMED_ROW("u.r") " ORDER BY u.n)"
				 "                     FROM pg_catalog.unnest(b.new_rows) WITH ORDINALITY AS u(r, n)),"
				 "       changed = (SELECT pg_catalog.array_agg(pg_catalog.array_replace("
				 "                           u.c::pg_catalog.text[], $2, $3)::text ORDER BY u.n)"
				 "                    FROM pg_catalog.unnest(b.changed) WITH ORDINALITY AS u(c, n))"
				 " WHERE b.event_table = $1::pg_catalog.regclass",
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

/*
 * Check again, against the table as it now is, every version of a flow
 * that uses relid (its entity table, or a table its waits wait for) and
 * that live instances run (or are being launched with: their launches are
 * waited for) or that is current: refuse the command when one no longer
 * holds.
 */
static void
recheck_versions(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(relid)};
	SPITupleTable *versions;
	uint64		n;

	/* after the launches of its versions in progress have ended */
	catalog_exec("SELECT 1 FROM procflow.process p"
				 "  JOIN procflow.flow_version v ON v.process_id = p.id"
				 " WHERE p.entity = $1::pg_catalog.regclass"
				 "    OR $1::pg_catalog.regclass = ANY (v.waits_on)"
				 "   FOR UPDATE OF v",
				 1, argtypes, args, NULL, SPI_OK_SELECT);
	catalog_exec("SELECT p.name, p.entity::oid, p.owner, v.version, v.definition, v.search_path"
				 "  FROM procflow.process p"
				 "  JOIN procflow.flow_version v ON v.process_id = p.id"
				 " WHERE (p.entity = $1::pg_catalog.regclass"
				 "        OR $1::pg_catalog.regclass = ANY (v.waits_on))"
				 "   AND p.owner <> 0"
				 "   AND (v.version = p.version"
				 "        OR EXISTS (SELECT 1 FROM procflow.instance i"
				 "                    WHERE i.process_id = p.id AND i.version = v.version"
				 "                      AND i.finished_at IS NULL))"
				 " ORDER BY p.name, v.version",
				 1, argtypes, args, NULL, SPI_OK_SELECT);
	versions = SPI_tuptable;
	n = SPI_processed;
	for (uint64 r = 0; r < n; r++)
	{
		HeapTuple	tup = versions->vals[r];
		TupleDesc	desc = versions->tupdesc;
		bool		isnull;
		char	   *name = SPI_getvalue(tup, desc, 1);
		Datum		d = SPI_getbinval(tup, desc, 2, &isnull);
		Oid			entity = isnull ? InvalidOid : DatumGetObjectId(d);
		Oid			owner = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
		int32		version = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
		Jsonb	   *definition = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 5, &isnull));
		char	   *search_path = SPI_getvalue(tup, desc, 6);
		MemoryContext cxt = CurrentMemoryContext;

		PG_TRY();
		{
			(void) flow_check_sql(flow_read(definition, name), name, entity, owner,
								  search_path);
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(cxt);
			edata = CopyErrorData();
			FlushErrorState();
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("cannot alter table %s because version %d of flow \"%s\" uses it as it was",
							get_rel_name(relid), version, name),
					 errdetail("Checked against the table as it would be: %s", edata->message),
					 errhint("Give the flow a version that works with the new table (procflow.alter_flow), and let the instances of the old one finish, first.")));
		}
		PG_END_TRY();
	}
}

/* ddl_command_end of ALTER TABLE. */
Datum
procflow_table_altered(PG_FUNCTION_ARGS)
{
	Node	   *parsetree = event_parsetree(fcinfo, "procflow_table_altered");
	bool		check_key = key_before_xact == MyProc->lxid &&
		key_before_xact != InvalidLocalTransactionId;
	Oid			renamed;

	if (catalog_oids_if_installed() == NULL)
		PG_RETURN_VOID();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (check_key)
		check_primary_key();
	if (IsA(parsetree, RenameStmt) &&
		((RenameStmt *) parsetree)->renameType == OBJECT_COLUMN)
		follow_rename((RenameStmt *) parsetree);
	renamed = renamed_table_xact == MyProc->lxid ? renamed_table : InvalidOid;
	renamed_table_xact = InvalidLocalTransactionId;
	if (OidIsValid(renamed) && catalog_oids()->has_flows)
		recheck_versions(renamed);
	SPI_finish();
	PG_RETURN_VOID();
}
