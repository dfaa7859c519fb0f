/*-------------------------------------------------------------------------
 *
 * database_list.c
 *	  The cluster's databases that procflow may serve, as the launcher
 *	  reads them.
 *
 * The launcher is connected to no database; it reads pg_database, a
 * shared catalog, as autovacuum's launcher does.  A database may be served
 * when it accepts connections and is not a template (an executor connected
 * to a template would keep CREATE DATABASE from copying it), and when
 * procflow.database lets it: "*" lets every database, an empty string
 * none, a comma-separated list the databases it names.  Whether the
 * database has the extension only an executor connected to it can tell
 * (launcher.c).
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/snapmgr.h"
#include "utils/varlena.h"

#include "database_list.h"
#include "settings.h"
#include "shmem.h"

/*
 * The databases that may be served now, in a palloc'd array in the
 * caller's memory context (which must outlive a transaction); returns how
 * many.  Runs its own transaction.
 */
int
database_list_read(CandidateDatabase **result)
{
	MemoryContext caller = CurrentMemoryContext;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	int			n = 0;
	int			size = 16;
	CandidateDatabase *list = MemoryContextAlloc(caller, sizeof(CandidateDatabase) * size);

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
		bool		listed;

		if (!db->datallowconn || db->datistemplate ||
			!database_list_lets(NameStr(db->datname), &listed))
			continue;
		if (n == size)
		{
			size *= 2;
			list = repalloc(list, sizeof(CandidateDatabase) * size);
		}
		list[n].oid = db->oid;
		strlcpy(list[n].name, NameStr(db->datname), NAMEDATALEN);
		list[n].listed = listed;
		n++;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	*result = list;
	return n;
}

/*
 * Does procflow.database let the database of this name be served?  *listed
 * says whether it names it (rather than letting every one with "*").
 */
bool
database_list_lets(const char *name, bool *listed)
{
	char	   *raw;
	List	   *names = NIL;
	ListCell   *lc;
	bool		lets = false;

	*listed = false;
	if (procflow_database == NULL || procflow_database[0] == '\0')
		return false;
	if (strcmp(procflow_database, "*") == 0)
		return true;
	raw = pstrdup(procflow_database);
	if (SplitGUCList(raw, ',', &names))
	{
		foreach(lc, names)
			if (strcmp((char *) lfirst(lc), name) == 0)
				lets = true;
	}
	list_free(names);
	pfree(raw);
	*listed = lets;
	return lets;
}

/*
 * The names procflow.database lists that are not databases that may be
 * served (they do not exist, do not accept connections, or are templates),
 * given the candidates read; a List of palloc'd names.
 */
List *
database_list_unknown_names(const CandidateDatabase *list, int n)
{
	char	   *raw;
	List	   *names = NIL;
	List	   *unknown = NIL;
	ListCell   *lc;

	if (procflow_database == NULL || strcmp(procflow_database, "*") == 0)
		return NIL;
	raw = pstrdup(procflow_database);
	if (SplitGUCList(raw, ',', &names))
	{
		foreach(lc, names)
		{
			char	   *name = lfirst(lc);
			bool		found = false;

			for (int i = 0; i < n && !found; i++)
				found = strcmp(list[i].name, name) == 0;
			if (!found && name[0] != '\0')
				unknown = lappend(unknown, pstrdup(name));
		}
	}
	list_free(names);
	pfree(raw);
	return unknown;
}

/*
 * Why database "dboid" will not be served even with the extension, as a
 * sentence for CREATE EXTENSION's warning, with what to do in *hint; NULL
 * when it will be.
 */
const char *
database_list_why_not_served(Oid dboid, const char **hint)
{
	HeapTuple	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(dboid));
	Form_pg_database db;
	const char *why = NULL;
	bool		listed;

	if (!HeapTupleIsValid(tup))
		return NULL;
	db = (Form_pg_database) GETSTRUCT(tup);
	*hint = "Set procflow.database to '*' (every database with the extension) or to a list that names it, and reload.";
	if (procflow_database == NULL || procflow_database[0] == '\0')
		why = "procflow.database is empty.";
	else if (!database_list_lets(NameStr(db->datname), &listed))
		why = psprintf("procflow.database is \"%s\", which does not name it.", procflow_database);
	else if (db->datistemplate)
	{
		why = "It is a template: procflow serves no template, so that CREATE DATABASE can copy it.";
		*hint = "The databases created from it are served.";
	}
	else if (!db->datallowconn)
	{
		why = "It does not accept connections.";
		*hint = "ALTER DATABASE ... ALLOW_CONNECTIONS true lets the executors in.";
	}
	else if (procflow_workers == 0)
	{
		why = "procflow.workers is 0.";
		*hint = "Set procflow.workers above 0, and reload.";
	}
	else if (shmem_slots_full_without(dboid))
	{
		why = psprintf("procflow serves at most %d databases, and as many are served.",
					   PROCFLOW_MAX_DATABASES);
		*hint = "It is served once another database is not (its extension dropped, or procflow.database naming the ones to serve).";
	}
	ReleaseSysCache(tup);
	return why;
}
