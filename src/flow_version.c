/*-------------------------------------------------------------------------
 *
 * flow_version.c
 *	  Versions of flows, read and prepared to run.
 *
 * Each backend keeps the versions of flows it has used: the definition
 * document parsed (flow_definition.c) and the SQL of its activities
 * prepared as its owner with its search_path, once per generation of the
 * rule cache (cache.c); what a new generation no longer uses is retired
 * and freed in a later transaction, since a step or a delivery of this one
 * may still point into it.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/timestamp.h"

#include "action.h"
#include "catalog.h"
#include "flow_definition.h"
#include "flow_engine_int.h"
#include "flow_store.h"
#include "identity.h"
#include "queue.h"
#include "task_form.h"

static HTAB *versions = NULL;

/*
 * What versions prepared again, or read again, no longer use: plans and
 * memory that code of this transaction may still point to (a step holds
 * its version, a delivery the activities that listen), freed in a later
 * transaction.
 */
static List *retired_plans = NIL;	/* of SPIPlanPtr */
static List *retired_memory = NIL;	/* of MemoryContext */
static LocalTransactionId retired_lxid = InvalidLocalTransactionId;

/* Statements on procflow's tables, prepared once. */
static SPIPlanPtr version_plan = NULL;

/* Free what was retired in an earlier transaction. */
static void
free_retired(void)
{
	ListCell   *lc;

	if (retired_lxid == MyProc->lxid)
		return;
	foreach(lc, retired_plans)
		SPI_freeplan((SPIPlanPtr) lfirst(lc));
	foreach(lc, retired_memory)
		MemoryContextDelete((MemoryContext) lfirst(lc));
	list_free(retired_plans);
	list_free(retired_memory);
	retired_plans = NIL;
	retired_memory = NIL;
}

/* Keep a plan or a memory context until a later transaction. */
static void
retire(SPIPlanPtr plan, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	if (plan != NULL)
		retired_plans = lappend(retired_plans, plan);
	if (cxt != NULL)
		retired_memory = lappend(retired_memory, cxt);
	MemoryContextSwitchTo(old);
	retired_lxid = MyProc->lxid;
}

/* Retire a version's prepared SQL, and the arrays that hold it. */
static void
retire_plans(FlowVersion *fv)
{
	int			nlinks = 0;

	for (int i = 0; i < fv->def->nactivities; i++)
	{
		retire(fv->plans[i], NULL);
		retire(fv->timeout_plans[i], NULL);
		retire(fv->key_plans[i], NULL);
		retire(fv->vars_plans[i], NULL);
		for (int v = 0; v < HUMAN_VALUES; v++)
			retire(fv->value_plans[i][v], NULL);
		nlinks += fv->def->activities[i].nlinks;
	}
	for (int i = 0; i < nlinks; i++)
		retire(fv->link_plans[i], NULL);
	retire(NULL, fv->plans_cxt);
}

/* Empty arrays of plans for a version, in memory of their own. */
static void
new_plans(FlowVersion *fv)
{
	int			nlinks = 0;
	MemoryContext old;

	for (int i = 0; i < fv->def->nactivities; i++)
		nlinks += fv->def->activities[i].nlinks;
	fv->plans_cxt = AllocSetContextCreate(TopMemoryContext, "procflow flow version plans",
										  ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(fv->plans_cxt);
	fv->plans = palloc0(sizeof(SPIPlanPtr) * fv->def->nactivities);
	fv->timeout_plans = palloc0(sizeof(SPIPlanPtr) * fv->def->nactivities);
	fv->key_plans = palloc0(sizeof(SPIPlanPtr) * fv->def->nactivities);
	fv->vars_plans = palloc0(sizeof(SPIPlanPtr) * fv->def->nactivities);
	fv->value_plans = palloc0(sizeof(SPIPlanPtr[HUMAN_VALUES]) * fv->def->nactivities);
	fv->wait_entity = palloc0(sizeof(Oid) * fv->def->nactivities);
	fv->timeout_ms = palloc0(sizeof(int64) * fv->def->nactivities);
	fv->link_plans = palloc0(sizeof(SPIPlanPtr) * Max(nlinks, 1));
	MemoryContextSwitchTo(old);
	fv->prepared = false;
}

/* Retire what a version entry holds. */
static void
forget_version(FlowVersion *fv)
{
	/* an entry whose reading failed half-way holds nothing valid */
	if (fv->cxt != NULL)
	{
		retire_plans(fv);
		retire(NULL, fv->cxt);
	}
	memset((char *) fv + sizeof(VersionKey), 0, sizeof(FlowVersion) - sizeof(VersionKey));
}

/* Index of a link in a version's flat array of links. */
int
flow_link_index(FlowDefinition *def, int activity, int link)
{
	int			n = 0;

	for (int i = 0; i < activity; i++)
		n += def->activities[i].nlinks;
	return n + link;
}

/*
 * Can an instance of this definition have several steps queued at once:
 * has it an activity that is not a decision with two links that one
 * outcome takes (a split), or a conditional start?
 */
static bool
has_parallel_steps(FlowDefinition *def)
{
	for (int i = 0; i < def->nactivities; i++)
	{
		FlowActivity *act = &def->activities[i];

		if (act->kind == FLOW_CONDITIONAL_START)
			return true;
		if (act->kind == FLOW_DECISION)
			continue;
		for (int a = 0; a < act->nlinks; a++)
			for (int b = a + 1; b < act->nlinks; b++)
				if ((act->links[a].outcome == NULL && act->links[b].outcome == NULL) ||
					(act->links[a].outcome != NULL && act->links[b].outcome != NULL &&
					 strcmp(act->links[a].outcome, act->links[b].outcome) == 0))
					return true;
	}
	return false;
}

/*
 * The version of a flow, read and parsed (its SQL is prepared when first
 * run, see flow_version_prepare).  A version never changes once written: it is
 * read once per backend, keyed by the catalog too, since process ids come
 * again when the extension is dropped and created.  A flow can move to
 * another table: then it is read again for its row type.  Its SQL is
 * prepared again when the tables it runs over may have changed (the rule
 * cache's generation changed: an ALTER TABLE of one, say): a plan over a
 * row type does not notice a column of another type.
 */
FlowVersion *
flow_version_load(ProcessInfo *flow, int32 version)
{
	Oid			argtypes[2] = {INT4OID, INT4OID};
	Datum		args[2] = {Int32GetDatum(flow->id), Int32GetDatum(version)};
	VersionKey	key;
	FlowVersion *fv;
	bool		found;
	bool		isnull;
	Jsonb	   *doc;
	Oid			rowtype = flow->entity ? flow->entity->rowtype : RECORDOID;
	MemoryContext old;
	MemoryContext cxt;
	PrivilegedScope scope;

	if (versions == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(VersionKey);
		ctl.entrysize = sizeof(FlowVersion);
		versions = hash_create("procflow flow versions", 64, &ctl,
							   HASH_ELEM | HASH_BLOBS);
	}
	memset(&key, 0, sizeof(key));
	key.catalog = catalog_oids()->process;
	key.process_id = flow->id;
	key.version = version;
	free_retired();
	fv = hash_search(versions, &key, HASH_FIND, NULL);
	if (fv != NULL && fv->cxt != NULL && fv->rowtype == rowtype)
	{
		if (fv->prepared && fv->generation != cache_generation_number())
		{
			retire_plans(fv);
			new_plans(fv);
		}
		return fv;
	}

	catalog_enter_privileged(&scope);
	catalog_keep_plan(&version_plan,
					  "SELECT definition, search_path, waits_on::pg_catalog.oid[]"
					  "  FROM procflow.flow_version"
					  " WHERE process_id = $1 AND version = $2",
					  2, argtypes);
	if (SPI_execute_plan(version_plan, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading a flow's version failed");
	catalog_leave_privileged(&scope);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("version %d of flow \"%s\" does not exist", version, flow->name)));
	doc = DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
									   &isnull));

	fv = hash_search(versions, &key, HASH_ENTER, &found);
	if (found)
		forget_version(fv);
	else
		memset((char *) fv + sizeof(VersionKey), 0, sizeof(FlowVersion) - sizeof(VersionKey));

	/* the entry is valid once cxt is set, after everything else */
	cxt = AllocSetContextCreate(TopMemoryContext, "procflow flow version",
								ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	fv->doc = palloc(VARSIZE(doc));
	memcpy(fv->doc, doc, VARSIZE(doc));
	fv->rowtype = rowtype;
	fv->search_path = identity_search_path_temp_last(SPI_getvalue(SPI_tuptable->vals[0],
																	 SPI_tuptable->tupdesc, 2),
													 cxt);
	fv->def = flow_read(fv->doc, flow->name);
	fv->parallel = has_parallel_steps(fv->def);
	fv->waits_on = NULL;
	fv->nwaits_on = 0;
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
		Datum	   *elems;
		bool	   *nulls;

		if (!isnull)
		{
			deconstruct_array(DatumGetArrayTypeP(d), OIDOID, sizeof(Oid), true, TYPALIGN_INT,
							  &elems, &nulls, &fv->nwaits_on);
			fv->waits_on = palloc(sizeof(Oid) * Max(fv->nwaits_on, 1));
			for (int i = 0; i < fv->nwaits_on; i++)
				fv->waits_on[i] = DatumGetObjectId(elems[i]);
		}
	}
	new_plans(fv);
	fv->prepared = false;
	MemoryContextSwitchTo(old);
	fv->cxt = cxt;
	return fv;
}

/* Prepare a piece of SQL of a version and keep the plan. */
static SPIPlanPtr
keep(SPIPlanPtr plan)
{
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

/*
 * The table a wait of the version listens to: the one its name resolved to
 * when the version was checked (one of waits_on), not whatever the name
 * resolves to now.  A table of the same name created since earlier on the
 * version's search_path would otherwise take the wait over, and the events
 * of the table it waits for would find no wait.
 */
static Oid
wait_table(FlowVersion *fv, const FlowWaitOn *on, Oid entity)
{
	Oid			table = flow_on_table(on, entity);
	List	   *names;
	char	   *relname;

	if (on->entity == NULL || fv->nwaits_on == 0)
		return table;
	for (int i = 0; i < fv->nwaits_on; i++)
		if (fv->waits_on[i] == table)
			return table;
	names = stringToQualifiedNameList(on->entity);
	relname = strVal(llast(names));
	for (int i = 0; i < fv->nwaits_on; i++)
	{
		char	   *name = get_rel_name(fv->waits_on[i]);

		if (name != NULL && strcmp(name, relname) == 0 &&
			(list_length(names) == 1 ||
			 get_rel_namespace(fv->waits_on[i]) ==
			 get_namespace_oid(strVal(linitial(names)), true)))
			return fv->waits_on[i];
	}
	return table;
}

/*
 * Prepare the SQL of a version, as the flow's owner with the version's
 * search_path (names resolve as they did when the version was checked),
 * and resolve the tables its waits name.
 */
void
flow_version_prepare(ProcessInfo *flow, FlowVersion *fv)
{
	FlowDefinition *def = fv->def;
	OwnerScope	scope;
	Oid			type;

	if (fv->prepared)
		return;
	action_enter_process_path(flow, fv->search_path, &scope);
	for (int i = 0; i < def->nactivities; i++)
	{
		FlowActivity *act = &def->activities[i];

		if (act->action != NULL && fv->plans[i] == NULL)
			fv->plans[i] = keep(action_prepare(act->action, false, fv->rowtype));
		if (act->timeout_sql != NULL && fv->timeout_plans[i] == NULL)
			fv->timeout_plans[i] =
				keep(action_prepare_expression(psprintf("(%s\n)::pg_catalog.timestamptz",
														act->timeout_sql),
											   fv->rowtype, &type));
		if (act->on != NULL)
		{
			Oid			table = wait_table(fv, act->on,
										   flow->entity ? flow->entity->relid : InvalidOid);
			Oid			onrowtype = act->on->entity ? get_rel_type_id(table) : fv->rowtype;

			fv->listens = true;
			fv->wait_entity[i] = table;
			/* its changes now start a new generation of the rule cache */
			(void) cache_entity(table);
			if (act->on->condition != NULL && fv->plans[i] == NULL)
				fv->plans[i] = keep(action_prepare(act->on->condition, true, onrowtype));
			if (act->on->key != NULL && fv->key_plans[i] == NULL)
				fv->key_plans[i] =
					keep(action_prepare_expression(psprintf("pg_catalog.to_jsonb((%s\n))",
															act->on->key),
												   onrowtype, &type));
		}
		if (act->kind == FLOW_HUMAN)
		{
			const FlowValue *values[HUMAN_VALUES] = {&act->assignee, &act->group,
			&act->instructions, &act->due, &act->start_delay};

			for (int v = 0; v < HUMAN_VALUES; v++)
				if (values[v]->sql != NULL && fv->value_plans[i][v] == NULL)
					fv->value_plans[i][v] =
						keep(action_prepare_expression(psprintf(v < VALUE_DUE ?
																 "(%s\n)::pg_catalog.text" :
																 "(%s\n)::pg_catalog.timestamptz",
																 values[v]->sql),
													   fv->rowtype, &type));
			/* a form's computed defaults: one jsonb expression, in vars_plans */
			if (act->form != NULL && act->form->nsql > 0 && fv->vars_plans[i] == NULL)
				fv->vars_plans[i] =
					keep(action_prepare_expression(task_form_sql(act->form), fv->rowtype, &type));
		}
		if (act->kind == FLOW_SUBFLOW)
		{
			if (act->subflow_key != NULL && fv->key_plans[i] == NULL)
				fv->key_plans[i] =
					keep(action_prepare_expression(psprintf("pg_catalog.to_jsonb((%s\n))",
															act->subflow_key),
												   fv->rowtype, &type));
			if (act->subflow_vars != NULL && fv->vars_plans[i] == NULL)
				fv->vars_plans[i] =
					keep(action_prepare_expression(psprintf("(%s\n)::pg_catalog.jsonb",
															act->subflow_vars),
												   fv->rowtype, &type));
		}
		if (act->kind == FLOW_AUTOMATIC && act->timeout != NULL)
		{
			Interval   *iv = DatumGetIntervalP(DirectFunctionCall3(interval_in,
																   CStringGetDatum(act->timeout),
																   ObjectIdGetDatum(InvalidOid),
																   Int32GetDatum(-1)));

			fv->timeout_ms[i] = Max((iv->time + (int64) iv->day * USECS_PER_DAY +
									 (int64) iv->month * DAYS_PER_MONTH * USECS_PER_DAY) / 1000,
									1);
		}
		for (int l = 0; l < act->nlinks; l++)
		{
			int			li = flow_link_index(def, i, l);

			if (act->links[l].when != NULL && fv->link_plans[li] == NULL &&
				(l == 0 || act->links[l].when != act->links[l - 1].when))
				fv->link_plans[li] = keep(action_prepare(act->links[l].when, true,
														 fv->rowtype));
		}
	}
	action_leave_owner(&scope);
	fv->generation = cache_generation_number();
	fv->prepared = true;
}

/* The index of the activity with this name in a definition, or -1. */
int
flow_activity_index(FlowDefinition *def, const char *name)
{
	for (int i = 0; i < def->nactivities; i++)
		if (strcmp(def->activities[i].name, name) == 0)
			return i;
	return -1;
}

/*
 * Evaluate a prepared expression of a flow's version as its owner, with
 * these arguments; *isnull when it gives NULL (or no row).
 */
Datum
flow_version_evaluate(ProcessInfo *flow, FlowVersion *fv, SPIPlanPtr plan,
					  const char *activity_name, Datum *args, char *nulls, bool *isnull)
{
	OwnerScope	scope;
	Datum		result = (Datum) 0;
	int			ret;

	action_enter_process_path(flow, fv->search_path, &scope);
	ret = SPI_execute_plan(plan, args, nulls, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "evaluating SQL of activity \"%s\" failed: %s", activity_name,
			 SPI_result_code_string(ret));
	*isnull = true;
	if (SPI_processed == 1)
		result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);
	action_leave_owner(&scope);
	return result;
}
