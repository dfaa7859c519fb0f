/*-------------------------------------------------------------------------
 *
 * launcher.h
 *	  The launcher background worker: starts and watches the executors.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_LAUNCHER_H
#define PROCFLOW_LAUNCHER_H

#include "fmgr.h"

extern void launcher_register(void);
extern PGDLLEXPORT void procflow_launcher_main(Datum main_arg);

#endif							/* PROCFLOW_LAUNCHER_H */
