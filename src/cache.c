/*-------------------------------------------------------------------------
 *
 * cache.c
 *	  Per-backend cache of process definitions and entity-table rules.
 *
 * The row trigger must not query procflow's tables for every row, so each
 * backend keeps what it read of them in a "generation": one memory context
 * holding the rules of each entity table it has seen, the processes it has
 * used and the primary-key shape of their entity tables, plus the SPI plans
 * prepared for them.  Any relcache invalidation of procflow.process (sent
 * by every change of a definition, see catalog.c) or of a cached entity
 * table marks the generation stale; the next lookup starts a new one.
 *
 * A caller that keeps pointers into the cache across code that may run
 * queries (an action can change definitions, or fire a nested trigger)
 * pins it: a stale generation is then only retired, and freed once nothing
 * pins the cache any more.  Transaction end drops forgotten pins.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tupconvert.h"
#include "access/xact.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/typcache.h"
#include "utils/varlena.h"

#include "cache.h"
#include "catalog.h"
#include "identity.h"
#include "value_text.h"

typedef struct CacheGeneration
{
	MemoryContext cxt;
	HTAB	   *relations;		/* Oid -> RelationRules */
	HTAB	   *processes;		/* int32 -> ProcessInfo */
	HTAB	   *entities;		/* Oid -> EntityShape */
	List	   *plans;			/* SPI plans kept for this generation */
	Oid			process_relid;	/* procflow.process when it was built */
	Oid			trigger_relid;	/* procflow.trigger when it was built */
	uint64		number;			/* generations are numbered from 1 */
} CacheGeneration;

typedef struct RelationEntry
{
	Oid			relid;
	RelationRules rules;
} RelationEntry;

typedef struct ProcessEntry
{
	int32		id;
	bool		found;
	ProcessInfo info;
} ProcessEntry;

typedef struct EntityEntry
{
	Oid			relid;
	EntityShape shape;
} EntityEntry;

static CacheGeneration *current = NULL;
static uint64 last_number = 0;
static bool stale = false;
static int	pins = 0;
static List *retired = NIL;		/* in TopMemoryContext */

static void cache_relcache_callback(Datum arg, Oid relid);
static CacheGeneration *generation(void);
static void free_generation(CacheGeneration *gen);
static void free_retired(void);

/* Register the invalidation callback (from _PG_init). */
void
cache_init(void)
{
	CacheRegisterRelcacheCallback(cache_relcache_callback, (Datum) 0);
}

/*
 * Relcache invalidation: mark the cache stale if it concerns procflow's
 * definitions, an entity table we know, or a table whose row trigger we
 * have seen fire (a partition attached or detached).  Only a flag is set here; the
 * callback may run in the middle of anything.
 */
static void
cache_relcache_callback(Datum arg, Oid relid)
{
	catalog_invalidate(relid);
	if (current == NULL || stale)
		return;
	if (relid == InvalidOid || relid == current->process_relid ||
		relid == current->trigger_relid ||
		hash_search(current->entities, &relid, HASH_FIND, NULL) != NULL ||
		hash_search(current->relations, &relid, HASH_FIND, NULL) != NULL)
		stale = true;
}

/* Transaction end: no code runs with pointers into the cache any more. */
void
cache_xact_event(XactEvent event)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT)
		pins = 0;
}

/* Keep pointers obtained from the cache valid until cache_unpin. */
void
cache_pin(void)
{
	pins++;
}

/* Release a pin; free retired generations once none is left. */
void
cache_unpin(void)
{
	Assert(pins > 0);
	if (--pins == 0)
		free_retired();
}

/* Free a generation and the plans prepared for it. */
static void
free_generation(CacheGeneration *gen)
{
	ListCell   *lc;

	foreach(lc, gen->plans)
		SPI_freeplan((SPIPlanPtr) lfirst(lc));
	MemoryContextDelete(gen->cxt);
}

/* Free every retired generation (nothing points into them any more). */
static void
free_retired(void)
{
	ListCell   *lc;

	foreach(lc, retired)
		free_generation((CacheGeneration *) lfirst(lc));
	list_free(retired);
	retired = NIL;
}

/*
 * The current generation, started anew when it is stale.  The old one is
 * freed at once when unpinned, retired otherwise.
 */
static CacheGeneration *
generation(void)
{
	const CatalogOids *c;
	MemoryContext cxt;
	CacheGeneration *gen;
	HASHCTL		ctl;

	if (current != NULL && !stale)
		return current;

	if (current != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		retired = lappend(retired, current);
		MemoryContextSwitchTo(old);
		current = NULL;
	}
	if (pins == 0)
		free_retired();

	c = catalog_oids();
	cxt = AllocSetContextCreate(TopMemoryContext, "procflow rule cache",
								ALLOCSET_SMALL_SIZES);
	gen = MemoryContextAllocZero(cxt, sizeof(CacheGeneration));
	gen->cxt = cxt;
	gen->process_relid = c->process;
	gen->trigger_relid = c->trigger;
	gen->number = ++last_number;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(RelationEntry);
	ctl.hcxt = cxt;
	gen->relations = hash_create("procflow relation rules", 32, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.keysize = sizeof(int32);
	ctl.entrysize = sizeof(ProcessEntry);
	gen->processes = hash_create("procflow processes", 32, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(EntityEntry);
	gen->entities = hash_create("procflow entities", 32, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	current = gen;
	stale = false;
	return gen;
}

/*
 * The number of the current generation: what was prepared in an earlier
 * one may have been prepared against definitions or tables that changed.
 */
uint64
cache_generation_number(void)
{
	return generation()->number;
}

/* Keep an SPI plan for as long as the generation lives. */
void
cache_keep_plan(CacheGeneration *gen, SPIPlanPtr plan)
{
	MemoryContext old;

	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	old = MemoryContextSwitchTo(gen->cxt);
	gen->plans = lappend(gen->plans, plan);
	MemoryContextSwitchTo(old);
}

/*
 * Read an entity table's owner, row type and primary key, and prepare the
 * I/O of its columns.  An entity table must have a primary key: procflow
 * identifies rows by it.
 */
static void
build_entity(CacheGeneration *gen, EntityShape *shape, Oid relid)
{
	Relation	rel;
	Oid			pkoid;
	Relation	pkrel;
	TupleDesc	desc;
	MemoryContext old;

	rel = try_table_open(relid, AccessShareLock);
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the entity table of the process (relation %u) no longer exists", relid),
				 errhint("Drop the process, or give it another table with procflow.alter_process().")));
	pkoid = RelationGetPrimaryKeyIndex(rel);
	if (!OidIsValid(pkoid))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
				 errmsg("table \"%s\" has no primary key",
						RelationGetRelationName(rel)),
				 errdetail("procflow identifies the rows of an entity table by their primary key."),
				 errhint("Add a primary key with ALTER TABLE ... ADD PRIMARY KEY.")));

	old = MemoryContextSwitchTo(gen->cxt);
	desc = CreateTupleDescCopy(RelationGetDescr(rel));
	MemoryContextSwitchTo(old);
	shape->relid = relid;
	shape->rowtype = RelationGetForm(rel)->reltype;
	shape->owner = RelationGetForm(rel)->relowner;
	shape->partitioned = RelationGetForm(rel)->relkind == RELKIND_PARTITIONED_TABLE;
	shape->desc = desc;
	shape->io_user_code = false;
	shape->fetch_plan = NULL;
	shape->generation = gen;

	shape->columns = MemoryContextAllocZero(gen->cxt, sizeof(ValueText) * Max(desc->natts, 1));
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		value_text_prepare(&shape->columns[i], att->atttypid, att->atttypmod, gen->cxt);
		shape->io_user_code |= shape->columns[i].runs_user_code;
	}

	shape->runs_user_code = shape->io_user_code ||
		(RelationGetForm(rel)->relrowsecurity && RelationGetForm(rel)->relforcerowsecurity);

	pkrel = index_open(pkoid, AccessShareLock);
	shape->nkeys = pkrel->rd_index->indnkeyatts;
	for (int i = 0; i < shape->nkeys; i++)
	{
		AttrNumber	attnum = pkrel->rd_index->indkey.values[i];
		Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);
		TypeCacheEntry *tc;

		shape->keyattnums[i] = attnum;
		shape->keytypes[i] = att->atttypid;
		shape->keycollations[i] = att->attcollation;
		shape->keynames[i] = MemoryContextStrdup(gen->cxt, NameStr(att->attname));
		shape->keyoptype[i] = pkrel->rd_opcintype[i];
		shape->keyequality[i] = get_opfamily_member(pkrel->rd_opfamily[i],
													pkrel->rd_opcintype[i],
													pkrel->rd_opcintype[i],
													BTEqualStrategyNumber);
		if (!OidIsValid(shape->keyequality[i]))
			elog(ERROR, "no equality operator for primary key column \"%s\"",
				 shape->keynames[i]);
		tc = lookup_type_cache(att->atttypid, TYPECACHE_HASH_EXTENDED_PROC);
		if (OidIsValid(tc->hash_extended_proc))
			fmgr_info_cxt(tc->hash_extended_proc, &shape->keyhash[i], gen->cxt);
		else
			shape->keyhash[i].fn_oid = InvalidOid;
	}
	index_close(pkrel, AccessShareLock);
	table_close(rel, AccessShareLock);
}

/* The shape of an entity table, read on first use. */
EntityShape *
cache_entity(Oid relid)
{
	CacheGeneration *gen = generation();
	EntityEntry *entry;
	bool		found;

	entry = hash_search(gen->entities, &relid, HASH_FIND, NULL);
	if (entry != NULL)
		return &entry->shape;

	/* build first, so that an error leaves no half-built entry */
	{
		EntityShape shape;

		build_entity(gen, &shape, relid);
		if (stale || gen != current)		/* invalidated while building */
			return cache_entity(relid);
		entry = hash_search(gen->entities, &relid, HASH_ENTER, &found);
		entry->shape = shape;
	}
	return &entry->shape;
}

/* Text value of column "col" of the current SPI row, copied into cxt. */
static char *
spi_text(int col, MemoryContext cxt)
{
	char	   *value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col);

	return value ? MemoryContextStrdup(cxt, value) : NULL;
}

/*
 * Read one process definition into "info"; false when it does not exist.
 * The processes it excludes are those of its owner with the names it
 * lists.  The caller holds an SPI connection and acts as the extension
 * owner.
 */
static bool
read_process(CacheGeneration *gen, int32 process_id, ProcessInfo *info)
{
	static const char *sql =
		"SELECT p.name, p.entity::oid, r.oid, p.execution_order, p.enabled, p.max_attempts,"
		" (extract(epoch FROM p.timeout) * 1000)::int8, p.search_path, p.action, p.condition,"
		" (SELECT pg_catalog.array_agg(e.id) FROM procflow.process e"
		"   WHERE e.name = ANY (p.exclude) AND e.owner = p.owner),"
		" p.owner_name,"
		/* a 0.2 catalog, not updated yet, has no versions */
		" (pg_catalog.to_jsonb(p) OPERATOR(pg_catalog.->>) 'version')::pg_catalog.int4"
		" FROM procflow.process p LEFT JOIN pg_catalog.pg_roles r ON r.oid = p.owner"
		" WHERE p.id = $1";
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1];
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;
	Oid			entity;

	args[0] = Int32GetDatum(process_id);

	/*
	 * Not read-only, so with a new snapshot: an executor's transaction may
	 * have begun before the process of the job it claimed was committed.
	 */
	if (SPI_execute_with_args(sql, 1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read process %d", process_id);
	if (SPI_processed == 0)
		return false;

	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	info->id = process_id;
	info->name = spi_text(1, gen->cxt);
	d = SPI_getbinval(tup, desc, 2, &isnull);
	entity = isnull ? InvalidOid : DatumGetObjectId(d);
	d = SPI_getbinval(tup, desc, 3, &isnull);
	info->owner = isnull ? InvalidOid : DatumGetObjectId(d);
	info->execution_order = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
	info->enabled = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
	info->max_attempts = DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull));
	d = SPI_getbinval(tup, desc, 7, &isnull);
	info->timeout_ms = isnull ? 0 : Max(DatumGetInt64(d), 1);
	info->search_path = identity_search_path_temp_last(SPI_getvalue(tup, desc, 8), gen->cxt);
	info->action = spi_text(9, gen->cxt);
	info->condition = spi_text(10, gen->cxt);
	info->owner_name = spi_text(12, gen->cxt);
	d = SPI_getbinval(tup, desc, 13, &isnull);
	info->version = isnull ? 0 : DatumGetInt32(d);
	info->nexclude = 0;
	info->exclude = NULL;
	d = SPI_getbinval(tup, desc, 11, &isnull);
	if (!isnull)
	{
		Datum	   *elems;
		int			n;

		deconstruct_array(DatumGetArrayTypeP(d), INT4OID, 4, true, TYPALIGN_INT,
						  &elems, NULL, &n);
		info->exclude = MemoryContextAlloc(gen->cxt, sizeof(int32) * Max(n, 1));
		for (int i = 0; i < n; i++)
			info->exclude[i] = DatumGetInt32(elems[i]);
		info->nexclude = n;
	}
	info->action_plan = NULL;
	info->condition_plan = NULL;
	info->generation = gen;
	info->entity = OidIsValid(entity) ? cache_entity(entity) : NULL;
	return true;
}

/* A process definition by id, or NULL when there is none. */
ProcessInfo *
cache_process(int32 process_id)
{
	CacheGeneration *gen = generation();
	ProcessEntry *entry;
	ProcessInfo info;
	bool		exists;
	bool		found;
	PrivilegedScope scope;

	entry = hash_search(gen->processes, &process_id, HASH_FIND, NULL);
	if (entry != NULL)
		return entry->found ? &entry->info : NULL;

	memset(&info, 0, sizeof(info));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	catalog_enter_privileged(&scope);
	exists = read_process(gen, process_id, &info);
	catalog_leave_privileged(&scope);
	SPI_finish();

	if (stale || gen != current)			/* invalidated while reading */
		return cache_process(process_id);

	entry = hash_search(gen->processes, &process_id, HASH_ENTER, &found);
	entry->found = exists;
	entry->info = info;
	return exists ? &entry->info : NULL;
}

/* Attribute numbers of the named columns of relid (unknown ones skipped). */
static Bitmapset *
field_set(Oid relid, Datum fields, MemoryContext cxt)
{
	ArrayType  *arr = DatumGetArrayTypeP(fields);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	Bitmapset  *set = NULL;
	MemoryContext old;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	old = MemoryContextSwitchTo(cxt);
	for (int i = 0; i < n; i++)
	{
		AttrNumber	attnum;

		if (nulls[i])
			continue;
		attnum = get_attnum(relid, TextDatumGetCString(elems[i]));
		if (attnum > 0)
			set = bms_add_member(set, attnum);
	}
	MemoryContextSwitchTo(old);
	return set;
}

/* Index of target entity "entity" in rules, added when missing. */
static int
target_of(RelationRules *rules, Oid *target_relids, Oid entity)
{
	for (int i = 0; i < rules->ntargets; i++)
		if (target_relids[i] == entity)
			return i;
	target_relids[rules->ntargets] = entity;
	return rules->ntargets++;
}

/* The relation and its partition ancestors, nearest first, as oid datums. */
static Datum *
relation_and_ancestors(Oid relid, int *n)
{
	List	   *ancestors = NIL;
	Datum	   *relids;
	ListCell   *lc;

	if (get_rel_relispartition(relid))
		ancestors = get_partition_ancestors(relid);
	relids = palloc(sizeof(Datum) * (list_length(ancestors) + 1));
	*n = 0;
	relids[(*n)++] = ObjectIdGetDatum(relid);
	foreach(lc, ancestors)
		relids[(*n)++] = ObjectIdGetDatum(lfirst_oid(lc));
	return relids;
}

/*
 * A rule from a row of read_relation_rules's statement (but its target):
 * its trigger, event, fields, delay and priority, kept in the generation.
 */
static void
read_rule(CacheGeneration *gen, HeapTuple tup, TupleDesc desc, Oid entity, TriggerRule *rule)
{
	bool		isnull;
	Datum		d;

	rule->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	rule->event = SPI_getvalue(tup, desc, 2)[0];
	d = SPI_getbinval(tup, desc, 3, &isnull);
	rule->fields = isnull ? NULL : field_set(entity, d, gen->cxt);
	rule->queued = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
	d = SPI_getbinval(tup, desc, 5, &isnull);
	if (isnull)
		rule->delay = NULL;
	else
	{
		rule->delay = MemoryContextAlloc(gen->cxt, sizeof(Interval));
		memcpy(rule->delay, DatumGetIntervalP(d), sizeof(Interval));
	}
	rule->priority = DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull));
	rule->listen = DatumGetBool(SPI_getbinval(tup, desc, 10, &isnull));
}

/*
 * Give each target of the rules the processes whose queued jobs a delete
 * of its rows cancels (cancel_ids: a list of process ids per target), as
 * an int4[] kept in the generation.
 */
static void
set_cancel_targets(CacheGeneration *gen, RelationRules *rules, List **cancel_ids)
{
	rules->targets = MemoryContextAllocZero(gen->cxt,
											sizeof(EntityRules) * Max(rules->ntargets, 1));
	rules->cancels = false;
	for (int t = 0; t < rules->ntargets; t++)
	{
		List	   *ids = cancel_ids[t];
		Datum	   *elems;
		int			k = 0;
		ListCell   *lc;
		MemoryContext old;

		if (ids == NIL)
			continue;
		elems = palloc(sizeof(Datum) * list_length(ids));
		foreach(lc, ids)
			elems[k++] = Int32GetDatum(lfirst_int(lc));
		old = MemoryContextSwitchTo(gen->cxt);
		rules->targets[t].cancel_process_ids =
			PointerGetDatum(construct_array(elems, k, INT4OID, sizeof(int32), true,
											TYPALIGN_INT));
		MemoryContextSwitchTo(old);
		rules->cancels = true;
	}
}

/*
 * Read the triggers of the processes bound to relid or to one of its
 * partition ancestors: the rules of enabled processes, in execution order,
 * and per target entity the processes whose queued create and update jobs
 * a deletion cancels.  A flow whose waits (in any of its versions) wait for
 * events of the table gets a listening rule per kind of event its waits
 * and conditional starts wait for (of any table: a version that waits for
 * one kind here and another there listens to both), whether it is
 * enabled or not: a disabled flow's instances keep their events for when
 * it is enabled again.  Every version counts, not only those that live
 * instances run: a launch of an older version may commit after these rules
 * were read, and no invalidation would tell this backend.  In a database
 * whose flows wait for ALTER EXTENSION UPDATE (see catalog.h), only the
 * triggers of light processes.  Returns the process id of each rule, and
 * the relation of each target in *target_relids_out.
 */
static int32 *
read_relation_rules(CacheGeneration *gen, Oid relid, RelationRules *rules,
					Oid **target_relids_out)
{
#define TRIGGER_RULES_SQL \
	"SELECT t.id, t.event, t.fields, t.queued, t.delay, t.priority," \
	"       t.process_id, p.enabled, p.entity::oid, false AS listen, p.execution_order" \
	"  FROM procflow.trigger t JOIN procflow.process p ON p.id = t.process_id" \
	" WHERE p.entity = ANY ($1::pg_catalog.regclass[]) AND t.event IS NOT NULL"

	static const char *sql_before_flows =
		TRIGGER_RULES_SQL " AND p.action IS NOT NULL ORDER BY p.execution_order, p.id, t.id";
	static const char *sql =
		"SELECT r.* FROM (" TRIGGER_RULES_SQL
		" UNION ALL"
		" SELECT 0, w.event, NULL, true, NULL, 0, w.process_id, true, w.relid, true,"
		"        p.execution_order"
		"   FROM (SELECT DISTINCT v.process_id, t::pg_catalog.oid AS relid, e.event"
		"           FROM procflow.flow_version v,"
		"                pg_catalog.unnest(v.waits_on) t,"
		"                pg_catalog.jsonb_each(v.definition OPERATOR(pg_catalog.->) 'activities') a,"
		"                LATERAL (SELECT a.value OPERATOR(pg_catalog.->) 'on'"
		"                                OPERATOR(pg_catalog.->>) 'event') e(event)"
		"          WHERE t = ANY ($1::pg_catalog.regclass[]) AND e.event IS NOT NULL) w"
		"   JOIN procflow.process p ON p.id = w.process_id) r"
		" ORDER BY r.execution_order, r.process_id, r.id";
	Oid			argtypes[1] = {OIDARRAYOID};
	Datum		args[1];
	int			nrelids;
	Datum	   *relids = relation_and_ancestors(relid, &nrelids);
	int			n = 0;
	List	  **cancel_ids;
	int32	   *process_ids;
	Oid		   *target_relids;

	target_relids = SPI_palloc(sizeof(Oid) * nrelids);
	*target_relids_out = target_relids;

	args[0] = PointerGetDatum(construct_array(relids, nrelids, OIDOID, sizeof(Oid),
											  true, TYPALIGN_INT));
	/* a database whose extension is not updated yet has no flows to listen */
	if (SPI_execute_with_args(catalog_oids()->has_flows ? sql : sql_before_flows,
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the triggers of relation %u", relid);

	rules->relid = relid;
	rules->ntargets = 0;
	rules->rules = MemoryContextAllocZero(gen->cxt,
										  sizeof(TriggerRule) * Max(SPI_processed, 1));
	cancel_ids = palloc0(sizeof(List *) * nrelids);
	process_ids = SPI_palloc(sizeof(int32) * Max(SPI_processed, 1));

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *event = SPI_getvalue(tup, desc, 2);
		int32		process_id = DatumGetInt32(SPI_getbinval(tup, desc, 7, &isnull));
		bool		enabled = DatumGetBool(SPI_getbinval(tup, desc, 8, &isnull));
		bool		queued = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
		Oid			entity = DatumGetObjectId(SPI_getbinval(tup, desc, 9, &isnull));
		int			target = target_of(rules, target_relids, entity);
		bool		listen = DatumGetBool(SPI_getbinval(tup, desc, 10, &isnull));

		/* a delete cancels the queued jobs of its row, also a disabled one's */
		if (queued && event[0] != 'd' && !listen &&
			!list_member_int(cancel_ids[target], process_id))
			cancel_ids[target] = lappend_int(cancel_ids[target], process_id);
		if (!enabled)
			continue;
		read_rule(gen, tup, desc, entity, &rules->rules[n]);
		rules->rules[n].target = target;
		process_ids[n] = process_id;
		n++;
	}
	rules->nrules = n;
	set_cancel_targets(gen, rules, cancel_ids);
	return process_ids;
}

/*
 * The entity of each target, and how to convert the rows of relid (one of
 * its partitions) to its row type.
 */
static void
resolve_targets(CacheGeneration *gen, RelationRules *rules, Oid *target_relids)
{
	Relation	rel = NULL;

	for (int t = 0; t < rules->ntargets; t++)
	{
		EntityRules *target = &rules->targets[t];

		target->entity = cache_entity(target_relids[t]);
		target->map = NULL;
		if (target_relids[t] != rules->relid)
		{
			MemoryContext old;

			if (rel == NULL)
				rel = table_open(rules->relid, AccessShareLock);
			old = MemoryContextSwitchTo(gen->cxt);
			target->map = convert_tuples_by_name(RelationGetDescr(rel), target->entity->desc);
			MemoryContextSwitchTo(old);
		}
	}
	if (rel != NULL)
		table_close(rel, AccessShareLock);
}

/*
 * The rules of a table's row trigger, read on first use: those of the
 * processes bound to it and to its partition ancestors.  For a table that
 * no process uses, an empty rule set.
 */
RelationRules *
cache_relation_rules(Oid relid)
{
	CacheGeneration *gen = generation();
	RelationEntry *entry;
	RelationRules rules;
	bool		found;
	PrivilegedScope scope;
	int32	   *process_ids;
	Oid		   *target_relids;

	entry = hash_search(gen->relations, &relid, HASH_FIND, NULL);
	if (entry != NULL)
		return &entry->rules;

	memset(&rules, 0, sizeof(rules));
	rules.generation = gen;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	catalog_enter_privileged(&scope);
	process_ids = read_relation_rules(gen, relid, &rules, &target_relids);
	catalog_leave_privileged(&scope);
	SPI_finish();

	for (int i = 0; i < rules.nrules; i++)
	{
		TriggerRule *rule = &rules.rules[i];

		rule->process = cache_process(process_ids[i]);
		if (rule->process == NULL)
			elog(ERROR, "process %d of trigger " INT64_FORMAT " vanished",
				 process_ids[i], rule->id);
		rule->ord = procflow_order_key(rule->process->execution_order, rule->priority);
	}
	pfree(process_ids);
	resolve_targets(gen, &rules, target_relids);

	if (stale || gen != current)			/* invalidated while reading */
		return cache_relation_rules(relid);

	entry = hash_search(gen->relations, &relid, HASH_ENTER, &found);
	entry->rules = rules;
	return &entry->rules;
}
