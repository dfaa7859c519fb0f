/*-------------------------------------------------------------------------
 *
 * capture.c
 *	  The row trigger procflow installs on entity tables.
 *
 * procflow.capture() runs AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW on
 * every table that has a process trigger, and on the partitions of a
 * partitioned one (PostgreSQL clones the row trigger to them).  For each
 * rule (see cache.c) of the table and of its partition ancestors that
 * matches the event, in execution order, it checks the update fields and
 * the condition, then either runs the action at once, inside the writing
 * transaction, as the process owner, or queues a job.  A partition's row is
 * converted to the row type of the entity the process names.
 *
 * A flow's trigger launches an instance instead of running an action; a
 * table whose events waits of flows wait for has a rule per flow that
 * queues every event of it for delivery to the waits (flow_delivery.c).
 *
 * Queued rules without a condition are the common case and the hot path:
 * they cost a key extraction and an append to the statement's list of
 * queued jobs (collect.c), with no SPI and no change of user; the same
 * function, fired as a statement trigger, writes that list at the end of
 * the statement.  Deleting a row also cancels the pending create and update
 * jobs of that row, which would only find it gone; so does TRUNCATE, for
 * which the function is an AFTER TRUNCATE trigger too (truncate.c).
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/tupconvert.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "action.h"
#include "cache.h"
#include "collect.h"
#include "entity.h"
#include "flow_engine.h"
#include "job_state.h"
#include "settings.h"
#include "queue.h"
#include "stored_row.h"
#include "truncate.h"

PG_FUNCTION_INFO_V1(procflow_capture);

/*
 * What one row event means for one entity it reaches, computed lazily and
 * shared by the rules of that entity.
 */
typedef struct TargetEvent
{
	bool		have_tuples;
	HeapTuple	row;			/* the new row, or the deleted one, in the
								 * entity's row type */
	HeapTuple	old_row;		/* update and delete */
	bool		have_key;
	Datum		key;
	bool		have_hash;
	int64		row_hash;
	bool		have_changed;
	Bitmapset  *changed_cols;	/* update */
	Datum		changed;		/* text[] of changed column names, or 0 */
	bool		have_old_text;
	Datum		old_text;		/* stored form of old_row */
	bool		have_new_text;
	Datum		new_text;		/* stored form of row */
	bool		have_args;
	Datum		args[2];		/* $1 and $2 */
} TargetEvent;

/* What one row event carries. */
typedef struct RowEvent
{
	TriggerData *trigdata;
	RelationRules *rules;
	char		event;			/* 'c', 'u' or 'd' */
	const char *event_name;
	HeapTuple	row;			/* the fired table's new or deleted row */
	HeapTuple	old_row;		/* update and delete */
	TargetEvent *targets;		/* one per entity of rules */
	bool		spi_connected;
} RowEvent;

/* The event's rows in the row type of target t. */
static TargetEvent *
target_event(RowEvent *ev, int t)
{
	TargetEvent *te = &ev->targets[t];
	TupleConversionMap *map = ev->rules->targets[t].map;

	if (!te->have_tuples)
	{
		te->row = map ? execute_attr_map_tuple(ev->row, map) : ev->row;
		if (ev->old_row == NULL)
			te->old_row = NULL;
		else if (ev->old_row == ev->row)
			te->old_row = te->row;
		else
			te->old_row = map ? execute_attr_map_tuple(ev->old_row, map) : ev->old_row;
		te->have_tuples = true;
	}
	return te;
}

/*
 * Compute the key, row hash, stored old row or stored new row of the event
 * for target t, which runs the column types' output functions: as the
 * table owner when they are not PostgreSQL's own.
 */
static void
compute_texts(RowEvent *ev, int t, bool key, bool old_text, bool new_text)
{
	EntityShape *entity = ev->rules->targets[t].entity;
	TargetEvent *te = target_event(ev, t);
	IdentityScope scope;

	if (entity->io_user_code)
		entity_enter(entity, &scope);
	if (key && !te->have_key)
	{
		te->key = entity_key_of_tuple(entity, te->row, &te->row_hash);
		te->have_key = te->have_hash = true;
	}
	if (old_text && !te->have_old_text)
	{
		te->old_text = stored_row_of_tuple(entity, te->old_row);
		te->have_old_text = true;
	}
	if (new_text && !te->have_new_text)
	{
		te->new_text = stored_row_of_tuple(entity, te->row);
		te->have_new_text = true;
	}
	if (entity->io_user_code)
		entity_leave(&scope);
}

/* Key and row hash of the event's row for target t. */
static void
ensure_key(RowEvent *ev, int t)
{
	if (!ev->targets[t].have_key)
		compute_texts(ev, t, true, false, false);
}

/*
 * The row hash of the event's row for target t, and its key unless the key
 * is the hash (then a queued job is written without it, see entity.c).
 */
static void
ensure_hash(RowEvent *ev, int t)
{
	EntityShape *entity = ev->rules->targets[t].entity;
	TargetEvent *te = target_event(ev, t);

	if (te->have_hash)
		return;
	if (!entity_key_is_hash(entity))
	{
		ensure_key(ev, t);
		return;
	}
	te->row_hash = entity_hash_of_tuple(entity, te->row);
	te->have_hash = true;
}

/* The columns of target t whose values an update changed (binary comparison). */
static void
ensure_changed(RowEvent *ev, int t)
{
	TupleDesc	desc = ev->rules->targets[t].entity->desc;
	TargetEvent *te = target_event(ev, t);
	Datum	   *names;
	int			n = 0;

	if (te->have_changed || ev->event != 'u')
		return;
	te->have_changed = true;

	names = palloc(sizeof(Datum) * Max(desc->natts, 1));
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		bool		oldnull;
		bool		newnull;
		Datum		oldval;
		Datum		newval;

		if (att->attisdropped)
			continue;
		oldval = heap_getattr(te->old_row, i + 1, desc, &oldnull);
		newval = heap_getattr(te->row, i + 1, desc, &newnull);
		if (oldnull == newnull &&
			(oldnull || datum_image_eq(oldval, newval, att->attbyval, att->attlen)))
			continue;
		te->changed_cols = bms_add_member(te->changed_cols, i + 1);
		names[n++] = CStringGetTextDatum(NameStr(att->attname));
	}
	if (n > 0)
		te->changed = PointerGetDatum(construct_array(names, n, TEXTOID, -1,
													  false, TYPALIGN_INT));
	else
		te->changed = PointerGetDatum(construct_empty_array(TEXTOID));
}

/* The old row of target t in stored form, as a job keeps it. */
static Datum
old_row_text(RowEvent *ev, int t)
{
	if (!ev->targets[t].have_old_text)
		compute_texts(ev, t, false, true, false);
	return ev->targets[t].old_text;
}

/* The new row of target t in stored form, as an event for waits keeps it. */
static Datum
new_row_text(RowEvent *ev, int t)
{
	if (!ev->targets[t].have_new_text)
		compute_texts(ev, t, false, false, true);
	return ev->targets[t].new_text;
}

/* $1 and $2 of the actions of target t; $3 is set per rule. */
static void
ensure_args(RowEvent *ev, int t)
{
	TupleDesc	desc = ev->rules->targets[t].entity->desc;
	TargetEvent *te = target_event(ev, t);

	if (!te->have_args)
	{
		te->args[0] = heap_copy_tuple_as_datum(te->row, desc);
		te->args[1] = te->old_row != NULL ?
			heap_copy_tuple_as_datum(te->old_row, desc) : (Datum) 0;
		te->have_args = true;
	}
	if (!ev->spi_connected)
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		ev->spi_connected = true;
	}
}

/*
 * Run the condition (if any) and, for an immediate rule, the action of one
 * rule as the process owner.  Returns false when the condition fails.
 */
static bool
run_as_owner(RowEvent *ev, TriggerRule *rule, bool run_action)
{
	ProcessInfo *p = rule->process;
	int			t = rule->target;
	TargetEvent *te;
	OwnerScope	scope;
	JobState	state;
	Datum		args[ACTION_NARGS];
	char		nulls[ACTION_NARGS] = {' ', ' ', ' '};
	bool		holds;
	int			depth = action_current_depth() + 1;

	ensure_key(ev, t);
	ensure_changed(ev, t);
	ensure_args(ev, t);
	te = &ev->targets[t];
	args[0] = te->args[0];
	args[1] = te->args[1];
	if (te->old_row == NULL)
		nulls[1] = 'n';
	args[2] = action_context(p, ev->event_name, rule->id, 0, 1, te->key, te->changed);

	job_state_begin(&state);
	action_enter_process(p, &scope);
	action_push(p, depth, (Datum) 0, 0);
	holds = action_condition_holds(p, args, nulls);
	if (holds && run_action && process_is_flow(p))
		(void) flow_engine_launch(p, te->key, NULL, 0, 0);
	else if (holds && run_action)
		action_execute(p, args, nulls);
	action_pop();
	action_leave_owner(&scope);
	/* the cursors it left open are not the writer's to see */
	job_state_close_portals(&state);
	return holds;
}

/* Queue a job for a queued rule. */
static void
enqueue(RowEvent *ev, TriggerRule *rule)
{
	int			t = rule->target;
	TargetEvent *te;
	NewJob		job;
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	ensure_hash(ev, t);
	te = &ev->targets[t];
	memset(&job, 0, sizeof(job));
	job.process_id = rule->process->id;
	job.trigger_id = rule->id;
	job.event = ev->event_name;
	job.ord = rule->ord;
	job.has_row = true;
	job.row_hash = te->row_hash;
	job.key = te->have_key ? te->key : (Datum) 0;
	job.old_row = te->old_row != NULL ? old_row_text(ev, t) : 0;
	ensure_changed(ev, t);
	job.changed = ev->event == 'u' ? te->changed : 0;
	job.owner = rule->process->owner;
	if (rule->listen)
	{
		/*
		 * An event for waits: no action runs it, at no depth.  It carries
		 * the rows its statement wrote, which its waits are judged on (the
		 * deleted row is its old row).
		 */
		if (ev->event != 'd')
			job.new_row = new_row_text(ev, t);
		job.run_at = now;
		job.xid = U64FromFullTransactionId(GetTopFullTransactionId());
		job.cid = GetCurrentCommandId(false);
		job.event_table = ev->rules->targets[t].entity->relid;
		job.source_instance = action_current_instance();
		collect_job(&job);
		return;
	}
	job.depth = action_current_depth();
	job.excluded = action_current_exclusions();
	action_check_depth(rule->process, job.depth + 1);
	if (rule->delay != NULL)
		job.run_at = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
															 TimestampTzGetDatum(now),
															 IntervalPGetDatum(rule->delay)));
	else
		job.run_at = now;
	collect_job(&job);
}

/*
 * Deleting a row cancels the pending create and update jobs of its row for
 * every entity it belongs to (see collect.c).
 */
static void
cancel_row_jobs(RowEvent *ev)
{
	for (int t = 0; t < ev->rules->ntargets; t++)
	{
		EntityRules *target = &ev->rules->targets[t];
		TargetEvent *te;

		if (target->cancel_process_ids == 0)
			continue;
		ensure_hash(ev, t);
		te = &ev->targets[t];
		collect_deleted_row(target->cancel_process_ids, te->row_hash,
							te->have_key ? te->key : (Datum) 0);
	}
}

/* Apply the rules of the table to one row event. */
static void
capture_row(RowEvent *ev)
{
	RelationRules *rules = ev->rules;

	if (ev->event == 'd' && rules->cancels)
		cancel_row_jobs(ev);

	for (int i = 0; i < rules->nrules; i++)
	{
		TriggerRule *rule = &rules->rules[i];

		if (rule->event != ev->event)
			continue;
		if (rule->listen)
		{
			/* each wait checks its own condition when it is delivered */
			enqueue(ev, rule);
			continue;
		}
		if (action_excluded(rule->process->id))
			continue;
		if (rule->fields != NULL)
		{
			ensure_changed(ev, rule->target);
			if (!bms_overlap(rule->fields, ev->targets[rule->target].changed_cols))
				continue;
		}

		if (!rule->queued)
			(void) run_as_owner(ev, rule, true);
		else if (rule->process->condition == NULL || run_as_owner(ev, rule, false))
			enqueue(ev, rule);
	}
}

/*
 * procflow.capture(): AFTER ROW trigger on entity tables, and AFTER
 * STATEMENT trigger that writes the jobs the row trigger collected.
 */
Datum
procflow_capture(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	RowEvent	ev;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "procflow_capture: not called by trigger manager");
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("procflow.capture() must be fired AFTER the event")));
	if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
	{
		truncate_cancel_jobs(RelationGetRelid(trigdata->tg_relation), true);
		return PointerGetDatum(NULL);
	}
	if (TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
	{
		collect_statement_end();
		return PointerGetDatum(NULL);
	}

	memset(&ev, 0, sizeof(ev));
	ev.trigdata = trigdata;
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		ev.event = 'c';
		ev.event_name = "create";
		ev.row = trigdata->tg_trigtuple;
	}
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		ev.event = 'u';
		ev.event_name = "update";
		ev.row = trigdata->tg_newtuple;
		ev.old_row = trigdata->tg_trigtuple;
	}
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
	{
		ev.event = 'd';
		ev.event_name = "delete";
		ev.row = trigdata->tg_trigtuple;
		ev.old_row = trigdata->tg_trigtuple;
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("procflow.capture() must be fired by INSERT, UPDATE or DELETE")));

	cache_pin();
	ev.rules = cache_relation_rules(RelationGetRelid(trigdata->tg_relation));
	if (ev.rules->nrules > 0 || ev.rules->cancels)
	{
		ev.targets = palloc0(sizeof(TargetEvent) * ev.rules->ntargets);
		capture_row(&ev);
	}
	if (ev.spi_connected)
		SPI_finish();
	cache_unpin();

	return PointerGetDatum(NULL);
}
