/*-------------------------------------------------------------------------
 *
 * truncate.c
 *	  What TRUNCATE of an entity table, or of one of its partitions, does
 *	  to the pending jobs of its rows.
 *
 * TRUNCATE fires no row triggers, so the pending create and update jobs of
 * the rows it removes would otherwise stay, and run on rows inserted later
 * with the same keys.  They are cancelled instead (history status
 * "cancelled"), as a DELETE of each row would have cancelled them; the
 * jobs of delete events stay, since they carry their row.  TRUNCATE of the
 * entity table itself fires procflow's AFTER TRUNCATE trigger on it, and
 * cancels all such jobs of its processes.  TRUNCATE of one partition of a
 * partitioned entity table (which fires no trigger of the parent) is seen
 * by procflow's utility hook (utility_hook.c): the jobs of the entity's
 * processes whose row no longer exists are cancelled.  Jobs an executor is
 * running are left to find their row gone.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "nodes/parsenodes.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "batch.h"
#include "cache.h"
#include "catalog.h"
#include "entity.h"
#include "queue.h"
#include "truncate.h"

#define TRUNCATED_REASON "the entity table was truncated"

/*
 * The pending create and update jobs of the processes of "entity", locked
 * (skipping those an executor holds), after their batches have become job
 * rows.  The caller acts as the extension owner.
 */
static void
lock_row_jobs(Oid entity)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(entity)};
	Datum		ids;

	catalog_exec("SELECT coalesce(pg_catalog.array_agg(id), '{}') FROM procflow.process"
				 " WHERE entity = $1::pg_catalog.regclass",
				 1, argtypes, args, NULL, SPI_OK_SELECT);
	{
		bool		isnull;

		ids = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	}
	batch_materialize_processes(ids, false);
	/* events for waits carry their rows: they are delivered all the same */
	catalog_exec(catalog_oids()->level == CATALOG_BEFORE_FLOWS ?
				 "SELECT j.id, j.key FROM procflow.job j"
				 "  JOIN procflow.process p ON p.id = j.process_id"
				 " WHERE p.entity = $1::pg_catalog.regclass"
				 "   AND j.event IN ('create', 'update') AND j.key IS NOT NULL"
				 " ORDER BY j.id FOR UPDATE OF j SKIP LOCKED" :
				 "SELECT j.id, j.key FROM procflow.job j"
				 "  JOIN procflow.process p ON p.id = j.process_id"
				 " WHERE p.entity = $1::pg_catalog.regclass"
				 "   AND j.event IN ('create', 'update') AND j.key IS NOT NULL"
				 "   AND j.xid IS NULL"
				 " ORDER BY j.id FOR UPDATE OF j SKIP LOCKED",
				 1, argtypes, args, NULL, SPI_OK_SELECT);
}

/* Cancel the jobs with these ids (int8[]). */
static void
cancel_jobs(Datum ids)
{
	Oid			argtypes[1] = {INT8ARRAYOID};
	Datum		args[1] = {ids};

	catalog_exec("DELETE FROM procflow.job WHERE id = ANY ($1) RETURNING *",
				 1, argtypes, args, NULL, SPI_OK_DELETE_RETURNING);
	queue_cancel_deleted(SPI_tuptable, SPI_processed, TRUNCATED_REASON);
}

/*
 * Refuse to "what" a table (truncate it, detach a partition of it, drop
 * one of its partitions) whose rows' deletion a live wait waits for: the
 * rows go without being deleted one by one, so the wait would never see
 * its event.  The waits of the table's partition ancestors count too (a
 * partition's rows are theirs).  The caller holds an SPI connection.
 */
void
truncate_refuse_if_deletion_awaited(Oid table, const char *what)
{
	Oid			argtypes[1] = {OIDARRAYOID};
	Datum		args[1];
	List	   *tables = list_make1_oid(table);
	Datum	   *oids;
	int			n = 0;
	ListCell   *lc;

	if (get_rel_relispartition(table))
		tables = list_concat(tables, get_partition_ancestors(table));
	oids = palloc(sizeof(Datum) * list_length(tables));
	foreach(lc, tables)
		oids[n++] = ObjectIdGetDatum(lfirst_oid(lc));
	args[0] = queue_array(oids, NULL, n, OIDOID);
	catalog_exec("SELECT p.name, a.name FROM procflow.activity a"
				 "  JOIN procflow.instance i ON i.id = a.instance_id"
				 "  JOIN procflow.process p ON p.id = i.process_id"
				 "  JOIN procflow.flow_version v"
				 "    ON v.process_id = i.process_id AND v.version = i.version"
				 " WHERE a.status = 'waiting'"
				 "   AND a.wait_entity = ANY ($1::pg_catalog.regclass[])"
				 "   AND v.definition -> 'activities' -> a.name -> 'on' ->> 'event' = 'delete'"
				 " LIMIT 1",
				 1, argtypes, args, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("cannot %s \"%s\" while wait \"%s\" of flow \"%s\" waits for the deletion of its rows",
						what, get_rel_name(table),
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2),
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errdetail("Its rows would go without being deleted one by one: the wait would never see its event."),
				 errhint("DELETE the rows instead.")));
}

/*
 * Cancel the pending create and update jobs of the processes of "entity"
 * whose rows a TRUNCATE removed: all of them when the entity table itself
 * was truncated ("whole"), those whose row is gone when a partition was.
 * Events for waits are kept: they carry their rows.  A table whose rows'
 * deletion a live wait waits for is not truncated.
 */
void
truncate_cancel_jobs(Oid entity, bool whole)
{
	PrivilegedScope scope;
	SPITupleTable *jobs;
	Datum	   *gone;
	int			ngone = 0;

	if (catalog_oids_if_installed() == NULL)
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	catalog_enter_privileged(&scope);
	if (catalog_oids()->has_flows)
		truncate_refuse_if_deletion_awaited(entity, "truncate table");
	lock_row_jobs(entity);
	catalog_leave_privileged(&scope);
	jobs = SPI_tuptable;
	gone = palloc(sizeof(Datum) * Max(SPI_processed, 1));

	if (SPI_processed > 0)
	{
		EntityShape *shape = NULL;
		IdentityScope escope;
		uint64		n = SPI_processed;

		cache_pin();
		if (!whole)
		{
			shape = cache_entity(entity);
			entity_enter(shape, &escope);
		}
		for (uint64 i = 0; i < n; i++)
		{
			bool		isnull;
			Datum		id = SPI_getbinval(jobs->vals[i], jobs->tupdesc, 1, &isnull);
			Datum		key = SPI_getbinval(jobs->vals[i], jobs->tupdesc, 2, &isnull);
			Datum		row;

			if (whole || !entity_fetch_row(shape, key, &row))
				gone[ngone++] = id;
		}
		if (!whole)
			entity_leave(&escope);
		cache_unpin();
	}
	if (ngone > 0)
		cancel_jobs(queue_array(gone, NULL, ngone, INT8OID));
	SPI_finish();
}

/*
 * The partitions a DROP SCHEMA (with CASCADE) or DROP OWNED would drop
 * with the schemas or roles it names, appended to "tables".
 */
static List *
partitions_dropped_with(Node *stmt, List *tables)
{
	ListCell   *lc;
	bool		owned = IsA(stmt, DropOwnedStmt);
	List	   *names = owned ? ((DropOwnedStmt *) stmt)->roles : ((DropStmt *) stmt)->objects;

	foreach(lc, names)
	{
		Oid			owner_or_schema = owned ?
			get_rolespec_oid(lfirst(lc), true) :
			get_namespace_oid(strVal(lfirst(lc)), true);
		Relation	rel;
		TableScanDesc scan;
		HeapTuple	tup;

		if (!OidIsValid(owner_or_schema))
			continue;
		rel = table_open(RelationRelationId, AccessShareLock);
		scan = table_beginscan_catalog(rel, 0, NULL);
		while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
		{
			Form_pg_class c = (Form_pg_class) GETSTRUCT(tup);

			if (c->relispartition &&
				(owned ? c->relowner : c->relnamespace) == owner_or_schema)
				tables = lappend_oid(tables, c->oid);
		}
		table_endscan(scan);
		table_close(rel, AccessShareLock);
	}
	return tables;
}

/*
 * Before DROP TABLE or ALTER TABLE ... DETACH PARTITION (also CONCURRENTLY,
 * whose first transaction commits before the statement ends, and FINALIZE),
 * and DROP SCHEMA ... CASCADE or DROP OWNED, which drop the partitions in
 * the schemas or of the roles they name: a partition of an entity table
 * whose rows' deletion a live wait waits for is neither dropped nor
 * detached (its rows would go without being deleted).  The entity tables
 * themselves are the sql_drop trigger's (procflow.entity_dropped).
 */
void
truncate_refuse_partition_loss(Node *stmt)
{
	PrivilegedScope scope;
	List	   *tables = NIL;
	ListCell   *lc;
	const char *what = NULL;

	/* an extension's script (procflow's own update) is none of this */
	if (creating_extension)
		return;
	if (IsA(stmt, DropStmt) && ((DropStmt *) stmt)->removeType == OBJECT_TABLE)
	{
		what = "drop table";
		foreach(lc, ((DropStmt *) stmt)->objects)
		{
			Oid			relid = RangeVarGetRelid(makeRangeVarFromNameList((List *) lfirst(lc)),
												 NoLock, true);

			if (OidIsValid(relid) && get_rel_relispartition(relid))
				tables = lappend_oid(tables, relid);
		}
	}
	else if ((IsA(stmt, DropStmt) && ((DropStmt *) stmt)->removeType == OBJECT_SCHEMA &&
			  ((DropStmt *) stmt)->behavior == DROP_CASCADE) ||
			 IsA(stmt, DropOwnedStmt))
	{
		what = IsA(stmt, DropOwnedStmt) ? "drop owned table" : "drop table in schema";
		tables = partitions_dropped_with(stmt, NIL);
	}
	else if (IsA(stmt, AlterTableStmt))
	{
		AlterTableStmt *alter = (AlterTableStmt *) stmt;

		what = "detach a partition of table";
		foreach(lc, alter->cmds)
		{
			AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);
			Oid			relid;

			if (cmd->subtype != AT_DetachPartition &&
				cmd->subtype != AT_DetachPartitionFinalize)
				continue;
			relid = RangeVarGetRelid(alter->relation, NoLock, true);
			if (OidIsValid(relid))
				tables = lappend_oid(tables, relid);
		}
	}
	if (tables == NIL || catalog_oids_if_installed() == NULL || !catalog_oids()->has_flows)
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	catalog_enter_privileged(&scope);
	foreach(lc, tables)
		truncate_refuse_if_deletion_awaited(lfirst_oid(lc), what);
	catalog_leave_privileged(&scope);
	SPI_finish();
}

/*
 * After a TRUNCATE: for each table it named that is a partition, the
 * entity tables among its ancestors lose the jobs of the rows it removed.
 * (The truncated entity tables themselves see it by their trigger.)
 */
void
truncate_partitions_done(List *relations)
{
	ListCell   *lc;

	if (catalog_oids_if_installed() == NULL)
		return;
	foreach(lc, relations)
	{
		RangeVar   *rv = lfirst_node(RangeVar, lc);
		Oid			relid = RangeVarGetRelid(rv, NoLock, true);
		ListCell   *alc;

		if (!OidIsValid(relid) || !get_rel_relispartition(relid))
			continue;
		foreach(alc, get_partition_ancestors(relid))
			truncate_cancel_jobs(lfirst_oid(alc), false);
	}
}
