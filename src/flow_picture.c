/*-------------------------------------------------------------------------
 *
 * flow_picture.c
 *	  Drawing a flow: its activities and links as Graphviz DOT or Mermaid.
 *
 * Both pictures show the same thing: a dot for the start, one node per
 * activity with a shape by kind (a rounded box for an automatic activity,
 * an ellipse for a wait, a diamond for a decision, a box for a join, a
 * double circle for an end, a double octagon for an end that terminates
 * the instance), and one arrow per link, labelled with its outcome or,
 * for a decision, with its case's condition.  Names are quoted as each
 * language requires, so any activity name draws.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "flow_picture.h"

/*
 * Append text as the inside of a DOT double-quoted string.  Line breaks
 * are written as escapes, so that two names that differ only in them stay
 * two nodes.
 */
static void
append_dot_string(StringInfo buf, const char *text)
{
	for (const char *c = text; *c; c++)
	{
		if (*c == '"' || *c == '\\')
			appendStringInfoChar(buf, '\\');
		if (*c == '\n')
			appendStringInfoString(buf, "\\n");
		else if (*c == '\r')
			appendStringInfoString(buf, "\\r");
		else
			appendStringInfoChar(buf, *c);
	}
}

/*
 * Append text as the inside of a Mermaid double-quoted label, with
 * Mermaid's entity codes for what it or the HTML it renders to would read
 * as markup.
 */
static void
append_mermaid_string(StringInfo buf, const char *text)
{
	for (const char *c = text; *c; c++)
	{
		if (*c == '"')
			appendStringInfoString(buf, "#quot;");
		else if (*c == '#')
			appendStringInfoString(buf, "#35;");
		else if (*c == '<')
			appendStringInfoString(buf, "#lt;");
		else if (*c == '>')
			appendStringInfoString(buf, "#gt;");
		else if (*c == '&')
			appendStringInfoString(buf, "#amp;");
		else if (*c == '\n' || *c == '\r')
			appendStringInfoChar(buf, ' ');
		else
			appendStringInfoChar(buf, *c);
	}
}

/*
 * The activities in the order a reader follows them: breadth first from
 * the start, each activity's links in the order the definition gives them.
 */
static int *
reading_order(FlowDefinition *def)
{
	int		   *order = palloc(sizeof(int) * def->nactivities);
	bool	   *seen = palloc0(sizeof(bool) * def->nactivities);
	int			n = 0;

	order[n++] = def->start;
	seen[def->start] = true;
	for (int root = -1; root < def->nactivities; root++)
	{
		/* from the start first, then from each conditional start */
		if (root >= 0)
		{
			if (def->activities[root].kind != FLOW_CONDITIONAL_START || seen[root])
				continue;
			seen[root] = true;
			order[n++] = root;
		}
		for (int i = 0; i < n; i++)
		{
			FlowActivity *act = &def->activities[order[i]];

			for (int j = 0; j < act->nlinks; j++)
			{
				int			to = act->links[j].target;

				if (!seen[to])
				{
					seen[to] = true;
					order[n++] = to;
				}
			}
		}
	}
	/* a checked definition has no activity these do not reach */
	if (n != def->nactivities)
		elog(ERROR, "flow definition has %d activities that are not reached",
			 def->nactivities - n);
	return order;
}

/* The label of a link: its outcome, its case's condition, or none. */
static const char *
link_label(FlowLink *link)
{
	return link->when ? link->when : link->outcome;
}

/* DOT shape for an activity's kind. */
static const char *
dot_shape(FlowActivity *act)
{
	switch (act->kind)
	{
		case FLOW_AUTOMATIC:
		case FLOW_JOIN:
			return "box";
		case FLOW_WAIT:
			return "ellipse";
		case FLOW_DECISION:
			return "diamond";
		case FLOW_END:
			return act->terminate ? "doubleoctagon" : "doublecircle";
		case FLOW_HUMAN:
			return "component";
		case FLOW_SUBFLOW:
			return "box3d";
		case FLOW_CONDITIONAL_START:
			return "invhouse";
	}
	return "box";
}

/*
 * What a node says besides its name: a task's group or assignee (when
 * given literally), the flow a subflow launches; NULL for nothing.
 */
static const char *
node_detail(FlowActivity *act)
{
	if (act->kind == FLOW_HUMAN && act->group.literal)
		return psprintf("group %s", act->group.literal);
	if (act->kind == FLOW_HUMAN && act->assignee.literal)
		return psprintf("for %s", act->assignee.literal);
	if (act->kind == FLOW_HUMAN && (act->group.sql || act->assignee.sql))
		return "assigned by SQL";
	if (act->kind == FLOW_SUBFLOW)
		return psprintf("flow %s", act->subflow);
	return NULL;
}

/* DOT style and colours of an activity: its kind's, then its mark's. */
static void
append_dot_style(StringInfo buf, FlowActivity *act, FlowMark mark)
{
	const char *style = act->kind == FLOW_AUTOMATIC ? "rounded" :
		act->kind == FLOW_JOIN ? "bold" : NULL;

	if (mark == FLOW_MARK_NONE)
	{
		if (style)
			appendStringInfo(buf, ", style=%s", style);
		return;
	}
	appendStringInfo(buf, ", style=\"%s%sfilled\"", style ? style : "", style ? "," : "");
	switch (mark)
	{
		case FLOW_MARK_VISITED:
			appendStringInfoString(buf, ", fillcolor=\"#e8e8e8\"");
			break;
		case FLOW_MARK_CURRENT:
			appendStringInfoString(buf, ", fillcolor=\"#dbeafe\", color=\"#1f6feb\", penwidth=3");
			break;
		case FLOW_MARK_FAILED:
			appendStringInfoString(buf, ", fillcolor=\"#fde2e1\", color=\"#d1242f\", penwidth=3");
			break;
		default:
			break;
	}
}

/*
 * The flow as a Graphviz digraph; marks (NULL: none) colour each activity
 * an instance went through, is in, or failed in.
 */
char *
flow_graph_dot(FlowDefinition *def, const char *flow, const FlowMark *marks)
{
	StringInfoData buf;
	int		   *order = reading_order(def);

	initStringInfo(&buf);
	appendStringInfoString(&buf, "digraph \"");
	append_dot_string(&buf, flow);
	appendStringInfoString(&buf, "\" {\n"
						   "  rankdir=LR;\n"
						   "  node [fontname=\"Helvetica\", fontsize=11];\n"
						   "  edge [fontname=\"Helvetica\", fontsize=9];\n"
						   "  \"\" [shape=point, width=0.15];\n");
	for (int i = 0; i < def->nactivities; i++)
	{
		FlowActivity *act = &def->activities[order[i]];

		appendStringInfoString(&buf, "  \"");
		append_dot_string(&buf, act->name);
		appendStringInfo(&buf, "\" [shape=%s", dot_shape(act));
		if (node_detail(act) != NULL)
		{
			appendStringInfoString(&buf, ", label=\"");
			append_dot_string(&buf, act->name);
			appendStringInfoString(&buf, "\\n");
			append_dot_string(&buf, node_detail(act));
			appendStringInfoChar(&buf, '"');
		}
		append_dot_style(&buf, act, marks ? marks[order[i]] : FLOW_MARK_NONE);
		appendStringInfo(&buf, ", tooltip=\"%s\"];\n", flow_kind_name(act->kind));
	}
	appendStringInfoString(&buf, "  \"\" -> \"");
	append_dot_string(&buf, def->activities[def->start].name);
	appendStringInfoString(&buf, "\";\n");
	for (int i = 0; i < def->nactivities; i++)
	{
		FlowActivity *act = &def->activities[order[i]];

		for (int j = 0; j < act->nlinks; j++)
		{
			const char *label = link_label(&act->links[j]);

			appendStringInfoString(&buf, "  \"");
			append_dot_string(&buf, act->name);
			appendStringInfoString(&buf, "\" -> \"");
			append_dot_string(&buf, def->activities[act->links[j].target].name);
			appendStringInfoChar(&buf, '"');
			if (label)
			{
				appendStringInfoString(&buf, " [label=\"");
				append_dot_string(&buf, label);
				appendStringInfoString(&buf, "\"]");
			}
			appendStringInfoString(&buf, ";\n");
		}
	}
	appendStringInfoString(&buf, "}\n");
	return buf.data;
}

/* Mermaid's brackets around a node's label for an activity's kind. */
static void
mermaid_brackets(FlowActivity *act, const char **open, const char **close)
{
	switch (act->kind)
	{
		case FLOW_AUTOMATIC:
			*open = "(\"", *close = "\")";
			break;
		case FLOW_WAIT:
			*open = "([\"", *close = "\"])";
			break;
		case FLOW_DECISION:
			*open = "{\"", *close = "\"}";
			break;
		case FLOW_JOIN:
			*open = "[[\"", *close = "\"]]";
			break;
		case FLOW_END:
			if (act->terminate)
				*open = "{{\"", *close = "\"}}";
			else
				*open = "(((\"", *close = "\")))";
			break;
		case FLOW_HUMAN:
			*open = "[/\"", *close = "\"\\]";
			break;
		case FLOW_SUBFLOW:
			*open = "[\\\"", *close = "\"/]";
			break;
		case FLOW_CONDITIONAL_START:
			*open = ">\"", *close = "\"]";
			break;
		default:
			*open = "[\"", *close = "\"]";
			break;
	}
}

/*
 * The flow as a Mermaid flowchart.  Nodes are named a1, a2, ... in reading
 * order, since Mermaid's identifiers are restricted; the labels carry the
 * names.  Marks (NULL: none) become classes.
 */
char *
flow_graph_mermaid(FlowDefinition *def, const FlowMark *marks)
{
	static const char *const mark_class[] = {NULL, "visited", "current", "failed"};
	StringInfoData buf;
	int		   *order = reading_order(def);
	int		   *node = palloc(sizeof(int) * def->nactivities);

	for (int i = 0; i < def->nactivities; i++)
		node[order[i]] = i + 1;
	initStringInfo(&buf);
	appendStringInfoString(&buf, "flowchart LR\n  start((\" \"))\n");
	for (int i = 0; i < def->nactivities; i++)
	{
		FlowActivity *act = &def->activities[order[i]];
		const char *open;
		const char *close;

		mermaid_brackets(act, &open, &close);
		appendStringInfo(&buf, "  a%d%s", i + 1, open);
		append_mermaid_string(&buf, act->name);
		if (node_detail(act) != NULL)
		{
			appendStringInfoString(&buf, " · ");
			append_mermaid_string(&buf, node_detail(act));
		}
		appendStringInfo(&buf, "%s\n", close);
	}
	appendStringInfo(&buf, "  start --> a%d\n", node[def->start]);
	for (int i = 0; i < def->nactivities; i++)
	{
		FlowActivity *act = &def->activities[order[i]];

		for (int j = 0; j < act->nlinks; j++)
		{
			const char *label = link_label(&act->links[j]);

			appendStringInfo(&buf, "  a%d -->", i + 1);
			if (label)
			{
				appendStringInfoString(&buf, "|\"");
				append_mermaid_string(&buf, label);
				appendStringInfoString(&buf, "\"|");
			}
			appendStringInfo(&buf, " a%d\n", node[act->links[j].target]);
		}
	}
	if (marks != NULL)
	{
		appendStringInfoString(&buf,
							   "  classDef visited fill:#e8e8e8\n"
							   "  classDef current fill:#dbeafe,stroke:#1f6feb,stroke-width:3px\n"
							   "  classDef failed fill:#fde2e1,stroke:#d1242f,stroke-width:3px\n");
		for (int m = FLOW_MARK_VISITED; m <= FLOW_MARK_FAILED; m++)
		{
			bool		first = true;

			for (int i = 0; i < def->nactivities; i++)
			{
				if ((int) marks[order[i]] != m)
					continue;
				appendStringInfo(&buf, "%sa%d", first ? "  class " : ",", i + 1);
				first = false;
			}
			if (!first)
				appendStringInfo(&buf, " %s\n", mark_class[m]);
		}
	}
	return buf.data;
}
