/*-------------------------------------------------------------------------
 *
 * action_limits.h
 *	  What an action may not do, beyond what a security-restricted
 *	  operation forbids.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_ACTION_LIMITS_H
#define PROCFLOW_ACTION_LIMITS_H

#include "nodes/nodes.h"

extern void action_limits_init(void);
extern void action_limits_check_utility(Node *stmt);

#endif							/* PROCFLOW_ACTION_LIMITS_H */
