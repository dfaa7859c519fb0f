/*-------------------------------------------------------------------------
 *
 * inflight.c
 *	  The job an executor is running, kept where a crash leaves it.
 *
 * A job whose action kills its backend (a segfault in an extension, an
 * out-of-memory kill) rolls back with the executor's transaction, so its
 * failed attempt would never be counted: after the restart an executor
 * claims it again, and the server crashes again, for ever.  So before it
 * runs a job, an executor writes the job's id into a small file of its own
 * (pg_procflow/executor.<database oid>.<worker> under the data directory),
 * and 0 when the job's run is over.  The file is mapped into memory, so
 * that noting a job is a store, not a system call: the kernel keeps the
 * page when the process dies, and only a crash of processes, not of the
 * machine, needs to be remembered.  An executor
 * that starts and finds an id there counts a failed attempt of that job,
 * if it is still pending (see runner.c), so that such a job ends as failed
 * after max_attempts like any other.  That holds for every way an executor
 * can end in the middle of a job: a crash, a FATAL error (an action that
 * terminates its own backend), pg_terminate_backend, a server shutdown.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "miscadmin.h"
#include "storage/fd.h"

#include "inflight.h"

#define INFLIGHT_DIR "pg_procflow"

static volatile int64 *inflight_slot = NULL;

/* Path of a worker's file in this database. */
static char *
inflight_path(int worker)
{
	return psprintf("%s/executor.%u.%d", INFLIGHT_DIR, MyDatabaseId, worker);
}

/* Open (creating) and map the file of this executor, for inflight_note. */
void
inflight_open(int worker)
{
	char	   *path = inflight_path(worker);
	int			fd;
	void	   *map;

	if (MakePGDirectory(INFLIGHT_DIR) < 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", INFLIGHT_DIR)));
	fd = BasicOpenFile(path, O_RDWR | O_CREAT | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", path)));
	if (ftruncate(fd, sizeof(int64)) < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not resize file \"%s\": %m", path)));
	map = mmap(NULL, sizeof(int64), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not map file \"%s\": %m", path)));
	close(fd);
	inflight_slot = (volatile int64 *) map;
	*inflight_slot = 0;
}

/* This executor starts running the job (0: none any more). */
void
inflight_note(int64 job_id)
{
	if (inflight_slot != NULL)
		*inflight_slot = job_id;
}

/*
 * The job that a worker of this database was running when it last ended
 * without a clean exit, or 0.
 */
int64
inflight_left_behind(int worker)
{
	char	   *path = inflight_path(worker);
	int			fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	int64		job_id = 0;

	if (fd < 0)
		return 0;
	if (read(fd, &job_id, sizeof(job_id)) != sizeof(job_id))
		job_id = 0;
	CloseTransientFile(fd);
	return job_id;
}

/* The job a worker left behind has been dealt with. */
void
inflight_forget(int worker)
{
	char	   *path = inflight_path(worker);

	if (unlink(path) < 0 && errno != ENOENT)
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not remove file \"%s\": %m", path)));
}
