/*-------------------------------------------------------------------------
 *
 * flow_graph.h
 *	  The picture of a flow: Graphviz DOT and Mermaid text.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_FLOW_GRAPH_H
#define PROCFLOW_FLOW_GRAPH_H

#include "flow_definition.h"

extern char *flow_graph_dot(FlowDefinition *def, const char *flow);
extern char *flow_graph_mermaid(FlowDefinition *def);

#endif							/* PROCFLOW_FLOW_GRAPH_H */
