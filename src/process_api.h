/*-------------------------------------------------------------------------
 *
 * process_api.h
 *	  The definition of a process, shared by create_process, alter_process
 *	  and create_flow.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_PROCESS_API_H
#define PROCFLOW_PROCESS_API_H

#include "fmgr.h"

extern void process_api_define(FunctionCallInfo fcinfo, bool alter, bool flow);

#endif							/* PROCFLOW_PROCESS_API_H */
