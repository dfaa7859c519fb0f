/*-------------------------------------------------------------------------
 *
 * run_error.h
 *	  The error of a job's or an activity's run, as procflow records it.
 *
 * A failed run keeps what PostgreSQL reported (its SQLSTATE, message,
 * detail and context: the SQL statement or PL/pgSQL line it failed at) in
 * the job's history row and on the activity it was a step of, so that an
 * incident says what failed where without a look into the server log.
 * Errors procflow raises of its own (a subflow's missing row, say) have a
 * message alone.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_RUN_ERROR_H
#define PROCFLOW_RUN_ERROR_H

typedef struct RunError
{
	const char *code;			/* SQLSTATE, or NULL */
	const char *message;		/* the error; for a job not run, why */
	const char *detail;			/* or NULL */
	const char *context;		/* or NULL */
} RunError;

#endif							/* PROCFLOW_RUN_ERROR_H */
