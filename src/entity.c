/*-------------------------------------------------------------------------
 *
 * entity.c
 *	  Identity of entity rows, and procflow's own work on entity tables.
 *
 * A job names its entity row by the text of its primary-key values (a
 * text[] in key column order, written as value_text.c writes values, so
 * that it reads back the same whatever the settings of the writer and the
 * executor) and carries a 64-bit "row hash" of the key, by which the
 * queue keeps one row's jobs in order.  For the common single integer key
 * the row hash is the key itself: no collisions, and rows inserted in key
 * order add their jobs at the end of the queue's row index instead of all
 * over it.  Both are computed the same way from a captured tuple and from
 * the jsonb key given to run_process.  A queued job re-reads its row by key
 * when it runs, through the table the process names (with its partitions,
 * but not its inheritance children, whose rows are not its rows).
 *
 * Everything procflow itself does on an entity table that may run code of
 * the table's owner (the I/O functions of its column types, domain
 * checks, row-level security policies in the re-read) runs as that owner,
 * as a security-restricted operation (entity_enter): never with more
 * privileges, whoever writes the row or owns the process.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "parser/parse_coerce.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "catalog/pg_operator.h"

#include "entity.h"
#include "value_text.h"

/*
 * Do procflow's own work on the entity table as its owner, restricted;
 * with settings saved and search_path safe only when that work can run
 * code that is not PostgreSQL's own (it is done for every job).
 */
void
entity_enter(EntityShape *entity, IdentityScope *scope)
{
	if (entity->runs_user_code)
		identity_enter(entity->owner, true, IDENTITY_SAFE_SEARCH_PATH, scope);
	else
		identity_enter_builtin(entity->owner, scope);
}

/* Back to the identity before entity_enter. */
void
entity_leave(IdentityScope *scope)
{
	identity_leave(scope);
}

/* The I/O of key column i. */
static inline const ValueText *
key_io(EntityShape *entity, int i)
{
	return &entity->columns[entity->keyattnums[i] - 1];
}

/* Hash of one key value; types without an extended hash use the text. */
static uint64
key_value_hash(EntityShape *entity, int i, Datum value, const char *value_text)
{
	if (OidIsValid(entity->keyhash[i].fn_oid))
		return DatumGetUInt64(FunctionCall2Coll(&entity->keyhash[i],
												entity->keycollations[i],
												value, UInt64GetDatum(0)));
	return hash_bytes_extended((const unsigned char *) value_text,
							   strlen(value_text), 0);
}

/* The row hash of a key, from its values and their text forms. */
static int64
row_hash(EntityShape *entity, Datum *values, char **texts)
{
	uint64		hash = 0;

	if (entity->nkeys == 1)
	{
		switch (entity->keytypes[0])
		{
			case INT2OID:
				return DatumGetInt16(values[0]);
			case INT4OID:
				return DatumGetInt32(values[0]);
			case INT8OID:
				return DatumGetInt64(values[0]);
			default:
				break;
		}
	}
	for (int i = 0; i < entity->nkeys; i++)
		hash = hash_combine64(hash, key_value_hash(entity, i, values[i], texts[i]));
	return (int64) hash;
}

/* Build the text[] key from the key values' text forms. */
static Datum
key_array(EntityShape *entity, char **texts)
{
	Datum		elems[INDEX_MAX_KEYS];

	for (int i = 0; i < entity->nkeys; i++)
		elems[i] = CStringGetTextDatum(texts[i]);
	return PointerGetDatum(construct_array(elems, entity->nkeys, TEXTOID,
										   -1, false, TYPALIGN_INT));
}

/*
 * The key of a captured row (in the entity's row type) as text[], with its
 * row hash.  Primary-key columns are never NULL.  Runs the types' I/O, so
 * the caller acts as the table owner when entity->io_user_code says so.
 */
Datum
entity_key_of_tuple(EntityShape *entity, HeapTuple tuple, int64 *hash)
{
	char	   *texts[INDEX_MAX_KEYS];
	Datum		values[INDEX_MAX_KEYS];

	for (int i = 0; i < entity->nkeys; i++)
	{
		bool		isnull;

		values[i] = heap_getattr(tuple, entity->keyattnums[i], entity->desc, &isnull);
		if (isnull)
			elog(ERROR, "primary key column \"%s\" is null", entity->keynames[i]);
		texts[i] = value_text_out(key_io(entity, i), values[i]);
	}
	*hash = row_hash(entity, values, texts);
	return key_array(entity, texts);
}

/*
 * True when the entity's row hash is its key: a single integer column.
 * The key's text then follows from the hash, and capture can skip it.
 */
bool
entity_key_is_hash(EntityShape *entity)
{
	return entity->nkeys == 1 &&
		(entity->keytypes[0] == INT2OID || entity->keytypes[0] == INT4OID ||
		 entity->keytypes[0] == INT8OID);
}

/* The row hash of a captured row whose key is its hash. */
int64
entity_hash_of_tuple(EntityShape *entity, HeapTuple tuple)
{
	bool		isnull;
	Datum		value = heap_getattr(tuple, entity->keyattnums[0], entity->desc, &isnull);

	Assert(entity_key_is_hash(entity));
	if (isnull)
		elog(ERROR, "primary key column \"%s\" is null", entity->keynames[0]);
	return row_hash(entity, &value, NULL);
}

/* The text[] key of a row whose key is its hash. */
Datum
entity_key_of_hash(int64 hash)
{
	char		text[MAXINT8LEN + 1];
	Datum		elem;

	pg_lltoa(hash, text);
	elem = CStringGetTextDatum(text);
	return PointerGetDatum(construct_array(&elem, 1, TEXTOID, -1, false, TYPALIGN_INT));
}

/* The text of a scalar jsonb value given as a key value. */
static char *
key_scalar_text(EntityShape *entity, int i, JsonbValue *v)
{
	switch (v->type)
	{
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		case jbvNull:
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("key value for column \"%s\" is null", entity->keynames[i]),
					 errdetail("A row's primary key has no null values.")));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key value for column \"%s\" must be a string, number or boolean",
							entity->keynames[i])));
	}
	return NULL;				/* keep compiler quiet */
}

/*
 * The key given as a jsonb object {"column": value, ...} naming exactly
 * the primary-key columns (or, for a one-column key, as its value alone),
 * as text[] with its row hash.  Values are read
 * as the caller writes them (with the caller's settings: '01/02/2024' is
 * what the caller's DateStyle says), by the column type's input function,
 * so a bad value is refused here; the text kept is the canonical one, the
 * same as a captured row's.
 */
Datum
entity_key_of_jsonb(EntityShape *entity, Jsonb *key, int64 *hash)
{
	char	   *texts[INDEX_MAX_KEYS];
	Datum		values[INDEX_MAX_KEYS];
	StringInfoData names;
	IdentityScope scope;

	initStringInfo(&names);
	for (int i = 0; i < entity->nkeys; i++)
		appendStringInfo(&names, "%s%s", i > 0 ? ", " : "", entity->keynames[i]);

	if (JB_ROOT_IS_SCALAR(key))
	{
		JsonbValue	v;

		(void) JsonbExtractScalar(&key->root, &v);
		if (v.type == jbvNull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("key is null"),
					 errhint("The primary key columns are: %s.", names.data)));
	}
	if (JB_ROOT_IS_SCALAR(key) && entity->nkeys == 1)
	{
		JsonbValue	v;

		(void) JsonbExtractScalar(&key->root, &v);
		texts[0] = key_scalar_text(entity, 0, &v);
	}
	else if (!JB_ROOT_IS_OBJECT(key) || JB_ROOT_COUNT(key) != (uint32) entity->nkeys)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key must be a JSON object naming the primary key columns of \"%s\"",
						get_rel_name(entity->relid)),
				 errhint("The primary key columns are: %s.", names.data)));

	for (int i = 0; i < entity->nkeys && !JB_ROOT_IS_SCALAR(key); i++)
	{
		const char *name = entity->keynames[i];
		JsonbValue *v;

		v = getKeyJsonValueFromContainer(&key->root, name, strlen(name), NULL);
		if (v == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key has no value for primary key column \"%s\"", name),
					 errhint("The primary key columns are: %s.", names.data)));
		texts[i] = key_scalar_text(entity, i, v);
	}

	entity_enter(entity, &scope);
	for (int i = 0; i < entity->nkeys; i++)
	{
		const ValueText *io = key_io(entity, i);

		values[i] = InputFunctionCall((FmgrInfo *) &io->in, texts[i], io->ioparam,
									  io->typmod);
		texts[i] = value_text_out(io, values[i]);
	}
	*hash = row_hash(entity, values, texts);
	entity_leave(&scope);
	return key_array(entity, texts);
}

/* Does the text have the form of a JSON number? */
static bool
is_json_number(const char *s)
{
	const char *p = s;

	if (*p == '-')
		p++;
	if (!isdigit((unsigned char) *p))
		return false;
	if (*p == '0' && isdigit((unsigned char) p[1]))
		return false;
	while (isdigit((unsigned char) *p))
		p++;
	if (*p == '.')
	{
		p++;
		if (!isdigit((unsigned char) *p))
			return false;
		while (isdigit((unsigned char) *p))
			p++;
	}
	if (*p == 'e' || *p == 'E')
	{
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char) *p))
			return false;
		while (isdigit((unsigned char) *p))
			p++;
	}
	return *p == '\0';
}

/* Push a string as a jsonb value, element or object key. */
void
entity_push_jsonb_string(JsonbParseState **state, JsonbIteratorToken token,
						 const char *text)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) text;
	v.val.string.len = strlen(text);
	(void) pushJsonbValue(state, token, &v);
}

/*
 * Push a text[] key as a jsonb object {"column": value}: numbers of
 * numeric columns as numbers, everything else as strings.  Returns the
 * whole value when the object is the outermost one.
 */
JsonbValue *
entity_key_push_jsonb(JsonbParseState **state, EntityShape *entity, Datum key)
{
	ArrayType  *arr = DatumGetArrayTypeP(key);
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	(void) pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < n && i < entity->nkeys; i++)
	{
		char	   *value = nulls[i] ? NULL : TextDatumGetCString(elems[i]);
		JsonbValue	v;

		entity_push_jsonb_string(state, WJB_KEY, entity->keynames[i]);
		if (value == NULL)
		{
			v.type = jbvNull;
			(void) pushJsonbValue(state, WJB_VALUE, &v);
		}
		else if (TypeCategory(entity->keytypes[i]) == TYPCATEGORY_NUMERIC &&
				 is_json_number(value))
		{
			v.type = jbvNumeric;
			v.val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
																CStringGetDatum(value),
																ObjectIdGetDatum(InvalidOid),
																Int32GetDatum(-1)));
			(void) pushJsonbValue(state, WJB_VALUE, &v);
		}
		else
			entity_push_jsonb_string(state, WJB_VALUE, value);
	}
	return pushJsonbValue(state, WJB_END_OBJECT, NULL);
}

/* An alias for the entity table that names none of its columns. */
static char *
row_alias(EntityShape *entity)
{
	char	   *alias = pstrdup("procflow_row");

	for (int n = 1;; n++)
	{
		bool		taken = false;

		for (int i = 0; i < entity->desc->natts && !taken; i++)
		{
			Form_pg_attribute att = TupleDescAttr(entity->desc, i);

			taken = !att->attisdropped && strcmp(NameStr(att->attname), alias) == 0;
		}
		if (!taken)
			return alias;
		alias = psprintf("procflow_row_%d", n);
	}
}

/* Append "OPERATOR(schema.name)" for an operator. */
static void
append_operator(StringInfo buf, Oid opoid)
{
	HeapTuple	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opoid));
	Form_pg_operator op;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator %u", opoid);
	op = (Form_pg_operator) GETSTRUCT(tup);
	appendStringInfo(buf, "OPERATOR(%s.%s)",
					 quote_identifier(get_namespace_name(op->oprnamespace)),
					 NameStr(op->oprname));
	ReleaseSysCache(tup);
}

/*
 * Prepare the statement that re-reads a row of the entity by its key:
 * every name in it is qualified, the alias of the row names no column, and
 * the comparison is the primary key index's own equality, so that no
 * column name, search_path or operator of the user's changes its meaning.
 * A plain table is read without its inheritance children; a partitioned
 * one with its partitions.
 */
static SPIPlanPtr
prepare_fetch(EntityShape *entity)
{
	StringInfoData sql;
	Oid			argtypes[INDEX_MAX_KEYS];
	SPIPlanPtr	plan;
	char	   *alias = row_alias(entity);

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s FROM %s%s AS %s WHERE ",
					 quote_identifier(alias),
					 entity->partitioned ? "" : "ONLY ",
					 quote_qualified_identifier(get_namespace_name(get_rel_namespace(entity->relid)),
												get_rel_name(entity->relid)),
					 quote_identifier(alias));
	for (int i = 0; i < entity->nkeys; i++)
	{
		appendStringInfo(&sql, "%s%s.%s ", i > 0 ? " AND " : "",
						 quote_identifier(alias), quote_identifier(entity->keynames[i]));
		append_operator(&sql, entity->keyequality[i]);
		appendStringInfo(&sql, " $%d", i + 1);
		if (!IsPolymorphicType(entity->keyoptype[i]) &&
			entity->keyoptype[i] != entity->keytypes[i])
			appendStringInfo(&sql, "::%s", format_type_be_qualified(entity->keyoptype[i]));
		argtypes[i] = entity->keytypes[i];
	}
	plan = SPI_prepare(sql.data, entity->nkeys, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql.data,
			 SPI_result_code_string(SPI_result));
	cache_keep_plan(entity->generation, plan);
	return plan;
}

/*
 * The key (text[]) of a row of the table, given as a composite datum: the
 * row's own values, in the text form procflow keeps keys in.
 */
Datum
entity_key_of_row(EntityShape *entity, Datum row)
{
	HeapTupleHeader header = DatumGetHeapTupleHeader(row);
	HeapTupleData tuple;
	int64		hash;

	tuple.t_len = HeapTupleHeaderGetDatumLength(header);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = entity->relid;
	tuple.t_data = header;
	return entity_key_of_tuple(entity, &tuple, &hash);
}

/*
 * Re-read the row with this key into *row (a composite datum in the
 * caller's memory context).  False when it is gone.  The caller acts as
 * the table owner (entity_enter) and holds an SPI connection.
 */
bool
entity_fetch_row(EntityShape *entity, Datum key, Datum *row)
{
	ArrayType  *arr = DatumGetArrayTypeP(key);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			ret;
	bool		isnull;
	Datum		values[INDEX_MAX_KEYS];

	if (entity->fetch_plan == NULL)
		entity->fetch_plan = prepare_fetch(entity);

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n != entity->nkeys)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("job key has %d values but the primary key of \"%s\" has %d columns",
						n, get_rel_name(entity->relid), entity->nkeys)));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("job key has a null value for primary key column \"%s\"",
							entity->keynames[i])));
		values[i] = value_text_in(key_io(entity, i), TextDatumGetCString(elems[i]));
	}

	/*
	 * With the latest snapshot, whatever the isolation level: "the row as it
	 * is now", and never older than a snapshot a wait just began with.
	 */
	ret = SPI_execute_snapshot(entity->fetch_plan, values, NULL, GetLatestSnapshot(),
							   InvalidSnapshot, true, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "re-reading the entity row failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		return false;
	*row = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	*row = SPI_datumTransfer(*row, false, -1);
	return true;
}

/*
 * The key (text[]) of the row that a key given by a person or by SQL names,
 * as the row itself has it: the values of some types compare equal in
 * several text forms (numeric 1.5 and 1.50), and procflow compares keys by
 * their text.  *found is false, and the key is returned as given, when
 * there is no such row.  Runs as the table owner; the caller holds an SPI
 * connection.
 */
Datum
entity_row_key(EntityShape *entity, Datum key, bool *found)
{
	IdentityScope scope;
	Datum		row;

	entity_enter(entity, &scope);
	*found = entity_fetch_row(entity, key, &row);
	if (*found)
		key = entity_key_of_row(entity, row);
	entity_leave(&scope);
	return key;
}
