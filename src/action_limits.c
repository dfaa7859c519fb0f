/*-------------------------------------------------------------------------
 *
 * action_limits.c
 *	  What an action may not do, beyond what a security-restricted
 *	  operation forbids.
 *
 * Actions run as security-restricted operations (identity.c), which keep
 * them from changing the session's role and from creating the session's
 * temporary schema.  Two holes remain, and are closed here while an action
 * runs (action.c keeps the stack of running actions):
 *
 * - Temporary objects.  A session whose temporary schema exists already
 *   lets a security-restricted operation create objects in it ("CREATE
 *   FUNCTION pg_temp.f()"), which would outlive the action and could later
 *   run with the privileges of whoever calls them in that session.  An
 *   object access hook refuses every object created in a temporary schema
 *   while an action runs.
 * - SET CONSTRAINTS changes the constraint mode of the whole transaction,
 *   which an action shares with other jobs (in an executor or run_jobs())
 *   or with the writing statement: refused in an action.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "catalog/objectaddress.h"
#include "nodes/parsenodes.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "action.h"
#include "action_limits.h"

static object_access_hook_type prev_object_access_hook = NULL;

/*
 * The schema of an object just created (its catalog row is not visible to
 * the catalog caches until the next command, so it is read with a
 * snapshot that sees it), or InvalidOid when its kind has none.
 */
static Oid
new_object_namespace(Oid classId, Oid objectId)
{
	AttrNumber	nspattr;
	Relation	catalog;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			namespace = InvalidOid;

	if (!is_objectclass_supported(classId))
		return InvalidOid;
	nspattr = get_object_attnum_namespace(classId);
	if (nspattr == InvalidAttrNumber)
		return InvalidOid;
	catalog = table_open(classId, AccessShareLock);
	ScanKeyInit(&key, get_object_attnum_oid(classId), BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(objectId));
	scan = systable_beginscan(catalog, get_object_oid_index(classId), true,
							  SnapshotSelf, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, nspattr, RelationGetDescr(catalog), &isnull);

		if (!isnull)
			namespace = DatumGetObjectId(d);
	}
	systable_endscan(scan);
	table_close(catalog, AccessShareLock);
	return namespace;
}

/* Refuse an object created in a temporary schema while an action runs. */
static void
action_object_access(ObjectAccessType access, Oid classId, Oid objectId,
					 int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);

	if (access == OAT_POST_CREATE && subId == 0 && action_current_depth() > 0)
	{
		Oid			namespace = new_object_namespace(classId, objectId);

		if (OidIsValid(namespace) && isAnyTempNamespace(namespace))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("an action cannot create temporary objects"),
					 errdetail("A temporary object would outlive the action in a session that other roles' actions run in.")));
	}
}

/* Install the object access hook (from _PG_init). */
void
action_limits_init(void)
{
	prev_object_access_hook = object_access_hook;
	object_access_hook = action_object_access;
}

/* Refuse a utility statement that an action may not run (utility_hook.c). */
void
action_limits_check_utility(Node *stmt)
{
	if (action_current_depth() > 0 && IsA(stmt, ConstraintsSetStmt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("SET CONSTRAINTS cannot run in an action"),
				 errdetail("It would change the constraint mode of the whole transaction, which the action shares with other work.")));
}
