/*-------------------------------------------------------------------------
 *
 * identity.c
 *	  Acting as another role for a while.
 *
 * procflow switches the current user, as a SECURITY DEFINER function
 * would, in three places: to read and write its own tables as their owner
 * (catalog.c), to do its own work on an entity table as the table's owner
 * (entity.c: re-reading rows, reading and writing key and row values, whose
 * types and domains may run the owner's code), and to run a process's
 * condition and action as the process owner (action.c).  The last two are
 * security-restricted operations, as PostgreSQL's maintenance commands run
 * a table owner's code: that code cannot SET ROLE its way back to the
 * session user, nor create temporary objects that would outlive it.
 * Settings changed in between are undone on leaving, so that nothing one
 * role's code sets reaches the next.  An error in between is fine:
 * (sub)transaction abort restores all of it.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/varlena.h"

#include "identity.h"

/*
 * Become "role" until identity_leave, as a security-restricted operation
 * when "restricted", with search_path set unless it is NULL.  Settings
 * changed in between are undone on leaving.
 */
void
identity_enter(Oid role, bool restricted, const char *search_path,
			   IdentityScope *scope)
{
	int			sec_context;

	GetUserIdAndSecContext(&scope->save_userid, &scope->save_sec_context);
	sec_context = scope->save_sec_context | SECURITY_LOCAL_USERID_CHANGE;
	if (restricted)
		sec_context |= SECURITY_RESTRICTED_OPERATION;
	SetUserIdAndSecContext(role, sec_context);
	scope->guc_nest_level = NewGUCNestLevel();
	if (search_path != NULL)
		(void) set_config_option("search_path", search_path,
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
}

/*
 * Become "role" as a security-restricted operation for code of
 * PostgreSQL's own only (no settings to save or undo).
 */
void
identity_enter_builtin(Oid role, IdentityScope *scope)
{
	GetUserIdAndSecContext(&scope->save_userid, &scope->save_sec_context);
	SetUserIdAndSecContext(role, scope->save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	scope->guc_nest_level = 0;
}

/* Return to the identity and every setting saved by identity_enter. */
void
identity_leave(IdentityScope *scope)
{
	if (scope->guc_nest_level > 0)
		AtEOXact_GUC(false, scope->guc_nest_level);
	SetUserIdAndSecContext(scope->save_userid, scope->save_sec_context);
}

/*
 * "search_path" with pg_temp last, in "cxt", unless it names pg_temp
 * itself: the temporary objects of the session an action runs in (the
 * writer's) never shadow the owner's.
 */
char *
identity_search_path_temp_last(const char *search_path, MemoryContext cxt)
{
	char	   *copy = pstrdup(search_path);
	List	   *names;
	ListCell   *lc;
	bool		has_temp = false;

	if (SplitIdentifierString(copy, ',', &names))
	{
		foreach(lc, names)
			has_temp |= strcmp((char *) lfirst(lc), "pg_temp") == 0;
	}
	if (has_temp)
		return MemoryContextStrdup(cxt, search_path);
	return MemoryContextStrdup(cxt, psprintf("%s, pg_temp", search_path));
}
