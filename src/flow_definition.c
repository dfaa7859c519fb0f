/*-------------------------------------------------------------------------
 *
 * flow_definition.c
 *	  Reading and checking the definition document of a flow.
 *
 * flow_read turns the document into activities and links and checks its
 * shape and its graph: known kinds and keys, values of the right JSON
 * type, "next" naming activities and only outcomes the kind can produce,
 * every activity reached from the start, an end reachable from every
 * activity, joins reached from two activities or more, and no cycle that
 * would run without waiting.  flow_check_sql then parses and analyses every
 * piece of SQL against the row types it will see, as the flow's owner, so
 * that a flow is refused when it is defined rather than when an instance
 * reaches the mistake.  Every refusal names the activity and the key.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "parser/parse_coerce.h"
#include "port/pg_bitutils.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"

#include "action.h"
#include "api.h"
#include "cache.h"
#include "catalog.h"
#include "flow_definition.h"
#include "json_doc.h"
#include "task_form.h"

#define MAX_ACTIVITY_NAME_LENGTH 200

/*
 * The most activities a flow may have: far more than any process model
 * needs, and few enough that checking a definition stays cheap.
 */
#define MAX_ACTIVITIES 1000

/* Where the reading is, for the error context. */
typedef struct ReadPlace
{
	const char *flow;
	const char *activity;		/* NULL: the document's top level */
	const char *key;			/* NULL: the activity as a whole */
} ReadPlace;

/* The keys each kind accepts. */
static const char *const automatic_keys[] = {"kind", "action", "next", "timeout", NULL};
static const char *const wait_keys[] = {"kind", "on", "timeout", "next", NULL};
static const char *const on_keys[] = {"event", "fields", "condition", "entity", "key", NULL};
static const char *const decision_keys[] = {"kind", "cases", "else", NULL};
static const char *const case_keys[] = {"when", "next", NULL};
static const char *const join_keys[] = {"kind", "next", NULL};
static const char *const end_keys[] = {"kind", "terminate", NULL};
static const char *const human_keys[] = {"kind", "assignee", "group", "instructions", "due",
"start_delay", "timeout", "allow_skip", "form", "next", NULL};
static const char *const conditional_start_keys[] = {"kind", "on", "next", NULL};
static const char *const subflow_keys[] = {"kind", "flow", "key", "vars", "next", NULL};

/*
 * The table an "on" (of a wait or a conditional start) listens to: the one
 * it names, resolved with the current search_path, or the flow's own
 * ("entity", InvalidOid for none).
 */
Oid
flow_on_table(const FlowWaitOn *on, Oid entity)
{
	if (on->entity == NULL)
		return entity;
	return RangeVarGetRelid(makeRangeVarFromNameList(stringToQualifiedNameList(on->entity)),
							NoLock, false);
}

/* The name of a kind as the document spells it. */
const char *
flow_kind_name(FlowKind kind)
{
	switch (kind)
	{
		case FLOW_AUTOMATIC:
			return "automatic";
		case FLOW_HUMAN:
			return "human";
		case FLOW_WAIT:
			return "wait";
		case FLOW_DECISION:
			return "decision";
		case FLOW_JOIN:
			return "join";
		case FLOW_CONDITIONAL_START:
			return "conditional_start";
		case FLOW_SUBFLOW:
			return "subflow";
		case FLOW_END:
			return "end";
	}
	return "?";
}

/* A name as a step of a JSON Pointer (RFC 6901): "~" and "/" escaped. */
static void
append_pointer_step(StringInfo buf, const char *name)
{
	appendStringInfoChar(buf, '/');
	for (const char *c = name; *c; c++)
	{
		if (*c == '~')
			appendStringInfoString(buf, "~0");
		else if (*c == '/')
			appendStringInfoString(buf, "~1");
		else
			appendStringInfoChar(buf, *c);
	}
}

/*
 * Error context: the part of the definition being read, also as the JSON
 * Pointer an editor (or docs/flow.schema.json's validator) names it by.
 */
static void
read_error_context(void *arg)
{
	ReadPlace  *place = arg;
	StringInfoData at;

	initStringInfo(&at);
	if (place->activity)
	{
		append_pointer_step(&at, "activities");
		append_pointer_step(&at, place->activity);
		if (place->key)
			append_pointer_step(&at, place->key);
	}
	if (place->activity && place->key)
		errcontext("key \"%s\" of activity \"%s\" of flow \"%s\", at %s",
				   place->key, place->activity, place->flow, at.data);
	else if (place->activity)
		errcontext("activity \"%s\" of flow \"%s\", at %s", place->activity, place->flow, at.data);
	else
		errcontext("definition of flow \"%s\"", place->flow);
}

/*
 * Refuse any key of an object that is not among the allowed ones; the
 * error context says which object it is.
 */
static void
check_keys(JsonbContainer *obj, const char *const *allowed)
{
	char	  **keys;
	JsonbValue *values;
	int			n = json_doc_entries(obj, &keys, &values);

	for (int i = 0; i < n; i++)
	{
		bool		known = false;
		StringInfoData list;

		for (const char *const *a = allowed; *a; a++)
			if (strcmp(keys[i], *a) == 0)
				known = true;
		if (known)
			continue;
		initStringInfo(&list);
		for (const char *const *a = allowed; *a; a++)
			appendStringInfo(&list, "%s%s", a == allowed ? "" : ", ", *a);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown key \"%s\"", keys[i]),
				 errdetail("The keys allowed there are: %s.", list.data)));
	}
}

/* A string member that must be present and not empty. */
static char *
required_string(JsonbContainer *obj, const char *key, ReadPlace *place)
{
	JsonbValue	v;
	char	   *s;

	place->key = key;
	if (!json_doc_member(obj, key, &v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("activity \"%s\" has no key \"%s\"", place->activity, key)));
	if (v.type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key \"%s\" of activity \"%s\" must be a string",
						key, place->activity)));
	s = json_doc_string(&v);
	if (*s == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key \"%s\" of activity \"%s\" must not be empty",
						key, place->activity)));
	place->key = NULL;
	return s;
}

/*
 * The longest literal interval a definition takes: an instance adds it to
 * the time an activity begins, which must stay a timestamp (and, for an
 * automatic activity's statement timeout, a number of milliseconds).
 */
#define MAX_INTERVAL_LITERAL "1000 years"

/*
 * A literal interval that must be positive and at most
 * MAX_INTERVAL_LITERAL: an automatic activity's statement timeout, a
 * wait's timeout, a task's times.
 */
static void
check_interval_literal(JsonbValue *v, const char *key, ReadPlace *place)
{
	Interval   *value;
	Datum		limit;

	place->key = key;
	value = DatumGetIntervalP(DirectFunctionCall3(interval_in,
												  CStringGetDatum(json_doc_string(v)),
												  ObjectIdGetDatum(InvalidOid),
												  Int32GetDatum(-1)));
	if (api_interval_sign(value) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key \"%s\" of activity \"%s\" must be a positive interval",
						key, place->activity)));
	limit = DirectFunctionCall3(interval_in, CStringGetDatum(MAX_INTERVAL_LITERAL),
								ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	if (DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(value), limit)) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key \"%s\" of activity \"%s\" must be at most %s",
						key, place->activity, MAX_INTERVAL_LITERAL),
				 errdetail("An instance adds it to the time the activity begins.")));
	place->key = NULL;
}

/* The SQL text of a {"sql": "..."} value, or NULL when v is not one. */
static char *
sql_value(JsonbValue *v, const char *key, ReadPlace *place)
{
	JsonbValue	sql;

	if (!json_doc_is_object(v))
		return NULL;
	place->key = key;
	check_keys(v->val.binary.data, (const char *const[]) {"sql", NULL});
	if (!json_doc_member(v->val.binary.data, "sql", &sql) || sql.type != jbvString ||
		sql.val.string.len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key \"%s\" of activity \"%s\" must be a literal or {\"sql\": \"expression\"}",
						key, place->activity)));
	place->key = NULL;
	return json_doc_string(&sql);
}

/*
 * Is the activity a join?  Read from its object, since links to it may be
 * read before its kind is.
 */
static bool
is_join(FlowActivity *act)
{
	JsonbValue	kind;

	return json_doc_member(act->doc, "kind", &kind) && kind.type == jbvString &&
		kind.val.string.len == 4 && memcmp(kind.val.string.val, "join", 4) == 0;
}

/* Index of the activity of that name, or -1. */
static int
find_activity(FlowDefinition *def, const char *name)
{
	for (int i = 0; i < def->nactivities; i++)
		if (strcmp(def->activities[i].name, name) == 0)
			return i;
	return -1;
}

/*
 * Append a link; "when" is a decision case's condition.  A join is reached
 * once from each activity that leads to it: two links from one activity
 * (a case and the else of a decision, two outcomes of a wait) are
 * alternatives, only one of which can arrive, so the join would wait for
 * ever.
 */
static void
add_link(FlowDefinition *def, FlowActivity *act, const char *outcome,
		 const char *when, JsonbValue *target, ReadPlace *place)
{
	char	   *name;
	int			index;

	if (target->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key \"%s\" of activity \"%s\" must name activities",
						place->key, act->name),
				 errhint("Give an activity's name, an array of names (a parallel split), or, for activities with outcomes, an object from outcome to either.")));
	name = json_doc_string(target);
	index = find_activity(def, name);
	if (index < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key \"%s\" of activity \"%s\" names \"%s\", which is no activity of the flow",
						place->key, act->name, name)));
	for (int i = 0; i < act->nlinks; i++)
		if (act->links[i].target == index && is_join(&def->activities[index]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("activity \"%s\" leads to join \"%s\" twice", act->name, name),
					 errdetail("A join waits for one link from each activity that leads to it; only one of these two can arrive.")));
	act->links = act->nlinks == 0 ? palloc(sizeof(FlowLink))
		: repalloc(act->links, sizeof(FlowLink) * (act->nlinks + 1));
	act->links[act->nlinks].outcome = outcome;
	act->links[act->nlinks].when = when;
	act->links[act->nlinks].target = index;
	act->nlinks++;
	def->activities[index].incoming++;
}

/* Links of one target value: a name or a non-empty array of distinct names. */
static void
add_targets(FlowDefinition *def, FlowActivity *act, const char *outcome,
			const char *when, JsonbValue *value, ReadPlace *place)
{
	JsonbValue *elems;
	int			n;

	if (!json_doc_is_array(value))
	{
		add_link(def, act, outcome, when, value, place);
		return;
	}
	n = json_doc_elements(value->val.binary.data, &elems);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key \"%s\" of activity \"%s\" must not be an empty array",
						place->key, act->name)));
	for (int i = 0; i < n; i++)
	{
		for (int j = 0; j < i; j++)
			if (elems[i].type == jbvString && elems[j].type == jbvString &&
				elems[i].val.string.len == elems[j].val.string.len &&
				memcmp(elems[i].val.string.val, elems[j].val.string.val,
					   elems[i].val.string.len) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("key \"%s\" of activity \"%s\" names \"%s\" twice",
								place->key, act->name, json_doc_string(&elems[i]))));
		add_link(def, act, outcome, when, &elems[i], place);
	}
}

/*
 * The links of "next".  "outcomes" lists the outcomes the activity can
 * produce (NULL: none, so only a name or an array is allowed); "required"
 * those of them that must lead somewhere when "next" is an object.
 */
static void
read_next(FlowDefinition *def, FlowActivity *act, const char *const *outcomes,
		  const char *const *required, ReadPlace *place)
{
	JsonbValue	next;
	char	  **keys;
	JsonbValue *values;
	int			n;

	place->key = "next";
	if (!json_doc_member(act->doc, "next", &next))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("activity \"%s\" has no key \"next\"", act->name),
				 errhint("Name the activity that follows, or end the branch with an activity of kind \"end\".")));
	if (!json_doc_is_object(&next))
	{
		add_targets(def, act, NULL, NULL, &next, place);
		place->key = NULL;
		return;
	}
	if (outcomes == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("activity \"%s\" of kind \"%s\" has no outcomes", act->name,
						flow_kind_name(act->kind)),
				 errhint("Give \"next\" as an activity's name or an array of names.")));
	n = json_doc_entries(next.val.binary.data, &keys, &values);
	for (int i = 0; i < n; i++)
	{
		bool		known = false;

		for (const char *const *o = outcomes; *o; o++)
			if (strcmp(keys[i], *o) == 0)
				known = true;
		if (!known)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("activity \"%s\" cannot have the outcome \"%s\"", act->name, keys[i])));
		add_targets(def, act, keys[i], NULL, &values[i], place);
	}
	for (const char *const *r = required; *r; r++)
	{
		JsonbValue	v;

		if (!json_doc_member(next.val.binary.data, *r, &v))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key \"next\" of activity \"%s\" has no activity for the outcome \"%s\"",
							act->name, *r)));
	}
	place->key = NULL;
}

/* An automatic activity: an action, a next, an optional statement timeout. */
static void
read_automatic(FlowDefinition *def, FlowActivity *act, ReadPlace *place)
{
	JsonbValue	v;

	check_keys(act->doc, automatic_keys);
	act->action = required_string(act->doc, "action", place);
	if (json_doc_member(act->doc, "timeout", &v))
	{
		if (v.type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key \"timeout\" of activity \"%s\" must be an interval", act->name)));
		check_interval_literal(&v, "timeout", place);
		act->timeout = json_doc_string(&v);
	}
	read_next(def, act, NULL, NULL, place);
}

/* The "on" of a wait: which event of which table closes it. */
static void
read_on(FlowActivity *act, JsonbContainer *on, ReadPlace *place)
{
	JsonbValue	event;
	JsonbValue	v;
	char	   *name;
	FlowWaitOn *spec = palloc0(sizeof(FlowWaitOn));

	act->on = spec;
	check_keys(on, on_keys);
	if (!json_doc_member(on, "event", &event) || event.type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key \"on\" of activity \"%s\" must name an \"event\"", act->name),
				 errhint("The events are create, update and delete.")));
	name = json_doc_string(&event);
	if (strcmp(name, "create") != 0 && strcmp(name, "update") != 0 &&
		strcmp(name, "delete") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("activity \"%s\" waits for an unknown event \"%s\"", act->name, name),
				 errhint("The events are create, update and delete.")));
	spec->event = name[0];
	if (json_doc_member(on, "fields", &v))
	{
		JsonbValue *elems;
		int			n;

		if (strcmp(name, "update") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("activity \"%s\" lists fields for a %s event", act->name, name),
					 errdetail("Only an update event watches fields.")));
		if (!json_doc_is_array(&v) || (n = json_doc_elements(v.val.binary.data, &elems)) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key \"fields\" of activity \"%s\" must be a non-empty array of column names",
							act->name)));
		spec->fields = palloc(sizeof(char *) * n);
		for (int i = 0; i < n; i++)
		{
			if (elems[i].type != jbvString || elems[i].val.string.len == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("key \"fields\" of activity \"%s\" must be a non-empty array of column names",
								act->name)));
			spec->fields[i] = json_doc_string(&elems[i]);
		}
		spec->nfields = n;
	}
	for (const char *const *k = (const char *const[]) {"condition", "entity", "key", NULL}; *k; k++)
		if (json_doc_member(on, *k, &v) && (v.type != jbvString || v.val.string.len == 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key \"%s\" in the \"on\" of activity \"%s\" must be a non-empty string",
							*k, act->name)));
	if (json_doc_member(on, "condition", &v))
		spec->condition = json_doc_string(&v);
	if (json_doc_member(on, "entity", &v))
		spec->entity = json_doc_string(&v);
	if (json_doc_member(on, "key", &v))
		spec->key = json_doc_string(&v);
}

/*
 * A wait: an event ("on"), a timeout, or both; outcomes event, timeout
 * (those it has), and skipped (skip_activity), which may be left out.
 */
static void
read_wait(FlowDefinition *def, FlowActivity *act, ReadPlace *place)
{
	const char *outcomes[4] = {NULL, NULL, NULL, NULL};
	const char *required[3] = {NULL, NULL, NULL};
	int			nrequired = 0;
	JsonbValue	v;

	check_keys(act->doc, wait_keys);
	if (json_doc_member(act->doc, "on", &v))
	{
		place->key = "on";
		if (!json_doc_is_object(&v))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key \"on\" of activity \"%s\" must be an object", act->name)));
		read_on(act, v.val.binary.data, place);
		required[nrequired++] = "event";
		place->key = NULL;
	}
	if (json_doc_member(act->doc, "timeout", &v))
	{
		if (v.type == jbvString)
		{
			check_interval_literal(&v, "timeout", place);
			act->timeout = json_doc_string(&v);
		}
		else if ((act->timeout_sql = sql_value(&v, "timeout", place)) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key \"timeout\" of activity \"%s\" must be an interval or {\"sql\": \"timestamptz expression\"}",
							act->name)));
		required[nrequired++] = "timeout";
	}
	if (nrequired == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("wait \"%s\" has neither \"on\" nor \"timeout\"", act->name),
				 errdetail("A wait ends on an entity event, a timeout, or whichever comes first.")));
	memcpy(outcomes, required, sizeof(required));
	outcomes[nrequired] = "skipped";
	read_next(def, act, outcomes, required, place);
}

/* A decision: cases tried in order, then "else". */
static void
read_decision(FlowDefinition *def, FlowActivity *act, ReadPlace *place)
{
	JsonbValue	cases;
	JsonbValue	v;
	JsonbValue *elems;
	int			n;

	check_keys(act->doc, decision_keys);
	place->key = "cases";
	if (!json_doc_member(act->doc, "cases", &cases) || !json_doc_is_array(&cases) ||
		(n = json_doc_elements(cases.val.binary.data, &elems)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("decision \"%s\" must have \"cases\", a non-empty array", act->name),
				 errhint("Each case is {\"when\": \"boolean expression\", \"next\": \"activity\"}.")));
	for (int i = 0; i < n; i++)
	{
		JsonbValue	when;
		JsonbValue	next;

		if (!json_doc_is_object(&elems[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("case %d of decision \"%s\" must be an object", i + 1, act->name),
					 errhint("Each case is {\"when\": \"boolean expression\", \"next\": \"activity\"}.")));
		check_keys(elems[i].val.binary.data, case_keys);
		if (!json_doc_member(elems[i].val.binary.data, "when", &when) || when.type != jbvString ||
			when.val.string.len == 0 ||
			!json_doc_member(elems[i].val.binary.data, "next", &next))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("case %d of decision \"%s\" must have \"when\" and \"next\"",
							i + 1, act->name),
					 errhint("Each case is {\"when\": \"boolean expression\", \"next\": \"activity\"}.")));
		add_targets(def, act, NULL, json_doc_string(&when), &next, place);
	}
	place->key = "else";
	if (!json_doc_member(act->doc, "else", &v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("decision \"%s\" has no \"else\"", act->name),
				 errdetail("A decision goes somewhere whatever its cases say.")));
	add_targets(def, act, "else", NULL, &v, place);
	place->key = NULL;
}

/* An end: of its branch, or with "terminate" of the whole instance. */
static void
read_end(FlowActivity *act, ReadPlace *place)
{
	JsonbValue	v;

	check_keys(act->doc, end_keys);
	if (json_doc_member(act->doc, "terminate", &v))
	{
		place->key = "terminate";
		if (v.type != jbvBool)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key \"terminate\" of activity \"%s\" must be a boolean", act->name)));
		act->terminate = v.val.boolean;
		place->key = NULL;
	}
}

/*
 * A value that is a literal string or {"sql": "..."}: a task's assignee,
 * group and instructions.
 */
static void
read_text_value(FlowActivity *act, const char *key, FlowValue *value, ReadPlace *place)
{
	JsonbValue	v;

	if (!json_doc_member(act->doc, key, &v))
		return;
	place->key = key;
	if (v.type == jbvString && v.val.string.len > 0)
		value->literal = json_doc_string(&v);
	else if ((value->sql = sql_value(&v, key, place)) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key \"%s\" of activity \"%s\" must be a non-empty string or {\"sql\": \"expression\"}",
						key, act->name)));
	place->key = NULL;
}

/*
 * A time that is a positive interval (from when the activity begins) or
 * {"sql": "timestamptz expression"}: a task's due, start_delay and
 * timeout.
 */
static void
read_time_value(FlowActivity *act, const char *key, FlowValue *value, ReadPlace *place)
{
	JsonbValue	v;

	if (!json_doc_member(act->doc, key, &v))
		return;
	if (v.type == jbvString)
	{
		check_interval_literal(&v, key, place);
		value->literal = json_doc_string(&v);
	}
	else if ((value->sql = sql_value(&v, key, place)) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key \"%s\" of activity \"%s\" must be an interval or {\"sql\": \"timestamptz expression\"}",
						key, act->name)));
}

/*
 * The "next" of a task: one outcome (a name or an array), or an object
 * whose keys are its outcomes, named as the application wants; "timeout"
 * is the outcome of its timeout, and an object must give it when the task
 * has one; "skipped" that of skip_activity, and an object must give it
 * when the task allows skipping.  An object gives at least one outcome a
 * person completes the task with.
 */
static void
read_task_next(FlowDefinition *def, FlowActivity *act, bool has_timeout, ReadPlace *place)
{
	JsonbValue	next;
	char	  **keys;
	JsonbValue *values;
	int			n;
	bool		timeout_given = false;
	bool		skipped_given = false;
	bool		person_given = false;

	place->key = "next";
	if (!json_doc_member(act->doc, "next", &next))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("activity \"%s\" has no key \"next\"", act->name),
				 errhint("Name the activity that follows, or give an object from each outcome to the activity that follows it.")));
	if (!json_doc_is_object(&next))
	{
		add_targets(def, act, NULL, NULL, &next, place);
		place->key = NULL;
		return;
	}
	n = json_doc_entries(next.val.binary.data, &keys, &values);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key \"next\" of activity \"%s\" names no outcome", act->name)));
	for (int i = 0; i < n; i++)
	{
		if (keys[i][0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("activity \"%s\" has an empty outcome name", act->name)));
		if (strcmp(keys[i], "timeout") == 0)
		{
			if (!has_timeout)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("activity \"%s\" cannot have the outcome \"timeout\"", act->name),
						 errdetail("It has no \"timeout\".")));
			timeout_given = true;
		}
		else if (strcmp(keys[i], "skipped") == 0)
			skipped_given = true;
		else
			person_given = true;
		add_targets(def, act, keys[i], NULL, &values[i], place);
	}
	if (has_timeout && !timeout_given)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key \"next\" of activity \"%s\" has no activity for the outcome \"timeout\"",
						act->name)));
	/* "timeout" and "skipped" are the timer's and skip_activity's */
	if (!person_given)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key \"next\" of activity \"%s\" has no outcome a person can complete it with",
						act->name),
				 errhint("Give an outcome besides \"timeout\" and \"skipped\", or a plain \"next\".")));
	if (act->allow_skip && !skipped_given)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("activity \"%s\" allows skipping but its \"next\" has no outcome \"skipped\"",
						act->name),
				 errhint("Add \"skipped\" to \"next\", naming the activity a skipped task goes to.")));
	place->key = NULL;
}

/* A human activity: a task of the taskbox. */
static void
read_human(FlowDefinition *def, FlowActivity *act, ReadPlace *place)
{
	JsonbValue	v;
	FlowValue	timeout = {NULL, NULL};

	check_keys(act->doc, human_keys);
	read_text_value(act, "assignee", &act->assignee, place);
	read_text_value(act, "group", &act->group, place);
	read_text_value(act, "instructions", &act->instructions, place);
	read_time_value(act, "due", &act->due, place);
	read_time_value(act, "start_delay", &act->start_delay, place);
	read_time_value(act, "timeout", &timeout, place);
	act->timeout = timeout.literal;
	act->timeout_sql = timeout.sql;
	if (json_doc_member(act->doc, "allow_skip", &v))
	{
		if (v.type != jbvBool)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key \"allow_skip\" of activity \"%s\" must be a boolean", act->name)));
		act->allow_skip = v.val.boolean;
	}
	if (json_doc_member(act->doc, "form", &v))
	{
		place->key = "form";
		act->form = task_form_read(&v, act->name);
		place->key = NULL;
	}
	read_task_next(def, act, timeout.literal || timeout.sql, place);
}

/*
 * A conditional start: not reached by links, it listens ("on", as a
 * wait's) while the instance is active, and each matching event starts a
 * branch at its "next".
 */
static void
read_conditional_start(FlowDefinition *def, FlowActivity *act, ReadPlace *place)
{
	JsonbValue	v;

	check_keys(act->doc, conditional_start_keys);
	place->key = "on";
	if (!json_doc_member(act->doc, "on", &v) || !json_doc_is_object(&v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("conditional start \"%s\" must have \"on\", an object", act->name),
				 errhint("\"on\" names the event that starts a branch, as a wait's does.")));
	read_on(act, v.val.binary.data, place);
	place->key = NULL;
	read_next(def, act, NULL, NULL, place);
}

/*
 * A subflow: an instance of another flow of the same owner, which the
 * activity waits for; outcomes completed and terminated.
 */
static void
read_subflow(FlowDefinition *def, FlowActivity *act, ReadPlace *place)
{
	static const char *const outcomes[] = {"completed", "terminated", NULL};
	JsonbValue	v;

	check_keys(act->doc, subflow_keys);
	act->subflow = required_string(act->doc, "flow", place);
	for (const char *const *k = (const char *const[]) {"key", "vars", NULL}; *k; k++)
		if (json_doc_member(act->doc, *k, &v))
		{
			place->key = *k;
			if (v.type != jbvString || v.val.string.len == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("key \"%s\" of activity \"%s\" must be a non-empty string of SQL",
								*k, act->name)));
			if (strcmp(*k, "key") == 0)
				act->subflow_key = json_doc_string(&v);
			else
				act->subflow_vars = json_doc_string(&v);
			place->key = NULL;
		}
	read_next(def, act, outcomes, outcomes, place);
}

/* The kind of an activity; refuses the kinds this version cannot run. */
static FlowKind
read_kind(FlowActivity *act, ReadPlace *place)
{
	static const FlowKind kinds[] = {FLOW_AUTOMATIC, FLOW_HUMAN, FLOW_WAIT, FLOW_DECISION,
	FLOW_JOIN, FLOW_CONDITIONAL_START, FLOW_SUBFLOW, FLOW_END};
	char	   *name = required_string(act->doc, "kind", place);

	for (int i = 0; i < (int) lengthof(kinds); i++)
	{
		if (strcmp(name, flow_kind_name(kinds[i])) != 0)
			continue;
		return kinds[i];
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("activity \"%s\" has an unknown kind \"%s\"", act->name, name),
			 errhint("The kinds are automatic, human, wait, decision, join, conditional_start, subflow and end.")));
	return FLOW_END;			/* not reached */
}

/* Mark everything reachable from "from" along the links. */
static void
mark_reachable(FlowDefinition *def, int from, bool *seen)
{
	FlowActivity *act = &def->activities[from];

	check_stack_depth();
	if (seen[from])
		return;
	seen[from] = true;
	for (int i = 0; i < act->nlinks; i++)
		mark_reachable(def, act->links[i].target, seen);
}

/*
 * Does an activity never rest, so that a cycle through it would spin?
 * Automatic activities, decisions and joins follow each other at once; so
 * does a wait for the creation or the deletion of the instance's own row
 * without a condition, which closes at once as long as the row exists (or,
 * for a deletion, once it is gone).
 */
static bool
never_rests(FlowActivity *act)
{
	if (act->kind == FLOW_WAIT)
		return act->on != NULL && act->on->entity == NULL && act->on->condition == NULL &&
			(act->on->event == 'c' || act->on->event == 'd');
	return act->kind == FLOW_AUTOMATIC || act->kind == FLOW_DECISION || act->kind == FLOW_JOIN;
}

/*
 * Depth-first search for a cycle among activities that never wait; on
 * finding one, refuse it, naming its activities.  state: 0 unvisited, 1 on
 * the current path, 2 done.
 */
static void
find_spinning_cycle(FlowDefinition *def, int at, int *state, int *path, int depth)
{
	FlowActivity *act = &def->activities[at];

	check_stack_depth();
	state[at] = 1;
	path[depth] = at;
	for (int i = 0; i < act->nlinks; i++)
	{
		int			to = act->links[i].target;

		if (!never_rests(&def->activities[to]))
			continue;
		if (state[to] == 1)
		{
			StringInfoData cycle;
			int			first = depth;

			while (path[first] != to)
				first--;
			initStringInfo(&cycle);
			for (int j = first; j <= depth; j++)
				appendStringInfo(&cycle, "\"%s\" -> ", def->activities[path[j]].name);
			appendStringInfo(&cycle, "\"%s\"", def->activities[to].name);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("activities %s form a cycle that never waits", cycle.data),
					 errdetail("Automatic activities, decisions and joins follow each other at once, and so does a wait for the creation or deletion of the instance's own row without a condition, so this cycle could run without end."),
					 errhint("Put a wait that rests in the cycle: for an update, for another table, or with a condition.")));
		}
		if (state[to] == 0)
			find_spinning_cycle(def, to, state, path, depth + 1);
	}
	state[at] = 2;
}

/*
 * Joins that could wait for good.  A join goes on when each activity that
 * links to it has arrived; a path of exclusive choices (a decision's case
 * or else, a wait's or task's or subflow's outcome) that brings some of
 * them but not all, and then nothing more, leaves the join waiting with
 * nothing to wake it: a branch that bypasses a join, or a join after an
 * exclusive choice instead of after a split.  This is found by playing the
 * flow with tokens, as a Petri net: a token at each activity that runs,
 * every link of a plain "next" taken at once (a split), one outcome's
 * links for each exclusive choice; the token with the lowest activity
 * first, so that each set of choices is played once.  A play that ends
 * (no token left, no end that terminates reached) with a join half filled
 * is refused.  Joins that a conditional start leads to are left out: their
 * other branches may be waiting for its events, as a wait would.  The
 * states already seen are not played again; a flow with too many states to
 * play whole is not refused.
 */
#define JOIN_PLAY_MAX_STATES	20000
#define JOIN_PLAY_MAX_TOKENS	64

typedef struct JoinPlay
{
	FlowDefinition *def;
	int		   *join_of;		/* activity -> index among the joins, or -1 */
	int			njoins;
	int		  **source_bit;		/* per join: activity -> bit of its sources */
	bool	   *checked;		/* per join: not fed by a conditional start */
	HTAB	   *seen;			/* states played */
	int			nstates;
	bool		gave_up;
	const char *choices[8];		/* the path's exclusive choices, for the message */
	int			nchoices;
} JoinPlay;

/* A state: the tokens (activity indices, sorted) and the joins' arrivals. */
typedef struct PlayState
{
	int			ntokens;
	int			tokens[JOIN_PLAY_MAX_TOKENS];
	uint64		arrived[FLEXIBLE_ARRAY_MEMBER];
} PlayState;

static void play(JoinPlay *p, PlayState *st);

/* The size of a state with njoins joins. */
static Size
play_state_size(int njoins)
{
	return offsetof(PlayState, arrived) + sizeof(uint64) * Max(njoins, 1);
}

/* Add a token at activity "at", keeping the tokens sorted. */
static bool
add_token(PlayState *st, int at)
{
	int			i;

	if (st->ntokens == JOIN_PLAY_MAX_TOKENS)
		return false;
	for (i = st->ntokens; i > 0 && st->tokens[i - 1] > at; i--)
		st->tokens[i] = st->tokens[i - 1];
	st->tokens[i] = at;
	st->ntokens++;
	return true;
}

/* Play on from st after moving the first token along links [from, to). */
static void
play_links(JoinPlay *p, PlayState *st, int at, FlowLink *links, int from, int to,
		   const char *choice)
{
	Size		size = play_state_size(p->njoins);
	PlayState  *next = palloc(size);

	memcpy(next, st, size);
	/* the first token goes */
	memmove(next->tokens, next->tokens + 1, sizeof(int) * (next->ntokens - 1));
	next->ntokens--;
	for (int l = from; l < to; l++)
	{
		int			target = links[l].target;
		int			j = p->join_of[target];

		if (j >= 0)
		{
			/* the join notes its source; once all arrived, it goes on */
			next->arrived[j] |= UINT64CONST(1) << p->source_bit[j][at];
			if (pg_popcount64(next->arrived[j]) == p->def->activities[target].incoming)
			{
				next->arrived[j] = 0;
				if (!add_token(next, target))
				{
					p->gave_up = true;
					return;
				}
			}
		}
		else if (!add_token(next, target))
		{
			p->gave_up = true;
			return;
		}
	}
	if (choice != NULL && p->nchoices < (int) lengthof(p->choices))
		p->choices[p->nchoices] = choice;
	p->nchoices++;
	play(p, next);
	p->nchoices--;
	pfree(next);
}

/* Play every way on from a state. */
static void
play(JoinPlay *p, PlayState *st)
{
	bool		found;
	FlowActivity *act;
	int			at;

	check_stack_depth();
	if (p->gave_up)
		return;
	(void) hash_search(p->seen, st, HASH_ENTER, &found);
	if (found)
		return;
	if (++p->nstates > JOIN_PLAY_MAX_STATES)
	{
		p->gave_up = true;
		return;
	}
	if (st->ntokens == 0)
	{
		for (int j = 0; j < p->njoins; j++)
		{
			int			join = -1;
			StringInfoData path;

			if (st->arrived[j] == 0)
				continue;
			for (int i = 0; i < p->def->nactivities && join < 0; i++)
				if (p->join_of[i] == j)
					join = i;
			if (!p->checked[j])
				continue;
			initStringInfo(&path);
			for (int c = 0; c < Min(p->nchoices, (int) lengthof(p->choices)); c++)
				if (p->choices[c] != NULL)
					appendStringInfo(&path, "%s%s", path.len > 0 ? ", " : "", p->choices[c]);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("join \"%s\" can wait for ever", p->def->activities[join].name),
					 path.len > 0 ?
					 errdetail("When %s, some of the activities that link to it arrive and the others never do.",
							   path.data) :
					 errdetail("Some of the activities that link to it arrive and the others never do."),
					 errhint("A join waits for every activity that links to it: lead each exclusive outcome either to all of its branches or to none, or join after a split.")));
		}
		return;
	}

	at = st->tokens[0];
	act = &p->def->activities[at];
	if (act->kind == FLOW_END)
	{
		if (!act->terminate)
			play_links(p, st, at, act->links, 0, 0, NULL);
		return;
	}
	if (act->kind == FLOW_DECISION)
	{
		int			ncase = 0;

		/* each case (its links share their condition), and else */
		for (int l = 0; l < act->nlinks;)
		{
			int			end = l + 1;

			while (end < act->nlinks && act->links[end].when == act->links[l].when &&
				   act->links[l].when != NULL)
				end++;
			play_links(p, st, at, act->links, l, end,
					   act->links[l].when ?
					   psprintf("\"%s\" takes case %d", act->name, ++ncase) :
					   psprintf("\"%s\" takes else", act->name));
			l = end;
		}
		return;
	}
	/* links with outcomes: one outcome at a time; plain links: all at once */
	for (int l = 0; l < act->nlinks;)
	{
		int			end = l + 1;

		if (act->links[l].outcome == NULL)
		{
			while (end < act->nlinks && act->links[end].outcome == NULL)
				end++;
			play_links(p, st, at, act->links, l, end, NULL);
		}
		else
		{
			while (end < act->nlinks && act->links[end].outcome != NULL &&
				   strcmp(act->links[end].outcome, act->links[l].outcome) == 0)
				end++;
			play_links(p, st, at, act->links, l, end,
					   psprintf("\"%s\" ends with \"%s\"", act->name, act->links[l].outcome));
		}
		l = end;
	}
	if (act->nlinks == 0)
		play_links(p, st, at, act->links, 0, 0, NULL);
}

/* Refuse a join that some play of the flow leaves waiting for good. */
static void
check_joins(FlowDefinition *def)
{
	JoinPlay	p;
	PlayState  *start;
	HASHCTL		ctl;
	bool	   *fed = palloc0(sizeof(bool) * def->nactivities);

	memset(&p, 0, sizeof(p));
	p.def = def;
	p.join_of = palloc(sizeof(int) * def->nactivities);
	for (int i = 0; i < def->nactivities; i++)
		p.join_of[i] = def->activities[i].kind == FLOW_JOIN ? p.njoins++ : -1;
	if (p.njoins == 0)
		return;
	for (int i = 0; i < def->nactivities; i++)
		if (def->activities[i].kind == FLOW_CONDITIONAL_START)
			mark_reachable(def, i, fed);
	p.checked = palloc0(sizeof(bool) * p.njoins);
	p.source_bit = palloc0(sizeof(int *) * p.njoins);
	for (int i = 0; i < def->nactivities; i++)
	{
		int			j = p.join_of[i];
		int			bits = 0;

		if (j < 0)
			continue;
		p.checked[j] = !fed[i];
		p.source_bit[j] = palloc0(sizeof(int) * def->nactivities);
		for (int a = 0; a < def->nactivities; a++)
		{
			bool		links = false;

			for (int l = 0; l < def->activities[a].nlinks; l++)
				links |= def->activities[a].links[l].target == i;
			if (links)
				p.source_bit[j][a] = bits++;
		}
		/* more sources than bits, or one activity's two links: not played */
		if (bits > 63 || bits != def->activities[i].incoming)
			p.checked[j] = false;
	}

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = play_state_size(p.njoins);
	ctl.entrysize = ctl.keysize;
	ctl.hcxt = CurrentMemoryContext;
	p.seen = hash_create("procflow join play", 256, &ctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	start = palloc0(play_state_size(p.njoins));
	(void) add_token(start, def->start);
	play(&p, start);
	hash_destroy(p.seen);
}

/* The rules of the graph as a whole. */
static void
check_graph(FlowDefinition *def)
{
	int			n = def->nactivities;
	bool	   *seen = palloc0(sizeof(bool) * n);
	bool	   *ends = palloc0(sizeof(bool) * n);
	int		   *state = palloc0(sizeof(int) * n);
	int		   *path = palloc(sizeof(int) * n);
	bool		changed;

	if (def->activities[def->start].kind == FLOW_CONDITIONAL_START)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("\"start\" names conditional start \"%s\"", def->activities[def->start].name),
				 errdetail("A conditional start starts branches on events; a flow starts with another activity.")));
	for (int i = 0; i < n; i++)
		if (def->activities[i].kind == FLOW_CONDITIONAL_START && def->activities[i].incoming > 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("a link leads to conditional start \"%s\"", def->activities[i].name),
					 errdetail("A conditional start is not reached by links: its events start it.")));

	/* conditional starts begin branches of their own */
	mark_reachable(def, def->start, seen);
	for (int i = 0; i < n; i++)
		if (def->activities[i].kind == FLOW_CONDITIONAL_START)
			mark_reachable(def, i, seen);
	for (int i = 0; i < n; i++)
		if (!seen[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("activity \"%s\" is not reached from the start", def->activities[i].name),
					 errdetail("No link leads to it from the activity named by \"start\" or from a conditional start.")));

	for (int i = 0; i < n; i++)
		if (def->activities[i].kind == FLOW_JOIN && def->activities[i].incoming < 2)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("join \"%s\" is reached by only one link", def->activities[i].name),
					 errdetail("A join waits for two or more branches.")));

	/* an end is reachable from an activity if it is one or leads to one */
	for (int i = 0; i < n; i++)
		ends[i] = def->activities[i].kind == FLOW_END;
	do
	{
		changed = false;
		for (int i = 0; i < n; i++)
		{
			if (ends[i])
				continue;
			for (int j = 0; j < def->activities[i].nlinks; j++)
				if (ends[def->activities[i].links[j].target])
				{
					ends[i] = changed = true;
					break;
				}
		}
	} while (changed);
	for (int i = 0; i < n; i++)
		if (!ends[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("no end can be reached from activity \"%s\"", def->activities[i].name),
					 errdetail("Every activity must lead to an activity of kind \"end\".")));

	for (int i = 0; i < n; i++)
		if (state[i] == 0 && never_rests(&def->activities[i]))
			find_spinning_cycle(def, i, state, path, 0);
	check_joins(def);
}

/*
 * Read a definition document and check everything about it that does not
 * depend on the database: shape, kinds, keys, links and graph.
 */
FlowDefinition *
flow_read(Jsonb *definition, const char *flow)
{
	FlowDefinition *def = palloc0(sizeof(FlowDefinition));
	ReadPlace	place = {flow, NULL, NULL};
	ErrorContextCallback errcb;
	JsonbValue	v;
	char	  **names;
	JsonbValue *docs;

	errcb.callback = read_error_context;
	errcb.arg = &place;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	if (JB_ROOT_IS_SCALAR(definition) || !JB_ROOT_IS_OBJECT(definition))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a flow definition must be a JSON object"),
				 errhint("It has the keys \"start\" and \"activities\".")));
	check_keys(&definition->root, (const char *const[]) {"start", "activities", NULL});
	if (!json_doc_member(&definition->root, "activities", &v) || !json_doc_is_object(&v) ||
		JsonContainerSize(v.val.binary.data) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a flow definition must have \"activities\", a non-empty object"),
				 errhint("It maps each activity's name to its definition.")));

	if (JsonContainerSize(v.val.binary.data) > MAX_ACTIVITIES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a flow has at most %d activities", MAX_ACTIVITIES),
				 errhint("Split it into several flows.")));
	def->nactivities = json_doc_entries(v.val.binary.data, &names, &docs);
	def->activities = palloc0(sizeof(FlowActivity) * def->nactivities);
	for (int i = 0; i < def->nactivities; i++)
	{
		FlowActivity *act = &def->activities[i];

		act->name = names[i];
		if (*act->name == '\0' || strlen(act->name) > MAX_ACTIVITY_NAME_LENGTH)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("activity names must have 1 to %d bytes", MAX_ACTIVITY_NAME_LENGTH)));
		if (!json_doc_is_object(&docs[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("activity \"%s\" must be an object", act->name)));
		act->doc = docs[i].val.binary.data;
	}

	if (!json_doc_member(&definition->root, "start", &v) || v.type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a flow definition must have \"start\", the name of its first activity")));
	def->start = find_activity(def, json_doc_string(&v));
	if (def->start < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"start\" names \"%s\", which is no activity of the flow", json_doc_string(&v))));
	if (is_join(&def->activities[def->start]))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("\"start\" names join \"%s\"", def->activities[def->start].name),
				 errdetail("A join waits for branches that lead to it; a flow starts with one activity.")));

	for (int i = 0; i < def->nactivities; i++)
	{
		FlowActivity *act = &def->activities[i];

		place.activity = act->name;
		act->kind = read_kind(act, &place);
		switch (act->kind)
		{
			case FLOW_AUTOMATIC:
				read_automatic(def, act, &place);
				break;
			case FLOW_WAIT:
				read_wait(def, act, &place);
				break;
			case FLOW_DECISION:
				read_decision(def, act, &place);
				break;
			case FLOW_JOIN:
				check_keys(act->doc, join_keys);
				read_next(def, act, NULL, NULL, &place);
				break;
			case FLOW_END:
				read_end(act, &place);
				break;
			case FLOW_HUMAN:
				read_human(def, act, &place);
				break;
			case FLOW_CONDITIONAL_START:
				read_conditional_start(def, act, &place);
				break;
			case FLOW_SUBFLOW:
				read_subflow(def, act, &place);
				break;
		}
	}
	place.activity = NULL;

	check_graph(def);

	error_context_stack = errcb.previous;
	return def;
}

/*
 * Parse and analyse one piece of SQL of the definition.  "wanted" is the type an
 * expression must give (InvalidOid: statements; ANYOID: any expression);
 * rowtype that of $1 and $2.  Returns the expression's type.
 */
static Oid
check_piece(const char *sql, Oid rowtype, Oid wanted, const char *key, ReadPlace *place)
{
	SPIPlanPtr	plan;
	Oid			type = InvalidOid;

	place->key = key;
	if (!OidIsValid(wanted))
		plan = action_prepare(sql, false, rowtype);
	else
	{
		plan = action_prepare_expression(sql, rowtype, &type);
		if (wanted != ANYOID && type != wanted &&
			!can_coerce_type(1, &type, &wanted, COERCION_ASSIGNMENT))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("key \"%s\" of activity \"%s\" must be an expression of type %s",
							key, place->activity, format_type_be(wanted)),
					 errdetail("It is of type %s.", format_type_be(type))));
	}
	SPI_freeplan(plan);
	place->key = NULL;
	return type;
}

/* The types of the columns of a table's primary key. */
static void
entity_key_types(Oid relid, int *nkeys, Oid *keytypes)
{
	EntityShape *shape;

	cache_pin();
	shape = cache_entity(relid);
	*nkeys = shape->nkeys;
	memcpy(keytypes, shape->keytypes, sizeof(Oid) * shape->nkeys);
	cache_unpin();
}

/*
 * The SQL and the table of a wait's "on", against the tables' row types.
 * Returns the table.
 */
static Oid
check_on(FlowActivity *act, JsonbContainer *on, Oid entity, Oid rowtype, Oid owner,
		 ReadPlace *place)
{
	JsonbValue	v;
	Oid			relid = entity;
	Oid			onrowtype = rowtype;

	/* an instance without a row has no key an event could match */
	if (!OidIsValid(entity))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("wait \"%s\" waits for an event, but the flow has no entity table", act->name),
				 errdetail("Events reach the instances of the row they name; an instance of a flow without entity table has no row."),
				 errhint("A flow without entity table can wait for a timeout.")));
	if (act->on->entity != NULL)
	{
		place->key = "on";
		relid = flow_on_table(act->on, entity);
		onrowtype = api_check_entity(relid, owner);
	}

	if (relid != entity && !json_doc_member(on, "key", &v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("wait \"%s\" waits for events of another table but gives no \"key\"",
						act->name),
				 errdetail("The key of the waiting instance's row must be computed from the event's row."),
				 errhint("Add \"key\": an expression over $1, the event's row, that gives the key of the flow's row.")));

	if (json_doc_member(on, "fields", &v))
	{
		JsonbValue *elems;
		int			n = json_doc_elements(v.val.binary.data, &elems);

		place->key = "on";
		for (int i = 0; i < n; i++)
		{
			char	   *column = json_doc_string(&elems[i]);

			if (get_attnum(relid, column) <= 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("column \"%s\" of relation \"%s\" does not exist",
								column, get_rel_name(relid)),
						 errdetail("Activity \"%s\" waits for a change of it.", act->name)));
		}
	}
	if (json_doc_member(on, "condition", &v))
	{
		place->key = "on";
		(void) check_piece(json_doc_string(&v), onrowtype, BOOLOID, "condition", place);
	}
	if (json_doc_member(on, "key", &v))
	{
		Oid			keytypes[INDEX_MAX_KEYS];
		int			nkeys;

		entity_key_types(entity, &nkeys, keytypes);
		(void) check_piece(json_doc_string(&v), onrowtype,
						   nkeys == 1 ? keytypes[0] : JSONBOID, "key", place);
	}
	return relid;
}

/*
 * The owner's flow of that name: its id and entity table; false when it
 * has none.  The caller holds an SPI connection.
 */
static bool
owned_flow(const char *name, Oid owner, int32 *id, Oid *entity)
{
	Oid			argtypes[2] = {TEXTOID, OIDOID};
	Datum		args[2] = {CStringGetTextDatum(name), ObjectIdGetDatum(owner)};
	bool		isnull;
	Datum		d;

	catalog_exec("SELECT id, entity::oid FROM procflow.process"
				 " WHERE name = $1 AND owner = $2 AND kind = 'flow'",
				 2, argtypes, args, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return false;
	*id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	*entity = isnull ? InvalidOid : DatumGetObjectId(d);
	return true;
}

/*
 * Would the flow "root" launch itself through subflow "name", directly or
 * through the subflows of the current versions of the flows it launches?
 * "visited" holds the names already looked at.
 */
static bool
subflow_cycle(const char *root, const char *name, Oid owner, List **visited)
{
	Oid			argtypes[2] = {TEXTOID, OIDOID};
	Datum		args[2] = {CStringGetTextDatum(name), ObjectIdGetDatum(owner)};
	bool		isnull;
	FlowDefinition *def;
	ListCell   *lc;

	check_stack_depth();
	if (strcmp(root, name) == 0)
		return true;
	foreach(lc, *visited)
		if (strcmp((char *) lfirst(lc), name) == 0)
			return false;
	*visited = lappend(*visited, pstrdup(name));
	catalog_exec("SELECT v.definition FROM procflow.process p"
				 "  JOIN procflow.flow_version v ON v.process_id = p.id AND v.version = p.version"
				 " WHERE p.name = $1 AND p.owner = $2 AND p.kind = 'flow'",
				 2, argtypes, args, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return false;
	def = flow_read(DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0],
													 SPI_tuptable->tupdesc, 1, &isnull)),
					name);
	for (int i = 0; i < def->nactivities; i++)
		if (def->activities[i].kind == FLOW_SUBFLOW &&
			subflow_cycle(root, def->activities[i].subflow, owner, visited))
			return true;
	return false;
}

/*
 * A subflow: a flow of the same owner that would not launch this one
 * again; its key (of the child's key type, or jsonb for a composite key)
 * and vars (jsonb) against the row type.
 */
static void
check_subflow(FlowActivity *act, const char *flow, Oid entity, Oid rowtype, Oid owner,
			  ReadPlace *place)
{
	int32		child_id;
	Oid			child_entity;
	List	   *visited = NIL;

	place->key = "flow";
	if (!owned_flow(act->subflow, owner, &child_id, &child_entity))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("subflow \"%s\" names flow \"%s\", which does not exist", act->name,
						act->subflow),
				 errdetail("A subflow launches another flow of the same owner.")));
	if (subflow_cycle(flow, act->subflow, owner, &visited))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("subflow \"%s\" would launch flow \"%s\" again", act->name, flow),
				 errdetail("Flow \"%s\" leads back to it through its subflows, without end.",
						   act->subflow)));
	place->key = NULL;
	if (act->subflow_key != NULL)
	{
		Oid			keytypes[INDEX_MAX_KEYS];
		int			nkeys;

		if (!OidIsValid(child_entity))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("subflow \"%s\" gives a key, but flow \"%s\" has no entity table",
							act->name, act->subflow)));
		entity_key_types(child_entity, &nkeys, keytypes);
		(void) check_piece(act->subflow_key, rowtype, nkeys == 1 ? keytypes[0] : JSONBOID,
						   "key", place);
	}
	else if (OidIsValid(child_entity) && child_entity != entity)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("subflow \"%s\" gives no \"key\" for flow \"%s\", whose table is not this flow's",
						act->name, act->subflow),
				 errhint("Add \"key\": an expression over $1 that gives the key of the child's row.")));
	if (act->subflow_vars != NULL)
		(void) check_piece(act->subflow_vars, rowtype, JSONBOID, "vars", place);
}

/*
 * Parse and analyse every piece of SQL of a definition read by flow_read,
 * against the row type of the flow's entity table (InvalidOid: none), as
 * the flow's owner, with the given search_path (NULL: the caller's, which
 * a new version keeps); tables that waits name must be the owner's.
 * Returns the tables the waits wait for events of, as a regclass[] (NULL
 * when none).  The caller holds an SPI connection.
 */
ArrayType *
flow_check_sql(FlowDefinition *def, const char *flow, Oid entity, Oid owner,
			   const char *search_path)
{
	Datum	   *tables = palloc(sizeof(Datum) * def->nactivities);
	int			ntables = 0;
	ReadPlace	place = {flow, NULL, NULL};
	ErrorContextCallback errcb;
	OwnerScope	scope;
	Oid			rowtype = OidIsValid(entity) ? get_rel_type_id(entity) : RECORDOID;

	errcb.callback = read_error_context;
	errcb.arg = &place;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	if (search_path != NULL)
		search_path = identity_search_path_temp_last(search_path, CurrentMemoryContext);
	action_enter_owner(owner, search_path, &scope);

	for (int i = 0; i < def->nactivities; i++)
	{
		FlowActivity *act = &def->activities[i];
		JsonbValue	v;
		char	   *sql;

		place.activity = act->name;
		switch (act->kind)
		{
			case FLOW_AUTOMATIC:
				json_doc_member(act->doc, "action", &v);
				(void) check_piece(json_doc_string(&v), rowtype, InvalidOid, "action", &place);
				break;
			case FLOW_WAIT:
				if (json_doc_member(act->doc, "on", &v))
				{
					Oid			relid = check_on(act, v.val.binary.data, entity, rowtype,
												 owner, &place);
					bool		known = false;

					for (int t = 0; t < ntables && !known; t++)
						known = DatumGetObjectId(tables[t]) == relid;
					if (!known)
						tables[ntables++] = ObjectIdGetDatum(relid);
				}
				if (json_doc_member(act->doc, "timeout", &v) &&
					(sql = sql_value(&v, "timeout", &place)) != NULL)
					(void) check_piece(sql, rowtype, TIMESTAMPTZOID, "timeout", &place);
				break;
			case FLOW_DECISION:
				for (int j = 0; j < act->nlinks; j++)
					if (act->links[j].when)
						(void) check_piece(act->links[j].when, rowtype, BOOLOID, "cases", &place);
				break;
			case FLOW_CONDITIONAL_START:
				{
					Oid			relid;
					bool		known = false;

					json_doc_member(act->doc, "on", &v);
					relid = check_on(act, v.val.binary.data, entity, rowtype, owner, &place);
					for (int t = 0; t < ntables && !known; t++)
						known = DatumGetObjectId(tables[t]) == relid;
					if (!known)
						tables[ntables++] = ObjectIdGetDatum(relid);
				}
				break;
			case FLOW_HUMAN:
				{
					const FlowValue *texts[3] = {&act->assignee, &act->group, &act->instructions};
					const char *const text_keys[3] = {"assignee", "group", "instructions"};
					const FlowValue *times[2] = {&act->due, &act->start_delay};
					const char *const time_keys[2] = {"due", "start_delay"};

					for (int k = 0; k < 3; k++)
						if (texts[k]->sql)
							(void) check_piece(texts[k]->sql, rowtype, TEXTOID, text_keys[k], &place);
					for (int k = 0; k < 2; k++)
						if (times[k]->sql)
							(void) check_piece(times[k]->sql, rowtype, TIMESTAMPTZOID, time_keys[k],
											   &place);
					if (act->timeout_sql)
						(void) check_piece(act->timeout_sql, rowtype, TIMESTAMPTZOID, "timeout",
										   &place);
					for (int k = 0; act->form && k < act->form->nsql; k++)
						(void) check_piece(act->form->sql[k].sql, rowtype, act->form->sql[k].type,
										   "form", &place);
				}
				break;
			case FLOW_SUBFLOW:
				check_subflow(act, flow, entity, rowtype, owner, &place);
				break;
			default:
				break;
		}
	}

	action_leave_owner(&scope);
	error_context_stack = errcb.previous;
	if (ntables == 0)
		return NULL;
	return construct_array(tables, ntables, REGCLASSOID, sizeof(Oid), true, TYPALIGN_INT);
}
