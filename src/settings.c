/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  procflow's settings (GUCs): their variables, their definitions and
 *	  their checks.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "pgtime.h"
#include "utils/guc.h"

#include "settings.h"

char	   *procflow_database = NULL;
int			procflow_workers = 2;
int			procflow_batch_size = 100;
int			procflow_max_sleep = 60000;
int			procflow_history_retention = 7 * 24 * 3600;
bool		procflow_enabled = true;
int			procflow_max_depth = 16;
int			procflow_retry_delay = 1000;
int			procflow_max_timeout = 300000;
bool		procflow_role_turns = true;
char	   *procflow_timezone = NULL;

/* procflow.timezone: empty, or a time zone PostgreSQL knows. */
static bool
check_timezone(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (pg_tzset(*newval) == NULL)
	{
		GUC_check_errmsg("time zone \"%s\" is not recognized", *newval);
		return false;
	}
	return true;
}

/* Define the settings (from _PG_init), and reserve their prefix. */
void
settings_define(void)
{
	DefineCustomStringVariable("procflow.database",
							   "Databases whose queued jobs procflow runs: * for every database with the extension, or a comma-separated list.",
							   "One launcher serves them all; each gets procflow.workers executors. Empty: none.",
							   &procflow_database,
							   "*",
							   PGC_SIGHUP,
							   0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("procflow.workers",
							"Number of executors per database.",
							NULL,
							&procflow_workers,
							2, 0, PROCFLOW_MAX_WORKERS,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("procflow.batch_size",
							"Maximum number of jobs an executor runs in one transaction.",
							"Each job runs in its own subtransaction.",
							&procflow_batch_size,
							100, 1, 10000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("procflow.max_sleep",
							"Longest time an idle executor sleeps before it looks at the queue again.",
							"Executors are woken at commit and at the earliest run_at; this is only a safety net. "
							"Finished jobs are pruned at the same interval.",
							&procflow_max_sleep,
							60000, 10, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("procflow.history_retention",
							"How long finished jobs are kept in procflow.job_history.",
							NULL,
							&procflow_history_retention,
							7 * 24 * 3600, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("procflow.enabled",
							 "Whether executors run queued jobs.",
							 "When off, events are still captured and jobs queued; executors hold them.",
							 &procflow_enabled,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("procflow.max_depth",
							"Deepest chain of processes that trigger other processes.",
							"An action whose writes fire processes nested deeper than this fails.",
							&procflow_max_depth,
							16, 1, 1000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("procflow.retry_delay",
							"Delay before the first retry of a failed job; it doubles with each attempt.",
							NULL,
							&procflow_retry_delay,
							1000, 0, 3600 * 1000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("procflow.max_timeout",
							"Longest time an executor works on one job, whatever its process's timeout.",
							"Actions, conditions, decisions, keys, a task's values, re-reads of entity rows and lock waits all count. "
							"A lowered value also cuts the jobs running. 0 means no limit beyond each process's own timeout: "
							"then one role's long jobs can hold every executor.",
							&procflow_max_timeout,
							300000, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("procflow.role_turns",
							 "Whether executors let roles with due work take turns.",
							 "When off, due jobs run in one order across roles (execution order, priority, "
							 "run_at, id), so a role's work can hold back every other role's.",
							 &procflow_role_turns,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("procflow.timezone",
							   "Time zone in which cron schedules are computed.",
							   "Empty means the server's TimeZone setting.",
							   &procflow_timezone,
							   "",
							   PGC_SIGHUP,
							   0,
							   check_timezone, NULL, NULL);

	MarkGUCPrefixReserved("procflow");
}
