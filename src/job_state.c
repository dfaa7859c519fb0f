/*-------------------------------------------------------------------------
 *
 * job_state.c
 *	  What a job or an action leaves in its session and transaction, and
 *	  clearing it before the next one runs.
 *
 * An executor runs jobs of different owners one after another in one
 * transaction of one session, and run_jobs() runs them in the caller's;
 * an immediate action runs inside the writer's statement.  Their actions
 * run as their owners in security-restricted operations (identity.c), and
 * settings they change are undone when they return; what else they could
 * leave behind for the next job, or take from the session, is dealt with
 * here:
 *
 * - Cursors (portals) an action opens and leaves open are closed when it
 *   returns, so the next job cannot FETCH from them.  run_jobs() does not
 *   run jobs while the calling session has cursors open, which the jobs of
 *   other owners could read.
 * - In an executor, session-level advisory locks a job took are released
 *   after it.
 *
 * Deferred triggers cannot be left behind: PostgreSQL refuses to queue
 * them in a security-restricted operation (they would fire at commit, with
 * the role of whoever commits), and SET CONSTRAINTS is refused in actions
 * (action_limits.c), so that no job changes when another's constraints are
 * checked.
 *
 * Portals are found as the memory contexts of PostgreSQL's portal manager
 * ("TopPortalContext", a child of TopMemoryContext): each portal's context
 * is a child of it, named after the portal.  That is cheap enough to look
 * at around every job, which asking pg_cursors would not be.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/lock.h"
#include "utils/memutils.h"
#include "utils/portal.h"

#include "job_state.h"

static MemoryContext top_portal_context = NULL;

/* The portal manager's memory context, found once. */
static MemoryContext
portal_manager_context(void)
{
	if (top_portal_context == NULL)
	{
		for (MemoryContext c = TopMemoryContext->firstchild; c != NULL; c = c->nextchild)
			if (strcmp(c->name, "TopPortalContext") == 0)
			{
				top_portal_context = c;
				break;
			}
		if (top_portal_context == NULL)
			elog(ERROR, "could not find the portal manager's memory context");
	}
	return top_portal_context;
}

/* The portal whose memory context this is, or NULL. */
static Portal
portal_of(MemoryContext c)
{
	Portal		portal;

	if (c->ident == NULL || strcmp(c->name, "PortalContext") != 0)
		return NULL;
	portal = GetPortalByName(c->ident);
	if (portal == NULL || portal->portalContext != c)
		return NULL;
	return portal;
}

/* Remember the portals that exist before a job or an action runs. */
void
job_state_begin(JobState *state)
{
	state->nportals = 0;
	state->overflow = false;
	for (MemoryContext c = portal_manager_context()->firstchild; c != NULL; c = c->nextchild)
	{
		if (state->nportals == JOB_STATE_MAX_PORTALS)
		{
			state->overflow = true;
			break;
		}
		state->portals[state->nportals++] = c;
	}
}

/*
 * Close the cursors opened since job_state_begin and still open (but the
 * ones running, which are not the job's).
 */
void
job_state_close_portals(const JobState *state)
{
	MemoryContext c = portal_manager_context()->firstchild;

	while (c != NULL)
	{
		MemoryContext next = c->nextchild;
		bool		known = false;
		Portal		portal;

		for (int i = 0; i < state->nportals && !known; i++)
			known = state->portals[i] == c;
		if (!known && !state->overflow &&
			(portal = portal_of(c)) != NULL &&
			portal->status != PORTAL_ACTIVE && !portal->portalPinned)
			PortalDrop(portal, false);
		c = next;
	}
}

/*
 * Has the session cursors open that a job could read?  Named portals that
 * are not running (the unnamed portal cannot be read by name).
 */
bool
job_state_has_cursors(void)
{
	for (MemoryContext c = portal_manager_context()->firstchild; c != NULL; c = c->nextchild)
	{
		Portal		portal = portal_of(c);

		if (portal != NULL && portal->name[0] != '\0' &&
			portal->status != PORTAL_ACTIVE)
			return true;
	}
	return false;
}

/*
 * After a job in an executor, whether it succeeded or not (a rollback
 * keeps them): release the session-level advisory locks it took; an
 * executor takes none of its own.
 */
void
job_state_release_session_locks(void)
{
	LockReleaseSession(USER_LOCKMETHOD);
}
