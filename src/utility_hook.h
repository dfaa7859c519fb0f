/*-------------------------------------------------------------------------
 *
 * utility_hook.h
 *	  The utility statements procflow follows: COMMIT PREPARED, TRUNCATE
 *	  and ALTER ROLE ... RENAME.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_UTILITY_HOOK_H
#define PROCFLOW_UTILITY_HOOK_H

extern void utility_init(void);

#endif							/* PROCFLOW_UTILITY_HOOK_H */
