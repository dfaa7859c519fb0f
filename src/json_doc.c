/*-------------------------------------------------------------------------
 *
 * json_doc.c
 *	  Reading the parts of a jsonb document: a string's text, whether a
 *	  value is an object or an array, an object's entries and members, an
 *	  array's elements.  Flow definitions and task forms are read with
 *	  these.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "json_doc.h"

/* A JSON string's own text, NUL-terminated. */
char *
json_doc_string(JsonbValue *v)
{
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* Is the value a JSON object? */
bool
json_doc_is_object(JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data);
}

/* Is the value a JSON array? */
bool
json_doc_is_array(JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data);
}

/*
 * The keys and values of an object, in jsonb's order (by length, then
 * bytes); nested containers are jbvBinary values.  Returns how many.
 */
int
json_doc_entries(JsonbContainer *obj, char ***keys, JsonbValue **values)
{
	int			n = JsonContainerSize(obj);
	JsonbIterator *it = JsonbIteratorInit(obj);
	JsonbIteratorToken tok;
	JsonbValue	v;
	int			i = 0;

	*keys = palloc(sizeof(char *) * Max(n, 1));
	*values = palloc(sizeof(JsonbValue) * Max(n, 1));
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			(*keys)[i] = json_doc_string(&v);
		else if (tok == WJB_VALUE)
			(*values)[i++] = v;
	}
	return i;
}

/* The elements of an array.  Returns how many. */
int
json_doc_elements(JsonbContainer *arr, JsonbValue **elems)
{
	int			n = JsonContainerSize(arr);
	JsonbIterator *it = JsonbIteratorInit(arr);
	JsonbIteratorToken tok;
	JsonbValue	v;
	int			i = 0;

	*elems = palloc(sizeof(JsonbValue) * Max(n, 1));
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_ELEM)
			(*elems)[i++] = v;
	}
	return i;
}

/* Look up a key of an object; false when it is absent. */
bool
json_doc_member(JsonbContainer *obj, const char *key, JsonbValue *out)
{
	return getKeyJsonValueFromContainer(obj, key, strlen(key), out) != NULL;
}
