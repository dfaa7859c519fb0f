/*-------------------------------------------------------------------------
 *
 * shmem.h
 *	  Shared state of procflow: one slot per served database, with the
 *	  latches of its executors and the earliest time one must wake up.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_SHMEM_H
#define PROCFLOW_SHMEM_H

#include "datatype/timestamp.h"

extern void shmem_init(void);
extern bool shmem_available(void);

/* Launcher side. */
extern void shmem_set_launcher(bool running);
extern void shmem_assign_slot(int slot, const char *dbname);
extern void shmem_clear_slot(int slot);
extern bool shmem_slot_missing_extension(int slot);
extern bool shmem_take_launcher_recheck(void);

/* Executor side. */
extern void shmem_executor_attach(int slot, int worker);
extern void shmem_set_missing_extension(int slot, bool missing);
extern void shmem_prepare_sleep(int slot);
extern TimestampTz shmem_settle_wakeup(int slot, TimestampTz next_due);

/* Any backend. */
extern void shmem_wake_executors(Oid dboid, TimestampTz due);
extern void shmem_wake_launcher(void);

#endif							/* PROCFLOW_SHMEM_H */
