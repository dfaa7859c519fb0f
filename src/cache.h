/*-------------------------------------------------------------------------
 *
 * cache.h
 *	  Per-backend cache of process definitions and of the rules that each
 *	  entity table's row trigger applies.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_CACHE_H
#define PROCFLOW_CACHE_H

#include "access/attnum.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/bitmapset.h"
#include "nodes/pg_list.h"
#include "utils/timestamp.h"

struct CacheGeneration;

/* What procflow knows of an entity table: its row type and primary key. */
typedef struct EntityShape
{
	Oid			relid;
	Oid			rowtype;
	int			nkeys;
	AttrNumber	keyattnums[INDEX_MAX_KEYS];
	Oid			keytypes[INDEX_MAX_KEYS];
	Oid			keycollations[INDEX_MAX_KEYS];
	char	   *keynames[INDEX_MAX_KEYS];
	FmgrInfo	keyout[INDEX_MAX_KEYS];
	FmgrInfo	keyhash[INDEX_MAX_KEYS];	/* fn_oid invalid: hash the text */
	SPIPlanPtr	fetch_plan;		/* re-reads a row by key, see entity.c */
	struct CacheGeneration *generation;
} EntityShape;

/* One process definition. */
typedef struct ProcessInfo
{
	int32		id;
	char	   *name;
	Oid			owner;
	int32		execution_order;
	bool		enabled;
	int32		max_attempts;
	int64		timeout_ms;		/* 0 when none */
	char	   *search_path;
	char	   *action;
	char	   *condition;		/* NULL when none */
	List	   *exclude;		/* process names, as char * */
	EntityShape *entity;		/* NULL for an entity-less process */
	SPIPlanPtr	action_plan;	/* prepared lazily, see action.c */
	SPIPlanPtr	condition_plan;
	struct CacheGeneration *generation;
} ProcessInfo;

/* One trigger of an enabled process on an entity table. */
typedef struct TriggerRule
{
	int64		id;
	ProcessInfo *process;
	char		event;			/* 'c'reate, 'u'pdate, 'd'elete */
	Bitmapset  *fields;			/* update: fire only if one of these changed */
	bool		queued;
	Interval   *delay;			/* NULL when none */
	int32		priority;
	int64		ord;			/* queue order key, see queue_order_key */
} TriggerRule;

/* Everything the row trigger of one entity table does. */
typedef struct RelationRules
{
	Oid			relid;
	EntityShape *entity;		/* NULL when no process uses the table */
	int			nrules;
	TriggerRule *rules;			/* in execution order */
	Datum		cancel_process_ids; /* int4[] of processes with queued
									 * create/update triggers, or 0 */
	SPIPlanPtr	cancel_plan;	/* prepared lazily, see capture.c */
	struct CacheGeneration *generation;
} RelationRules;

extern void cache_init(void);
extern void cache_pin(void);
extern void cache_unpin(void);
extern RelationRules *cache_relation_rules(Oid relid);
extern ProcessInfo *cache_process(int32 process_id);
extern EntityShape *cache_entity(Oid relid);
extern void cache_keep_plan(struct CacheGeneration *generation, SPIPlanPtr plan);

#endif							/* PROCFLOW_CACHE_H */
