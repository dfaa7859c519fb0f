/*-------------------------------------------------------------------------
 *
 * entity.c
 *	  Identity of entity rows.
 *
 * A job names its entity row by the text form of its primary-key values
 * (a text[] in key column order) and carries a 64-bit "row hash" of the
 * key, by which the queue keeps one row's jobs in order.  For the common
 * single integer key the row hash is the key itself: no collisions, and
 * rows inserted in key order add their jobs at the end of the queue's
 * row index instead of all over it.  Both are computed the same way from a
 * captured tuple and from the jsonb key given to run_process.  A queued job
 * re-reads its row by key when it runs.
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
#include "utils/rel.h"

#include "entity.h"

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
 * The key of a captured row as text[], with its row hash.  Primary-key
 * columns are never NULL.
 */
Datum
entity_key_of_tuple(EntityShape *entity, HeapTuple tuple, TupleDesc desc,
					int64 *hash)
{
	char	   *texts[INDEX_MAX_KEYS];
	Datum		values[INDEX_MAX_KEYS];

	for (int i = 0; i < entity->nkeys; i++)
	{
		bool		isnull;

		values[i] = heap_getattr(tuple, entity->keyattnums[i], desc, &isnull);
		if (isnull)
			elog(ERROR, "primary key column \"%s\" is null", entity->keynames[i]);
		texts[i] = OutputFunctionCall(&entity->keyout[i], values[i]);
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
entity_hash_of_tuple(EntityShape *entity, HeapTuple tuple, TupleDesc desc)
{
	bool		isnull;
	Datum		value = heap_getattr(tuple, entity->keyattnums[0], desc, &isnull);

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
	char	   *texts[1] = {text};
	Datum		elem;

	pg_lltoa(hash, text);
	elem = CStringGetTextDatum(texts[0]);
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
 * the primary-key columns, as text[] with its row hash.  Values go through
 * the column type's input function, so a bad value is refused here and the
 * text is the same as a captured row's.
 */
Datum
entity_key_of_jsonb(EntityShape *entity, Jsonb *key, int64 *hash)
{
	char	   *texts[INDEX_MAX_KEYS];
	Datum		values[INDEX_MAX_KEYS];
	StringInfoData names;

	initStringInfo(&names);
	for (int i = 0; i < entity->nkeys; i++)
		appendStringInfo(&names, "%s%s", i > 0 ? ", " : "", entity->keynames[i]);

	if (!JB_ROOT_IS_OBJECT(key) || JB_ROOT_COUNT(key) != (uint32) entity->nkeys)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key must be a JSON object naming the primary key columns of \"%s\"",
						get_rel_name(entity->relid)),
				 errhint("The primary key columns are: %s.", names.data)));

	for (int i = 0; i < entity->nkeys; i++)
	{
		const char *name = entity->keynames[i];
		JsonbValue *v;
		Oid			infunc;
		Oid			ioparam;

		v = getKeyJsonValueFromContainer(&key->root, name, strlen(name), NULL);
		if (v == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key has no value for primary key column \"%s\"", name),
					 errhint("The primary key columns are: %s.", names.data)));
		getTypeInputInfo(entity->keytypes[i], &infunc, &ioparam);
		values[i] = OidInputFunctionCall(infunc, key_scalar_text(entity, i, v), ioparam, -1);
		texts[i] = OutputFunctionCall(&entity->keyout[i], values[i]);
	}
	*hash = row_hash(entity, values, texts);
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

/*
 * Append a text[] key as a JSON object {"column": value}: numbers of
 * numeric columns bare, everything else as strings.
 */
void
entity_key_to_json(StringInfo buf, EntityShape *entity, Datum key)
{
	ArrayType  *arr = DatumGetArrayTypeP(key);
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	appendStringInfoChar(buf, '{');
	for (int i = 0; i < n && i < entity->nkeys; i++)
	{
		char	   *value = nulls[i] ? NULL : TextDatumGetCString(elems[i]);

		if (i > 0)
			appendStringInfoString(buf, ", ");
		escape_json(buf, entity->keynames[i]);
		appendStringInfoString(buf, ": ");
		if (value == NULL)
			appendStringInfoString(buf, "null");
		else if (TypeCategory(entity->keytypes[i]) == TYPCATEGORY_NUMERIC &&
				 is_json_number(value))
			appendStringInfoString(buf, value);
		else
			escape_json(buf, value);
	}
	appendStringInfoChar(buf, '}');
}

/* Prepare the statement that re-reads a row of the entity by its key. */
static SPIPlanPtr
prepare_fetch(EntityShape *entity)
{
	StringInfoData sql;
	Oid			argtypes[INDEX_MAX_KEYS];
	SPIPlanPtr	plan;

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT e FROM %s e WHERE ",
					 quote_qualified_identifier(get_namespace_name(get_rel_namespace(entity->relid)),
												get_rel_name(entity->relid)));
	for (int i = 0; i < entity->nkeys; i++)
	{
		appendStringInfo(&sql, "%se.%s = $%d::pg_catalog.text::%s",
						 i > 0 ? " AND " : "",
						 quote_identifier(entity->keynames[i]), i + 1,
						 format_type_be_qualified(entity->keytypes[i]));
		argtypes[i] = TEXTOID;
	}
	plan = SPI_prepare(sql.data, entity->nkeys, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql.data,
			 SPI_result_code_string(SPI_result));
	cache_keep_plan(entity->generation, plan);
	return plan;
}

/*
 * Re-read the row with this key, as the current user, into *row (a
 * composite datum in the caller's memory context).  False when it is gone.
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

	if (entity->fetch_plan == NULL)
		entity->fetch_plan = prepare_fetch(entity);

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n != entity->nkeys)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("job key has %d values but the primary key of \"%s\" has %d columns",
						n, get_rel_name(entity->relid), entity->nkeys)));

	ret = SPI_execute_plan(entity->fetch_plan, elems, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "re-reading the entity row failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		return false;
	*row = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	*row = SPI_datumTransfer(*row, false, -1);
	return true;
}
