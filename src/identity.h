/*-------------------------------------------------------------------------
 *
 * identity.h
 *	  Acting as another role for a while: procflow's own tables as their
 *	  owner, entity tables as theirs, actions as the process owner.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_IDENTITY_H
#define PROCFLOW_IDENTITY_H

/* The identity and settings saved while acting as another role. */
typedef struct IdentityScope
{
	Oid			save_userid;
	int			save_sec_context;
	int			guc_nest_level; /* 0: no settings saved */
} IdentityScope;

/* search_path of code that must resolve no name in the caller's schemas */
#define IDENTITY_SAFE_SEARCH_PATH "pg_catalog, pg_temp"

extern void identity_enter(Oid role, bool restricted, const char *search_path,
						   IdentityScope *scope);
extern void identity_enter_builtin(Oid role, IdentityScope *scope);
extern void identity_leave(IdentityScope *scope);
extern char *identity_search_path_temp_last(const char *search_path,
											 MemoryContext cxt);

#endif							/* PROCFLOW_IDENTITY_H */
