/*-------------------------------------------------------------------------
 *
 * database_list.h
 *	  The cluster's databases that procflow may serve.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_DATABASE_LIST_H
#define PROCFLOW_DATABASE_LIST_H

#include "nodes/pg_list.h"

/* A database that may be served, if it has the extension. */
typedef struct CandidateDatabase
{
	Oid			oid;
	char		name[NAMEDATALEN];
	bool		listed;			/* procflow.database names it */
} CandidateDatabase;

extern int	database_list_read(CandidateDatabase **result);
extern bool database_list_lets(const char *name, bool *listed);
extern List *database_list_unknown_names(const CandidateDatabase *list, int n);
extern const char *database_list_why_not_served(Oid dboid, const char **hint);

#endif							/* PROCFLOW_DATABASE_LIST_H */
