/*
 * procflow--0.4--0.5.sql: update from procflow 0.4 to 0.5
 *
 * 0.5 makes the delivery of events to waits exact (docs/flows.md, "Waits
 * and events"): an event carries the row images its statement wrote (the
 * new row joins the old one); an instance that catches up on the events
 * kept for it (while it was suspended, its flow disabled, or busy) notes
 * the one it is at, and the waits it begins meanwhile note it too; an
 * instance counts the waits it closed at once in a row.  Processes, triggers,
 * pending jobs, instances and their activities are kept as they are; an
 * event queued by 0.4 has no new row and is judged on the row as it is
 * when delivered, as 0.4 did.
 *
 * Copyright (c) 2026, procflow developers
 */

\echo Use "ALTER EXTENSION procflow UPDATE TO '0.5'" to load this file. \quit

/*
 * "new_row": an event's new row, as "old_row" holds its old one.
 * "event_id": an event kept for one instance, the id of the event it was
 * kept from: an instance takes its kept events in that order.
 */
ALTER TABLE procflow.job
	ADD COLUMN new_row text,
	ADD COLUMN event_id bigint;
UPDATE procflow.job SET event_id = id WHERE instance_id IS NOT NULL AND xid IS NOT NULL;
ALTER TABLE procflow.finished_job
	ADD COLUMN new_row text,
	ADD COLUMN event_id bigint;
ALTER TABLE procflow.job_batch
	ADD COLUMN new_rows text[];
ALTER TABLE procflow.job_batch
	ALTER new_rows SET STORAGE EXTERNAL;

/*
 * "replaying": while an instance catches up on the events kept for it, the
 * kept event (its event_id) it is at; "spins": the waits it closed at once,
 * without an event, since it last took one.  An activity's "began_after":
 * a wait begun while its instance caught up takes the kept events after
 * that one (as it would have, had they come live), besides those its
 * snapshot does not see.
 */
ALTER TABLE procflow.instance
	ADD COLUMN replaying bigint,
	ADD COLUMN spins int NOT NULL DEFAULT 0;
ALTER TABLE procflow.activity
	ADD COLUMN began_after bigint;
