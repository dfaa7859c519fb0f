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
 * "source_instance": an event written by a step of an instance, that
 * instance (its own waits take such an event only when it came after they
 * began).
 */
ALTER TABLE procflow.job
	ADD COLUMN new_row text,
	ADD COLUMN event_id bigint,
	ADD COLUMN source_instance bigint,
	ADD COLUMN error_context text;
UPDATE procflow.job SET event_id = id WHERE instance_id IS NOT NULL AND xid IS NOT NULL;
ALTER TABLE procflow.finished_job
	ADD COLUMN new_row text,
	ADD COLUMN event_id bigint,
	ADD COLUMN source_instance bigint,
	ADD COLUMN error_context text;
ALTER TABLE procflow.job_batch
	ADD COLUMN new_rows text[],
	ADD COLUMN source_instance bigint;
ALTER TABLE procflow.job_batch
	ALTER new_rows SET STORAGE EXTERNAL;
/*
 * The events that failed a wait, in the history of a flow instance's jobs:
 * only those, so that the history of every other job costs nothing more.
 */
CREATE INDEX finished_job_failed_event_idx ON procflow.finished_job (instance_id, activity_id)
	WHERE instance_id IS NOT NULL AND xid IS NOT NULL AND status = 'failed';

/*
 * "clock": while a chain of steps runs for an instance (the steps one step
 * queued, the events kept for it), the place in the queue (a job id) it
 * started at: the waits the chain begins take the events queued after it,
 * as they would have had every step run at once; "spins": the waits it
 * closed at once, without an event, since it last took one.  An
 * activity's "began_after": the clock of the chain that began a wait,
 * whose later events it takes besides those its snapshot does not see.
 */
ALTER TABLE procflow.instance
	ADD COLUMN clock bigint,
	ADD COLUMN spins int NOT NULL DEFAULT 0;
ALTER TABLE procflow.activity
	ADD COLUMN began_after bigint;
/*
 * An instance's jobs by id: a step is claimed after the older steps of its
 * instance (queue.c), found without reading the step itself.
 */
DROP INDEX procflow.job_instance_id_idx;
CREATE INDEX job_instance_id_idx ON procflow.job (instance_id, id) WHERE instance_id IS NOT NULL;
/* an instance's failed waits, looked for each time it is locked */
CREATE INDEX activity_failed_wait_idx ON procflow.activity (instance_id)
	WHERE kind = 'wait' AND status = 'failed';

/*
 * An entity table cannot be dropped while a process uses it, as a table
 * cannot while a view uses it: its pending jobs could never run.  Nor can a
 * table that a wait of a flow waits for events of (in the flow's current
 * version, or one that live instances run, or are being launched with).
 * Nor can a column that an update trigger watches ("fields"): the trigger
 * would fire on no change, or on every change.  (Run as the extension owner, to
 * read the definitions; it reads nothing else.)
 */
CREATE OR REPLACE FUNCTION procflow.entity_dropped() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	process text;
	entity text;
	col text;
BEGIN
	IF to_regclass('procflow.process') IS NULL THEN
		RETURN;					-- the extension itself is being dropped
	END IF;
	SELECT p.name, d.object_identity INTO process, entity
	  FROM pg_event_trigger_dropped_objects() d
	  JOIN procflow.process p ON p.entity::oid = d.objid
	 WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0
	 ORDER BY p.name
	 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'cannot drop table % because process "%" uses it', entity, process
			USING ERRCODE = 'dependent_objects_still_exist',
				  HINT = 'Drop the process first (procflow.drop_process), or move it to another table (procflow.alter_process).';
	END IF;
	-- a table that a wait of a flow waits for events of: after the
	-- transactions launching instances of its versions have ended (they
	-- hold key-share locks on them), so that their instances count
	PERFORM 1
	   FROM pg_event_trigger_dropped_objects() d
	   JOIN procflow.flow_version v ON d.objid = ANY (v.waits_on::oid[])
	  WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0
	    FOR UPDATE OF v;
	SELECT p.name, d.object_identity INTO process, entity
	  FROM pg_event_trigger_dropped_objects() d
	  JOIN procflow.flow_version v ON d.objid = ANY (v.waits_on::oid[])
	  JOIN procflow.process p ON p.id = v.process_id
	 WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0
	   AND (v.version = p.version
			OR EXISTS (SELECT 1 FROM procflow.instance i
						WHERE i.process_id = v.process_id AND i.version = v.version
						  AND i.finished_at IS NULL))
	 ORDER BY p.name
	 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'cannot drop table % because a wait of flow "%" waits for its events', entity, process
			USING ERRCODE = 'dependent_objects_still_exist',
				  HINT = 'Give the flow a version without that wait (procflow.alter_flow), and let its instances finish, first.';
	END IF;
	SELECT p.name, d.address_names[3], format('%I.%I', d.address_names[1], d.address_names[2])
	  INTO process, col, entity
	  FROM pg_event_trigger_dropped_objects() d
	  JOIN procflow.process p ON p.entity::oid = d.objid
	  JOIN procflow.trigger t ON t.process_id = p.id
	 WHERE d.classid = 'pg_class'::regclass AND d.objsubid > 0
	   AND d.address_names[3] = ANY (t.fields)
	 ORDER BY p.name
	 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'cannot drop column % of table % because process "%" watches it', col, entity, process
			USING ERRCODE = 'dependent_objects_still_exist',
				  DETAIL = 'An update trigger of the process fires when that column changes.',
				  HINT = 'Drop the trigger first (procflow.drop_trigger), and add it again without the column.';
	END IF;
END
$$;

/*
 * Tasks for people.  A task's assignee or group may name a role: that role,
 * and the roles that have its privileges, see and work the task with no
 * right on the flow's owner.  Each activity names its instance's flow, so
 * that taskboxes and the tasks view read only the tasks of the flows the
 * caller may see and those assigned to, or waiting for a group of, its own
 * roles, from their indexes.  A task's "form": the fields a person fills
 * in to complete it, with their defaults computed when it was created.
 */
ALTER TABLE procflow.activity
	ADD COLUMN process_id int,
	ADD COLUMN form jsonb;
UPDATE procflow.activity a
   SET process_id = i.process_id
  FROM procflow.instance i
 WHERE i.id = a.instance_id AND a.kind = 'human';
DROP INDEX procflow.activity_assignee_idx;
DROP INDEX procflow.activity_group_idx;
CREATE INDEX activity_assignee_idx ON procflow.activity (assignee, process_id)
	WHERE kind = 'human' AND status IN ('ready', 'open');
CREATE INDEX activity_group_idx ON procflow.activity ("group", process_id)
	WHERE kind = 'human' AND status = 'ready' AND assignee IS NULL;
CREATE INDEX activity_task_flow_idx ON procflow.activity (process_id)
	WHERE kind = 'human' AND status IN ('ready', 'open');

/*
 * The outcomes a person may complete a task with: the keys of its
 * activity's "next" (none where "next" is plain), but "timeout" and
 * "skipped", which only the timer and skip_activity close it with.
 */
CREATE FUNCTION procflow.task_outcomes(activity jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY(SELECT o
			   FROM pg_catalog.jsonb_object_keys(CASE pg_catalog.jsonb_typeof(activity->'next')
												 WHEN 'object' THEN activity->'next'
												 ELSE '{}' END) o
			  WHERE o NOT IN ('timeout', 'skipped')
			  ORDER BY o);

/* May a person skip the task of this activity ("allow_skip")? */
CREATE FUNCTION procflow.task_allow_skip(activity jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce((activity->>'allow_skip')::boolean, false);

/*
 * The tasks a role may see: those of the flows whose owner it has the
 * privileges of, and, of any flow, those assigned to a role it has the
 * privileges of, or ready and unassigned for a group that is such a role.
 * With each, what a person needs to work it: the flow's label, the
 * outcomes to complete it with, whether it may be skipped.
 */
CREATE OR REPLACE VIEW procflow.tasks WITH (security_barrier) AS
SELECT a.id AS activity,
	   a.instance_id AS instance,
	   p.name AS flow,
	   a.name,
	   a.status,
	   a.assignee,
	   a."group",
	   a.instructions,
	   a.due_at,
	   a.created_at,
	   procflow.key_to_jsonb(p.entity, i.key) AS key,
	   a.form,
	   p.label AS flow_label,
	   procflow.task_outcomes(v.definition->'activities'->a.name) AS outcomes,
	   procflow.task_allow_skip(v.definition->'activities'->a.name) AS allow_skip
  FROM procflow.activity a
  JOIN procflow.instance i ON i.id = a.instance_id
  JOIN procflow.process p ON p.id = i.process_id
  JOIN procflow.flow_version v ON v.process_id = i.process_id AND v.version = i.version
 WHERE a.kind = 'human' AND a.status IN ('ready', 'open')
   AND a.process_id = ANY (ARRAY(SELECT f.id FROM procflow.process f
								  WHERE pg_catalog.pg_has_role(f.owner, 'USAGE')))
UNION ALL
SELECT a.id,
	   a.instance_id,
	   p.name,
	   a.name,
	   a.status,
	   a.assignee,
	   a."group",
	   a.instructions,
	   a.due_at,
	   a.created_at,
	   procflow.key_to_jsonb(p.entity, i.key),
	   a.form,
	   p.label,
	   procflow.task_outcomes(v.definition->'activities'->a.name),
	   procflow.task_allow_skip(v.definition->'activities'->a.name)
  FROM procflow.activity a
  JOIN procflow.instance i ON i.id = a.instance_id
  JOIN procflow.process p ON p.id = i.process_id
  JOIN procflow.flow_version v ON v.process_id = i.process_id AND v.version = i.version
 WHERE a.kind = 'human' AND a.status IN ('ready', 'open')
   AND (a.assignee = ANY (ARRAY(SELECT r.rolname::text FROM pg_catalog.pg_roles r
								 WHERE pg_catalog.pg_has_role(r.oid, 'USAGE')))
		OR (a.assignee IS NULL AND a.status = 'ready'
			AND a."group" = ANY (ARRAY(SELECT r.rolname::text FROM pg_catalog.pg_roles r
										WHERE pg_catalog.pg_has_role(r.oid, 'USAGE')))))
   AND NOT pg_catalog.pg_has_role(p.owner, 'USAGE');

/*
 * Instances and activities are written by procflow's C code alone, as the
 * extension owner, and their rules (kinds and statuses from their lists, a
 * closed activity's and a finished instance's end time, a task's flow, vars
 * an object) are kept by that code: an executor's step writes both tables
 * several times, and PostgreSQL parses each CHECK constraint again for
 * every statement that writes its table (a fifth of a step's time).  The
 * engine's tests check the rules on the rows they leave.
 */
ALTER TABLE procflow.activity
	DROP CONSTRAINT activity_kind_check,
	DROP CONSTRAINT activity_status_check,
	DROP CONSTRAINT activity_closed_check;
ALTER TABLE procflow.instance
	DROP CONSTRAINT instance_status_check,
	DROP CONSTRAINT instance_vars_check,
	DROP CONSTRAINT instance_finished_check;

/*
 * An instance's key as procflow stores it, beside the key as jsonb: its
 * columns' values as text, in the order of the key's columns.  A list of
 * a million instances finds a key value (key_values @> ARRAY['10000']) or
 * sorts by it without making a jsonb key of every row.
 */

CREATE OR REPLACE VIEW procflow.instances WITH (security_barrier) AS
SELECT i.id,
	   p.name AS flow,
	   i.version,
	   p.entity,
	   procflow.key_to_jsonb(p.entity, i.key) AS key,
	   i.status,
	   i.vars,
	   i.parent,
	   i.started_at,
	   i.updated_at,
	   i.finished_at,
	   p.owner_name AS owner,
	   i.key AS key_values
  FROM procflow.instance i
  JOIN procflow.process p ON p.id = i.process_id
 WHERE pg_catalog.pg_has_role(p.owner, 'USAGE');

/*
 * How many activities of a flow's unfinished instances are live, and
 * failed, at each of its activities: the counts Camunda's Cockpit draws on
 * a process's picture.  Asked for one flow, only the flow's unfinished
 * instances are read (from the index of live instances).
 */
CREATE VIEW procflow.activity_counts WITH (security_barrier) AS
SELECT p.name AS flow,
	   p.owner_name AS owner,
	   a.name AS activity,
	   count(*) FILTER (WHERE a.status IN ('scheduled', 'ready', 'open', 'waiting')) AS live,
	   count(*) FILTER (WHERE a.status = 'failed') AS failed
  FROM procflow.process p
  JOIN procflow.instance i ON i.process_id = p.id AND i.finished_at IS NULL
  JOIN procflow.activity a ON a.instance_id = i.id
 WHERE a.status IN ('scheduled', 'ready', 'open', 'waiting', 'failed')
   AND pg_catalog.pg_has_role(p.owner, 'USAGE')
 GROUP BY p.name, p.owner_name, a.name;
GRANT SELECT ON procflow.activity_counts TO PUBLIC;

/*
 * A failed run keeps what PostgreSQL reported: the error's context (the
 * statement, or the PL/pgSQL line, it failed at) on the job's row and in
 * its history, and on an activity its SQLSTATE, detail and context beside
 * the message ("error") it had.
 */
ALTER TABLE procflow.activity
	ADD COLUMN error_code text,
	ADD COLUMN error_detail text,
	ADD COLUMN error_context text;

CREATE OR REPLACE VIEW procflow.activities WITH (security_barrier) AS
SELECT a.id,
	   a.instance_id AS instance,
	   p.name AS flow,
	   a.name,
	   a.kind,
	   a.status,
	   a.outcome,
	   a.assignee,
	   a."group",
	   a.instructions,
	   a.due_at,
	   a.run_at,
	   a.created_at,
	   a.closed_at,
	   a.closed_by,
	   a.attempts,
	   a.error,
	   a.error_code,
	   a.error_detail,
	   a.error_context,
	   -- what the page shows beside them, from the instance's version (read
	   -- only when asked for): may skip_activity skip it (a task only with
	   -- allow_skip), and the SQL it runs (its action, a wait's condition, a
	   -- subflow's key)
	   (SELECT a.kind <> 'human'
			   OR procflow.task_allow_skip(v.definition->'activities'->a.name)
		  FROM procflow.flow_version v
		 WHERE v.process_id = i.process_id AND v.version = i.version) AS skippable,
	   (SELECT coalesce(d->>'action', d->'on'->>'condition', d->>'key')
		  FROM procflow.flow_version v,
			   LATERAL (SELECT v.definition->'activities'->a.name AS d) x
		 WHERE v.process_id = i.process_id AND v.version = i.version) AS sql
  FROM procflow.activity a
  JOIN procflow.instance i ON i.id = a.instance_id
  JOIN procflow.process p ON p.id = i.process_id
 WHERE pg_catalog.pg_has_role(p.owner, 'USAGE');

/*
 * The failed and cancelled jobs that retry_job queued again, and the job it
 * queued: job_history.retried_as tells them, so that a list of what failed
 * and waits for a person (the page's incidents) leaves them out.  Rows go
 * when their history row is pruned.  Failed history rows have an index of
 * their own: they are few among many.
 */
CREATE TABLE procflow.retried_job (
	id			bigint PRIMARY KEY,	-- the failed or cancelled job, in procflow.finished_job
	retried_as	bigint NOT NULL		-- the job retry_job queued
);
REVOKE ALL ON procflow.retried_job FROM PUBLIC;
CREATE INDEX finished_job_failed_idx ON procflow.finished_job (id) WHERE status = 'failed';

/*
 * A flow's jobs (its steps, timers and events) name their instance and
 * activity, in the queue and in the history; every job names its process's
 * owner (process names are per owner).
 */
CREATE OR REPLACE VIEW procflow.jobs WITH (security_barrier) AS
SELECT j.id,
	   p.name AS process,
	   j.event,
	   coalesce(j.event_table, p.entity) AS entity,
	   procflow.key_to_jsonb(coalesce(j.event_table, p.entity), j.key) AS key,
	   j.run_at,
	   j.attempts,
	   CASE WHEN j.attempts = 0 THEN 'pending' ELSE 'retrying' END AS state,
	   j.error_message AS last_error,
	   j.created_at,
	   j.instance_id AS instance,
	   j.activity_id AS activity,
	   p.owner_name AS owner
  FROM procflow.job j
  JOIN procflow.process p ON p.id = j.process_id
 WHERE pg_catalog.pg_has_role(p.owner, 'USAGE')
UNION ALL
SELECT b.first_id + k.i - 1,
	   p.name,
	   b.event,
	   coalesce(b.event_table, p.entity),
	   procflow.key_to_jsonb(coalesce(b.event_table, p.entity),
							 CASE b.key_columns WHEN 0 THEN ARRAY[k.hash::text]
												WHEN 1 THEN ARRAY[k.key]
												ELSE k.key::text[] END),
	   b.run_at,
	   0,
	   'pending',
	   NULL,
	   b.created_at,
	   NULL::bigint,
	   NULL::bigint,
	   p.owner_name
  FROM procflow.job_batch b
  JOIN procflow.process p ON p.id = b.process_id
 CROSS JOIN LATERAL (SELECT coalesce(max(j.id) - b.first_id + 1, 0) AS items
					   FROM (SELECT id FROM procflow.job
							  WHERE id >= b.first_id AND id < b.first_id + b.items
							 UNION ALL
							 SELECT id FROM procflow.finished_job
							  WHERE id >= b.first_id AND id < b.first_id + b.items) j) taken
 CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(b.row_hashes), pg_catalog.unnest(b.keys))
	   WITH ORDINALITY AS k(hash, key, i)
 WHERE k.i > taken.items
   AND pg_catalog.pg_has_role(p.owner, 'USAGE');

CREATE OR REPLACE VIEW procflow.job_history WITH (security_barrier) AS
SELECT j.id,
	   p.name AS process,
	   j.event,
	   coalesce(j.event_table, p.entity) AS entity,
	   procflow.key_to_jsonb(coalesce(j.event_table, p.entity), j.key) AS key,
	   j.attempts,
	   j.created_at,
	   j.started_at,
	   j.finished_at,
	   j.status,
	   j.error_message AS error,
	   j.error_code,
	   j.error_detail,
	   j.error_context,
	   (SELECT r.retried_as FROM procflow.retried_job r WHERE r.id = j.id) AS retried_as,
	   j.instance_id AS instance,
	   j.activity_id AS activity,
	   p.owner_name AS owner
  FROM procflow.finished_job j
  JOIN procflow.process p ON p.id = j.process_id
 WHERE pg_catalog.pg_has_role(p.owner, 'USAGE');

/*
 * Changes of an instance's vars by a person (update_vars), kept as the
 * instance's history: who merged what, when, and what the vars were.
 */
CREATE TABLE procflow.vars_change (
	id			bigserial PRIMARY KEY,
	instance_id	bigint NOT NULL REFERENCES procflow.instance (id) ON DELETE CASCADE,
	changed_at	timestamptz NOT NULL DEFAULT now(),
	changed_by	text NOT NULL,
	vars		jsonb NOT NULL,	-- what was merged into the vars
	before		jsonb NOT NULL	-- the vars before
);
CREATE INDEX vars_change_instance_id_idx ON procflow.vars_change (instance_id);
REVOKE ALL ON procflow.vars_change FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('procflow.vars_change', '');
SELECT pg_catalog.pg_extension_config_dump('procflow.vars_change_id_seq', '');

CREATE VIEW procflow.vars_changes WITH (security_barrier) AS
SELECT c.id,
	   c.instance_id AS instance,
	   c.changed_at,
	   c.changed_by,
	   c.vars,
	   c.before
  FROM procflow.vars_change c
  JOIN procflow.instance i ON i.id = c.instance_id
  JOIN procflow.process p ON p.id = i.process_id
 WHERE pg_catalog.pg_has_role(p.owner, 'USAGE');
GRANT SELECT ON procflow.vars_changes TO PUBLIC;

CREATE FUNCTION procflow.update_vars(instance bigint, vars jsonb) RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'procflow_update_vars';

-- failed activities: few among many, listed as incidents
CREATE INDEX activity_failed_idx ON procflow.activity (id) WHERE status = 'failed';

/*
 * The taskbox a page at a time: at most page_size tasks, after a given one
 * in the taskbox's order.  Without them, every task, as before.
 */
DROP FUNCTION procflow.taskbox(text, text[]);
CREATE FUNCTION procflow.taskbox(assignee text DEFAULT current_user, groups text[] DEFAULT '{}',
								 page_size int DEFAULT NULL, after bigint DEFAULT NULL)
RETURNS SETOF procflow.tasks
LANGUAGE C STABLE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'procflow_taskbox';

-- executors keep the versions that wait for a table's events (see
-- flow_delivery.c): a change of a version, however made, is announced
CREATE TRIGGER flow_version_changed
	AFTER INSERT OR UPDATE OR DELETE ON procflow.flow_version
	FOR EACH ROW EXECUTE FUNCTION procflow.definitions_changed();

/*
 * The executors serving this database and what each runs: a due job that
 * waits while every executor is busy with another role's job says why.
 */
CREATE FUNCTION procflow.executor_runs(OUT worker int, OUT pid int, OUT job bigint,
									   OUT process_id int, OUT started_at timestamptz,
									   OUT deadline timestamptz)
RETURNS SETOF record
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'procflow_executor_runs';

CREATE VIEW procflow.executors AS
SELECT e.worker,
	   e.pid,
	   CASE WHEN e.started_at IS NULL THEN 'idle' ELSE 'running' END AS state,
	   e.job,
	   p.name AS process,
	   e.started_at,
	   e.deadline
  FROM procflow.executor_runs() e
  LEFT JOIN procflow.process p ON p.id = e.process_id;
GRANT SELECT ON procflow.executors TO PUBLIC;

/*
 * For tests: run an instance's timers due by a time as if it had come,
 * with the steps they lead to (docs/testing.md).
 */
CREATE FUNCTION procflow.run_timers(instance bigint, until timestamptz) RETURNS integer
LANGUAGE C AS 'MODULE_PATHNAME', 'procflow_run_timers';
