/*-------------------------------------------------------------------------
 *
 * flow_picture.h
 *	  The picture of a flow: Graphviz DOT and Mermaid text.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_FLOW_PICTURE_H
#define PROCFLOW_FLOW_PICTURE_H

#include "flow_definition.h"

/* How an instance's picture marks an activity. */
typedef enum FlowMark
{
	FLOW_MARK_NONE,
	FLOW_MARK_VISITED,			/* the instance went through it */
	FLOW_MARK_CURRENT,			/* it is in it now */
	FLOW_MARK_FAILED			/* it failed there */
} FlowMark;

extern char *flow_graph_dot(FlowDefinition *def, const char *flow, const FlowMark *marks);
extern char *flow_graph_mermaid(FlowDefinition *def, const FlowMark *marks);

#endif							/* PROCFLOW_FLOW_PICTURE_H */
