/*-------------------------------------------------------------------------
 *
 * flow_definition.h
 *	  The definition document of a flow, read into its activities and
 *	  links, and checked against every rule of the flow contract.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_FLOW_DEFINITION_H
#define PROCFLOW_FLOW_DEFINITION_H

#include "utils/array.h"
#include "utils/jsonb.h"

/* The kinds of activity of FLOWS.md. */
typedef enum FlowKind
{
	FLOW_AUTOMATIC,
	FLOW_HUMAN,
	FLOW_WAIT,
	FLOW_DECISION,
	FLOW_JOIN,
	FLOW_CONDITIONAL_START,
	FLOW_SUBFLOW,
	FLOW_END
} FlowKind;

/* One link from an activity to the next. */
typedef struct FlowLink
{
	const char *outcome;		/* the outcome that takes it, NULL for a plain
								 * "next"; for a decision "else" or NULL */
	const char *when;			/* a decision case's condition, else NULL */
	int			target;			/* index of the activity it leads to */
} FlowLink;

/* A value of an activity: a literal, or SQL computing it; both NULL: none. */
typedef struct FlowValue
{
	const char *literal;
	const char *sql;
} FlowValue;

/* One activity of a flow. */
typedef struct FlowActivity
{
	const char *name;
	FlowKind	kind;
	JsonbContainer *doc;		/* its object in the definition */
	FlowLink   *links;
	int			nlinks;
	int			incoming;		/* links that lead to it */
	bool		terminate;		/* an end that ends the whole instance */
	/* what running it needs, NULL when the activity has none */
	const char *action;			/* automatic */
	const char *timeout;		/* automatic, wait, human: a literal interval */
	const char *timeout_sql;	/* wait, human: a timestamptz expression */
	struct FlowWaitOn *on;		/* wait, conditional start: the event */
	FlowValue	assignee;		/* human: text */
	FlowValue	group;
	FlowValue	instructions;
	FlowValue	due;			/* human: an interval, or timestamptz SQL */
	FlowValue	start_delay;
	bool		allow_skip;
	struct TaskForm *form;		/* human: its form, or NULL */
	const char *subflow;		/* subflow: the flow's name */
	const char *subflow_key;	/* subflow: SQL, or NULL for the instance's key */
	const char *subflow_vars;	/* subflow: jsonb SQL, or NULL for {} */
} FlowActivity;

/* The "on" of a wait. */
typedef struct FlowWaitOn
{
	char		event;			/* 'c'reate, 'u'pdate, 'd'elete */
	const char *condition;
	const char *entity;			/* a table name, NULL for the flow's own */
	const char *key;
	int			nfields;
	char	  **fields;
} FlowWaitOn;

/* A definition read and checked (see flow_read). */
typedef struct FlowDefinition
{
	int			nactivities;
	FlowActivity *activities;	/* in jsonb's order of their names */
	int			start;			/* index of the first activity */
} FlowDefinition;

extern FlowDefinition *flow_read(Jsonb *definition, const char *flow);
extern ArrayType *flow_check_sql(FlowDefinition *def, const char *flow, Oid entity,
								 Oid owner, const char *search_path);
extern const char *flow_kind_name(FlowKind kind);
extern Oid	flow_on_table(const FlowWaitOn *on, Oid entity);

#endif							/* PROCFLOW_FLOW_DEFINITION_H */
