/*-------------------------------------------------------------------------
 *
 * flow_engine.c
 *	  Advancing instances of flows.
 *
 * An instance moves in steps.  A step is one transaction that holds the
 * instance's row lock (flow_store.c): a launch, an automatic activity's
 * run by an executor (its "step" job), a wait's timeout (its "timer" job),
 * or a function acting on the instance (skip_activity, retry_activity,
 * terminate).  What the step's activity leads to is followed at once, in
 * the same transaction: decisions are evaluated, splits start every
 * branch, joins count the branches that arrived, ends end, waits begin
 * (and close at once when their condition already holds for the
 * instance's own row).  Only automatic activities and timers wait for the
 * queue: each becomes a job, which executors claim with the others, in
 * execution order, with retries and backoff.  So an action, its
 * activity's closing and everything it leads to commit together.
 *
 * An executor never waits for an instance's lock: a job whose instance is
 * locked (by another executor's step of it, or by a function acting on it)
 * is held, and runs again a moment later without counting as an attempt.
 * The functions wait for the lock, and for the jobs an executor holds; no
 * cycle of waits can form.
 *
 * The SQL of a definition runs as the flow's owner, with its version's
 * search_path, and sees $1 the instance's entity row as it is now (NULL
 * for an entity-less instance or a deleted row), $2 NULL, and $3 the
 * context: flow, version, instance, activity, activity_name, key, vars,
 * attempt and event.  The parsed definition of each version and its
 * prepared SQL are kept per backend.
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
#include "entity.h"
#include "flow_definition.h"
#include "flow_engine.h"
#include "flow_engine_int.h"
#include "flow_store.h"
#include "identity.h"
#include "job_deadline.h"
#include "settings.h"
#include "queue.h"
#include "stored_row.h"
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
static int
link_index(FlowDefinition *def, int activity, int link)
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
			int			li = link_index(def, i, l);

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
 * Begin a step of a locked instance.  Until step_end, the instance is
 * marked as running a step in this session (action.c): whatever SQL the
 * step runs (an action, a decision, a condition, a task's values) cannot
 * suspend, resume, terminate or change the instance under it.
 */
void
step_begin(Step *s, ProcessInfo *flow, FlowInstance *instance, int64 job_id, int attempt)
{
	memset(s, 0, sizeof(Step));
	s->flow = flow;
	s->instance = *instance;
	s->job_id = job_id;
	s->attempt = attempt;
	s->spins = instance->spins;
	s->clock = instance->clock;
	s->fv = flow_version_load(flow, instance->version);
	flow_version_prepare(flow, s->fv);
	action_push(flow, action_current_depth() + 1, (Datum) 0, instance->id);
}

/*
 * The step was brought by something from outside: an event, a timer, a
 * person or a function.  The instance rests, and its count of waits closed
 * at once starts again.
 */
void
step_rest(Step *s)
{
	s->spins = 0;
}

/*
 * The instance's entity row as it is now, read as the table's owner;
 * NULL for an entity-less instance or a row that is gone.
 */
static void
step_read_row(Step *s)
{
	IdentityScope scope;

	s->have_row = true;
	s->row_null = true;
	if (s->flow->entity == NULL || s->instance.key == 0)
		return;
	entity_enter(s->flow->entity, &scope);
	s->row_null = !entity_fetch_row(s->flow->entity, s->instance.key, &s->row);
	entity_leave(&scope);
}

/* Push "key": value (a C string, or null) into a jsonb object. */
void
flow_jsonb_push_pair(JsonbParseState **state, const char *key, const char *value)
{
	JsonbValue	null_value;

	entity_push_jsonb_string(state, WJB_KEY, key);
	if (value == NULL)
	{
		null_value.type = jbvNull;
		(void) pushJsonbValue(state, WJB_VALUE, &null_value);
	}
	else
		entity_push_jsonb_string(state, WJB_VALUE, value);
}

/* Push "key": number into a jsonb object. */
void
flow_jsonb_push_number(JsonbParseState **state, const char *key, int64 number)
{
	JsonbValue	v;

	entity_push_jsonb_string(state, WJB_KEY, key);
	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(number);
	(void) pushJsonbValue(state, WJB_VALUE, &v);
}

/* Push "key": a jsonb document into a jsonb object. */
void
flow_jsonb_push_doc(JsonbParseState **state, const char *key, Jsonb *doc)
{
	JsonbValue	v;

	entity_push_jsonb_string(state, WJB_KEY, key);
	v.type = jbvBinary;
	v.val.binary.data = &doc->root;
	v.val.binary.len = VARSIZE(doc) - VARHDRSZ;
	(void) pushJsonbValue(state, WJB_VALUE, &v);
}

/* The context ($3) of SQL that an activity of the step runs. */
Datum
step_context(Step *s, const char *activity_name, int64 activity_id)
{
	JsonbParseState *state = NULL;
	JsonbValue *result;
	JsonbValue	null_value;

	null_value.type = jbvNull;
	(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	flow_jsonb_push_pair(&state, "flow", s->flow->name);
	flow_jsonb_push_number(&state, "version", s->instance.version);
	flow_jsonb_push_number(&state, "instance", s->instance.id);
	entity_push_jsonb_string(&state, WJB_KEY, "activity");
	if (activity_id != 0)
	{
		JsonbValue	v;

		v.type = jbvNumeric;
		v.val.numeric = int64_to_numeric(activity_id);
		(void) pushJsonbValue(&state, WJB_VALUE, &v);
	}
	else
		(void) pushJsonbValue(&state, WJB_VALUE, &null_value);
	flow_jsonb_push_pair(&state, "activity_name", activity_name);
	entity_push_jsonb_string(&state, WJB_KEY, "key");
	if (s->instance.key != 0 && s->flow->entity != NULL)
		(void) entity_key_push_jsonb(&state, s->flow->entity, s->instance.key);
	else
		(void) pushJsonbValue(&state, WJB_VALUE, &null_value);
	flow_jsonb_push_doc(&state, "vars", s->instance.vars);
	flow_jsonb_push_number(&state, "attempt", s->attempt);
	if (s->event != NULL)
		flow_jsonb_push_doc(&state, "event", s->event);
	else
		flow_jsonb_push_pair(&state, "event", NULL);
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(result));
}

/* Fill the three arguments of an activity's SQL. */
static void
step_args(Step *s, const char *activity_name, int64 activity_id, Datum *args, char *nulls)
{
	if (!s->have_row)
		step_read_row(s);
	args[0] = s->row;
	nulls[0] = s->row_null ? 'n' : ' ';
	args[1] = (Datum) 0;
	nulls[1] = 'n';
	args[2] = step_context(s, activity_name, activity_id);
	nulls[2] = ' ';
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

/* Evaluate an expression of an activity of the step's instance. */
static Datum
step_evaluate(Step *s, SPIPlanPtr plan, const char *activity_name, bool *isnull)
{
	Datum		args[ACTION_NARGS];
	char		nulls[ACTION_NARGS];

	step_args(s, activity_name, 0, args, nulls);
	return flow_version_evaluate(s->flow, s->fv, plan, activity_name, args, nulls, isnull);
}

/*
 * When a step queued now is due: at its transaction's start, as the events
 * the transaction writes are, so that the jobs one transaction queues (a
 * launch's first step and the events of its later statements, the steps
 * and events of one executor round or run_jobs() call) run in the order
 * they were queued.
 */
static inline TimestampTz
step_due_now(void)
{
	return GetCurrentTransactionStartTimestamp();
}

/*
 * The step chained to a job's run.  An executor may run the next automatic
 * step that a job's run queues, due at once, in the same transaction right
 * after it (runner.c), rather than have it wait for a claim: the step is
 * held here, its job row not written, until the runner takes it.  One that
 * an aborted subtransaction queued goes with it (flow_engine_subxact_event).
 */
typedef struct ChainSlot
{
	int64		job_id;			/* the job whose run may hand one over, or 0 */
	int64		origin;			/* the claimed job that the chain began with */
	bool		filled;
	int			level;			/* the transaction nesting level that queued
								 * it */
	NewJob		step;
	char		activity[NAMEDATALEN];
} ChainSlot;

static ChainSlot chain;

/*
 * The next step that the run of this job queues may be handed over; the
 * chain began with the claimed job "origin" (job_id itself, or the job that
 * the chain of steps before it was chained to).
 */
void
flow_engine_chain_open(int64 job_id, int64 origin)
{
	memset(&chain, 0, sizeof(chain));
	chain.job_id = job_id;
	chain.origin = origin;
}

/*
 * May the step that the step s queues be chained to its run: is the chain
 * open for its job, and none taken yet, and has the instance no other step
 * queued (which was queued first, so runs first; only an instance of a
 * version with a split or a conditional start can have one)?
 */
static bool
may_chain(Step *s)
{
	return s->job_id != 0 && chain.job_id == s->job_id && !chain.filled &&
		(!s->fv->parallel || !flow_store_steps_queued(s->instance.id, chain.origin));
}

/*
 * Take the step chained to the run that flow_engine_chain_open named, if
 * it queued one (and the subtransactions that did committed); its job row
 * is the caller's to write.  activity gets its activity's name.  Closes the
 * chain.
 */
bool
flow_engine_chain_take(NewJob *step, char *activity)
{
	bool		filled = chain.filled;

	if (filled)
	{
		*step = chain.step;
		strlcpy(activity, chain.activity, NAMEDATALEN);
	}
	memset(&chain, 0, sizeof(chain));
	return filled;
}

/*
 * A subtransaction ends: one that aborts drops the chained step queued in
 * it; one that commits hands it to its parent.
 */
void
flow_engine_subxact_event(SubXactEvent event)
{
	int			level;

	if (!chain.filled)
		return;
	level = GetCurrentTransactionNestLevel();
	if (chain.level < level)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
		chain.filled = false;
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
		chain.level = level - 1;
}

/*
 * Queue a step or timer job of an activity of the step's instance.  A step
 * of an instance that waits for events, queued when no chain of its steps
 * runs, starts one: its job's place in the queue is the chain's clock.  The
 * first step that the run of a job whose chain is open queues is handed to
 * the runner instead of written.
 */
static void
queue_activity_job(Step *s, int64 activity_id, const char *activity, const char *event,
				   TimestampTz run_at)
{
	int64		id;

	NewJob		job;

	memset(&job, 0, sizeof(job));
	job.process_id = s->flow->id;
	job.event = event;
	job.ord = procflow_order_key(s->flow->execution_order, 0);
	job.owner = s->flow->owner;
	job.instance_id = s->instance.id;
	job.activity_id = activity_id;
	job.run_at = run_at;
	if (strcmp(event, "step") == 0 && may_chain(s))
	{
		job.id = id = queue_allocate_ids(1);
		chain.step = job;
		chain.filled = true;
		chain.level = GetCurrentTransactionNestLevel();
		strlcpy(chain.activity, activity, NAMEDATALEN);
	}
	else
		id = queue_insert(&job);
	if (strcmp(event, "step") == 0)
	{
		s->queued_step = true;
		if (s->clock == 0 && s->fv != NULL && s->fv->listens)
			s->clock = id;
	}
}

static void enter_activity(Step *s, int target, const char *from);

/* Has an instance with this status ended (completed or terminated)? */
static bool
has_ended(const char *status)
{
	return strcmp(status, "completed") == 0 || strcmp(status, "terminated") == 0;
}

/*
 * Follow the links of activity "act" that its outcome takes (all of them
 * for a plain or split "next"; those of the outcome for an object "next").
 */
void
step_follow(Step *s, FlowActivity *act, const char *outcome)
{
	for (int l = 0; l < act->nlinks && !s->ended; l++)
	{
		FlowLink   *link = &act->links[l];

		if (link->outcome == NULL ||
			(outcome != NULL && strcmp(link->outcome, outcome) == 0))
			enter_activity(s, link->target, act->name);
	}
}

/*
 * Tell a subflow's parent that the instance ended: a step job of the
 * parent's subflow activity, which closes it with the child's outcome
 * when it runs.  The parent is not locked here: executors lock one
 * instance at a time, and the functions lock parents before children.
 */
static void
notify_parent(FlowInstance *instance)
{
	ProcessInfo *parent_flow;
	int32		process_id;
	NewJob		job;

	if (instance->parent_activity == 0)
		return;
	process_id = flow_store_instance_flow(instance->parent);
	if (process_id == 0 || (parent_flow = cache_process(process_id)) == NULL)
		return;
	memset(&job, 0, sizeof(job));
	job.process_id = parent_flow->id;
	job.event = "step";
	job.ord = procflow_order_key(parent_flow->execution_order, 0);
	job.owner = parent_flow->owner;
	job.instance_id = instance->parent;
	job.activity_id = instance->parent_activity;
	job.run_at = step_due_now();
	(void) queue_insert(&job);
}

/*
 * Terminate the instances with these ids that are still live once locked
 * (each waits for a step running on it), telling their parents or not.
 */
static void
terminate_listed(List *ids, bool tell_parent)
{
	ListCell   *lc;

	foreach(lc, ids)
	{
		FlowInstance instance;
		bool		busy;

		if (flow_store_lock_instance(*(int64 *) lfirst(lc), true, &instance, &busy) &&
			(strcmp(instance.status, "active") == 0 || strcmp(instance.status, "suspended") == 0))
			flow_engine_terminate(&instance, 0, tell_parent);
	}
}

/*
 * Terminate an instance: an end with "terminate", terminate(), or
 * disable_process with cancel_pending.  Its live children are terminated
 * too (locked, in turn, after it); its parent is told, unless it is the
 * one terminating it.  The caller holds the instance's lock.
 */
void
flow_engine_terminate(FlowInstance *instance, int64 except_job, bool tell_parent)
{
	check_stack_depth();
	flow_store_cancel_live(instance->id, except_job);
	flow_store_set_status(instance->id, "terminated");
	strlcpy(instance->status, "terminated", sizeof(instance->status));
	terminate_listed(flow_store_live_children(instance->id), false);
	if (tell_parent)
		notify_parent(instance);
}

/*
 * Suspend or resume an instance and its live children, recursively
 * (resuming resumes every suspended child).  The caller holds the
 * instance's lock.
 */
void
flow_engine_set_suspended(FlowInstance *instance, bool suspend)
{
	List	   *children;
	ListCell   *lc;

	check_stack_depth();
	flow_store_set_status(instance->id, suspend ? "suspended" : "active");
	children = flow_store_live_children(instance->id);
	foreach(lc, children)
	{
		FlowInstance child;
		bool		busy;

		if (flow_store_lock_instance(*(int64 *) lfirst(lc), true, &child, &busy) &&
			strcmp(child.status, suspend ? "active" : "suspended") == 0)
			flow_engine_set_suspended(&child, suspend);
	}
}

/*
 * Tell a taskbox that a task changed (it became ready, was claimed,
 * released or assigned, or closed): NOTIFY procflow_task with its id, sent
 * when the transaction commits.
 */
void
flow_engine_notify_task(int64 activity_id)
{
	Async_Notify("procflow_task", psprintf(INT64_FORMAT, activity_id));
}

/* A decision: the first case that holds, or else. */
static void
enter_decision(Step *s, int index, FlowActivity *act)
{
	NewActivity a;
	int			chosen = -1;
	int			ncase = 0;
	const char *outcome = "else";

	for (int l = 0; l < act->nlinks && chosen < 0; l++)
	{
		FlowLink   *link = &act->links[l];
		bool		isnull;
		Datum		holds;

		if (link->when == NULL || (l > 0 && link->when == act->links[l - 1].when))
			continue;
		ncase++;
		holds = step_evaluate(s, s->fv->link_plans[link_index(s->fv->def, index, l)],
							  act->name, &isnull);
		if (!isnull && DatumGetBool(holds))
			chosen = l;
	}
	if (chosen >= 0)
		outcome = psprintf("case %d", ncase);

	memset(&a, 0, sizeof(a));
	a.name = act->name;
	a.kind = "decision";
	a.status = "closed";
	a.outcome = outcome;
	(void) flow_store_insert_activity(&s->instance, &a);

	for (int l = 0; l < act->nlinks && !s->ended; l++)
	{
		FlowLink   *link = &act->links[l];

		if (chosen >= 0 ? link->when == act->links[chosen].when :
			(link->outcome != NULL && strcmp(link->outcome, "else") == 0))
			enter_activity(s, link->target, act->name);
	}
}

/*
 * Does a wait's event already hold for the instance's own row as it
 * begins?  A create: the row exists (and the condition holds); an update:
 * its condition holds (without one, only a change closes it); a delete:
 * the row is gone.  The row is read again, after the wait's snapshot was
 * taken: what that snapshot sees, this reading sees too, so an event is
 * either seen here or taken later.
 */
static bool
wait_holds_now(Step *s, int index, FlowActivity *act)
{
	FlowWaitOn *on = act->on;
	bool		isnull;
	Datum		holds;

	if (s->flow->entity == NULL || s->fv->wait_entity[index] != s->flow->entity->relid ||
		s->instance.key == 0)
		return false;
	step_read_row(s);
	if (on->event == 'd')
		return s->row_null;
	if (s->row_null)
		return false;
	if (on->condition == NULL)
		return on->event == 'c';
	holds = step_evaluate(s, s->fv->plans[index], act->name, &isnull);
	return !isnull && DatumGetBool(holds);
}

/*
 * An activity is done the moment it begins, without anything coming from
 * outside: a wait whose event already holds (closed at once), or whose
 * timeout had passed when it began (closed by its timer), a subflow whose
 * child ended at once.  That is a round without rest: an instance that
 * does so FLOW_MAX_SPINS times without taking an event, a timer, a task's
 * completion or a function acting on it in between would spin in a cycle
 * through it, and the activity fails instead.  Returns false, with the
 * error; else true, the round counted.
 */
static bool
count_spin(Step *s, const char *kind, const char *name, char **error)
{
	if (s->spins >= FLOW_MAX_SPINS)
	{
		*error = psprintf("%s \"%s\" ended at once %d times in a row without an event: its instance would never rest",
						  kind, name, FLOW_MAX_SPINS);
		ereport(LOG,
				(errmsg("instance " INT64_FORMAT " of flow \"%s\": %s", s->instance.id,
						s->flow->name, *error)));
		return false;
	}
	s->spins++;
	return true;
}

/*
 * A wait begins: for its event, its timeout, or both.  It takes the events
 * that its snapshot does not see: the latest one, taken now that the
 * instance is locked (or being inserted); and those queued after its
 * instance's clock, while a chain of steps runs (flow_delivery.c).  A wait
 * whose event already holds closes at once (outcome event); see
 * count_spin.
 */
static void
enter_wait(Step *s, int index, FlowActivity *act)
{
	NewActivity a;
	TimestampTz timeout = 0;
	int64		id;

	memset(&a, 0, sizeof(a));
	a.name = act->name;
	a.kind = "wait";
	if (act->on != NULL)
	{
		a.began = flow_store_latest_snapshot();
		a.began_after = s->clock;
		a.wait_entity = s->fv->wait_entity[index];
		a.wait_key = s->instance.key;
	}
	if (act->on != NULL && wait_holds_now(s, index, act))
	{
		char	   *error;

		if (!count_spin(s, "wait", act->name, &error))
		{
			a.status = "failed";
			a.error = error;
			(void) flow_store_insert_activity(&s->instance, &a);
			s->made_live = true;
			return;
		}
		/* the row as it is now is seen: the waits after take what comes next */
		s->clock = flow_store_queue_end();
		a.status = "closed";
		a.outcome = "event";
		(void) flow_store_insert_activity(&s->instance, &a);
		step_follow(s, act, "event");
		return;
	}
	if (act->timeout != NULL)
		timeout = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
														  TimestampTzGetDatum(GetCurrentTimestamp()),
														  DirectFunctionCall3(interval_in,
																			  CStringGetDatum(act->timeout),
																			  ObjectIdGetDatum(InvalidOid),
																			  Int32GetDatum(-1))));
	else if (act->timeout_sql != NULL)
	{
		bool		isnull;
		Datum		d = step_evaluate(s, s->fv->timeout_plans[index], act->name, &isnull);

		/* NULL: no timeout this time */
		if (!isnull)
			timeout = DatumGetTimestampTz(d);
	}
	a.run_at = timeout;
	a.status = "waiting";
	id = flow_store_insert_activity(&s->instance, &a);
	s->made_live = true;
	if (timeout != 0)
		queue_activity_job(s, id, act->name, "timer", timeout);
}

/*
 * A text value of a task (assignee, group, instructions): its literal, or
 * its SQL's result; NULL when it has none or the SQL gives NULL.
 */
static const char *
task_text(Step *s, int index, int slot, const FlowValue *value, const char *activity)
{
	bool		isnull;
	Datum		d;

	if (value->literal != NULL)
		return value->literal;
	if (value->sql == NULL)
		return NULL;
	d = step_evaluate(s, s->fv->value_plans[index][slot], activity, &isnull);
	return isnull ? NULL : TextDatumGetCString(d);
}

/*
 * A time of a task or wait: a literal interval from "from", or its SQL's
 * result; 0 when it has none or the SQL gives NULL.
 */
static TimestampTz
activity_time(Step *s, SPIPlanPtr plan, const char *literal, const char *sql,
			  TimestampTz from, const char *activity)
{
	bool		isnull;
	Datum		d;

	if (literal != NULL)
		return DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
													   TimestampTzGetDatum(from),
													   DirectFunctionCall3(interval_in,
																		   CStringGetDatum(literal),
																		   ObjectIdGetDatum(InvalidOid),
																		   Int32GetDatum(-1))));
	if (sql == NULL)
		return 0;
	d = step_evaluate(s, plan, activity, &isnull);
	return isnull ? 0 : DatumGetTimestampTz(d);
}

/*
 * A human activity: a task, with its values computed now as the flow's
 * owner.  It is ready at once (and the taskbox is told), or scheduled
 * until its start_delay passes; its start and its timeout are timers.
 */
static void
enter_human(Step *s, int index, FlowActivity *act)
{
	NewActivity a;
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz start;
	int64		id;

	memset(&a, 0, sizeof(a));
	a.name = act->name;
	a.kind = "human";
	a.assignee = task_text(s, index, VALUE_ASSIGNEE, &act->assignee, act->name);
	a.group = task_text(s, index, VALUE_GROUP, &act->group, act->name);
	a.instructions = task_text(s, index, VALUE_INSTRUCTIONS, &act->instructions, act->name);
	a.due_at = activity_time(s, s->fv->value_plans[index][VALUE_DUE], act->due.literal,
							 act->due.sql, now, act->name);
	start = activity_time(s, s->fv->value_plans[index][VALUE_START_DELAY],
						  act->start_delay.literal, act->start_delay.sql, now, act->name);
	a.timeout_at = activity_time(s, s->fv->timeout_plans[index], act->timeout,
								 act->timeout_sql, now, act->name);
	if (act->form != NULL && act->form->nsql > 0)
	{
		bool		isnull;
		Datum		d = step_evaluate(s, s->fv->vars_plans[index], act->name, &isnull);

		a.form = isnull ? act->form->json :
			JsonbToCString(NULL, &DatumGetJsonbP(d)->root, -1);
	}
	else if (act->form != NULL)
		a.form = act->form->json;
	a.status = start > now ? "scheduled" : "ready";
	a.run_at = start > now ? start : now;
	id = flow_store_insert_activity(&s->instance, &a);
	s->made_live = true;
	if (start > now)
		queue_activity_job(s, id, act->name, "timer", start);
	else
		flow_engine_notify_task(id);
	if (a.timeout_at != 0)
		queue_activity_job(s, id, act->name, "timer", a.timeout_at);
}

/*
 * Launch the child of subflow activity "activity_id": an instance of
 * another flow of the owner, for the row the activity's "key" names (or
 * this instance's row), with its "vars".  A key that is NULL or names no
 * row raises 22004 or 23503 when "raise", and otherwise returns false,
 * with the message in *error.
 */
static bool
launch_child(Step *s, int index, FlowActivity *act, int64 activity_id, bool raise,
			 char **error)
{
	ProcessInfo *child;
	int32		child_id;
	Datum		key = s->instance.key;
	Jsonb	   *vars = NULL;
	bool		isnull;
	Datum		d;

	child_id = flow_store_flow_by_name(act->subflow, s->flow->owner);
	child = child_id != 0 ? cache_process(child_id) : NULL;
	if (child == NULL || child->version == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("subflow \"%s\" names flow \"%s\", which does not exist", act->name,
						act->subflow)));
	if (!flow_store_flow_enabled(child_id))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("flow \"%s\", which subflow \"%s\" launches, is disabled",
						act->subflow, act->name)));
	if (act->subflow_key != NULL)
	{
		int64		hash;

		d = step_evaluate(s, s->fv->key_plans[index], act->name, &isnull);
		if (isnull || child->entity == NULL)
		{
			char	   *message = psprintf("the key of subflow \"%s\" is NULL", act->name);

			if (raise)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("%s", message)));
			*error = message;
			return false;
		}
		key = entity_key_of_jsonb(child->entity, DatumGetJsonbP(d), &hash);
	}
	else if (child->entity == NULL)
		key = (Datum) 0;
	if (key != 0)
	{
		bool		found;

		key = entity_row_key(child->entity, key, &found);
		if (!found)
		{
			char	   *message = psprintf("table \"%s\" has no row with key %s for subflow \"%s\"",
										   get_rel_name(child->entity->relid),
										   OidOutputFunctionCall(F_ARRAY_OUT, key),
										   act->name);

			if (raise)
				ereport(ERROR,
						(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
						 errmsg("%s", message)));
			*error = message;
			return false;
		}
	}
	if (act->subflow_vars != NULL)
	{
		d = step_evaluate(s, s->fv->vars_plans[index], act->name, &isnull);
		if (!isnull)
		{
			vars = DatumGetJsonbP(d);
			if (JB_ROOT_IS_SCALAR(vars) || !JB_ROOT_IS_OBJECT(vars))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the vars of subflow \"%s\" are not a JSON object", act->name)));
		}
	}
	(void) flow_engine_launch(child, key, vars, s->instance.id, activity_id);
	return true;
}

/*
 * A subflow's child ended (with status "status" and these vars): the
 * activity closes with its outcome, the child's vars are merged into the
 * instance's under the activity's name, and the instance goes on.
 */
static void
take_child_end(Step *s, FlowActivity *act, int64 activity_id, const char *status,
			   Jsonb *vars)
{
	JsonbParseState *state = NULL;
	JsonbValue *result;

	(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	flow_jsonb_push_doc(&state, act->name, vars);
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	vars = JsonbValueToJsonb(result);
	flow_store_merge_vars(s->instance.id, vars);
	s->instance.vars = DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
														  JsonbPGetDatum(s->instance.vars),
														  JsonbPGetDatum(vars)));
	flow_store_close_activity(activity_id, "closed", status, NULL, false);
	step_follow(s, act, status);
}

/*
 * A subflow: it launches its child and waits until the child ends
 * (notify_parent).  A child whose key is NULL or names no row fails the
 * activity, with that error: retry_activity launches it again.  A child
 * that ended at once is taken at once, as a round without rest
 * (count_spin).
 */
static void
enter_subflow(Step *s, int index, FlowActivity *act)
{
	NewActivity a;
	int64		id;
	char	   *error;
	char	   *status;
	Jsonb	   *vars;

	memset(&a, 0, sizeof(a));
	a.name = act->name;
	a.kind = "subflow";
	a.status = "waiting";
	id = flow_store_insert_activity(&s->instance, &a);
	s->made_live = true;
	if (!launch_child(s, index, act, id, false, &error))
	{
		flow_store_fail(id, error);
		return;
	}
	if (!flow_store_child(s->instance.id, id, &status, &vars) || !has_ended(status))
		return;
	if (!count_spin(s, "subflow", act->name, &error))
	{
		flow_store_fail(id, error);
		return;
	}
	/* it closed an activity it began: step_end looks whether any is live */
	s->closed_begun = true;
	take_child_end(s, act, id, status, vars);
}

/* A link from "from" reaches a join: it goes on when all its links have. */
static void
enter_join(Step *s, FlowActivity *act, const char *from)
{
	int			narrived;
	int64		id = flow_store_join_arrive(s->instance.id, act->name, from, &narrived);

	if (narrived < act->incoming)
	{
		s->made_live = true;
		return;
	}
	flow_store_close_activity(id, "closed", NULL, NULL, false);
	s->closed_begun = true;
	step_follow(s, act, NULL);
}

/*
 * The step's instance reaches an activity (target), from activity "from"
 * (NULL at the start).
 */
static void
enter_activity(Step *s, int target, const char *from)
{
	FlowActivity *act = &s->fv->def->activities[target];
	NewActivity a;
	int64		id;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	if (s->ended)
		return;
	memset(&a, 0, sizeof(a));
	a.name = act->name;
	switch (act->kind)
	{
		case FLOW_AUTOMATIC:
			a.kind = "automatic";
			a.status = "ready";
			a.run_at = GetCurrentTimestamp();
			id = flow_store_insert_activity(&s->instance, &a);
			s->made_live = true;
			queue_activity_job(s, id, act->name, "step", step_due_now());
			break;
		case FLOW_WAIT:
			enter_wait(s, target, act);
			break;
		case FLOW_DECISION:
			enter_decision(s, target, act);
			break;
		case FLOW_JOIN:
			enter_join(s, act, from);
			break;
		case FLOW_END:
			a.kind = "end";
			a.status = "closed";
			(void) flow_store_insert_activity(&s->instance, &a);
			if (act->terminate)
			{
				flow_engine_terminate(&s->instance, s->job_id, true);
				s->ended = true;
			}
			break;
		case FLOW_HUMAN:
			enter_human(s, target, act);
			break;
		case FLOW_SUBFLOW:
			enter_subflow(s, target, act);
			break;
		case FLOW_CONDITIONAL_START:
			/* not reached by links: the definition's check refuses that */
			elog(ERROR, "a link leads to conditional start \"%s\"", act->name);
	}
}

/*
 * After a step: an active instance with no live activity has completed,
 * and its parent is told.  A step that began a live activity need not
 * look, unless it closed one it may have begun (a join, a subflow).
 * The count of waits closed at once is kept; an instance that caught up
 * on its kept events, and whose chain of steps is over, rests: its clock
 * goes.  The instance is no longer running a step in this session.
 */
void
step_end(Step *s)
{
	if (!s->ended && (!s->made_live || s->closed_begun) &&
		strcmp(s->instance.status, "active") == 0 &&
		flow_store_complete_if_idle(s->instance.id))
	{
		strlcpy(s->instance.status, "completed", sizeof(s->instance.status));
		notify_parent(&s->instance);
	}
	if (s->spins != s->instance.spins)
		flow_store_set_spins(s->instance.id, s->spins);
	/* the chain goes on while a step it queued, or an event kept, waits */
	if (s->clock != 0 &&
		(has_ended(s->instance.status) ||
		 (!s->queued_step && !flow_store_chain_goes_on(s->instance.id, s->job_id))))
		s->clock = 0;
	if (s->clock != s->instance.clock)
		flow_store_set_clock(s->instance.id, s->clock);
	action_pop();
}

/*
 * Start an instance of a flow's current version for the entity row with
 * this key (text[], 0 for none), with these vars (NULL: {}), and follow
 * its start; a subflow's instance names its parent and the parent's
 * activity that waits for it.  Returns its id.  The caller has checked the
 * right to.
 */
int64
flow_engine_launch(ProcessInfo *flow, Datum key, Jsonb *vars, int64 parent,
				   int64 parent_activity)
{
	FlowInstance instance;
	Step		s;

	memset(&instance, 0, sizeof(instance));
	instance.id = flow_store_insert_instance(flow->id, flow->version, key, vars, parent,
											 parent_activity, flow_store_latest_snapshot());
	instance.process_id = flow->id;
	instance.version = flow->version;
	instance.key = key;
	instance.parent = parent;
	instance.parent_activity = parent_activity;
	strlcpy(instance.status, "active", sizeof(instance.status));
	instance.vars = vars != NULL ? vars :
		DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	step_begin(&s, flow, &instance, 0, 1);
	enter_activity(&s, s.fv->def->start, NULL);
	step_end(&s);
	return instance.id;
}

/*
 * The vars an automatic action gives: the jsonb object that its last
 * statement returned as the first column of one row, or NULL.
 */
static Jsonb *
action_vars(const char *activity)
{
	bool		isnull;
	Datum		d;
	Jsonb	   *vars;

	if (SPI_tuptable == NULL || SPI_processed != 1 ||
		SPI_tuptable->tupdesc->natts < 1 ||
		TupleDescAttr(SPI_tuptable->tupdesc, 0)->atttypid != JSONBOID)
		return NULL;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return NULL;
	vars = DatumGetJsonbP(d);
	if (!JB_ROOT_IS_OBJECT(vars) || JB_ROOT_IS_SCALAR(vars))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("activity \"%s\" returned jsonb that is not an object", activity),
				 errdetail("An action's last statement may return one row whose first column is a jsonb object: it is merged into the instance's vars.")));
	return DatumGetJsonbPCopy(d);
}

/* Run an automatic activity's action and follow its next. */
static void
run_automatic(Step *s, FlowActivityRow *row, int index, bool in_executor)
{
	FlowActivity *act = &s->fv->def->activities[index];
	Datum		args[ACTION_NARGS];
	char		nulls[ACTION_NARGS];
	OwnerScope	scope;
	Jsonb	   *vars;
	/* its own statement timeout, else its flow's */
	int64		timeout_ms = s->fv->timeout_ms[index] ? s->fv->timeout_ms[index] :
		s->flow->timeout_ms;

	step_args(s, act->name, row->id, args, nulls);
	action_enter_process_path(s->flow, s->fv->search_path, &scope);
	action_push(s->flow, 1, (Datum) 0, s->instance.id);
	if (in_executor)
		job_deadline_narrow(timeout_ms);
	action_run_plan(s->fv->plans[index], "activity", act->name, args, nulls);
	if (in_executor)
		job_deadline_widen();
	vars = action_vars(act->name);
	action_pop();
	action_leave_owner(&scope);

	if (vars != NULL)
	{
		flow_store_merge_vars(s->instance.id, vars);
		s->instance.vars = DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
															  JsonbPGetDatum(s->instance.vars),
															  JsonbPGetDatum(vars)));
	}
	flow_store_close_activity(row->id, "closed", NULL, NULL, true);
	s->have_row = false;		/* the action may have changed it */
	step_follow(s, act, NULL);
}

/*
 * Has the job of an activity anything to do: an automatic activity's step
 * while it is ready, a wait's timer while it waits, a task's timers while
 * it is live and one of its times has come, the step that tells a subflow
 * activity its child ended while it waits?
 */
static bool
job_is_due(ClaimedJob *job, FlowActivityRow *row)
{
	TimestampTz now = GetCurrentTimestamp();

	if (strcmp(row->kind, "automatic") == 0)
		return strcmp(row->status, "ready") == 0;
	if (strcmp(row->kind, "human") == 0)
		return (strcmp(row->status, "scheduled") == 0 && row->run_at <= now) ||
			((strcmp(row->status, "scheduled") == 0 || strcmp(row->status, "ready") == 0 ||
			  strcmp(row->status, "open") == 0) &&
			 row->timeout_at != 0 && row->timeout_at <= now);
	return strcmp(row->status, "waiting") == 0;
}

/*
 * A task's timer: its start_delay passed (it becomes ready, and the
 * taskbox is told), or its timeout (it closes with outcome "timeout":
 * escalation).
 */
static void
task_timer(Step *s, FlowActivityRow *row, int index)
{
	TimestampTz now = GetCurrentTimestamp();

	if (row->timeout_at != 0 && row->timeout_at <= now)
	{
		flow_store_cancel_jobs(s->instance.id, row->id, s->job_id, "the task timed out");
		flow_store_close_activity(row->id, "closed", "timeout", NULL, false);
		flow_engine_notify_task(row->id);
		step_follow(s, &s->fv->def->activities[index], "timeout");
		return;
	}
	flow_store_set_task(row->id, "ready", row->assignee);
	flow_engine_notify_task(row->id);
	s->made_live = true;
}

/*
 * A subflow activity's child ended: the activity closes with the child's
 * outcome (completed or terminated), the child's vars are merged into the
 * instance's under the activity's name, and the instance goes on.
 */
static void
close_subflow(Step *s, FlowActivityRow *row, int index)
{
	FlowActivity *act = &s->fv->def->activities[index];
	char	   *status;
	Jsonb	   *vars;

	if (!flow_store_child(s->instance.id, row->id, &status, &vars))
	{
		/* retry_activity of a subflow whose child could not be launched */
		(void) launch_child(s, index, act, row->id, true, NULL);
		s->made_live = true;
		return;
	}
	if (!has_ended(status))
	{
		s->made_live = true;	/* the child has not ended: nothing to do */
		return;
	}
	take_child_end(s, act, row->id, status, vars);
}

/*
 * Run an instance's step or timer job, or deliver an event to waits, in
 * the current (sub)transaction as an executor (or run_jobs) does.  Returns the job's status: "succeeded",
 * "skipped" with the reason in *note when there is nothing to do any more,
 * or FLOW_STEP_HELD when the instance is busy or suspended.
 */
const char *
flow_engine_run_job(ProcessInfo *flow, ClaimedJob *job, bool in_executor, const char **note)
{
	FlowInstance instance;
	FlowActivityRow row;
	bool		busy;
	Step		s;
	int			index;

	if (!flow_store_lock_instance(job->instance_id, false, &instance, &busy))
	{
		if (busy)
			return FLOW_STEP_HELD;
		*note = "the instance no longer exists";
		return "skipped";
	}
	if (strcmp(instance.status, "suspended") == 0)
		return FLOW_STEP_HELD;
	if (strcmp(instance.status, "active") != 0)
	{
		*note = "the instance has ended";
		return "skipped";
	}
	if (!flow_store_read_activity(job->activity_id, &row) || !job_is_due(job, &row))
	{
		*note = "the activity is no longer waiting for this job";
		return "skipped";
	}

	step_begin(&s, flow, &instance, job->id, job->attempts + 1);
	index = flow_activity_index(s.fv->def, row.name);
	if (index < 0)
		elog(ERROR, "activity \"%s\" is not in version %d of flow \"%s\"",
			 row.name, instance.version, flow->name);
	/*
	 * A timer, or a child's end, comes from outside: the instance rests;
	 * but a wait's timeout that had passed when it began is a round without
	 * rest (count_spin).
	 */
	if (strcmp(row.kind, "wait") == 0 && row.run_at != 0 && row.run_at <= row.created_at)
	{
		char	   *error;

		if (!count_spin(&s, "wait", row.name, &error))
		{
			flow_store_fail(row.id, error);
			s.made_live = true;
			step_end(&s);
			return "succeeded";
		}
	}
	else if (strcmp(row.kind, "automatic") != 0)
		step_rest(&s);
	if (strcmp(row.kind, "automatic") == 0)
		run_automatic(&s, &row, index, in_executor);
	else if (strcmp(row.kind, "subflow") == 0)
		close_subflow(&s, &row, index);
	else if (strcmp(row.kind, "human") == 0)
		task_timer(&s, &row, index);
	else
	{
		flow_store_close_activity(row.id, "closed", "timeout", NULL, false);
		step_follow(&s, &s.fv->def->activities[index], "timeout");
	}
	step_end(&s);
	return "succeeded";
}

/*
 * A step or timer job failed (its subtransaction was rolled back: the
 * action, or what the activity led to, raised an error): count the run on
 * its activity, which keeps its status while the job is retried, and is
 * failed, with the error, when the job is.  A wait or task whose timer
 * could not be followed fails too, so that retry_activity can run its
 * timer again.
 */
void
flow_engine_note_failure(const ClaimedJob *job, bool final, const RunError *error)
{
	flow_store_note_run(job->activity_id, final ? "failed" : NULL, error);
}

/*
 * skip_activity: close a ready or failed automatic activity, or a waiting
 * wait, as skipped, and go on: an automatic activity to its next, a wait
 * to its outcome "skipped" or else its plain next.  The caller holds the
 * instance's lock and has checked the rights and states.
 */
void
flow_engine_skip(ProcessInfo *flow, FlowInstance *instance, FlowActivityRow *activity,
				 const char *by)
{
	Step		s;
	int			index;
	FlowActivity *act;
	bool		plain = false;
	bool		skipped = false;

	step_begin(&s, flow, instance, 0, 1);
	step_rest(&s);
	index = flow_activity_index(s.fv->def, activity->name);
	if (index < 0)
		elog(ERROR, "activity \"%s\" is not in version %d of flow \"%s\"",
			 activity->name, instance->version, flow->name);
	act = &s.fv->def->activities[index];
	if (act->kind == FLOW_HUMAN && !act->allow_skip)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("task %lld (\"%s\") cannot be skipped", (long long) activity->id,
						activity->name),
				 errdetail("Its activity does not have \"allow_skip\": true.")));
	for (int l = 0; l < act->nlinks; l++)
	{
		plain |= act->links[l].outcome == NULL;
		skipped |= act->links[l].outcome != NULL &&
			strcmp(act->links[l].outcome, "skipped") == 0;
	}
	if (!plain && !skipped)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("activity %lld (\"%s\") cannot be skipped", (long long) activity->id,
						activity->name),
				 errdetail("Its \"next\" names no activity for the outcome \"skipped\"."),
				 errhint("Give the activity a \"skipped\" outcome in a new version of the flow.")));
	flow_store_cancel_jobs(instance->id, activity->id, 0, "the activity was skipped");
	flow_store_close_activity(activity->id, "skipped", skipped ? "skipped" : NULL, by, false);
	if (act->kind == FLOW_WAIT)
		flow_store_unpark_events(instance->id);
	if (act->kind == FLOW_HUMAN)
		flow_engine_notify_task(activity->id);
	step_follow(&s, act, "skipped");
	step_end(&s);
}

/*
 * complete_task: close a ready or open task with one of its outcomes (the
 * keys of its "next"; none for a plain "next"; "timeout" is its timer's),
 * merge vars into the instance's, and go on.  The caller holds the
 * instance's lock and has checked the rights and states.
 */
void
flow_engine_complete_task(ProcessInfo *flow, FlowInstance *instance,
						  FlowActivityRow *activity, const char *outcome, Jsonb *vars,
						  const char *by)
{
	Step		s;
	int			index;
	FlowActivity *act;
	bool		known = false;
	bool		plain = false;
	StringInfoData outcomes;

	step_begin(&s, flow, instance, 0, 1);
	step_rest(&s);
	index = flow_activity_index(s.fv->def, activity->name);
	if (index < 0)
		elog(ERROR, "activity \"%s\" is not in version %d of flow \"%s\"",
			 activity->name, instance->version, flow->name);
	act = &s.fv->def->activities[index];
	initStringInfo(&outcomes);
	for (int l = 0; l < act->nlinks; l++)
	{
		const char *o = act->links[l].outcome;

		if (o == NULL)
			plain = true;
		/* the timer's and skip_activity's outcomes: not a person's */
		else if (strcmp(o, "timeout") != 0 && strcmp(o, "skipped") != 0)
		{
			if (outcome != NULL && strcmp(o, outcome) == 0)
				known = true;
			if (l == 0 || act->links[l - 1].outcome == NULL ||
				strcmp(act->links[l - 1].outcome, o) != 0)
				appendStringInfo(&outcomes, "%s%s", outcomes.len > 0 ? ", " : "", o);
		}
	}
	if (plain ? outcome != NULL : !known)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 outcome ? errmsg("task %lld (\"%s\") has no outcome \"%s\"",
								  (long long) activity->id, activity->name, outcome) :
				 errmsg("task %lld (\"%s\") needs an outcome", (long long) activity->id,
						activity->name),
				 plain ? errhint("It has one outcome: complete it without naming one.") :
				 errhint("Its outcomes are: %s.", outcomes.data)));
	flow_store_cancel_jobs(instance->id, activity->id, 0, "the task was completed");
	if (vars != NULL)
	{
		flow_store_merge_vars(instance->id, vars);
		s.instance.vars = DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
															 JsonbPGetDatum(s.instance.vars),
															 JsonbPGetDatum(vars)));
	}
	flow_store_close_activity(activity->id, "closed", outcome, by, false);
	flow_engine_notify_task(activity->id);
	step_follow(&s, act, outcome);
	step_end(&s);
}

/*
 * disable_process with cancel_pending: terminate every live instance of a
 * flow, each with its children, waiting for the steps executors run on
 * them.
 */
void
flow_engine_terminate_flow(int32 process_id)
{
	terminate_listed(flow_store_live_instances(process_id), true);
}

/*
 * retry_activity: a failed automatic activity runs again; a wait that
 * failed on an event gets that event again; a failed wait's or task's
 * timer fires again (a task is ready meanwhile); a wait that failed as it
 * began (it would have spun) waits, its instance's count of waits closed
 * at once starting again.  Attempts are counted anew.  The caller holds the
 * instance's lock.
 */
void
flow_engine_retry(ProcessInfo *flow, FlowInstance *instance, FlowActivityRow *activity)
{
	Step		s;
	bool		automatic = strcmp(activity->kind, "automatic") == 0;
	bool		subflow = strcmp(activity->kind, "subflow") == 0;
	bool		wait = strcmp(activity->kind, "wait") == 0;

	memset(&s, 0, sizeof(s));
	s.flow = flow;
	s.instance = *instance;
	if (instance->spins != 0)
		flow_store_set_spins(instance->id, 0);
	/* the events that came meanwhile are taken after it */
	if (wait)
		flow_store_unpark_events(instance->id);
	if (wait && (flow_store_failed_event(instance->id, activity->id) || activity->run_at == 0))
	{
		flow_store_reopen(activity->id, "waiting", false);
		return;
	}
	/* a task is ready again; its timer finds whether its timeout passed */
	flow_store_reopen(activity->id, subflow || wait ? "waiting" : "ready", true);
	queue_activity_job(&s, activity->id, activity->name, automatic || subflow ? "step" : "timer",
					   step_due_now());
	if (strcmp(activity->kind, "human") == 0)
		flow_engine_notify_task(activity->id);
}
