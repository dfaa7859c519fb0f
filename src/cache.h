/*-------------------------------------------------------------------------
 *
 * cache.h
 *	  Per-backend cache of process definitions and of the rules that each
 *	  entity table's row trigger applies.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_CACHE_H
#define PROCFLOW_CACHE_H

#include "access/attnum.h"
#include "access/tupdesc.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/bitmapset.h"
#include "nodes/pg_list.h"
#include "utils/timestamp.h"

struct CacheGeneration;

/*
 * What procflow knows of an entity table: its owner, row type, columns and
 * primary key, and how to write and read their values (see entity.c).
 */
typedef struct EntityShape
{
	Oid			relid;
	Oid			rowtype;
	Oid			owner;			/* the table's owner: entity work runs as it */
	bool		partitioned;	/* a partitioned table, read with its partitions */
	bool		io_user_code;	/* reading or writing a key or column value
								 * runs code that is not PostgreSQL's own */
	bool		runs_user_code; /* so may procflow's work on it: its I/O, or
								 * row-level security policies forced on its
								 * owner */
	TupleDesc	desc;			/* the table's row type */
	struct ValueText *columns;	/* I/O per attribute (unused for dropped ones) */
	int			nkeys;
	AttrNumber	keyattnums[INDEX_MAX_KEYS];
	Oid			keytypes[INDEX_MAX_KEYS];
	Oid			keycollations[INDEX_MAX_KEYS];
	Oid			keyequality[INDEX_MAX_KEYS];	/* the index's "=" operator */
	Oid			keyoptype[INDEX_MAX_KEYS];	/* the type it takes */
	char	   *keynames[INDEX_MAX_KEYS];
	FmgrInfo	keyhash[INDEX_MAX_KEYS];	/* fn_oid invalid: hash the text */
	SPIPlanPtr	fetch_plan;		/* re-reads a row by key, see entity.c */
	struct CacheGeneration *generation;
} EntityShape;

/* One process definition. */
typedef struct ProcessInfo
{
	int32		id;
	char	   *name;
	Oid			owner;			/* InvalidOid when the role does not exist */
	char	   *owner_name;
	int32		execution_order;
	bool		enabled;
	int32		max_attempts;
	int64		timeout_ms;		/* 0 when none */
	char	   *search_path;
	char	   *action;			/* NULL for a flow */
	char	   *condition;		/* NULL when none */
	int32		version;		/* a flow's current version; 0 for a light
								 * process */
	int			nexclude;
	int32	   *exclude;		/* ids of the processes it excludes */
	EntityShape *entity;		/* NULL for an entity-less process */
	SPIPlanPtr	action_plan;	/* prepared lazily, see action.c */
	SPIPlanPtr	condition_plan;
	struct CacheGeneration *generation;
} ProcessInfo;

/*
 * The processes bound to one entity table, as seen from a table whose row
 * events reach them: the table itself, or one of its partitions (at any
 * depth), whose rows are converted to the entity's row type.
 */
typedef struct EntityRules
{
	EntityShape *entity;
	struct TupleConversionMap *map; /* from the fired table's rows; NULL
									 * when they have the entity's shape */
	Datum		cancel_process_ids; /* int4[] of processes with queued
									 * create/update triggers, or 0 */
} EntityRules;

/* One trigger of an enabled process on an entity table. */
typedef struct TriggerRule
{
	int64		id;
	ProcessInfo *process;
	int			target;			/* index of its EntityRules */
	char		event;			/* 'c'reate, 'u'pdate, 'd'elete */
	Bitmapset  *fields;			/* update: fire only if one of these changed
								 * (attribute numbers of the entity) */
	bool		queued;
	Interval   *delay;			/* NULL when none */
	int32		priority;
	int64		ord;			/* queue order key, see procflow_order_key */
	bool		listen;			/* not a trigger: a flow's waits listen to the
								 * table, and each event is queued for them */
} TriggerRule;

/* Everything the row trigger of one table does. */
typedef struct RelationRules
{
	Oid			relid;
	int			ntargets;
	EntityRules *targets;		/* the table and its partition ancestors that
								 * processes use */
	int			nrules;
	TriggerRule *rules;			/* of all targets, in execution order */
	bool		cancels;		/* a delete cancels jobs of some target */
	struct CacheGeneration *generation;
} RelationRules;

/*
 * Is a process (a ProcessInfo, or api.h's OwnedProcess) a flow?  A flow
 * has a current version; a light process has none (0).
 */
#define process_is_flow(p) ((p)->version > 0)

extern void cache_init(void);
extern void cache_xact_event(XactEvent event);
extern void cache_pin(void);
extern void cache_unpin(void);
extern RelationRules *cache_relation_rules(Oid relid);
extern ProcessInfo *cache_process(int32 process_id);
extern EntityShape *cache_entity(Oid relid);
extern void cache_keep_plan(struct CacheGeneration *generation, SPIPlanPtr plan);
extern uint64 cache_generation_number(void);

#endif							/* PROCFLOW_CACHE_H */
