/*-------------------------------------------------------------------------
 *
 * task_form.h
 *	  The form of a task: its fields read from a definition, the SQL that
 *	  computes their defaults, and the vars a completion gives checked
 *	  against it.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_TASK_FORM_H
#define PROCFLOW_TASK_FORM_H

#include "utils/jsonb.h"

/* A field whose default is computed: {"sql": ...}. */
typedef struct FormSqlDefault
{
	const char *field;
	const char *sql;
	Oid			type;			/* the type the expression must have */
} FormSqlDefault;

/* A form read from a definition. */
typedef struct TaskForm
{
	const char *json;			/* the form, computed defaults left out */
	int			nsql;
	FormSqlDefault *sql;		/* the fields whose defaults are computed */
} TaskForm;

extern TaskForm *task_form_read(JsonbValue *form, const char *activity);
extern char *task_form_sql(const TaskForm *form);
extern void task_form_check_vars(Jsonb *form, Jsonb *vars, int64 task);

#endif							/* PROCFLOW_TASK_FORM_H */
