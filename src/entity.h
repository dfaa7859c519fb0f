/*-------------------------------------------------------------------------
 *
 * entity.h
 *	  Identity of entity rows: primary-key values, row hashes, re-reading
 *	  a row by its key; acting on an entity table as its owner.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_ENTITY_H
#define PROCFLOW_ENTITY_H

#include "access/htup.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "cache.h"
#include "identity.h"

extern void entity_enter(EntityShape *entity, IdentityScope *scope);
extern void entity_leave(IdentityScope *scope);
extern Datum entity_key_of_tuple(EntityShape *entity, HeapTuple tuple, int64 *hash);
extern bool entity_key_is_hash(EntityShape *entity);
extern int64 entity_hash_of_tuple(EntityShape *entity, HeapTuple tuple);
extern Datum entity_key_of_hash(int64 hash);
extern Datum entity_key_of_jsonb(EntityShape *entity, Jsonb *key, int64 *hash);
extern void entity_push_jsonb_string(JsonbParseState **state, JsonbIteratorToken token,
									 const char *text);
extern JsonbValue *entity_key_push_jsonb(JsonbParseState **state, EntityShape *entity,
										 Datum key);
extern Datum entity_key_of_row(EntityShape *entity, Datum row);
extern Datum entity_row_key(EntityShape *entity, Datum key, bool *found);
extern bool entity_fetch_row(EntityShape *entity, Datum key, Datum *row);

#endif							/* PROCFLOW_ENTITY_H */
