/*-------------------------------------------------------------------------
 *
 * inflight.c
 *	  The job an executor is running, kept where a crash leaves it.
 *
 * A job whose action kills its backend (a segfault in an extension, an
 * out-of-memory kill) rolls back with the executor's transaction, so its
 * failed attempt would never be counted: after the restart an executor
 * claims it again, and the server crashes again, for ever.  So before it
 * runs a job, an executor writes the job's id (or, for a step chained to a
 * job's run, that job's id and the step's activity) into a small file of its own
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

static volatile InflightNote *inflight_slot = NULL;

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
	if (ftruncate(fd, sizeof(InflightNote)) < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not resize file \"%s\": %m", path)));
	map = mmap(NULL, sizeof(InflightNote), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not map file \"%s\": %m", path)));
	close(fd);
	inflight_slot = (volatile InflightNote *) map;
	inflight_slot->job_id = 0;
}

/*
 * This executor starts running the job (0: none any more); a step chained
 * to the run of job chained_after names its activity.
 */
void
inflight_note(int64 job_id, int64 chained_after, const char *activity)
{
	if (inflight_slot == NULL)
		return;
	inflight_slot->chained_after = chained_after;
	if (chained_after != 0)
		strlcpy((char *) inflight_slot->activity, activity, NAMEDATALEN);
	inflight_slot->job_id = job_id;
}

/*
 * What a worker of this database was running when it last ended without a
 * clean exit: false when nothing.  A note shorter than InflightNote (of an
 * older build) has the job's id alone.
 */
bool
inflight_left_behind(int worker, InflightNote *note)
{
	char	   *path = inflight_path(worker);
	int			fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	ssize_t		n;

	memset(note, 0, sizeof(InflightNote));
	if (fd < 0)
		return false;
	n = read(fd, note, sizeof(InflightNote));
	CloseTransientFile(fd);
	if (n < (ssize_t) sizeof(int64))
		return false;
	if (n < (ssize_t) sizeof(InflightNote))
		note->chained_after = 0;
	note->activity[NAMEDATALEN - 1] = '\0';
	return note->job_id != 0;
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
