/*-------------------------------------------------------------------------
 *
 * stored_row.c
 *	  A job's copy of its row before the change, kept by column name.
 *
 * An update or delete job keeps the old row ($2, and $1 of a delete) until
 * it runs, which may be after ALTER TABLE has added, dropped, renamed or
 * retyped columns, or after a dump and restore has renumbered them.  So the
 * row is kept as a JSON object from column name to the column's text (as
 * value_text.c writes values; NULL columns are left out):
 *
 *		{"id": "7", "name": "Ann", "born": "1990-02-01"}
 *
 * and read back against the table's row type of the moment: each column
 * takes the value stored under its name, a column added since is NULL, and
 * a stored value whose column is gone is dropped.  Renaming a column renames
 * it in the rows of pending jobs (ddl.c).  A value that no longer reads as
 * its column's type (ALTER COLUMN ... TYPE) fails the job, readably.
 *
 * Jobs queued by procflow 0.1 kept the row's record text; such a row (it
 * starts with "(") is read as a record of the current row type.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "stored_row.h"
#include "value_text.h"

/*
 * The stored form (text) of a row in the entity's row type.  Runs the
 * column types' output functions: the caller acts as the table owner when
 * entity->io_user_code says so.
 */
Datum
stored_row_of_tuple(EntityShape *entity, HeapTuple tuple)
{
	TupleDesc	desc = entity->desc;
	StringInfoData buf;
	bool		first = true;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		bool		isnull;
		Datum		value;

		if (att->attisdropped)
			continue;
		value = heap_getattr(tuple, i + 1, desc, &isnull);
		if (isnull)
			continue;
		if (!first)
			appendStringInfoString(&buf, ", ");
		first = false;
		escape_json(&buf, NameStr(att->attname));
		appendStringInfoString(&buf, ": ");
		escape_json(&buf, value_text_out(&entity->columns[i], value));
	}
	appendStringInfoChar(&buf, '}');
	return PointerGetDatum(cstring_to_text_with_len(buf.data, buf.len));
}

/* The attribute number of a column of the entity by name, or 0. */
static AttrNumber
column_by_name(TupleDesc desc, const char *name, int len)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strncmp(NameStr(att->attname), name, len) == 0 &&
			NameStr(att->attname)[len] == '\0')
			return i + 1;
	}
	return 0;
}

/*
 * A stored row as a composite datum of the entity's current row type.
 * Runs the column types' input functions and domain checks: the caller
 * acts as the table owner (entity_enter).
 */
Datum
stored_row_to_datum(EntityShape *entity, const char *stored)
{
	TupleDesc	desc = entity->desc;
	Datum	   *values;
	bool	   *nulls;
	Jsonb	   *jb;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	AttrNumber	attnum = 0;
	HeapTuple	tuple;

	if (stored[0] == '(')
		return OidInputFunctionCall(F_RECORD_IN, (char *) stored, entity->rowtype, -1);

	values = palloc0(sizeof(Datum) * desc->natts);
	nulls = palloc(sizeof(bool) * desc->natts);
	memset(nulls, true, sizeof(bool) * desc->natts);

	jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(stored)));
	if (!JB_ROOT_IS_OBJECT(jb))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the stored old row of a job is not a JSON object")));
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			attnum = column_by_name(desc, v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE && attnum > 0 && v.type == jbvString)
		{
			values[attnum - 1] = value_text_in(&entity->columns[attnum - 1],
											   pnstrdup(v.val.string.val, v.val.string.len));
			nulls[attnum - 1] = false;
		}
	}
	tuple = heap_form_tuple(desc, values, nulls);
	return heap_copy_tuple_as_datum(tuple, desc);
}
