/*-------------------------------------------------------------------------
 *
 * capture_triggers.c
 *	  The triggers procflow installs on entity tables (their functions are
 *	  those of capture.c): installed on a table that has event triggers of
 *	  a process or that waits of a flow wait for events of, removed from one
 *	  that has none left.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "capture_triggers.h"
#include "catalog.h"

/*
 * Names of the row and statement triggers procflow installs on entity
 * tables, whose functions are those of capture.c.
 */
#define CAPTURE_TRIGGER_NAME "procflow_capture"
#define CAPTURE_FLUSH_TRIGGER_NAME "procflow_capture_flush"
#define CAPTURE_TRUNCATE_TRIGGER_NAME "procflow_capture_truncate"

/*
 * Install procflow's row trigger on an entity table that has event
 * triggers, and remove it from one that has none left.
 */
void
capture_triggers_sync(Oid entity)
{
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		args[2];
	bool		wanted;
	bool		present;
	char	   *relname;

	if (!OidIsValid(entity) || get_rel_name(entity) == NULL)
		return;
	relname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(entity)),
										 get_rel_name(entity));

	args[0] = ObjectIdGetDatum(entity);
	args[1] = CStringGetTextDatum(CAPTURE_TRIGGER_NAME);
#define TRIGGERS_WANTED_SQL(waits) \
	"SELECT EXISTS (SELECT 1 FROM procflow.trigger t" \
	"                 JOIN procflow.process p ON p.id = t.process_id" \
	"                WHERE p.entity = $1 AND t.event IS NOT NULL)" \
	waits \
	"       , EXISTS (SELECT 1 FROM pg_catalog.pg_trigger" \
	"                WHERE tgrelid = $1 AND tgname = $2)"

	/* a catalog not updated to 0.4 yet has no waits */
	if (catalog_oids()->has_flows)
		catalog_exec(TRIGGERS_WANTED_SQL("       OR EXISTS (SELECT 1 FROM procflow.flow_version v"
										 "                   WHERE $1 = ANY (v.waits_on))"),
					 2, argtypes, args, NULL, SPI_OK_SELECT);
	else
		catalog_exec(TRIGGERS_WANTED_SQL(""), 2, argtypes, args, NULL, SPI_OK_SELECT);
	{
		bool		isnull;

		wanted = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 1, &isnull));
		present = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 2, &isnull));
	}

	if (wanted && !present)
	{
		catalog_exec(psprintf("CREATE TRIGGER %s AFTER INSERT OR UPDATE OR DELETE ON %s"
							  " FOR EACH ROW EXECUTE FUNCTION procflow.capture()",
							  CAPTURE_TRIGGER_NAME, relname),
					 0, NULL, NULL, NULL, SPI_OK_UTILITY);
		catalog_exec(psprintf("CREATE TRIGGER %s AFTER INSERT OR UPDATE OR DELETE ON %s"
							  " FOR EACH STATEMENT EXECUTE FUNCTION procflow.capture()",
							  CAPTURE_FLUSH_TRIGGER_NAME, relname),
					 0, NULL, NULL, NULL, SPI_OK_UTILITY);
		catalog_exec(psprintf("CREATE TRIGGER %s AFTER TRUNCATE ON %s"
							  " FOR EACH STATEMENT EXECUTE FUNCTION procflow.capture()",
							  CAPTURE_TRUNCATE_TRIGGER_NAME, relname),
					 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	}
	else if (!wanted && present)
	{
		catalog_exec(psprintf("DROP TRIGGER %s ON %s", CAPTURE_TRIGGER_NAME, relname),
					 0, NULL, NULL, NULL, SPI_OK_UTILITY);
		catalog_exec(psprintf("DROP TRIGGER IF EXISTS %s ON %s",
							  CAPTURE_FLUSH_TRIGGER_NAME, relname),
					 0, NULL, NULL, NULL, SPI_OK_UTILITY);
		catalog_exec(psprintf("DROP TRIGGER IF EXISTS %s ON %s",
							  CAPTURE_TRUNCATE_TRIGGER_NAME, relname),
					 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	}
}

/*
 * Install or remove the capture trigger of each table of a regclass[]
 * (NULL: none) that waits of flows wait for events of.  Each table is
 * locked against writes first, until commit: a transaction that writes it
 * meanwhile captures with the rules it read before the new version, so
 * the new version's waits must not begin before it ends; and one that
 * writes it afterwards reads the rules again when it locks the table.
 */
void
capture_triggers_sync_waits(ArrayType *tables)
{
	Datum	   *elems;
	int			n;

	if (tables == NULL)
		return;
	deconstruct_array(tables, REGCLASSOID, sizeof(Oid), true, TYPALIGN_INT,
					  &elems, NULL, &n);
	for (int i = 0; i < n; i++)
	{
		LockRelationOid(DatumGetObjectId(elems[i]), ShareLock);
		capture_triggers_sync(DatumGetObjectId(elems[i]));
	}
}
