/*
 * procflow--0.3--0.4.sql: update from procflow 0.3 to 0.4
 *
 * 0.4 runs flows: instances and their activities (procflow.instance,
 * procflow.activity), steps and timers as jobs of the queue (job columns
 * instance_id, activity_id; events "step" and "timer"), events for waits
 * (column xid), the functions launch, suspend, resume, terminate,
 * retry_activity and skip_activity, and the views instances, activities
 * and tasks.  Processes, triggers and pending jobs are kept as they are.
 *
 * Copyright (c) 2026, procflow developers
 */

\echo Use "ALTER EXTENSION procflow UPDATE TO '0.4'" to load this file. \quit

ALTER TABLE procflow.job
	DROP CONSTRAINT job_event_check,
	ADD CONSTRAINT job_event_check
		CHECK (event IN ('create', 'update', 'delete', 'run', 'cron', 'step', 'timer')),
	ADD COLUMN instance_id bigint,
	ADD COLUMN activity_id bigint,
	ADD COLUMN xid xid8,
	ADD COLUMN event_table regclass,
	ADD COLUMN cid int4;
ALTER TABLE procflow.finished_job
	DROP CONSTRAINT finished_job_event_check,
	ADD CONSTRAINT finished_job_event_check
		CHECK (event IN ('create', 'update', 'delete', 'run', 'cron', 'step', 'timer')),
	ADD COLUMN instance_id bigint,
	ADD COLUMN activity_id bigint,
	ADD COLUMN xid xid8,
	ADD COLUMN event_table regclass,
	ADD COLUMN cid int4;
ALTER TABLE procflow.job_batch
	ADD COLUMN xid xid8,
	ADD COLUMN event_table regclass,
	ADD COLUMN cid int4;
ALTER TABLE procflow.flow_version
	ADD COLUMN waits_on regclass[];
CREATE INDEX job_instance_id_idx ON procflow.job (instance_id) WHERE instance_id IS NOT NULL;

/*
 * Instances of flows: one row per run of a flow over one entity row (or
 * none), with the version it started with, its status and its variables.
 * "key" is the entity row's primary key, as text that reads back the same
 * whatever the session settings, as jobs keep it; "parent" is the instance
 * that launched it as a subflow.
 */
CREATE TABLE procflow.instance (
	id				bigserial PRIMARY KEY,
	process_id		int NOT NULL,
	version			int NOT NULL,
	key				text[],
	status			text NOT NULL DEFAULT 'active'
		CONSTRAINT instance_status_check
		CHECK (status IN ('active', 'suspended', 'completed', 'terminated')),
	vars			jsonb NOT NULL DEFAULT '{}'
		CONSTRAINT instance_vars_check CHECK (pg_catalog.jsonb_typeof(vars) = 'object'),
	parent			bigint,
	parent_activity	bigint,			-- the subflow activity of the parent
	began			pg_snapshot,	-- events its snapshot saw are older than it,
	began_xid		xid8,			-- and those of its own transaction
	began_cid		int4,			-- before this command
	started_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	finished_at		timestamptz,
	CONSTRAINT instance_finished_check
		CHECK ((finished_at IS NULL) = (status IN ('active', 'suspended'))),
	CONSTRAINT instance_version_fkey FOREIGN KEY (process_id, version)
		REFERENCES procflow.flow_version (process_id, version) ON DELETE CASCADE
);

CREATE INDEX instance_live_idx ON procflow.instance (process_id, version)
	WHERE finished_at IS NULL;
CREATE INDEX instance_finished_at_idx ON procflow.instance (finished_at)
	WHERE finished_at IS NOT NULL;
CREATE INDEX instance_key_idx ON procflow.instance (process_id, key)
	WHERE finished_at IS NULL;
CREATE INDEX instance_parent_idx ON procflow.instance (parent, parent_activity)
	WHERE parent IS NOT NULL;

COMMENT ON TABLE procflow.instance IS 'instances of flows';

/*
 * The activities of instances: one row each time an instance reaches an
 * activity of its version's definition.  An automatic activity is "ready"
 * while its step job is pending, a wait "waiting" until its event or its
 * timeout; decisions, joins that went on and ends are written closed, so
 * that an instance's history shows every activity it went through.  A
 * wait notes the row it listens to ("wait_entity", "wait_key") and the
 * snapshot of the step that began it ("began"): an event whose
 * transaction that snapshot saw committed happened before the wait.  A
 * join notes the activities whose links have arrived.
 */
CREATE TABLE procflow.activity (
	id				bigserial PRIMARY KEY,
	instance_id		bigint NOT NULL
		REFERENCES procflow.instance (id) ON DELETE CASCADE,
	name			text NOT NULL,
	kind			text NOT NULL
		CONSTRAINT activity_kind_check
		CHECK (kind IN ('automatic', 'human', 'wait', 'decision', 'join',
						'conditional_start', 'subflow', 'end')),
	status			text NOT NULL
		CONSTRAINT activity_status_check
		CHECK (status IN ('scheduled', 'ready', 'open', 'waiting', 'closed', 'skipped',
						  'cancelled', 'failed')),
	outcome			text,
	run_at			timestamptz,	-- an automatic step's due time; a wait's timeout
	created_at		timestamptz NOT NULL DEFAULT now(),
	closed_at		timestamptz,
	closed_by		text,
	attempts		int NOT NULL DEFAULT 0,
	error			text,
	assignee		text,
	"group"			text,
	instructions	text,
	due_at			timestamptz,
	timeout_at		timestamptz,	-- a task's timeout
	began			pg_snapshot,
	began_xid		xid8,
	began_cid		int4,
	wait_entity		regclass,
	wait_key		text[],
	arrived			text[],
	CONSTRAINT activity_closed_check
		CHECK ((closed_at IS NULL) = (status IN ('scheduled', 'ready', 'open', 'waiting', 'failed')))
);

CREATE INDEX activity_instance_id_idx ON procflow.activity (instance_id, id);
CREATE INDEX activity_waiting_idx ON procflow.activity (wait_entity, wait_key)
	WHERE status = 'waiting' AND wait_entity IS NOT NULL;
-- the taskbox: a person's tasks, and the unassigned ones of their groups
CREATE INDEX activity_assignee_idx ON procflow.activity (assignee, due_at)
	WHERE kind = 'human' AND status IN ('ready', 'open');
CREATE INDEX activity_group_idx ON procflow.activity ("group", due_at)
	WHERE kind = 'human' AND status = 'ready' AND assignee IS NULL;

COMMENT ON TABLE procflow.activity IS 'the activities of instances of flows';

/*
 * The snapshot of a wait, or of an instance (for its conditional starts),
 * names transactions of the cluster that took it.  A restore into a
 * cluster whose transaction counter is behind that one (pg_dump and a new
 * initdb) would make every later event look older: such a snapshot is
 * dropped, and every event delivered from then on counts.
 */
CREATE FUNCTION procflow.snapshot_restored() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF pg_snapshot_xmax(NEW.began) > pg_snapshot_xmax(pg_current_snapshot()) THEN
		NEW.began := NULL;
	END IF;
	RETURN NEW;
END
$$;

CREATE TRIGGER activity_restored
	BEFORE INSERT ON procflow.activity
	FOR EACH ROW WHEN (NEW.began IS NOT NULL)
	EXECUTE FUNCTION procflow.snapshot_restored();
ALTER TABLE procflow.activity ENABLE ALWAYS TRIGGER activity_restored;
CREATE TRIGGER instance_restored
	BEFORE INSERT ON procflow.instance
	FOR EACH ROW WHEN (NEW.began IS NOT NULL)
	EXECUTE FUNCTION procflow.snapshot_restored();
ALTER TABLE procflow.instance ENABLE ALWAYS TRIGGER instance_restored;

REVOKE ALL ON procflow.instance, procflow.activity FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION procflow.snapshot_restored() FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('procflow.instance', '');
SELECT pg_catalog.pg_extension_config_dump('procflow.instance_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('procflow.activity', '');
SELECT pg_catalog.pg_extension_config_dump('procflow.activity_id_seq', '');

/*
 * Instances.
 */
CREATE FUNCTION procflow.launch(flow text, key jsonb DEFAULT NULL, vars jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'procflow_launch';

CREATE FUNCTION procflow.suspend(instance bigint) RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'procflow_suspend';

CREATE FUNCTION procflow.resume(instance bigint) RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'procflow_resume';

CREATE FUNCTION procflow.terminate(instance bigint) RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'procflow_terminate';

CREATE FUNCTION procflow.retry_activity(activity bigint) RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'procflow_retry_activity';

CREATE FUNCTION procflow.skip_activity(activity bigint) RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'procflow_skip_activity';

CREATE VIEW procflow.instances WITH (security_barrier) AS
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
	   p.owner_name AS owner
  FROM procflow.instance i
  JOIN procflow.process p ON p.id = i.process_id
 WHERE pg_catalog.pg_has_role(p.owner, 'USAGE');

CREATE VIEW procflow.activities WITH (security_barrier) AS
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
	   a.error
  FROM procflow.activity a
  JOIN procflow.instance i ON i.id = a.instance_id
  JOIN procflow.process p ON p.id = i.process_id
 WHERE pg_catalog.pg_has_role(p.owner, 'USAGE');

CREATE VIEW procflow.tasks WITH (security_barrier) AS
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
	   procflow.key_to_jsonb(p.entity, i.key) AS key
  FROM procflow.activity a
  JOIN procflow.instance i ON i.id = a.instance_id
  JOIN procflow.process p ON p.id = i.process_id
 WHERE a.kind = 'human' AND a.status IN ('ready', 'open')
   AND pg_catalog.pg_has_role(p.owner, 'USAGE');

GRANT SELECT ON procflow.instances, procflow.activities, procflow.tasks TO PUBLIC;

/*
 * How each process has run over the last hour and the last day: runs that
 * finished (succeeded or failed), failures, mean and 95th percentile of
 * their durations and of their start lag (from when they were due to when
 * they started), in milliseconds.
 */
CREATE VIEW procflow.process_stats WITH (security_barrier) AS
SELECT p.name AS process,
	   p.kind,
	   w.period,
	   count(r.id) AS runs,
	   count(r.id) FILTER (WHERE r.status = 'failed') AS failures,
	   round(avg(r.ms)::numeric, 3) AS mean_ms,
	   round((pg_catalog.percentile_cont(0.95) WITHIN GROUP (ORDER BY r.ms))::numeric, 3) AS p95_ms,
	   round(avg(r.lag_ms)::numeric, 3) AS mean_lag_ms,
	   round((pg_catalog.percentile_cont(0.95) WITHIN GROUP (ORDER BY r.lag_ms))::numeric, 3) AS p95_lag_ms,
	   p.owner_name AS owner
  FROM procflow.process p
 CROSS JOIN (VALUES ('hour', interval '1 hour'), ('day', interval '1 day')) AS w(period, span)
  LEFT JOIN LATERAL (
	SELECT j.id, j.status,
		   extract(epoch FROM j.finished_at - j.started_at) * 1000 AS ms,
		   greatest(extract(epoch FROM j.started_at - j.run_at) * 1000, 0) AS lag_ms
	  FROM procflow.finished_job j
	 WHERE j.process_id = p.id AND j.finished_at > pg_catalog.now() - w.span
	   AND j.status IN ('succeeded', 'failed') AND j.started_at IS NOT NULL) r ON true
 WHERE pg_catalog.pg_has_role(p.owner, 'USAGE')
 GROUP BY p.id, p.name, p.kind, p.owner_name, w.period;

GRANT SELECT ON procflow.process_stats TO PUBLIC;

/*
 * Tasks: the human activities of instances, and the taskbox over them.
 */
CREATE FUNCTION procflow.taskbox(assignee text DEFAULT current_user, groups text[] DEFAULT '{}')
RETURNS SETOF procflow.tasks
LANGUAGE C STABLE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'procflow_taskbox';

CREATE FUNCTION procflow.claim_task(activity bigint, assignee text DEFAULT current_user)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'procflow_claim_task';

CREATE FUNCTION procflow.release_task(activity bigint) RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'procflow_release_task';

CREATE FUNCTION procflow.assign_task(activity bigint, assignee text) RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'procflow_assign_task';

CREATE FUNCTION procflow.complete_task(activity bigint, outcome text DEFAULT NULL,
									   vars jsonb DEFAULT '{}')
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'procflow_complete_task';

/*
 * The tables the waits of each version wait for events of, resolved as
 * create_flow and alter_flow resolve them (with the version's search_path;
 * a wait without "entity" waits for the flow's own table), and the
 * capture trigger on each.
 */
DO $$
DECLARE
	v record;
	t regclass;
	saved text := pg_catalog.current_setting('search_path');
BEGIN
	FOR v IN SELECT fv.process_id, fv.version, fv.definition, fv.search_path, p.entity
			   FROM procflow.flow_version fv JOIN procflow.process p ON p.id = fv.process_id
	LOOP
		PERFORM pg_catalog.set_config('search_path', v.search_path, true);
		UPDATE procflow.flow_version
		   SET waits_on = (SELECT pg_catalog.array_agg(DISTINCT
									  coalesce(pg_catalog.to_regclass(a.value #>> '{on,entity}'),
											   v.entity))
							 FROM pg_catalog.jsonb_each(v.definition -> 'activities') a
							WHERE a.value ? 'on')
		 WHERE process_id = v.process_id AND version = v.version;
	END LOOP;
	PERFORM pg_catalog.set_config('search_path', saved, true);
	FOR t IN SELECT DISTINCT w FROM procflow.flow_version, pg_catalog.unnest(waits_on) w
	LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger
						WHERE tgrelid = t AND tgname = 'procflow_capture') THEN
			EXECUTE pg_catalog.format('CREATE TRIGGER procflow_capture AFTER INSERT OR UPDATE OR DELETE ON %s'
									  ' FOR EACH ROW EXECUTE FUNCTION procflow.capture()', t);
			EXECUTE pg_catalog.format('CREATE TRIGGER procflow_capture_flush AFTER INSERT OR UPDATE OR DELETE ON %s'
									  ' FOR EACH STATEMENT EXECUTE FUNCTION procflow.capture()', t);
			EXECUTE pg_catalog.format('CREATE TRIGGER procflow_capture_truncate AFTER TRUNCATE ON %s'
									  ' FOR EACH STATEMENT EXECUTE FUNCTION procflow.capture()', t);
		END IF;
	END LOOP;
END
$$;

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
	-- a table that a wait of a flow waits for events of
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

/* a flow's events for its waits show the table they happened on */
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
	   j.created_at
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
	   b.created_at
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
	   j.error_detail
  FROM procflow.finished_job j
  JOIN procflow.process p ON p.id = j.process_id
 WHERE pg_catalog.pg_has_role(p.owner, 'USAGE');
