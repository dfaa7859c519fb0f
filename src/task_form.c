/*-------------------------------------------------------------------------
 *
 * task_form.c
 *	  The form of a task (a human activity's "form"): the fields a person
 *	  fills in to complete it.
 *
 * A form is {"fields": {"<var>": {"type": ..., "label": ..., "required":
 * ..., "options": [...], "default": ...}}}.  A definition's form is read
 * and checked here; its literal defaults stay in it, and the defaults given
 * as {"sql": ...} become one expression that the engine computes, as the
 * flow's owner, when the task is created, and stores in the task.  A
 * completion's vars are checked against the task's form: each var must be
 * a field (22023), of its field's type (22P02), and every required field
 * must be given (23502).
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#include "json_doc.h"
#include "subxact.h"
#include "task_form.h"

/* The types of fields: in the order of field_types. */
typedef enum FieldType
{
	FIELD_TEXT,
	FIELD_NUMBER,
	FIELD_INTEGER,
	FIELD_BOOLEAN,
	FIELD_DATE,
	FIELD_TIMESTAMPTZ,
	FIELD_CHOICE
} FieldType;

/* The names a form gives the types of fields, and their SQL types. */
static const struct
{
	const char *name;
	Oid			sqltype;
}			field_types[] =
{
	{"text", TEXTOID},
	{"number", NUMERICOID},
	{"integer", INT8OID},
	{"boolean", BOOLOID},
	{"date", DATEOID},
	{"timestamptz", TIMESTAMPTZOID},
	{"choice", TEXTOID},
};

#define NFIELD_TYPES lengthof(field_types)

static const char *const field_keys[] = {"type", "label", "required", "options", "default", NULL};

/* The index of a field type's name in field_types, or -1. */
static int
field_type(const char *name)
{
	for (int t = 0; t < (int) NFIELD_TYPES; t++)
		if (strcmp(field_types[t].name, name) == 0)
			return t;
	return -1;
}

/* What ParseTyped parses: a string as a value of a type. */
typedef struct ParseTyped
{
	Oid			type;
	const char *text;
} ParseTyped;

/* The work of parses_as: the type's input function on the text. */
static void
parse_typed(void *arg)
{
	ParseTyped *p = arg;
	Oid			input;
	Oid			ioparam;

	getTypeInputInfo(p->type, &input, &ioparam);
	(void) OidInputFunctionCall(input, (char *) p->text, ioparam, -1);
}

/*
 * Does a time end with its offset from UTC ("Z", "+01", "-05:30",
 * "+0530")?
 */
static bool
ends_with_offset(const char *text)
{
	size_t		len = strlen(text);
	const char *sign;

	if (len > 0 && (text[len - 1] == 'Z' || text[len - 1] == 'z'))
		return true;
	sign = strpbrk(text + Min(len, 11), "+-");
	if (sign == NULL || strpbrk(sign + 1, "+-") != NULL)
		return false;
	for (const char *c = sign + 1; *c; c++)
		if (!isdigit((unsigned char) *c) && !(*c == ':' && c == sign + 3))
			return false;
	len = strlen(sign + 1);
	return len == 2 || len == 4 || (len == 5 && sign[3] == ':');
}

/*
 * Does the text read as a value of the type (a date, a timestamptz),
 * written as ISO 8601 has it, year first ("2026-12-31"), and a
 * timestamptz with its time and its offset ("2026-12-31T17:00Z"), so that
 * it reads as the same value whatever the session's DateStyle and
 * TimeZone, and is no special word ("today", "infinity")?
 */
static bool
parses_as(Oid type, const char *text)
{
	ParseTyped	p = {type, text};
	ErrorData  *edata;

	for (int i = 0; i < 10; i++)
		if (i == 4 || i == 7 ? text[i] != '-' : !isdigit((unsigned char) text[i]))
			return false;
	if (type == DATEOID && text[10] != '\0')
		return false;
	if (type == TIMESTAMPTZOID &&
		((text[10] != 'T' && text[10] != ' ') || !ends_with_offset(text)))
		return false;
	edata = subxact_run(parse_typed, NULL, &p, true);
	if (edata == NULL)
		return true;
	FreeErrorData(edata);
	return false;
}

/* Is the JSON number a whole number that a bigint holds? */
static bool
is_whole(JsonbValue *v)
{
	Numeric		n = v->val.numeric;
	Datum		rounded = DirectFunctionCall2(numeric_trunc, NumericGetDatum(n), Int32GetDatum(0));
	Datum		lowest = NumericGetDatum(int64_to_numeric(PG_INT64_MIN));
	Datum		highest = NumericGetDatum(int64_to_numeric(PG_INT64_MAX));

	return DatumGetBool(DirectFunctionCall2(numeric_eq, NumericGetDatum(n), rounded)) &&
		DatumGetBool(DirectFunctionCall2(numeric_ge, NumericGetDatum(n), lowest)) &&
		DatumGetBool(DirectFunctionCall2(numeric_le, NumericGetDatum(n), highest));
}

/*
 * Is the value right for a field of this type (with these options, for a
 * choice)?  JSON null is not: the callers decide about it.
 */
static bool
value_fits(int type, JsonbValue *options, JsonbValue *v)
{
	switch ((FieldType) type)
	{
		case FIELD_NUMBER:
			return v->type == jbvNumeric;
		case FIELD_INTEGER:
			return v->type == jbvNumeric && is_whole(v);
		case FIELD_BOOLEAN:
			return v->type == jbvBool;
		case FIELD_DATE:
		case FIELD_TIMESTAMPTZ:
			return v->type == jbvString && parses_as(field_types[type].sqltype, json_doc_string(v));
		case FIELD_CHOICE:
			if (v->type != jbvString || options == NULL)
				return false;
			return findJsonbValueFromContainer(options->val.binary.data, JB_FARRAY, v) != NULL;
		case FIELD_TEXT:
			return v->type == jbvString;
	}
	return false;
}

/* The options of a choice: a non-empty array of distinct non-empty strings. */
static void
check_options(JsonbValue *options, const char *activity, const char *field)
{
	JsonbValue *elems;
	int			n;
	List	   *seen = NIL;

	if (options->type != jbvBinary || !JsonContainerIsArray(options->val.binary.data) ||
		JsonContainerSize(options->val.binary.data) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the options of field \"%s\" of the form of activity \"%s\" must be a non-empty array of strings",
						field, activity)));
	n = json_doc_elements(options->val.binary.data, &elems);
	for (int i = 0; i < n; i++)
	{
		JsonbValue	v = elems[i];
		ListCell   *lc;

		if (v.type != jbvString || v.val.string.len == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the options of field \"%s\" of the form of activity \"%s\" must be non-empty strings",
							field, activity)));
		foreach(lc, seen)
			if (strcmp(lfirst(lc), json_doc_string(&v)) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("field \"%s\" of the form of activity \"%s\" has the option \"%s\" twice",
								field, activity, json_doc_string(&v))));
		seen = lappend(seen, json_doc_string(&v));
	}
}

/* Refuse a key of a field that the form does not know. */
static void
check_field_keys(JsonbContainer *spec, const char *activity, const char *field)
{
	char	  **keys;
	JsonbValue *values;
	int			n = json_doc_entries(spec, &keys, &values);

	for (int i = 0; i < n; i++)
	{
		bool		known = false;

		for (const char *const *k = field_keys; *k; k++)
			known = known || strcmp(keys[i], *k) == 0;
		if (!known)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown key \"%s\" in field \"%s\" of the form of activity \"%s\"",
							keys[i], field, activity),
					 errdetail("The keys of a field are: type, label, required, options, default.")));
	}
}

/*
 * Read and check the "form" of a human activity.  Returns the form as
 * JSON text without its computed defaults, and those.
 */
TaskForm *
task_form_read(JsonbValue *form, const char *activity)
{
	TaskForm   *result = palloc0(sizeof(TaskForm));
	JsonbValue	fields;
	char	  **names;
	JsonbValue *specs;
	int			n;
	JsonbParseState *state = NULL;
	JsonbValue *res;
	char	  **formkeys;
	JsonbValue *formvalues;

	if (!json_doc_is_object(form))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the form of activity \"%s\" must be an object with \"fields\"", activity)));
	n = json_doc_entries(form->val.binary.data, &formkeys, &formvalues);
	for (int i = 0; i < n; i++)
		if (strcmp(formkeys[i], "fields") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown key \"%s\" in the form of activity \"%s\"", formkeys[i], activity),
					 errdetail("A form has one key: fields.")));
	if (!json_doc_member(form->val.binary.data, "fields", &fields) || !json_doc_is_object(&fields) ||
		JsonContainerSize(fields.val.binary.data) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the form of activity \"%s\" must have \"fields\": an object of at least one field",
						activity)));

	n = json_doc_entries(fields.val.binary.data, &names, &specs);
	result->sql = palloc0(sizeof(FormSqlDefault) * n);
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	pushJsonbValue(&state, WJB_KEY, &(JsonbValue) {.type = jbvString,.val.string = {6, "fields"}});
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < n; i++)
	{
		const char *field = names[i];
		JsonbValue	v;
		JsonbValue	options;
		bool		has_options;
		int			type;
		char	  **keys;
		JsonbValue *values;
		int			nkeys;

		if (field[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the form of activity \"%s\" has a field with an empty name", activity)));
		if (!json_doc_is_object(&specs[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("field \"%s\" of the form of activity \"%s\" must be an object", field,
							activity)));
		check_field_keys(specs[i].val.binary.data, activity, field);
		if (!json_doc_member(specs[i].val.binary.data, "type", &v) || v.type != jbvString ||
			(type = field_type(json_doc_string(&v))) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("field \"%s\" of the form of activity \"%s\" must have a \"type\"", field,
							activity),
					 errdetail("The types are: text, number, integer, boolean, date, timestamptz, choice.")));
		if (json_doc_member(specs[i].val.binary.data, "label", &v) && v.type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the label of field \"%s\" of the form of activity \"%s\" must be a string",
							field, activity)));
		if (json_doc_member(specs[i].val.binary.data, "required", &v) && v.type != jbvBool)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"required\" of field \"%s\" of the form of activity \"%s\" must be a boolean",
							field, activity)));
		has_options = json_doc_member(specs[i].val.binary.data, "options", &options);
		if (has_options != (type == FIELD_CHOICE))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("field \"%s\" of the form of activity \"%s\" %s", field, activity,
							type == FIELD_CHOICE ? "is a choice without \"options\"" :
							"has \"options\" but is no choice")));
		if (has_options)
			check_options(&options, activity, field);

		/* the field as it is, but a computed default */
		pushJsonbValue(&state, WJB_KEY, &(JsonbValue) {.type = jbvString,
					   .val.string = {strlen(field), (char *) field}});
		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		nkeys = json_doc_entries(specs[i].val.binary.data, &keys, &values);
		for (int k = 0; k < nkeys; k++)
		{
			if (strcmp(keys[k], "default") == 0)
			{
				JsonbValue	sql;

				if (json_doc_is_object(&values[k]))
				{
					if (JsonContainerSize(values[k].val.binary.data) != 1 ||
						!json_doc_member(values[k].val.binary.data, "sql", &sql) ||
						sql.type != jbvString || sql.val.string.len == 0)
						ereport(ERROR,
								(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
								 errmsg("the default of field \"%s\" of the form of activity \"%s\" must be a value or {\"sql\": \"expression\"}",
										field, activity)));
					result->sql[result->nsql].field = field;
					result->sql[result->nsql].sql = json_doc_string(&sql);
					result->sql[result->nsql].type = field_types[type].sqltype;
					result->nsql++;
					continue;
				}
				if (values[k].type != jbvNull &&
					!value_fits(type, has_options ? &options : NULL, &values[k]))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("the default of field \"%s\" of the form of activity \"%s\" is no %s%s",
									field, activity, field_types[type].name,
									type == FIELD_CHOICE ? " among its options" : "")));
			}
			pushJsonbValue(&state, WJB_KEY, &(JsonbValue) {.type = jbvString,
						   .val.string = {strlen(keys[k]), keys[k]}});
			pushJsonbValue(&state, WJB_VALUE, &values[k]);
		}
		pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	}
	pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	result->json = JsonbToCString(NULL, &JsonbValueToJsonb(res)->root, -1);
	return result;
}

/*
 * The SQL expression (jsonb) of a form with its computed defaults: each
 * expression's value, as JSON, is its field's "default" (none when NULL).
 */
char *
task_form_sql(const TaskForm *form)
{
	StringInfoData sql;

	initStringInfo(&sql);
	for (int i = 0; i < form->nsql; i++)
		appendStringInfoString(&sql, "pg_catalog.jsonb_set_lax(");
	appendStringInfo(&sql, "%s::pg_catalog.jsonb", quote_literal_cstr(form->json));
	for (int i = 0; i < form->nsql; i++)
		appendStringInfo(&sql,
						 ", ARRAY['fields', %s, 'default'],"
						 " pg_catalog.to_jsonb((%s\n)::%s), true, 'delete_key')",
						 quote_literal_cstr(form->sql[i].field), form->sql[i].sql,
						 format_type_be_qualified(form->sql[i].type));
	return sql.data;
}

/*
 * Check a completion's vars against the task's form: every var a field of
 * the right type, every required field given (not null).  Writes nothing.
 */
void
task_form_check_vars(Jsonb *form, Jsonb *vars, int64 task)
{
	JsonbValue	fields;
	char	  **names;
	JsonbValue *specs;
	int			n;
	char	  **keys;
	JsonbValue *values;
	int			nvars = vars ? json_doc_entries(&vars->root, &keys, &values) : 0;

	if (!json_doc_member(&form->root, "fields", &fields) || !json_doc_is_object(&fields))
		return;
	for (int i = 0; i < nvars; i++)
	{
		JsonbValue	spec;
		JsonbValue	v;
		JsonbValue	options;
		bool		has_options;
		int			type;

		if (!json_doc_member(fields.val.binary.data, keys[i], &spec) || !json_doc_is_object(&spec))
		{
			StringInfoData list;

			initStringInfo(&list);
			n = json_doc_entries(fields.val.binary.data, &names, &specs);
			for (int f = 0; f < n; f++)
				appendStringInfo(&list, "%s%s", f ? ", " : "", names[f]);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("task " INT64_FORMAT " has no field \"%s\"", task, keys[i]),
					 errdetail("The fields of its form are: %s.", list.data)));
		}
		if (values[i].type == jbvNull)
			continue;
		/* a form stored by task_form_read has a known type */
		if (!json_doc_member(spec.val.binary.data, "type", &v) || v.type != jbvString ||
			(type = field_type(json_doc_string(&v))) < 0)
			elog(ERROR, "field \"%s\" of task " INT64_FORMAT " has no known type", keys[i], task);
		has_options = json_doc_member(spec.val.binary.data, "options", &options);
		if (!value_fits(type, has_options ? &options : NULL, &values[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("field \"%s\" of task " INT64_FORMAT " takes %s %s%s", keys[i], task,
							type == FIELD_INTEGER ? "an" : "a",
							field_types[type].name, type == FIELD_CHOICE ? " among its options" : ""),
					 type == FIELD_DATE ? errhint("A date is written as \"2026-12-31\".") :
					 type == FIELD_TIMESTAMPTZ ? errhint("A timestamptz is written as \"2026-12-31T17:00:00Z\".") : 0));
	}

	n = json_doc_entries(fields.val.binary.data, &names, &specs);
	for (int f = 0; f < n; f++)
	{
		JsonbValue	required;
		JsonbValue	given;

		if (!json_doc_is_object(&specs[f]) || !json_doc_member(specs[f].val.binary.data, "required", &required) ||
			required.type != jbvBool || !required.val.boolean)
			continue;
		if (vars == NULL || !json_doc_member(&vars->root, names[f], &given) || given.type == jbvNull)
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("task " INT64_FORMAT " needs the field \"%s\"", task, names[f]),
					 errdetail("It is a required field of the task's form.")));
	}
}
