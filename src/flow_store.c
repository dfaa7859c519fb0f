/*-------------------------------------------------------------------------
 *
 * flow_store.c
 *	  The rows of flows at run time: procflow.instance, procflow.activity,
 *	  and the jobs of the queue that belong to an instance.
 *
 * Every change to an instance's activities is made by a transaction that
 * holds the instance's row lock (flow_store_lock_instance): the engine's
 * steps, the SQL functions that act on instances and activities.  So an
 * activity read after taking that lock stays as read until commit, and no
 * two steps of one instance run at once.  Statements are prepared once per
 * backend and run as the extension owner.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/xid8.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "catalog.h"
#include "direct_insert.h"
#include "flow_store.h"
#include "queue.h"
#include "wakeup.h"

/* The statements, each prepared on first use. */
enum
{
	INSERT_INSTANCE,
	LOCK_INSTANCE,
	LOCK_INSTANCE_SKIP,
	LOCK_INSTANCE_EVENT,
	SET_STATUS,
	MERGE_VARS,
	COMPLETE_IF_IDLE,
	READ_ACTIVITY,
	CLOSE_ACTIVITY,
	NOTE_RUN,
	REOPEN,
	JOIN_ARRIVE,
	CANCEL_LIVE,
	CANCEL_JOBS,
	CANCEL_ACTIVITY_JOBS,
	INSTANCE_OWNER,
	ACTIVITY_INSTANCE,
	LIVE_INSTANCES,
	SET_TASK,
	CHILD,
	INSTANCE_FLOW,
	FLOW_BY_NAME,
	FLOW_ENABLED,
	LIVE_CHILDREN,
	WAITING,
	STARTED_BEFORE,
	SET_CLOCK,
	HAS_QUEUED,
	NEXT_JOB,
	PARK,
	QUEUE_END,
	SET_SPINS,
	NOTE_EVENT_ACTIVITY,
	FAILED_EVENT,
	WAIT_FOR,
	UNPARK,
	NSTATEMENTS
};

/*
 * Did an event (its transaction's full id $2, and command $3 in it) happen
 * after a wait (or an instance, for its conditional starts) began?  Its
 * transaction committed after the snapshot the wait began with (which saw
 * every transaction that committed before), or it is the transaction that
 * began the wait, at a later command (an executor's round runs many steps
 * in one transaction).  A snapshot dropped at a restore takes every event.
 */
#define EVENT_AFTER \
	"(began IS NULL" \
	" OR CASE WHEN began_xid = $2 THEN $3 > began_cid" \
	"    ELSE NOT pg_catalog.pg_visible_in_snapshot($2, began) END)"



static SPIPlanPtr plans[NSTATEMENTS];

/* Run statement "which" (prepared on first use) as the extension owner. */
static void
store_exec(int which, const char *sql, int nargs, Oid *argtypes, Datum *args,
		   const char *nulls, int expected)
{
	(void) catalog_exec_kept(&plans[which], sql, nargs, argtypes, args, nulls, expected);
}

/* Column "col" (from 1) of the first result row, or *isnull. */
static Datum
result_value(int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, isnull);
}

/*
 * The latest snapshot, as a pg_snapshot datum: what a wait or an instance
 * begins with.  Taken after the instance is locked or inserted, so that an
 * event committed later is delivered after this transaction ends (a
 * delivery holds an event while an instance of its row is locked or being
 * inserted, see flow_delivery.c); the latest, not the transaction's, so
 * that this holds at every isolation level.
 */
Datum
flow_store_latest_snapshot(void)
{
	LOCAL_FCINFO(fcinfo, 0);
	Datum		result;

	PushActiveSnapshot(GetLatestSnapshot());
	InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
	result = pg_current_snapshot(fcinfo);
	PopActiveSnapshot();
	return result;
}

/*
 * Insert an active instance of a flow's version and return its id; key is
 * a text[] (0 for an entity-less flow), vars a jsonb object (NULL: {});
 * a subflow's instance names its parent instance and activity.  "began"
 * (a pg_snapshot) tells the events its conditional starts take.
 */
int64
flow_store_insert_instance(int32 process_id, int32 version, Datum key, Jsonb *vars,
						   int64 parent, int64 parent_activity, Datum began)
{
	Oid			argtypes[8] = {INT4OID, INT4OID, TEXTARRAYOID, JSONBOID, INT8OID, INT8OID,
	INT4OID, PG_SNAPSHOTOID};
	Datum		args[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	bool		isnull;

	args[0] = Int32GetDatum(process_id);
	args[1] = Int32GetDatum(version);
	args[2] = key;
	args[3] = JsonbPGetDatum(vars);
	args[4] = Int64GetDatum(parent);
	if (key == 0)
		nulls[2] = 'n';
	if (vars == NULL)
		nulls[3] = 'n';
	if (parent == 0)
		nulls[4] = 'n';
	args[5] = Int64GetDatum(parent_activity);
	if (parent_activity == 0)
		nulls[5] = 'n';
	args[6] = Int32GetDatum((int32) GetCurrentCommandId(false));
	args[7] = began;
	store_exec(INSERT_INSTANCE,
			   "INSERT INTO procflow.instance (process_id, version, key, vars, parent,"
			   "  parent_activity, began, began_xid, began_cid)"
			   " VALUES ($1, $2, $3, coalesce($4, '{}'), $5, $6, $8,"
			   "         pg_catalog.pg_current_xact_id(), $7)"
			   " RETURNING id",
			   8, argtypes, args, nulls, SPI_OK_INSERT_RETURNING);
	return DatumGetInt64(result_value(1, &isnull));
}

static const char *const instance_status_names[] = {
	"active", "suspended", "completed", "terminated"
};

static const char *const activity_status_names[] = {
	"scheduled", "ready", "open", "waiting", "closed", "skipped", "cancelled", "failed"
};

/* An instance's status as procflow.instance spells it. */
const char *
instance_status_name(InstanceStatus status)
{
	return instance_status_names[status];
}

/* An activity's status as procflow.activity spells it. */
const char *
activity_status_name(ActivityStatus status)
{
	return activity_status_names[status];
}

/*
 * The index of a word in a list of n names; an error for another word
 * (only procflow writes these columns).
 */
static int
name_index(const char *const *names, int n, const char *word, const char *what)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], word) == 0)
			return i;
	elog(ERROR, "unknown %s \"%s\"", what, word);
	return 0;					/* not reached */
}

/* An instance's status read from its row. */
static InstanceStatus
instance_status_of(const char *word)
{
	return (InstanceStatus) name_index(instance_status_names,
									   lengthof(instance_status_names), word,
									   "instance status");
}

/* An activity's status read from its row. */
static ActivityStatus
activity_status_of(const char *word)
{
	return (ActivityStatus) name_index(activity_status_names,
									   lengthof(activity_status_names), word,
									   "activity status");
}

/* An activity's kind read from its row. */
static FlowKind
flow_kind_of(const char *word)
{
	static const FlowKind kinds[] = {FLOW_AUTOMATIC, FLOW_HUMAN, FLOW_WAIT, FLOW_DECISION,
	FLOW_JOIN, FLOW_CONDITIONAL_START, FLOW_SUBFLOW, FLOW_END};

	for (int i = 0; i < (int) lengthof(kinds); i++)
		if (strcmp(flow_kind_name(kinds[i]), word) == 0)
			return kinds[i];
	elog(ERROR, "unknown activity kind \"%s\"", word);
	return FLOW_END;			/* not reached */
}

/*
 * An instance row, locked: its columns, whether it has a wait that failed
 * on an event, and, for an event's delivery ("event"), whether its flow is
 * enabled and whether events are kept for it, as the same snapshot sees
 * them.
 */
#define LOCK_SQL(event, how) \
	"SELECT process_id, version, key, status, vars, parent, parent_activity," \
	"       clock, spins," \
	"       EXISTS (SELECT 1 FROM procflow.activity a" \
	"                WHERE a.instance_id = $1 AND a.kind = 'wait' AND a.status = 'failed'" \
	"                  AND EXISTS (SELECT 1 FROM procflow.finished_job f" \
	"                               WHERE f.instance_id = $1 AND f.activity_id = a.id" \
	"                                 AND f.xid IS NOT NULL AND f.status = 'failed'))" \
	event \
	"  FROM procflow.instance" \
	" WHERE id = $1 FOR UPDATE" how
#define LOCK_EVENT_COLUMNS \
	", (SELECT p.enabled FROM procflow.process p WHERE p.id = process_id)," \
	"  EXISTS (SELECT 1 FROM procflow.job j WHERE j.instance_id = $1 AND j.xid IS NOT NULL)"

/*
 * Lock an instance row and read it (see LOCK_SQL).  With "wait", wait for
 * a lock another transaction holds; without, set *busy and return false
 * when one does (an executor never waits for an instance: the functions
 * that lock one wait for the jobs an executor holds).  False, with *busy
 * false, when there is no such instance.  The datums are in the caller's
 * memory context.
 */
static bool
lock_instance(int64 id, bool wait, bool event, FlowInstance *instance, bool *busy)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(id)};
	bool		isnull;
	Datum		d;

	*busy = false;
	if (wait)
		store_exec(LOCK_INSTANCE, LOCK_SQL("", ""), 1, argtypes, args, NULL, SPI_OK_SELECT);
	else
	{
		if (event)
			store_exec(LOCK_INSTANCE_EVENT, LOCK_SQL(LOCK_EVENT_COLUMNS, " SKIP LOCKED"), 1,
					   argtypes, args, NULL, SPI_OK_SELECT);
		else
			store_exec(LOCK_INSTANCE_SKIP, LOCK_SQL("", " SKIP LOCKED"), 1, argtypes, args,
					   NULL, SPI_OK_SELECT);
		if (SPI_processed == 0)
		{
			Oid			owner;

			/* gone, or locked by another transaction? */
			*busy = flow_store_instance_owner(id, &owner);
			return false;
		}
	}
	if (SPI_processed == 0)
		return false;
	instance->id = id;
	instance->process_id = DatumGetInt32(result_value(1, &isnull));
	instance->version = DatumGetInt32(result_value(2, &isnull));
	d = result_value(3, &isnull);
	instance->key = isnull ? (Datum) 0 : SPI_datumTransfer(d, false, -1);
	instance->status = instance_status_of(TextDatumGetCString(result_value(4, &isnull)));
	instance->vars = DatumGetJsonbPCopy(SPI_datumTransfer(result_value(5, &isnull), false, -1));
	d = result_value(6, &isnull);
	instance->parent = isnull ? 0 : DatumGetInt64(d);
	d = result_value(7, &isnull);
	instance->parent_activity = isnull ? 0 : DatumGetInt64(d);
	d = result_value(8, &isnull);
	instance->clock = isnull ? 0 : DatumGetInt64(d);
	instance->spins = DatumGetInt32(result_value(9, &isnull));
	instance->failed_wait = DatumGetBool(result_value(10, &isnull));
	instance->flow_enabled = event && DatumGetBool(result_value(11, &isnull)) && !isnull;
	instance->has_kept = event && DatumGetBool(result_value(12, &isnull));
	return true;
}

/* Lock an instance row and read it, for a step or a function (see lock_instance). */
bool
flow_store_lock_instance(int64 id, bool wait, FlowInstance *instance, bool *busy)
{
	return lock_instance(id, wait, false, instance, busy);
}

/*
 * Lock an instance row for delivering an event to it, without waiting,
 * and read it with its flow's enabled flag and whether events are kept
 * for it (see lock_instance).
 */
bool
flow_store_lock_for_event(int64 id, FlowInstance *instance, bool *busy)
{
	return lock_instance(id, false, true, instance, busy);
}

/*
 * Give an instance a new status; a completed or terminated one gets its
 * finish time.
 */
void
flow_store_set_status(int64 instance_id, InstanceStatus status)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		args[2] = {Int64GetDatum(instance_id),
	CStringGetTextDatum(instance_status_name(status))};

	store_exec(SET_STATUS,
			   "UPDATE procflow.instance SET status = $2, updated_at = now(),"
			   "       finished_at = CASE WHEN $2 IN ('completed', 'terminated')"
			   "                          THEN pg_catalog.clock_timestamp() END"
			   " WHERE id = $1",
			   2, argtypes, args, NULL, SPI_OK_UPDATE);
}

/* Merge a jsonb object into an instance's vars (its keys win). */
void
flow_store_merge_vars(int64 instance_id, Jsonb *vars)
{
	Oid			argtypes[2] = {INT8OID, JSONBOID};
	Datum		args[2] = {Int64GetDatum(instance_id), JsonbPGetDatum(vars)};

	store_exec(MERGE_VARS,
			   "UPDATE procflow.instance SET vars = vars || $2, updated_at = now()"
			   " WHERE id = $1",
			   2, argtypes, args, NULL, SPI_OK_UPDATE);
}

/*
 * Keep a person's change of an instance's vars: who merged what, and the
 * vars before it.
 */
void
flow_store_note_vars_change(int64 instance_id, Jsonb *vars, const char *by)
{
	Oid			argtypes[3] = {INT8OID, JSONBOID, TEXTOID};
	Datum		args[3] = {Int64GetDatum(instance_id), JsonbPGetDatum(vars),
	CStringGetTextDatum(by)};

	catalog_exec("INSERT INTO procflow.vars_change (instance_id, changed_by, vars, before)"
				 " SELECT id, $3, $2, vars FROM procflow.instance WHERE id = $1",
				 3, argtypes, args, NULL, SPI_OK_INSERT);
}

/* Read an activity; false when there is none. */
bool
flow_store_read_activity(int64 id, FlowActivityRow *row)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(id)};
	bool		isnull;

	Datum		d;

	store_exec(READ_ACTIVITY,
			   "SELECT instance_id, name, kind, status, attempts, assignee, run_at, timeout_at,"
			   "       created_at, \"group\", form"
			   "  FROM procflow.activity WHERE id = $1",
			   1, argtypes, args, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return false;
	d = result_value(6, &isnull);
	row->assignee = isnull ? NULL : TextDatumGetCString(d);
	d = result_value(7, &isnull);
	row->run_at = isnull ? 0 : DatumGetTimestampTz(d);
	d = result_value(8, &isnull);
	row->timeout_at = isnull ? 0 : DatumGetTimestampTz(d);
	row->created_at = DatumGetTimestampTz(result_value(9, &isnull));
	d = result_value(10, &isnull);
	row->group = isnull ? NULL : TextDatumGetCString(d);
	d = result_value(11, &isnull);
	row->form = isnull ? NULL : DatumGetJsonbPCopy(d);
	row->id = id;
	row->instance_id = DatumGetInt64(result_value(1, &isnull));
	row->name = TextDatumGetCString(result_value(2, &isnull));
	row->kind = flow_kind_of(TextDatumGetCString(result_value(3, &isnull)));
	row->status = activity_status_of(TextDatumGetCString(result_value(4, &isnull)));
	row->attempts = DatumGetInt32(result_value(5, &isnull));
	return true;
}

/*
 * The columns of procflow.activity that an insert fills, and where each is
 * in the table (found by name: the tables of an upgraded installation may
 * order them otherwise than a new one).
 */
typedef enum ActivityColumn
{
	AC_ID,
	AC_INSTANCE_ID,
	AC_NAME,
	AC_KIND,
	AC_STATUS,
	AC_OUTCOME,
	AC_RUN_AT,
	AC_CREATED_AT,
	AC_CLOSED_AT,
	AC_CLOSED_BY,
	AC_ATTEMPTS,
	AC_ERROR,
	AC_ASSIGNEE,
	AC_GROUP,
	AC_INSTRUCTIONS,
	AC_DUE_AT,
	AC_TIMEOUT_AT,
	AC_BEGAN,
	AC_BEGAN_XID,
	AC_BEGAN_CID,
	AC_WAIT_ENTITY,
	AC_WAIT_KEY,
	AC_ARRIVED,
	AC_BEGAN_AFTER,
	AC_PROCESS_ID,
	AC_FORM,
	AC_COUNT
} ActivityColumn;

static const char *const activity_column_names[AC_COUNT] = {
	"id", "instance_id", "name", "kind", "status", "outcome", "run_at", "created_at",
	"closed_at", "closed_by", "attempts", "error", "assignee", "group", "instructions", "due_at",
	"timeout_at", "began", "began_xid", "began_cid", "wait_entity", "wait_key", "arrived",
	"began_after", "process_id", "form"
};

/*
 * Where each of n named columns is in a table's descriptor (0-based); an
 * error if one is missing.
 */
static void
map_columns(TupleDesc desc, const char *const *names, int n, int *attno)
{
	for (int c = 0; c < n; c++)
	{
		attno[c] = -1;
		for (int i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);

			if (!att->attisdropped && strcmp(NameStr(att->attname), names[c]) == 0)
			{
				attno[c] = i;
				break;
			}
		}
		if (attno[c] < 0)
			elog(ERROR, "column \"%s\" of a table of procflow does not exist", names[c]);
	}
}

/*
 * Where the columns a caller writes are in a table's descriptor, mapped
 * once per transaction: the relation stays open, with its descriptor, from
 * the first direct write to commit (direct_insert.c), and a step writes
 * several rows.
 */
typedef struct ColumnMap
{
	TupleDesc	desc;			/* the descriptor it was mapped for */
	LocalTransactionId lxid;	/* in this transaction */
	int			attno[AC_COUNT];
} ColumnMap;

/* The map of the n named columns in desc, made again when desc is new. */
static const int *
column_map(ColumnMap *map, TupleDesc desc, const char *const *names, int n)
{
	Assert(n <= AC_COUNT);
	if (map->desc != desc || map->lxid != MyProc->lxid)
	{
		map_columns(desc, names, n, map->attno);
		map->desc = desc;
		map->lxid = MyProc->lxid;
	}
	return map->attno;
}

/* Where each column of ActivityColumn is in procflow.activity. */
static const int *
activity_columns(TupleDesc desc)
{
	static ColumnMap map;

	return column_map(&map, desc, activity_column_names, AC_COUNT);
}

/* A text datum of a C string, or a null. */
static void
set_text(Datum *values, bool *nulls, int attno, const char *s)
{
	values[attno] = s ? CStringGetTextDatum(s) : (Datum) 0;
	nulls[attno] = s == NULL;
}

/* A timestamptz datum, or a null for 0. */
static void
set_time(Datum *values, bool *nulls, int attno, TimestampTz t)
{
	values[attno] = TimestampTzGetDatum(t);
	nulls[attno] = t == 0;
}

/*
 * Insert an activity of an instance and return its id.  The row is written
 * with the table AM and the index machinery (direct_insert.c), not with an
 * INSERT: a step writes several, and a statement's start costs more than
 * the row.  What the table's definition would do is done here: the id from
 * its sequence, created_at, the closing time of an activity that is over,
 * the transaction and command of a wait's snapshot.  Its foreign key holds
 * (the caller holds the instance's row lock), and its BEFORE INSERT
 * trigger, which drops a restored snapshot from another cluster, has
 * nothing to do with a snapshot taken now.  The next statement sees the
 * row.
 */
int64
flow_store_insert_activity(const FlowInstance *instance, const NewActivity *a)
{
	Oid			relid = catalog_oids()->activity;
	TupleDesc	desc = direct_insert_desc(relid);
	const int  *attno = activity_columns(desc);
	Datum	   *values = palloc(sizeof(Datum) * desc->natts);
	bool	   *nulls = palloc(sizeof(bool) * desc->natts);
	int64		id;
	bool		over = a->status == ACTIVITY_CLOSED || a->status == ACTIVITY_SKIPPED ||
		a->status == ACTIVITY_CANCELLED;

	for (int i = 0; i < desc->natts; i++)
	{
		values[i] = (Datum) 0;
		nulls[i] = true;
	}
	id = nextval_internal(catalog_oids()->activity_id_seq, false);
	values[attno[AC_ID]] = Int64GetDatum(id);
	nulls[attno[AC_ID]] = false;
	values[attno[AC_INSTANCE_ID]] = Int64GetDatum(instance->id);
	nulls[attno[AC_INSTANCE_ID]] = false;
	set_text(values, nulls, attno[AC_NAME], a->name);
	set_text(values, nulls, attno[AC_KIND], flow_kind_name(a->kind));
	set_text(values, nulls, attno[AC_STATUS], activity_status_name(a->status));
	set_text(values, nulls, attno[AC_OUTCOME], a->outcome);
	set_time(values, nulls, attno[AC_RUN_AT], a->run_at);
	set_time(values, nulls, attno[AC_CREATED_AT],
			 a->created_at != 0 ? a->created_at : GetCurrentTimestamp());
	set_time(values, nulls, attno[AC_CLOSED_AT], over ? GetCurrentTimestamp() : 0);
	values[attno[AC_ATTEMPTS]] = Int32GetDatum(0);
	nulls[attno[AC_ATTEMPTS]] = false;
	set_text(values, nulls, attno[AC_ERROR], a->error);
	set_text(values, nulls, attno[AC_ASSIGNEE], a->assignee);
	set_text(values, nulls, attno[AC_GROUP], a->group);
	set_text(values, nulls, attno[AC_INSTRUCTIONS], a->instructions);
	set_time(values, nulls, attno[AC_DUE_AT], a->due_at);
	set_time(values, nulls, attno[AC_TIMEOUT_AT], a->timeout_at);
	if (a->began != 0)
	{
		values[attno[AC_BEGAN]] = a->began;
		nulls[attno[AC_BEGAN]] = false;
		values[attno[AC_BEGAN_XID]] = FullTransactionIdGetDatum(GetTopFullTransactionId());
		nulls[attno[AC_BEGAN_XID]] = false;
		values[attno[AC_BEGAN_CID]] = Int32GetDatum((int32) GetCurrentCommandId(false));
		nulls[attno[AC_BEGAN_CID]] = false;
	}
	values[attno[AC_WAIT_ENTITY]] = ObjectIdGetDatum(a->wait_entity);
	nulls[attno[AC_WAIT_ENTITY]] = !OidIsValid(a->wait_entity);
	values[attno[AC_WAIT_KEY]] = a->wait_key;
	nulls[attno[AC_WAIT_KEY]] = a->wait_key == 0;
	if (a->arrived != NULL)
	{
		Datum		elem = CStringGetTextDatum(a->arrived);

		values[attno[AC_ARRIVED]] = PointerGetDatum(construct_array(&elem, 1, TEXTOID, -1,
																	false, TYPALIGN_INT));
		nulls[attno[AC_ARRIVED]] = false;
	}
	values[attno[AC_BEGAN_AFTER]] = Int64GetDatum(a->began_after);
	nulls[attno[AC_BEGAN_AFTER]] = a->began_after == 0;
	values[attno[AC_PROCESS_ID]] = Int32GetDatum(instance->process_id);
	nulls[attno[AC_PROCESS_ID]] = false;
	if (a->form != NULL)
	{
		values[attno[AC_FORM]] = DirectFunctionCall1(jsonb_in, CStringGetDatum(a->form));
		nulls[attno[AC_FORM]] = false;
	}
	direct_insert(relid, desc->natts, values, nulls);
	CommandCounterIncrement();
	pfree(values);
	pfree(nulls);
	return id;
}

/*
 * Close an activity: closed (with its outcome), skipped or cancelled, by
 * "closed_by" (a role's name; NULL when procflow closed it).  "ran": an
 * automatic activity's run closed it, which counts as an attempt.  The row
 * is replaced directly (direct_update), as the UPDATE statement that is
 * the way when another transaction changed it meanwhile would.
 */
void
flow_store_close_activity(int64 id, ActivityStatus status, const char *outcome,
						  const char *closed_by, bool ran)
{
	Oid			argtypes[5] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, INT4OID};
	Datum		args[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	Oid			relid = catalog_oids()->activity;
	ItemPointerData tid;
	HeapTuple	old = direct_fetch(relid, id, &tid);

	/* as the UPDATE below would, without a statement's start */
	if (old != NULL)
	{
		TupleDesc	desc = direct_insert_desc(relid);
		const int  *attno = activity_columns(desc);
		Datum	   *values = palloc(sizeof(Datum) * desc->natts);
		bool	   *isnull = palloc(sizeof(bool) * desc->natts);

		heap_deform_tuple(old, desc, values, isnull);
		set_text(values, isnull, attno[AC_STATUS], activity_status_name(status));
		set_text(values, isnull, attno[AC_OUTCOME], outcome);
		set_text(values, isnull, attno[AC_CLOSED_BY], closed_by);
		values[attno[AC_ATTEMPTS]] = Int32GetDatum(DatumGetInt32(values[attno[AC_ATTEMPTS]]) +
												   (ran ? 1 : 0));
		set_time(values, isnull, attno[AC_CLOSED_AT], GetCurrentTimestamp());
		if (direct_update(relid, &tid, values, isnull))
			return;
	}

	/* another transaction changed it meanwhile: UPDATE waits and looks again */
	args[0] = Int64GetDatum(id);
	args[1] = CStringGetTextDatum(activity_status_name(status));
	args[2] = outcome ? CStringGetTextDatum(outcome) : (Datum) 0;
	nulls[2] = outcome ? ' ' : 'n';
	args[3] = closed_by ? CStringGetTextDatum(closed_by) : (Datum) 0;
	nulls[3] = closed_by ? ' ' : 'n';
	args[4] = Int32GetDatum(ran ? 1 : 0);
	store_exec(CLOSE_ACTIVITY,
			   "UPDATE procflow.activity"
			   "   SET status = $2, outcome = $3, closed_by = $4, attempts = attempts + $5,"
			   "       closed_at = pg_catalog.clock_timestamp()"
			   " WHERE id = $1",
			   5, argtypes, args, nulls, SPI_OK_UPDATE);
}

/* The columns of procflow.instance that completing one changes. */
typedef enum InstanceColumn
{
	IC_STATUS,
	IC_UPDATED_AT,
	IC_FINISHED_AT,
	IC_COUNT
} InstanceColumn;

static const char *const instance_column_names[IC_COUNT] = {
	"status", "updated_at", "finished_at"
};

/*
 * Has the instance an activity that is not over (scheduled, ready, open,
 * waiting, or failed, which waits for retry_activity or skip_activity)?
 * Read through its index on instance_id, with a new snapshot.
 */
static bool
has_live_activity(int64 instance_id)
{
	const CatalogOids *c = catalog_oids();
	TupleDesc	desc = direct_insert_desc(c->activity);
	const int  *attno = activity_columns(desc);
	Snapshot	snapshot;
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	bool		live = false;

	snapshot = RegisterSnapshot(GetLatestSnapshot());
	rel = table_open(c->activity, AccessShareLock);
	ScanKeyInit(&key, attno[AC_INSTANCE_ID] + 1, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(instance_id));
	scan = systable_beginscan(rel, c->activity_instance_idx, true, snapshot, 1, &key);
	while (!live && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;

		(void) heap_getattr(tup, attno[AC_CLOSED_AT] + 1, desc, &isnull);
		live = isnull;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	UnregisterSnapshot(snapshot);
	return live;
}

/*
 * An instance whose step holds its row lock and that has no activity that
 * is not over has completed: mark it so, with its finish time, and return
 * true.  Its activities are read through their index and the row is
 * replaced directly (direct_update), without a statement's start; the
 * UPDATE below is the way only if the row changed meanwhile, which the
 * lock rules out.
 */
bool
flow_store_complete_if_idle(int64 instance_id)
{
	Oid			relid = catalog_oids()->instance;
	ItemPointerData tid;
	HeapTuple	old;
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(instance_id)};

	if (has_live_activity(instance_id))
		return false;
	old = direct_fetch(relid, instance_id, &tid);
	if (old == NULL)
		return false;
	{
		static ColumnMap map;
		TupleDesc	desc = direct_insert_desc(relid);
		const int  *attno = column_map(&map, desc, instance_column_names, IC_COUNT);
		Datum	   *values = palloc(sizeof(Datum) * desc->natts);
		bool	   *isnull = palloc(sizeof(bool) * desc->natts);

		heap_deform_tuple(old, desc, values, isnull);
		set_text(values, isnull, attno[IC_STATUS], instance_status_name(INSTANCE_COMPLETED));
		set_time(values, isnull, attno[IC_UPDATED_AT], GetCurrentTransactionStartTimestamp());
		set_time(values, isnull, attno[IC_FINISHED_AT], GetCurrentTimestamp());
		if (direct_update(relid, &tid, values, isnull))
			return true;
	}
	store_exec(COMPLETE_IF_IDLE,
			   "UPDATE procflow.instance"
			   "   SET status = 'completed', updated_at = now(),"
			   "       finished_at = pg_catalog.clock_timestamp()"
			   " WHERE id = $1"
			   "   AND NOT EXISTS (SELECT 1 FROM procflow.activity"
			   "                    WHERE instance_id = $1 AND closed_at IS NULL)",
			   1, argtypes, args, NULL, SPI_OK_UPDATE);
	return SPI_processed == 1;
}

/*
 * Count a run of an activity's job that did not close it, with the run's
 * error: the activity fails when the job did for good, or keeps its status
 * while the job is to be retried.
 */
void
flow_store_note_run(int64 id, bool failed, const RunError *error)
{
	Oid			argtypes[6] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	const char *texts[5] = {failed ? activity_status_name(ACTIVITY_FAILED) : NULL, error->message, error->code, error->detail,
	error->context};
	Datum		args[6];
	char		nulls[6];

	args[0] = Int64GetDatum(id);
	nulls[0] = ' ';
	for (int i = 0; i < 5; i++)
	{
		args[i + 1] = texts[i] ? CStringGetTextDatum(texts[i]) : (Datum) 0;
		nulls[i + 1] = texts[i] ? ' ' : 'n';
	}

	/*
	 * Outside the job's rolled-back step, so without the instance's lock: an
	 * activity that a function holds (terminate cancels it) is left to it,
	 * and one that is closed by now stays as it closed.
	 */
	store_exec(NOTE_RUN,
			   "UPDATE procflow.activity"
			   "   SET status = coalesce($2, status), attempts = attempts + 1,"
			   "       error = $3, error_code = $4, error_detail = $5, error_context = $6"
			   " WHERE id = (SELECT id FROM procflow.activity WHERE id = $1"
			   "               AND status IN ('scheduled', 'ready', 'open', 'waiting', 'failed')"
			   "              FOR UPDATE SKIP LOCKED)",
			   6, argtypes, args, nulls, SPI_OK_UPDATE);
}

/* Fail an activity with an error of procflow's own: a message alone. */
void
flow_store_fail(int64 id, const char *message)
{
	RunError	error = {NULL, message, NULL, NULL};

	flow_store_note_run(id, true, &error);
}

/*
 * A failed activity is live again (retry_activity): an automatic one ready,
 * a wait waiting; due now when its job runs again (else its times stay).
 */
void
flow_store_reopen(int64 id, ActivityStatus status, bool due_now)
{
	Oid			argtypes[3] = {INT8OID, TEXTOID, BOOLOID};
	Datum		args[3] = {Int64GetDatum(id), CStringGetTextDatum(activity_status_name(status)),
	BoolGetDatum(due_now)};

	store_exec(REOPEN,
			   "UPDATE procflow.activity"
			   "   SET status = $2, run_at = CASE WHEN $3 THEN now() ELSE run_at END"
			   " WHERE id = $1",
			   3, argtypes, args, NULL, SPI_OK_UPDATE);
}

/*
 * A link from activity "from" arrives at join "name": the join the
 * instance waits in takes it, or a new one begins.  Returns the join's id;
 * *narrived is how many distinct activities have arrived at it.
 */
int64
flow_store_join_arrive(int64 instance_id, const char *name, const char *from,
					   int *narrived)
{
	Oid			argtypes[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		args[3];
	bool		isnull;

	args[0] = Int64GetDatum(instance_id);
	args[1] = CStringGetTextDatum(name);
	args[2] = CStringGetTextDatum(from);
	store_exec(JOIN_ARRIVE,
			   "WITH joined AS ("
			   "  UPDATE procflow.activity SET arrived = arrived || $3"
			   "   WHERE instance_id = $1 AND name = $2 AND kind = 'join'"
			   "     AND status = 'waiting'"
			   "  RETURNING id, arrived),"
			   " begun AS ("
			   "  INSERT INTO procflow.activity (instance_id, name, kind, status, arrived)"
			   "  SELECT $1, $2, 'join', 'waiting', ARRAY[$3]"
			   "   WHERE NOT EXISTS (SELECT 1 FROM joined)"
			   "  RETURNING id, arrived) "
			   "SELECT id, (SELECT count(DISTINCT a) FROM pg_catalog.unnest(arrived) a)::int4"
			   "  FROM joined UNION ALL SELECT id, 1 FROM begun",
			   3, argtypes, args, NULL, SPI_OK_SELECT);
	*narrived = DatumGetInt32(result_value(2, &isnull));
	return DatumGetInt64(result_value(1, &isnull));
}

/*
 * Cancel an instance's live activities and remove its pending jobs (into
 * the history, as cancelled), but the job except_job, which is running.
 */
void
flow_store_cancel_live(int64 instance_id, int64 except_job)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		args[2] = {Int64GetDatum(instance_id), Int64GetDatum(except_job)};

	store_exec(CANCEL_LIVE,
			   "UPDATE procflow.activity"
			   "   SET status = 'cancelled', closed_at = pg_catalog.clock_timestamp()"
			   " WHERE instance_id = $1 AND closed_at IS NULL",
			   2, argtypes, args, NULL, SPI_OK_UPDATE);
	/* a job an executor holds is left: it runs, finds the instance ended, and is skipped */
	store_exec(CANCEL_JOBS,
			   "DELETE FROM procflow.job"
			   " WHERE id IN (SELECT id FROM procflow.job WHERE instance_id = $1 AND id <> $2"
			   "               FOR UPDATE SKIP LOCKED)"
			   " RETURNING *",
			   2, argtypes, args, NULL, SPI_OK_DELETE_RETURNING);
	queue_cancel_deleted(SPI_tuptable, SPI_processed, "the instance ended");
}

/*
 * Remove the pending jobs of one activity (its step, a wait's or a task's
 * timers) into the history, as cancelled for "reason", but the job
 * except_job, which is running.
 */
void
flow_store_cancel_jobs(int64 instance_id, int64 activity_id, int64 except_job,
					   const char *reason)
{
	Oid			argtypes[3] = {INT8OID, INT8OID, INT8OID};
	Datum		args[3] = {Int64GetDatum(instance_id), Int64GetDatum(activity_id),
	Int64GetDatum(except_job)};

	/* a job an executor holds is left: it runs, finds nothing to do, and is skipped */
	store_exec(CANCEL_ACTIVITY_JOBS,
			   "DELETE FROM procflow.job"
			   " WHERE id IN (SELECT id FROM procflow.job"
			   "               WHERE instance_id = $1 AND activity_id = $2 AND id <> $3"
			   "               FOR UPDATE SKIP LOCKED)"
			   " RETURNING *",
			   3, argtypes, args, NULL, SPI_OK_DELETE_RETURNING);
	queue_cancel_deleted(SPI_tuptable, SPI_processed, reason);
}

/* The owner of an instance's flow; false when there is no such instance. */
bool
flow_store_instance_owner(int64 instance_id, Oid *owner)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(instance_id)};
	bool		isnull;

	store_exec(INSTANCE_OWNER,
			   "SELECT p.owner FROM procflow.instance i"
			   "  JOIN procflow.process p ON p.id = i.process_id WHERE i.id = $1",
			   1, argtypes, args, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return false;
	*owner = DatumGetObjectId(result_value(1, &isnull));
	return true;
}

/*
 * Is the flow enabled, as the current snapshot sees it?  The rule cache
 * learns of a disable_process only when its invalidation arrives, which
 * comes after the transaction that disabled the flow is visible; what an
 * executor does with a job that transaction queued must not depend on that.
 */
bool
flow_store_flow_enabled(int32 process_id)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(process_id)};
	bool		isnull;

	store_exec(FLOW_ENABLED,
			   "SELECT enabled FROM procflow.process WHERE id = $1",
			   1, argtypes, args, NULL, SPI_OK_SELECT);
	return SPI_processed == 1 && DatumGetBool(result_value(1, &isnull));
}

/* The id of the owner's flow of that name, or 0 when there is none. */
int32
flow_store_flow_by_name(const char *name, Oid owner)
{
	Oid			argtypes[2] = {TEXTOID, OIDOID};
	Datum		args[2] = {CStringGetTextDatum(name), ObjectIdGetDatum(owner)};
	bool		isnull;

	store_exec(FLOW_BY_NAME,
			   "SELECT id FROM procflow.process"
			   " WHERE name = $1 AND owner = $2 AND kind = 'flow'",
			   2, argtypes, args, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return 0;
	return DatumGetInt32(result_value(1, &isnull));
}

/*
 * The bigint a statement selects for one row given by its id, or 0 when
 * there is no such row.
 */
static int64
id_of_row(int which, const char *sql, int64 id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(id)};
	bool		isnull;

	store_exec(which, sql, 1, argtypes, args, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return 0;
	return DatumGetInt64(result_value(1, &isnull));
}

/* The flow (process id) of an instance, or 0 when there is none. */
int32
flow_store_instance_flow(int64 instance_id)
{
	return (int32) id_of_row(INSTANCE_FLOW,
							 "SELECT process_id::bigint FROM procflow.instance WHERE id = $1",
							 instance_id);
}

/* The instance of an activity, or 0 when there is no such activity. */
int64
flow_store_activity_instance(int64 activity_id)
{
	return id_of_row(ACTIVITY_INSTANCE,
					 "SELECT instance_id FROM procflow.activity WHERE id = $1",
					 activity_id);
}

/* The ids (int64 *) in the first column of the last statement's rows. */
static List *
result_ids(void)
{
	List	   *ids = NIL;
	bool		isnull;

	for (uint64 r = 0; r < SPI_processed; r++)
	{
		int64	   *id = palloc(sizeof(int64));

		*id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1,
										  &isnull));
		ids = lappend(ids, id);
	}
	return ids;
}

/* The ids of a flow's instances that are active or suspended. */
List *
flow_store_live_instances(int32 process_id)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(process_id)};

	store_exec(LIVE_INSTANCES,
			   "SELECT id FROM procflow.instance"
			   " WHERE process_id = $1 AND finished_at IS NULL ORDER BY id",
			   1, argtypes, args, NULL, SPI_OK_SELECT);
	return result_ids();
}

/*
 * A task's new status and assignee (NULL: none), by claim_task,
 * release_task, assign_task, or its start_delay passing.
 */
void
flow_store_set_task(int64 id, ActivityStatus status, const char *assignee)
{
	Oid			argtypes[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};

	args[0] = Int64GetDatum(id);
	args[1] = CStringGetTextDatum(activity_status_name(status));
	args[2] = assignee ? CStringGetTextDatum(assignee) : (Datum) 0;
	nulls[2] = assignee ? ' ' : 'n';
	store_exec(SET_TASK,
			   "UPDATE procflow.activity SET status = $2, assignee = $3 WHERE id = $1",
			   3, argtypes, args, nulls, SPI_OK_UPDATE);
}

/*
 * The instance a subflow activity launched: its status and vars (in the
 * caller's memory context); false when there is none.
 */
bool
flow_store_child(int64 instance_id, int64 activity_id, InstanceStatus *status, Jsonb **vars)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		args[2] = {Int64GetDatum(instance_id), Int64GetDatum(activity_id)};
	bool		isnull;

	store_exec(CHILD,
			   "SELECT status, vars FROM procflow.instance"
			   " WHERE parent = $1 AND parent_activity = $2 ORDER BY id DESC LIMIT 1",
			   2, argtypes, args, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return false;
	*status = instance_status_of(TextDatumGetCString(result_value(1, &isnull)));
	*vars = DatumGetJsonbPCopy(result_value(2, &isnull));
	return true;
}

/* The ids of an instance's children that are active or suspended. */
List *
flow_store_live_children(int64 instance_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(instance_id)};

	store_exec(LIVE_CHILDREN,
			   "SELECT id FROM procflow.instance"
			   " WHERE parent = $1 AND finished_at IS NULL ORDER BY id",
			   1, argtypes, args, NULL, SPI_OK_SELECT);
	return result_ids();
}

/*
 * Open a scan of a flow's live instances for the row with this key
 * (text[]) through instance_key_idx, with this snapshot.  An index scan
 * written out rather than a query: the planner, told by statistics that
 * the table is empty, may as well pick the (process, version) index and
 * then read every live instance of the flow for each event.
 */
static SysScanDesc
key_scan_begin(Relation *rel, int32 process_id, Datum key, Snapshot snapshot)
{
	const CatalogOids *c = catalog_oids();
	Oid			relid = get_relname_relid("instance", c->namespace);
	Oid			indexid = get_relname_relid("instance_key_idx", c->namespace);
	ScanKeyData keys[2];

	if (!OidIsValid(relid) || !OidIsValid(indexid))
		elog(ERROR, "procflow.instance or its key index is missing");
	*rel = table_open(relid, AccessShareLock);
	/* heap attribute numbers: process_id and key */
	ScanKeyInit(&keys[0], 2, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(process_id));
	ScanKeyInit(&keys[1], 4, BTEqualStrategyNumber, F_ARRAY_EQ, key);
	return systable_beginscan(*rel, indexid, true, snapshot, 2, keys);
}

/* End a scan that key_scan_begin opened. */
static void
key_scan_end(Relation rel, SysScanDesc scan)
{
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/*
 * Is an instance of the flow for the row with this key (text[]) being
 * inserted by a transaction still in progress?  Its launch may begin waits
 * whose snapshot does not see an event committed meanwhile: the event must
 * wait for it.  Read with a dirty snapshot, which sees rows of
 * transactions in progress and says whose they are.
 */
bool
flow_store_launch_in_progress(int32 process_id, Datum key)
{
	Relation	rel;
	SysScanDesc scan;
	SnapshotData dirty;
	HeapTuple	tup;
	bool		found = false;

	InitDirtySnapshot(dirty);
	scan = key_scan_begin(&rel, process_id, key, &dirty);
	/* a row its transaction inserted, not one a step updates */
	while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
		found = TransactionIdIsValid(dirty.xmin) &&
			(tup->t_data->t_infomask & HEAP_UPDATED) == 0;
	key_scan_end(rel, scan);
	return found;
}

/*
 * The ids of the live instances of a flow's version for the row with this
 * key, in no particular order.  Read as a statement of the transaction would read
 * them: with a new snapshot, after this transaction's earlier commands.
 */
List *
flow_store_candidates(int32 process_id, int32 version, Datum key)
{
	Relation	rel;
	SysScanDesc scan;
	Snapshot	snapshot;
	HeapTuple	tup;
	List	   *ids = NIL;
	AttrNumber	id_att;
	AttrNumber	version_att;
	AttrNumber	finished_att;

	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	scan = key_scan_begin(&rel, process_id, key, snapshot);
	id_att = get_attnum(RelationGetRelid(rel), "id");
	version_att = get_attnum(RelationGetRelid(rel), "version");
	finished_att = get_attnum(RelationGetRelid(rel), "finished_at");
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		TupleDesc	desc = RelationGetDescr(rel);
		bool		isnull;
		int64	   *id;

		if (DatumGetInt32(heap_getattr(tup, version_att, desc, &isnull)) != version)
			continue;
		(void) heap_getattr(tup, finished_att, desc, &isnull);
		if (!isnull)
			continue;
		id = palloc(sizeof(int64));
		*id = DatumGetInt64(heap_getattr(tup, id_att, desc, &isnull));
		ids = lappend(ids, id);
	}
	key_scan_end(rel, scan);
	UnregisterSnapshot(snapshot);
	return ids;
}

/*
 * The activities of an instance with this name that wait, in the order
 * they began, and whether an event came after each began.  The event is
 * its transaction's full id and command, "event_id" (its id, or the one it
 * was kept from) and "source" (the instance whose step wrote it, or 0).
 * It came after a wait that did not see it (see EVENT_AFTER); and, but for
 * an event of the instance's own steps, after a wait whose chain of steps
 * (began_after, its clock) began before it was queued: as if the chain ran
 * at once when its clock was due, whichever transaction (an executor's
 * round, a run_jobs() call) the steps ran in.  An event of the launch's
 * own transaction, up to its command (the creation that launched it), is
 * never after: the launch saw it, though the statement queued it after
 * the launch's first step.  Returns how many, in *waiting (in the
 * caller's memory context).
 */
int
flow_store_waiting(int64 instance_id, const char *name, uint64 xid, uint32 cid,
				   int64 event_id, int64 source, FlowWaiting **waiting)
{
	Oid			argtypes[6] = {INT8OID, XID8OID, INT4OID, TEXTOID, INT8OID, INT8OID};
	Datum		args[6];
	int			n;

	args[0] = Int64GetDatum(instance_id);
	args[1] = UInt64GetDatum(xid);
	args[2] = Int32GetDatum((int32) cid);
	args[3] = CStringGetTextDatum(name);
	args[4] = Int64GetDatum(event_id);
	args[5] = Int64GetDatum(source);
	store_exec(WAITING,
			   "SELECT a.id, a.began IS NULL"
			   "        OR CASE WHEN a.began_xid = $2 THEN $3 > a.began_cid"
			   "           ELSE NOT pg_catalog.pg_visible_in_snapshot($2, a.began) END"
			   "        OR ($5 > coalesce(a.began_after, $5) AND $6 <> a.instance_id"
			   "            AND NOT coalesce(i.began_xid = $2 AND $3 <= i.began_cid, false))"
			   "  FROM procflow.activity a JOIN procflow.instance i ON i.id = a.instance_id"
			   " WHERE a.instance_id = $1 AND a.name = $4 AND a.status = 'waiting'"
			   " ORDER BY a.id",
			   6, argtypes, args, NULL, SPI_OK_SELECT);
	n = (int) SPI_processed;
	*waiting = palloc(sizeof(FlowWaiting) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		bool		isnull;

		(*waiting)[i].id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
													   SPI_tuptable->tupdesc, 1, &isnull));
		(*waiting)[i].after = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i],
														 SPI_tuptable->tupdesc, 2, &isnull));
	}
	return n;
}

/*
 * Did an event (its transaction's full id and command) come after the
 * instance began?  Its conditional starts take only those.
 */
bool
flow_store_started_before(int64 instance_id, uint64 xid, uint32 cid)
{
	Oid			argtypes[3] = {INT8OID, XID8OID, INT4OID};
	Datum		args[3];
	bool		isnull;

	args[0] = Int64GetDatum(instance_id);
	args[1] = UInt64GetDatum(xid);
	args[2] = Int32GetDatum((int32) cid);
	store_exec(STARTED_BEFORE,
			   "SELECT " EVENT_AFTER " FROM procflow.instance WHERE id = $1",
			   3, argtypes, args, NULL, SPI_OK_SELECT);
	return SPI_processed == 1 && DatumGetBool(result_value(1, &isnull));
}

/* An instance's clock, or 0 when it rests; see FlowInstance. */
void
flow_store_set_clock(int64 instance_id, int64 clock)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		args[2] = {Int64GetDatum(instance_id), Int64GetDatum(clock)};

	store_exec(SET_CLOCK, "UPDATE procflow.instance SET clock = $2 WHERE id = $1",
			   2, argtypes, args, clock != 0 ? NULL : " n", SPI_OK_UPDATE);
}

/*
 * Has an instance steps queued, or (with "kept") events kept for it, but
 * the job except_job?  A chain of its steps goes on while it has either
 * (step_end); a step is chained only while it has no other step queued
 * (flow_jobs.c).
 */
bool
flow_store_has_queued(int64 instance_id, int64 except_job, bool kept)
{
	Oid			argtypes[3] = {INT8OID, INT8OID, BOOLOID};
	Datum		args[3] = {Int64GetDatum(instance_id), Int64GetDatum(except_job),
	BoolGetDatum(kept)};
	bool		isnull;

	store_exec(HAS_QUEUED,
			   "SELECT EXISTS (SELECT 1 FROM procflow.job"
			   "                WHERE instance_id = $1 AND id <> $2"
			   "                  AND (event = 'step' OR ($3 AND xid IS NOT NULL)))",
			   3, argtypes, args, NULL, SPI_OK_SELECT);
	return DatumGetBool(result_value(1, &isnull));
}

/*
 * The next job of an instance that procflow.run_timers runs: due now, or a
 * timer due by "until"; in the order they are due.  False when there is
 * none; else its id, when it is due, and whether it is a timer.
 */
bool
flow_store_next_job(int64 instance_id, TimestampTz until, int64 *job_id, TimestampTz *run_at,
					bool *timer)
{
	Oid			argtypes[2] = {INT8OID, TIMESTAMPTZOID};
	Datum		args[2] = {Int64GetDatum(instance_id), TimestampTzGetDatum(until)};
	bool		isnull;

	store_exec(NEXT_JOB,
			   "SELECT id, run_at, event = 'timer' FROM procflow.job"
			   " WHERE instance_id = $1"
			   "   AND run_at <= CASE WHEN event = 'timer' THEN greatest($2, now()) ELSE now() END"
			   " ORDER BY run_at, id LIMIT 1",
			   2, argtypes, args, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return false;
	*job_id = DatumGetInt64(result_value(1, &isnull));
	*run_at = DatumGetTimestampTz(result_value(2, &isnull));
	*timer = DatumGetBool(result_value(3, &isnull));
	return true;
}

/*
 * The end of the queue: the highest job id handed out so far.  Events
 * queued from now on have higher ones.
 */
int64
flow_store_queue_end(void)
{
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		args[1] = {ObjectIdGetDatum(catalog_oids()->job_id_seq)};
	bool		isnull;
	Datum		d;

	store_exec(QUEUE_END, "SELECT pg_catalog.pg_sequence_last_value($1)",
			   1, argtypes, args, NULL, SPI_OK_SELECT);
	d = result_value(1, &isnull);
	return isnull ? 0 : DatumGetInt64(d);
}

/* The waits an instance closed at once since it last took an event. */
void
flow_store_set_spins(int64 instance_id, int32 spins)
{
	Oid			argtypes[2] = {INT8OID, INT4OID};
	Datum		args[2] = {Int64GetDatum(instance_id), Int32GetDatum(spins)};

	store_exec(SET_SPINS, "UPDATE procflow.instance SET spins = $2 WHERE id = $1",
			   2, argtypes, args, NULL, SPI_OK_UPDATE);
}

/*
 * An event kept for an instance failed on one of its activities: the job
 * notes which, so that retry_activity finds it once it has failed for good.
 */
void
flow_store_note_event_activity(int64 job_id, int64 activity_id)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		args[2] = {Int64GetDatum(job_id), Int64GetDatum(activity_id)};

	store_exec(NOTE_EVENT_ACTIVITY,
			   "UPDATE procflow.job SET activity_id = $2"
			   " WHERE id = $1 AND activity_id IS NULL",
			   2, argtypes, args, NULL, SPI_OK_UPDATE);
}

/*
 * retry_activity of a wait that failed on an event: queue that event again
 * for its instance, due now.  False when no event failed on it.
 */
bool
flow_store_failed_event(int64 instance_id, int64 activity_id)
{
	Oid			argtypes[3] = {INT8OID, INT8OID, INT8OID};
	Datum		args[3];

	args[0] = Int64GetDatum(instance_id);
	args[1] = Int64GetDatum(activity_id);
	args[2] = Int64GetDatum(queue_allocate_ids(1));
	store_exec(FAILED_EVENT,
			   "INSERT INTO procflow.job (id, process_id, trigger_id, event, ord, row_hash,"
			   "  key, old_row, changed, depth, excluded, owner, run_at, instance_id,"
			   "  activity_id, xid, event_table, cid, new_row, event_id, source_instance)"
			   " SELECT $3, process_id, trigger_id, event, ord, row_hash, key, old_row,"
			   "        changed, depth, excluded, owner, pg_catalog.now(), instance_id,"
			   "        activity_id, xid, event_table, cid, new_row, event_id, source_instance"
			   "   FROM procflow.finished_job"
			   "  WHERE instance_id = $1 AND activity_id = $2 AND xid IS NOT NULL"
			   "    AND status = 'failed'"
			   "  ORDER BY id DESC LIMIT 1",
			   3, argtypes, args, NULL, SPI_OK_INSERT);
	return SPI_processed > 0;
}

/* The first wait of an instance for events of a table, or 0 when none. */
int64
flow_store_wait_for(int64 instance_id, Oid table)
{
	Oid			argtypes[2] = {INT8OID, OIDOID};
	Datum		args[2] = {Int64GetDatum(instance_id), ObjectIdGetDatum(table)};
	bool		isnull;

	store_exec(WAIT_FOR,
			   "SELECT id FROM procflow.activity"
			   " WHERE instance_id = $1 AND status = 'waiting'"
			   "   AND wait_entity = $2::pg_catalog.regclass ORDER BY id LIMIT 1",
			   2, argtypes, args, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return 0;
	return DatumGetInt64(result_value(1, &isnull));
}

/*
 * An instance's wait failed for good on an event: the events kept for the
 * instance after it are parked at once, not due until the wait is retried
 * or skipped (see FLOW_EVENT_PARKED), so that the queue does not show as
 * due an event that waits behind the failed one.
 */
void
flow_store_park_events(int64 instance_id, int64 failed_job)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		args[2] = {Int64GetDatum(instance_id), Int64GetDatum(failed_job)};

	store_exec(PARK,
			   "UPDATE procflow.job SET run_at = 'infinity'"
			   " WHERE instance_id = $1 AND xid IS NOT NULL AND id <> $2"
			   "   AND run_at <> 'infinity'",
			   2, argtypes, args, NULL, SPI_OK_UPDATE);
}

/*
 * The events kept for an instance while it had a failed wait (not due,
 * see FLOW_EVENT_PARKED) are due now: its wait is retried or skipped.
 * Made due by an update (no insert wakes the executors), so the executors
 * are told at commit, as for any job due now.
 */
void
flow_store_unpark_events(int64 instance_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(instance_id)};

	store_exec(UNPARK,
			   "UPDATE procflow.job SET run_at = pg_catalog.now()"
			   " WHERE instance_id = $1 AND xid IS NOT NULL AND run_at = 'infinity'",
			   1, argtypes, args, NULL, SPI_OK_UPDATE);
	if (SPI_processed > 0)
		wakeup_note_due(GetCurrentTimestamp());
}
