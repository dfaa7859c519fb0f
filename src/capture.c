/*-------------------------------------------------------------------------
 *
 * capture.c
 *	  The row trigger procflow installs on entity tables.
 *
 * procflow.capture() runs AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW on
 * every table that has a process trigger.  For each rule of the table (see
 * cache.c) that matches the event, in execution order, it checks the
 * update fields and the condition, then either runs the action at once,
 * inside the writing transaction, as the process owner, or queues a job.
 *
 * Queued rules without a condition are the common case and the hot path:
 * they cost a key extraction and an append to the statement's list of
 * queued jobs (collect.c), with no SPI and no change of user; the same
 * function, fired as a statement trigger, writes that list at the end of
 * the statement.  Deleting a row also cancels the pending create and update
 * jobs of that row, which would only find it gone.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "action.h"
#include "batch.h"
#include "cache.h"
#include "capture.h"
#include "catalog.h"
#include "collect.h"
#include "entity.h"
#include "procflow.h"
#include "queue.h"

PG_FUNCTION_INFO_V1(procflow_capture);

/* What one row event carries, computed lazily and shared by the rules. */
typedef struct RowEvent
{
	TriggerData *trigdata;
	RelationRules *rules;
	char		event;			/* 'c', 'u' or 'd' */
	const char *event_name;
	HeapTuple	row;			/* the new row, or the deleted one */
	HeapTuple	old_row;		/* update and delete */
	bool		have_key;
	Datum		key;
	bool		have_hash;
	int64		row_hash;
	bool		have_changed;
	Bitmapset  *changed_cols;	/* update */
	Datum		changed;		/* text[] of changed column names, or 0 */
	bool		have_old_text;
	Datum		old_text;		/* record text of old_row */
	bool		have_args;
	Datum		args[ACTION_NARGS];
	char		nulls[ACTION_NARGS];
	bool		spi_connected;
} RowEvent;

/* Key and row hash of the event's row. */
static void
ensure_key(RowEvent *ev)
{
	if (ev->have_key)
		return;
	ev->key = entity_key_of_tuple(ev->rules->entity, ev->row,
								  RelationGetDescr(ev->trigdata->tg_relation),
								  &ev->row_hash);
	ev->have_key = ev->have_hash = true;
}

/*
 * The row hash of the event's row, and its key unless the key is the hash
 * (then a queued job is written without it, see entity.c).
 */
static void
ensure_hash(RowEvent *ev)
{
	if (ev->have_hash)
		return;
	if (!entity_key_is_hash(ev->rules->entity))
	{
		ensure_key(ev);
		return;
	}
	ev->row_hash = entity_hash_of_tuple(ev->rules->entity, ev->row,
										RelationGetDescr(ev->trigdata->tg_relation));
	ev->have_hash = true;
}

/* The columns whose values an update changed (binary comparison). */
static void
ensure_changed(RowEvent *ev)
{
	TupleDesc	desc = RelationGetDescr(ev->trigdata->tg_relation);
	Datum		names[MaxTupleAttributeNumber];
	int			n = 0;

	if (ev->have_changed || ev->event != 'u')
		return;
	ev->have_changed = true;

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		bool		oldnull;
		bool		newnull;
		Datum		oldval;
		Datum		newval;

		if (att->attisdropped)
			continue;
		oldval = heap_getattr(ev->old_row, i + 1, desc, &oldnull);
		newval = heap_getattr(ev->row, i + 1, desc, &newnull);
		if (oldnull == newnull &&
			(oldnull || datum_image_eq(oldval, newval, att->attbyval, att->attlen)))
			continue;
		ev->changed_cols = bms_add_member(ev->changed_cols, i + 1);
		names[n++] = CStringGetTextDatum(NameStr(att->attname));
	}
	if (n > 0)
		ev->changed = PointerGetDatum(construct_array(names, n, TEXTOID, -1,
													  false, TYPALIGN_INT));
	else
		ev->changed = PointerGetDatum(construct_empty_array(TEXTOID));
}

/* The old row in text form, as a job keeps it. */
static Datum
old_row_text(RowEvent *ev)
{
	if (!ev->have_old_text)
	{
		Datum		row = heap_copy_tuple_as_datum(ev->old_row,
												   RelationGetDescr(ev->trigdata->tg_relation));

		ev->old_text = CStringGetTextDatum(OidOutputFunctionCall(F_RECORD_OUT, row));
		ev->have_old_text = true;
	}
	return ev->old_text;
}

/* $1 and $2 of the event's actions; $3 is set per rule. */
static void
ensure_args(RowEvent *ev)
{
	TupleDesc	desc = RelationGetDescr(ev->trigdata->tg_relation);

	if (ev->have_args)
		return;
	ev->args[0] = heap_copy_tuple_as_datum(ev->row, desc);
	ev->nulls[0] = ' ';
	if (ev->old_row != NULL)
	{
		ev->args[1] = heap_copy_tuple_as_datum(ev->old_row, desc);
		ev->nulls[1] = ' ';
	}
	else
	{
		ev->args[1] = (Datum) 0;
		ev->nulls[1] = 'n';
	}
	ev->nulls[2] = ' ';
	ev->have_args = true;
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
	OwnerScope	scope;
	bool		holds;
	int			depth = action_current_depth() + 1;

	ensure_key(ev);
	ensure_changed(ev);
	ensure_args(ev);
	ev->args[2] = action_context(p, ev->event_name, rule->id, 0, 1, ev->key,
								 ev->changed);

	action_enter_owner(p->owner, p->search_path, &scope);
	action_push(p, depth);
	holds = action_condition_holds(p, ev->args, ev->nulls);
	if (holds && run_action)
		action_execute(p, ev->args, ev->nulls);
	action_pop();
	action_leave_owner(&scope);
	return holds;
}

/* Queue a job for a queued rule. */
static void
enqueue(RowEvent *ev, TriggerRule *rule)
{
	NewJob		job;
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	ensure_hash(ev);
	memset(&job, 0, sizeof(job));
	job.process_id = rule->process->id;
	job.trigger_id = rule->id;
	job.event = ev->event_name;
	job.ord = rule->ord;
	job.has_row = true;
	job.row_hash = ev->row_hash;
	job.key = ev->have_key ? ev->key : (Datum) 0;
	job.old_row = ev->old_row != NULL ? old_row_text(ev) : 0;
	ensure_changed(ev);
	job.changed = ev->event == 'u' ? ev->changed : 0;
	job.depth = action_current_depth();
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
 * Deleting a row cancels the pending create and update jobs of its row:
 * those still collected are written first, and batches that may hold the
 * row are turned into job rows.  Jobs and batches that an executor is
 * running right now are left to find the row gone.
 */
static void
cancel_row_jobs(RowEvent *ev)
{
	RelationRules *rules = ev->rules;
	Datum		args[3];
	PrivilegedScope scope;
	int			ret;

	ensure_key(ev);
	if (!ev->spi_connected)
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		ev->spi_connected = true;
	}
	collect_flush_processes(rules->cancel_process_ids);
	catalog_enter_privileged(&scope);
	catalog_prefer_indexes();
	batch_materialize_processes(rules->cancel_process_ids, true);
	if (rules->cancel_plan == NULL)
	{
		Oid			argtypes[3] = {INT4ARRAYOID, INT8OID, TEXTARRAYOID};
		SPIPlanPtr	plan;

		plan = SPI_prepare("DELETE FROM procflow.job j"
						   " WHERE j.id IN (SELECT id FROM procflow.job"
						   "                 WHERE process_id = ANY ($1)"
						   "                   AND row_hash = $2 AND key = $3"
						   "                   AND event IN ('create', 'update')"
						   "                   FOR UPDATE SKIP LOCKED)"
						   " RETURNING j.*",
						   3, argtypes);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		cache_keep_plan(rules->generation, plan);
		rules->cancel_plan = plan;
	}
	args[0] = rules->cancel_process_ids;
	args[1] = Int64GetDatum(ev->row_hash);
	args[2] = ev->key;
	ret = SPI_execute_plan(rules->cancel_plan, args, NULL, false, 0);
	if (ret != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "cancelling the jobs of a deleted row failed: %s",
			 SPI_result_code_string(ret));
	queue_cancel_deleted(SPI_tuptable, SPI_processed, "the entity row was deleted");
	SPI_freetuptable(SPI_tuptable);
	catalog_leave_privileged(&scope);
}

/* Apply the rules of the table to one row event. */
static void
capture_row(RowEvent *ev)
{
	RelationRules *rules = ev->rules;

	if (ev->event == 'd' && rules->cancel_process_ids != 0)
		cancel_row_jobs(ev);

	for (int i = 0; i < rules->nrules; i++)
	{
		TriggerRule *rule = &rules->rules[i];

		if (rule->event != ev->event)
			continue;
		if (action_excluded(rule->process->name))
			continue;
		if (rule->fields != NULL)
		{
			ensure_changed(ev);
			if (!bms_overlap(rule->fields, ev->changed_cols))
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
	if (TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
	{
		collect_flush();
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
	if (ev.rules->nrules > 0 || ev.rules->cancel_process_ids != 0)
		capture_row(&ev);
	if (ev.spi_connected)
		SPI_finish();
	cache_unpin();

	return PointerGetDatum(NULL);
}
