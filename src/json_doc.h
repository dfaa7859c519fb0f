/*-------------------------------------------------------------------------
 *
 * json_doc.h
 *	  Reading the parts of a jsonb document: members, entries, elements.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_JSON_DOC_H
#define PROCFLOW_JSON_DOC_H

#include "utils/jsonb.h"

extern char *json_doc_string(JsonbValue *v);
extern bool json_doc_is_object(JsonbValue *v);
extern bool json_doc_is_array(JsonbValue *v);
extern int	json_doc_entries(JsonbContainer *obj, char ***keys, JsonbValue **values);
extern int	json_doc_elements(JsonbContainer *arr, JsonbValue **elems);
extern bool json_doc_member(JsonbContainer *obj, const char *key, JsonbValue *out);

#endif							/* PROCFLOW_JSON_DOC_H */
