/*
 * procflow--0.4.sql: catalog, views and SQL interface of procflow 0.4
 *
 * Copyright (c) 2026, procflow developers
 */

\echo Use "CREATE EXTENSION procflow" to load this file. \quit

/*
 * Catalog tables.  Ordinary roles have no direct access to them: they read
 * the views below, which show each role only its own rows, and change
 * definitions only through the functions, which check ownership.
 */

CREATE TABLE procflow.process (
	id				serial PRIMARY KEY,
	name			text NOT NULL
		CONSTRAINT process_name_check CHECK (name <> '' AND length(name) <= 200),
	label			text,
	entity			regclass,
	action			text,
	condition		text,
	execution_order int NOT NULL DEFAULT 0,
	enabled			boolean NOT NULL DEFAULT true,
	max_attempts	int NOT NULL DEFAULT 5
		CONSTRAINT process_max_attempts_check CHECK (max_attempts BETWEEN 1 AND 1000),
	timeout			interval
		CONSTRAINT process_timeout_check CHECK (timeout > interval '0'),
	exclude			text[],
	owner			oid NOT NULL,	-- the role; 0 when it did not exist at restore
	search_path		text NOT NULL,
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	owner_name		name NOT NULL,	-- its name, by which a restore finds it
	kind			text NOT NULL DEFAULT 'light'
		CONSTRAINT process_kind_check CHECK (kind IN ('light', 'flow')),
	version			int,			-- a flow's current version
	-- names are per owner, as PostgreSQL scopes names per schema
	CONSTRAINT process_owner_name_name_key UNIQUE (owner_name, name),
	-- a light process runs its action; a flow, its current version
	CONSTRAINT process_action_check CHECK (CASE kind
		WHEN 'light' THEN action IS NOT NULL AND action <> '' AND version IS NULL
		WHEN 'flow' THEN action IS NULL AND version >= 1 END)
);

COMMENT ON TABLE procflow.process IS 'process definitions: one row per process';

/*
 * The definition documents of flows, one row per version: alter_flow adds
 * one, and the process row names the current one.  Instances keep the
 * version they started with, so earlier versions stay.
 */
CREATE TABLE procflow.flow_version (
	process_id		int NOT NULL REFERENCES procflow.process (id) ON DELETE CASCADE,
	version			int NOT NULL CONSTRAINT flow_version_version_check CHECK (version >= 1),
	definition		jsonb NOT NULL,
	search_path		text NOT NULL,	-- the one its SQL was checked with and runs with
	created_at		timestamptz NOT NULL DEFAULT now(),
	waits_on		regclass[],		-- the tables its waits wait for events of
	PRIMARY KEY (process_id, version)
);

COMMENT ON TABLE procflow.flow_version IS 'the definitions of flows: one row per version';

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

/*
 * The owner of a process is kept by OID (renaming the role keeps it) and by
 * name: a restore into another cluster, where OIDs differ, finds the role
 * by name, and a process whose role does not exist there gets no owner
 * (0) and runs nothing, without keeping the other processes from being
 * restored.  The trigger fires for every row inserted, also when pg_restore
 * runs with session_replication_role = replica.  After ALTER ROLE ... RENAME,
 * the name follows at once in the database where it ran (utility.c) and in
 * the others when their executors next look (executor.c).
 */
CREATE FUNCTION procflow.process_owner_by_name() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	NEW.owner := coalesce((SELECT r.oid FROM pg_catalog.pg_roles r
							WHERE r.rolname = NEW.owner_name), 0);
	RETURN NEW;
END
$$;

CREATE TRIGGER process_owner_by_name
	BEFORE INSERT OR UPDATE OF owner_name ON procflow.process
	FOR EACH ROW EXECUTE FUNCTION procflow.process_owner_by_name();
ALTER TABLE procflow.process ENABLE ALWAYS TRIGGER process_owner_by_name;

CREATE TABLE procflow.trigger (
	id				bigserial PRIMARY KEY,
	process_id		int NOT NULL REFERENCES procflow.process (id) ON DELETE CASCADE,
	event			text
		CONSTRAINT trigger_event_check CHECK (event IN ('create', 'update', 'delete')),
	fields			text[]
		CONSTRAINT trigger_fields_check CHECK (fields IS NULL OR event = 'update'),
	queued			boolean NOT NULL DEFAULT false,
	delay			interval
		CONSTRAINT trigger_delay_check CHECK (delay >= interval '0'),
	priority		int NOT NULL DEFAULT 0,
	cron			text,
	next_run_at		timestamptz,	-- cron: when the schedule fires next
	created_at		timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT trigger_kind_check CHECK ((event IS NULL) <> (cron IS NULL)),
	CONSTRAINT trigger_delay_queued_check CHECK (delay IS NULL OR queued)
);

CREATE INDEX trigger_process_id_idx ON procflow.trigger (process_id);

COMMENT ON TABLE procflow.trigger IS 'when a process runs: entity events and schedules';

/*
 * Pending jobs.  "ord" folds execution order and priority into one sortable
 * key; "row_hash" identifies the entity row for per-row ordering and for
 * cancelling a deleted row's jobs; "key" holds the primary-key values and
 * "old_row" the row before the change as a JSON object by column name, both
 * as text that reads back the same whatever the session settings (see
 * value_text.c and stored_row.c); "excluded" the processes that the actions
 * which queued the job excluded, which its run must not trigger either;
 * "owner" the role its process belonged to when it was queued, by which
 * executors take turns between roles (only a scheduling key: the action
 * runs as the process's owner, whatever it says).  A job leaves the queue
 * when it finishes: its row is deleted here and written to
 * procflow.finished_job, with the same columns (status, started_at and
 * finished_at are set there).
 *
 * The queue is partitioned so that the dead rows of finished jobs can be
 * thrown away by TRUNCATE, which no old snapshot holds back (vacuum cannot
 * remove a row that a snapshot may still see, and a claim would walk every
 * such index entry).  New due jobs go to one of the rotating partitions
 * job_1 to job_3; executors move on to the next one every few seconds and
 * truncate a partition some seconds after it stopped taking jobs, moving
 * any jobs still pending there to job_0 first (see rotation.c).  Jobs due
 * later, and rows inserted by SQL, go to job_0, which is never truncated.
 */
CREATE TABLE procflow.job (
	id				bigint NOT NULL,
	process_id		int NOT NULL,
	trigger_id		bigint,
	event			text NOT NULL
		CONSTRAINT job_event_check
		CHECK (event IN ('create', 'update', 'delete', 'run', 'cron', 'step', 'timer')),
	ord				bigint NOT NULL,
	row_hash		bigint,
	key				text[],
	old_row			text,
	changed			text[],
	depth			int NOT NULL DEFAULT 0,
	status			text NOT NULL DEFAULT 'pending'
		CONSTRAINT job_status_check CHECK (status = 'pending'),
	run_at			timestamptz NOT NULL,
	attempts		int NOT NULL DEFAULT 0,
	created_at		timestamptz NOT NULL DEFAULT now(),
	started_at		timestamptz,
	finished_at		timestamptz,
	error_code		text,		-- of the last attempt, while retrying
	error_message	text,
	error_detail	text,
	partition		int NOT NULL DEFAULT 0,
	excluded		int[],		-- processes its run must not trigger
	owner			oid NOT NULL DEFAULT 0,	-- of its process when queued: whose
											-- turn it is, see queue.c
	instance_id		bigint,		-- a flow's step or timer: its instance
	activity_id		bigint,		-- and activity
	xid				xid8,		-- an event for waits: the writing transaction,
	event_table		regclass,	-- the table it happened on,
	cid				int4		-- and the command in that transaction
) PARTITION BY LIST (partition);

CREATE SEQUENCE procflow.job_id_seq OWNED BY procflow.job.id;
ALTER TABLE procflow.job ALTER id SET DEFAULT nextval('procflow.job_id_seq');

-- the rotating partitions are truncated instead of vacuumed: autovacuum would
-- only hold a lock on them that the truncation has to wait for
CREATE TABLE procflow.job_0 PARTITION OF procflow.job FOR VALUES IN (0);
CREATE TABLE procflow.job_1 PARTITION OF procflow.job FOR VALUES IN (1)
	WITH (autovacuum_enabled = false, toast.autovacuum_enabled = false);
CREATE TABLE procflow.job_2 PARTITION OF procflow.job FOR VALUES IN (2)
	WITH (autovacuum_enabled = false, toast.autovacuum_enabled = false);
CREATE TABLE procflow.job_3 PARTITION OF procflow.job FOR VALUES IN (3)
	WITH (autovacuum_enabled = false, toast.autovacuum_enabled = false);

-- ids come from the sequence; a partitioned table has no unique index on id
CREATE INDEX job_id_idx ON procflow.job (id);
CREATE INDEX job_claim_idx ON procflow.job (owner, ord, run_at, id);
CREATE INDEX job_row_idx ON procflow.job (process_id, row_hash, id);
CREATE INDEX job_instance_id_idx ON procflow.job (instance_id) WHERE instance_id IS NOT NULL;

COMMENT ON TABLE procflow.job IS 'pending jobs';

/*
 * The run history: one row per finished job (succeeded, failed, skipped,
 * cancelled), with the columns of its queue row.  Rows older than
 * procflow.history_retention are deleted by the executors.
 */
CREATE TABLE procflow.finished_job (
	id				bigint PRIMARY KEY,
	process_id		int NOT NULL,
	trigger_id		bigint,
	event			text NOT NULL
		CONSTRAINT finished_job_event_check
		CHECK (event IN ('create', 'update', 'delete', 'run', 'cron', 'step', 'timer')),
	ord				bigint NOT NULL,
	row_hash		bigint,
	key				text[],
	old_row			text,
	changed			text[],
	depth			int NOT NULL DEFAULT 0,
	status			text NOT NULL
		CONSTRAINT finished_job_status_check
		CHECK (status IN ('succeeded', 'failed', 'skipped', 'cancelled')),
	run_at			timestamptz NOT NULL,
	attempts		int NOT NULL DEFAULT 0,
	created_at		timestamptz NOT NULL,
	started_at		timestamptz,
	finished_at		timestamptz NOT NULL,
	error_code		text,
	error_message	text,
	error_detail	text,
	excluded		int[],
	owner			oid NOT NULL DEFAULT 0,
	instance_id		bigint,
	activity_id		bigint,
	xid				xid8,
	event_table		regclass,
	cid				int4
);

CREATE INDEX finished_job_process_id_idx ON procflow.finished_job (process_id);

COMMENT ON TABLE procflow.finished_job IS 'finished jobs: the run history';

/*
 * A statement that queues many jobs of one trigger stores them as one batch
 * row instead of one job row each: arrays of the rows' hashes, keys, old
 * rows and changed columns.  Item i (from 1) is the pending job with id
 * first_id + i - 1.  An executor takes items in order and writes the job row
 * of each when it has run it, so the items taken are those up to the
 * highest job id in the range; the batch goes when all are (see batch.c).  A
 * single integer key is its row hash and is not stored again (key_columns
 * 0); another single-column key is stored as its text, a composite one as
 * the text of its text[].
 */
CREATE TABLE procflow.job_batch (
	first_id		bigint PRIMARY KEY,
	process_id		int NOT NULL,
	trigger_id		bigint,
	event			text NOT NULL
		CONSTRAINT job_batch_event_check CHECK (event IN ('create', 'update', 'delete')),
	ord				bigint NOT NULL,
	depth			int NOT NULL,
	run_at			timestamptz NOT NULL,
	created_at		timestamptz NOT NULL,
	key_columns		int NOT NULL,
	items			int NOT NULL,
	row_hashes		bigint[] NOT NULL,
	keys			text[],
	old_rows		text[],
	changed			text[],
	excluded		int[],
	owner			oid NOT NULL DEFAULT 0,
	xid				xid8,		-- events for waits: the writing transaction,
	event_table		regclass,	-- the table they happened on,
	cid				int4		-- and the command
);

COMMENT ON TABLE procflow.job_batch IS 'pending jobs queued together by one statement';

-- compressing large arrays would cost the writing statement more than the
-- bytes it saves
ALTER TABLE procflow.job_batch
	ALTER row_hashes SET STORAGE EXTERNAL,
	ALTER keys SET STORAGE EXTERNAL,
	ALTER old_rows SET STORAGE EXTERNAL,
	ALTER changed SET STORAGE EXTERNAL;

REVOKE ALL ON procflow.process, procflow.trigger, procflow.job, procflow.job_0,
	procflow.job_1, procflow.job_2, procflow.job_3, procflow.finished_job,
	procflow.job_batch, procflow.flow_version, procflow.instance, procflow.activity
	FROM PUBLIC;

-- Definitions and pending jobs survive pg_dump and restore.
SELECT pg_catalog.pg_extension_config_dump('procflow.process', '');
SELECT pg_catalog.pg_extension_config_dump('procflow.process_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('procflow.trigger', '');
SELECT pg_catalog.pg_extension_config_dump('procflow.trigger_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('procflow.job_0', '');
SELECT pg_catalog.pg_extension_config_dump('procflow.job_1', '');
SELECT pg_catalog.pg_extension_config_dump('procflow.job_2', '');
SELECT pg_catalog.pg_extension_config_dump('procflow.job_3', '');
SELECT pg_catalog.pg_extension_config_dump('procflow.job_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('procflow.job_batch', '');
SELECT pg_catalog.pg_extension_config_dump('procflow.flow_version', '');
SELECT pg_catalog.pg_extension_config_dump('procflow.instance', '');
SELECT pg_catalog.pg_extension_config_dump('procflow.instance_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('procflow.activity', '');
SELECT pg_catalog.pg_extension_config_dump('procflow.activity_id_seq', '');

/*
 * Cache invalidation: any change of a definition, through the functions or
 * directly, tells every session to rebuild its rule cache.  Row triggers,
 * so that a statement that changes no row (the executors' periodic check of
 * owner names) makes no session rebuild anything.
 */
CREATE FUNCTION procflow.definitions_changed() RETURNS trigger
	LANGUAGE C AS 'MODULE_PATHNAME', 'procflow_definitions_changed';

CREATE TRIGGER process_changed
	AFTER INSERT OR UPDATE OR DELETE ON procflow.process
	FOR EACH ROW EXECUTE FUNCTION procflow.definitions_changed();
CREATE TRIGGER process_truncated
	AFTER TRUNCATE ON procflow.process
	FOR EACH STATEMENT EXECUTE FUNCTION procflow.definitions_changed();
CREATE TRIGGER trigger_changed
	AFTER INSERT OR DELETE ON procflow.trigger
	FOR EACH ROW EXECUTE FUNCTION procflow.definitions_changed();
CREATE TRIGGER trigger_truncated
	AFTER TRUNCATE ON procflow.trigger
	FOR EACH STATEMENT EXECUTE FUNCTION procflow.definitions_changed();
-- a schedule moving to its next time (next_run_at) is not a definition change
CREATE TRIGGER trigger_updated
	AFTER UPDATE OF process_id, event, fields, queued, delay, priority, cron
	ON procflow.trigger
	FOR EACH ROW EXECUTE FUNCTION procflow.definitions_changed();

/*
 * Jobs inserted other than by the row trigger (a restore, retry_job) wake
 * the executors at commit, so that they look at the queue again.  A restore
 * copies into the partitions, whose statement triggers are their own.
 */
CREATE FUNCTION procflow.jobs_inserted() RETURNS trigger
	LANGUAGE C AS 'MODULE_PATHNAME', 'procflow_jobs_inserted';

DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['job', 'job_0', 'job_1', 'job_2', 'job_3'] LOOP
		EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON procflow.%I'
					   ' FOR EACH STATEMENT EXECUTE FUNCTION procflow.jobs_inserted()',
					   t || '_inserted', t);
	END LOOP;
END
$$;
CREATE TRIGGER job_batch_inserted
	AFTER INSERT ON procflow.job_batch
	FOR EACH STATEMENT EXECUTE FUNCTION procflow.jobs_inserted();

/*
 * The trigger function that procflow installs on entity tables, as a row
 * trigger and as a statement trigger (which writes what the row trigger
 * collected).
 */
CREATE FUNCTION procflow.capture() RETURNS trigger
	LANGUAGE C AS 'MODULE_PATHNAME', 'procflow_capture';

/*
 * Definitions (light processes).
 */
CREATE FUNCTION procflow.create_process(
	name text,
	entity regclass,
	action text,
	execution_order int DEFAULT 0,
	label text DEFAULT NULL,
	condition text DEFAULT NULL,
	enabled boolean DEFAULT true,
	max_attempts int DEFAULT 5,
	timeout interval DEFAULT NULL,
	exclude text[] DEFAULT NULL)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'procflow_create_process';

CREATE FUNCTION procflow.alter_process(
	name text,
	entity regclass,
	action text,
	execution_order int DEFAULT 0,
	label text DEFAULT NULL,
	condition text DEFAULT NULL,
	enabled boolean DEFAULT NULL,
	max_attempts int DEFAULT 5,
	timeout interval DEFAULT NULL,
	exclude text[] DEFAULT NULL)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'procflow_alter_process';

CREATE FUNCTION procflow.add_trigger(
	process text,
	event text DEFAULT NULL,
	fields text[] DEFAULT NULL,
	queued boolean DEFAULT false,
	delay interval DEFAULT NULL,
	priority int DEFAULT 0,
	cron text DEFAULT NULL)
RETURNS bigint
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'procflow_add_trigger';

CREATE FUNCTION procflow.cron_next(schedule text, after timestamptz DEFAULT now(),
								   timezone text DEFAULT NULL)
RETURNS timestamptz
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'procflow_cron_next';

CREATE FUNCTION procflow.drop_trigger(id bigint) RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'procflow_drop_trigger';

CREATE FUNCTION procflow.drop_process(name text) RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'procflow_drop_process';

CREATE FUNCTION procflow.enable_process(name text) RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'procflow_enable_process';

CREATE FUNCTION procflow.disable_process(name text, cancel_pending boolean DEFAULT false)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'procflow_disable_process';

/*
 * Definitions (flows).
 */
CREATE FUNCTION procflow.create_flow(
	name text,
	entity regclass,
	definition jsonb,
	execution_order int DEFAULT 0,
	label text DEFAULT NULL,
	condition text DEFAULT NULL,
	enabled boolean DEFAULT true,
	max_attempts int DEFAULT 5,
	timeout interval DEFAULT NULL,
	exclude text[] DEFAULT NULL)
RETURNS int
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'procflow_create_flow';

CREATE FUNCTION procflow.alter_flow(name text, definition jsonb) RETURNS int
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'procflow_alter_flow';

CREATE FUNCTION procflow.flow_graph(flow text, format text DEFAULT 'dot',
									instance bigint DEFAULT NULL, version int DEFAULT NULL)
RETURNS text
LANGUAGE C STABLE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'procflow_flow_graph';

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

/*
 * Jobs.
 */
CREATE FUNCTION procflow.run_process(name text, key jsonb DEFAULT NULL,
									 delay interval DEFAULT NULL)
RETURNS bigint
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'procflow_run_process';

CREATE FUNCTION procflow.retry_job(id bigint) RETURNS bigint
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'procflow_retry_job';

CREATE FUNCTION procflow.cancel_job(id bigint) RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'procflow_cancel_job';

CREATE FUNCTION procflow.run_jobs(max_jobs int DEFAULT NULL) RETURNS int
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'procflow_run_jobs';

/*
 * Views: the back-office pages, as SQL.  Each role sees the rows of the
 * processes it owns (or whose owner it is a member of); superusers see all.
 */
CREATE VIEW procflow.processes WITH (security_barrier) AS
SELECT p.name,
	   p.label,
	   p.entity AS related_entity,
	   p.execution_order,
	   p.enabled,
	   p.created_at,
	   p.updated_at,
	   CASE WHEN p.owner <> 0 THEN p.owner::regrole END AS owner,
	   p.action,
	   p.condition,
	   p.max_attempts,
	   p.timeout,
	   p.exclude,
	   p.owner_name,
	   p.search_path,
	   p.kind,
	   p.version
  FROM procflow.process p
 WHERE pg_catalog.pg_has_role(p.owner, 'USAGE');

CREATE VIEW procflow.flow_versions WITH (security_barrier) AS
SELECT p.name AS flow,
	   v.version,
	   v.version = p.version AS current,
	   v.definition,
	   v.created_at,
	   p.owner_name AS owner,
	   v.search_path
  FROM procflow.flow_version v
  JOIN procflow.process p ON p.id = v.process_id
 WHERE pg_catalog.pg_has_role(p.owner, 'USAGE');

CREATE VIEW procflow.process_triggers WITH (security_barrier) AS
SELECT t.id,
	   p.name AS process,
	   t.event,
	   t.fields,
	   t.queued,
	   t.delay,
	   t.priority,
	   t.cron,
	   CASE WHEN p.enabled THEN t.next_run_at END AS next_run_at,
	   p.owner_name AS owner
  FROM procflow.trigger t
  JOIN procflow.process p ON p.id = t.process_id
 WHERE pg_catalog.pg_has_role(p.owner, 'USAGE');

CREATE FUNCTION procflow.key_to_jsonb(entity regclass, key text[]) RETURNS jsonb
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'procflow_key_to_jsonb';

CREATE VIEW procflow.jobs WITH (security_barrier) AS
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

CREATE VIEW procflow.job_history WITH (security_barrier) AS
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

GRANT USAGE ON SCHEMA procflow TO PUBLIC;
GRANT SELECT ON procflow.processes, procflow.process_triggers,
	procflow.jobs, procflow.job_history, procflow.flow_versions TO PUBLIC;

/*
 * Processes as code.  A document is
 *   {"processes": {"<name>": {"owner", "search_path", "label", "entity",
 *     "action", "condition", "execution_order", "enabled", "max_attempts",
 *     "timeout", "exclude",
 *     "triggers": [{"event", "fields", "queued", "delay", "priority", "cron"}]}}}
 * with the argument names of create_process and add_trigger as keys, the
 * owner's role name and the search_path the process keeps.  A flow has
 * "kind": "flow" and its current "definition" instead of "action"; loading
 * a changed definition makes a new version.  These
 * functions only check the document's shape and call the SQL functions
 * above, which check the caller's rights as for any other call.  A
 * process of another owner is loaded as that owner (SET ROLE), which only
 * a superuser may: a load never gives a process a more privileged owner
 * than the document names.
 */

/* Refuse a value of a definition document that is not of the expected kind. */
CREATE FUNCTION procflow.definition_check(process text, key text, value jsonb, kind text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ok boolean;
	expected text;
BEGIN
	IF value IS NULL OR jsonb_typeof(value) = 'null' THEN
		IF kind LIKE '%?' THEN
			RETURN;
		END IF;
		RAISE EXCEPTION 'process "%": key "%" must not be null', process, key
			USING ERRCODE = '22004';
	END IF;
	kind := rtrim(kind, '?');
	CASE kind
		WHEN 'string' THEN
			ok := jsonb_typeof(value) = 'string';
			expected := 'a string';
		WHEN 'boolean' THEN
			ok := jsonb_typeof(value) = 'boolean';
			expected := 'true or false';
		WHEN 'integer' THEN
			ok := jsonb_typeof(value) = 'number' AND value::text ~ '^-?[0-9]{1,10}$'
				AND value::text::numeric BETWEEN -2147483648 AND 2147483647;
			expected := 'an integer';
		WHEN 'interval' THEN
			ok := jsonb_typeof(value) = 'string' AND procflow.is_interval(value #>> '{}');
			expected := 'an interval as a string, such as "5 minutes"';
		WHEN 'strings' THEN
			ok := jsonb_typeof(value) = 'array'
				AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(value) e
								 WHERE jsonb_typeof(e) <> 'string');
			expected := 'an array of strings';
		WHEN 'object' THEN
			ok := jsonb_typeof(value) = 'object';
			expected := 'an object';
		WHEN 'objects' THEN
			ok := jsonb_typeof(value) = 'array'
				AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(value) e
								 WHERE jsonb_typeof(e) <> 'object');
			expected := 'an array of objects';
		ELSE
			RAISE EXCEPTION 'unknown kind of definition value "%"', kind;
	END CASE;
	IF NOT ok THEN
		RAISE EXCEPTION 'process "%": key "%" must be %', process, key, expected
			USING ERRCODE = '22023';
	END IF;
END
$$;

/* Whether text is a valid interval (PostgreSQL 15 has no pg_input_is_valid). */
CREATE FUNCTION procflow.is_interval(value text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM value::interval;
	RETURN true;
EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow
			   OR interval_field_overflow OR invalid_parameter_value THEN
	RETURN false;
END
$$;

/*
 * load_definitions runs load_definitions_in with the caller's search_path,
 * which entity names in the document resolve with and the processes it
 * creates keep (as with create_process), unless the document gives one.
 * load_definitions_in itself runs with search_path fixed to pg_catalog, so
 * that none of its own expressions resolves a name the caller's path (or
 * another role's schema in it) could supply; the path of the process is in
 * effect only around the calls that resolve its names (the entity, and the
 * procflow functions that check and keep its SQL), whose arguments are
 * computed before.
 */
CREATE FUNCTION procflow.load_definitions_in(doc jsonb, caller_path text) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	pname text;
	def jsonb;
	k text;
	trig jsonb;
	keep bigint[];
	to_add jsonb;
	tid bigint;
	entity regclass;
	current_entity regclass;
	exists_already boolean;
	current_kind text;
	wanted_kind text;
	is_flow boolean;
	msg text;
	state text;
	detail text;
	hint text;
	pass int;
	caller name := current_user;
	as_owner boolean;
	-- the process's search_path, and its arguments computed without it
	the_path text;
	entity_name text;
	v_action text;
	v_label text;
	v_condition text;
	v_order int;
	v_enabled boolean;
	v_attempts int;
	v_timeout interval;
	v_exclude text[];
	v_definition jsonb;
	call_sql text;
BEGIN
	IF doc IS NULL THEN
		RAISE EXCEPTION 'doc must not be null' USING ERRCODE = '22004';
	END IF;
	IF jsonb_typeof(doc) <> 'object' OR jsonb_typeof(doc->'processes') IS DISTINCT FROM 'object' THEN
		RAISE EXCEPTION 'a definition document is an object with the key "processes" holding an object'
			USING ERRCODE = '22023',
				  HINT = 'See procflow.export_definitions() for the format.';
	END IF;
	FOR k IN SELECT jsonb_object_keys(doc) LOOP
		IF k <> 'processes' THEN
			RAISE EXCEPTION 'unknown key "%" in the definition document', k USING ERRCODE = '22023';
		END IF;
	END LOOP;

	-- the whole document is checked before anything is changed
	FOR pname, def IN SELECT key, value FROM jsonb_each(doc->'processes') LOOP
		IF jsonb_typeof(def) <> 'object' THEN
			RAISE EXCEPTION 'process "%": its definition must be an object', pname
				USING ERRCODE = '22023';
		END IF;
		FOR k IN SELECT jsonb_object_keys(def) LOOP
			IF k NOT IN ('owner', 'search_path', 'label', 'entity', 'action', 'condition',
						 'execution_order', 'enabled', 'max_attempts', 'timeout', 'exclude',
						 'triggers', 'kind', 'definition') THEN
				RAISE EXCEPTION 'process "%": unknown key "%"', pname, k USING ERRCODE = '22023';
			END IF;
		END LOOP;
		PERFORM procflow.definition_check(pname, 'owner', def->'owner', 'string?');
		PERFORM procflow.definition_check(pname, 'search_path', def->'search_path', 'string?');
		IF def->>'owner' IS DISTINCT FROM current_user AND def ? 'owner'
		   AND jsonb_typeof(def->'owner') = 'string'
		   AND NOT coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r
							  WHERE r.rolname = current_user), false) THEN
			RAISE EXCEPTION 'process "%" belongs to role "%"', pname, def->>'owner'
				USING ERRCODE = '42501',
					  DETAIL = 'Only a superuser loads the processes of other roles, as their owners.',
					  HINT = 'Load it as that role, or remove its "owner" key to make it yours.';
		END IF;
		PERFORM procflow.definition_check(pname, 'label', def->'label', 'string?');
		PERFORM procflow.definition_check(pname, 'entity', def->'entity', 'string?');
		PERFORM procflow.definition_check(pname, 'kind', def->'kind', 'string?');
		IF coalesce(def->>'kind', 'light') NOT IN ('light', 'flow') THEN
			RAISE EXCEPTION 'process "%": unknown kind "%"', pname, def->>'kind'
				USING ERRCODE = '22023', HINT = 'A process is of kind "light" or "flow".';
		END IF;
		IF def->>'kind' = 'flow' THEN
			PERFORM procflow.definition_check(pname, 'definition', def->'definition', 'object');
			IF jsonb_typeof(def->'action') <> 'null' THEN
				RAISE EXCEPTION 'process "%": a flow has no key "action"', pname
					USING ERRCODE = '22023', HINT = 'Its activities are in "definition".';
			END IF;
		ELSE
			PERFORM procflow.definition_check(pname, 'action', def->'action', 'string');
			IF jsonb_typeof(def->'definition') <> 'null' THEN
				RAISE EXCEPTION 'process "%": a light process has no key "definition"', pname
					USING ERRCODE = '22023', HINT = 'Give "kind": "flow" for a flow.';
			END IF;
		END IF;
		PERFORM procflow.definition_check(pname, 'condition', def->'condition', 'string?');
		IF def ? 'execution_order' THEN
			PERFORM procflow.definition_check(pname, 'execution_order', def->'execution_order', 'integer');
		END IF;
		IF def ? 'enabled' THEN
			PERFORM procflow.definition_check(pname, 'enabled', def->'enabled', 'boolean');
		END IF;
		IF def ? 'max_attempts' THEN
			PERFORM procflow.definition_check(pname, 'max_attempts', def->'max_attempts', 'integer');
		END IF;
		PERFORM procflow.definition_check(pname, 'timeout', def->'timeout', 'interval?');
		PERFORM procflow.definition_check(pname, 'exclude', def->'exclude', 'strings?');
		PERFORM procflow.definition_check(pname, 'triggers', def->'triggers', 'objects?');
		FOR trig IN SELECT value FROM jsonb_array_elements(coalesce(def->'triggers', '[]')) LOOP
			FOR k IN SELECT jsonb_object_keys(trig) LOOP
				IF k NOT IN ('event', 'fields', 'queued', 'delay', 'priority', 'cron') THEN
					RAISE EXCEPTION 'process "%": unknown key "%" in a trigger', pname, k
						USING ERRCODE = '22023';
				END IF;
			END LOOP;
			PERFORM procflow.definition_check(pname, 'triggers.event', trig->'event', 'string?');
			PERFORM procflow.definition_check(pname, 'triggers.fields', trig->'fields', 'strings?');
			IF jsonb_typeof(trig->'fields') = 'array' AND jsonb_array_length(trig->'fields') = 0 THEN
				RAISE EXCEPTION 'process "%": key "triggers.fields" must not be an empty array', pname
					USING ERRCODE = '22023',
						  HINT = 'Leave it out, or give null, for a trigger on any column.';
			END IF;
			IF trig ? 'queued' THEN
				PERFORM procflow.definition_check(pname, 'triggers.queued', trig->'queued', 'boolean');
			END IF;
			PERFORM procflow.definition_check(pname, 'triggers.delay', trig->'delay', 'interval?');
			IF trig ? 'priority' THEN
				PERFORM procflow.definition_check(pname, 'triggers.priority', trig->'priority', 'integer');
			END IF;
			PERFORM procflow.definition_check(pname, 'triggers.cron', trig->'cron', 'string?');
		END LOOP;
	END LOOP;

	-- first the new processes are created, so that each "exclude" can name
	-- any process of the document; then every process takes its definition.
	-- Each is loaded as its owner, with its search_path.
	FOR pass IN 1..2 LOOP
	FOR pname, def IN SELECT key, value FROM jsonb_each(doc->'processes') ORDER BY key LOOP
		-- checked above: a null left is one of a key that may be absent
		def := jsonb_strip_nulls(def);
		BEGIN
			as_owner := def ? 'owner' AND def->>'owner' IS DISTINCT FROM caller;
			IF as_owner THEN
				EXECUTE format('SET LOCAL ROLE %I', def->>'owner');
			END IF;
			the_path := coalesce(def->>'search_path', caller_path);
			entity_name := def->>'entity';
			v_action := def->>'action';
			v_label := def->>'label';
			v_condition := def->>'condition';
			v_order := coalesce((def->>'execution_order')::int, 0);
			v_enabled := coalesce((def->>'enabled')::boolean, true);
			v_attempts := coalesce((def->>'max_attempts')::int, 5);
			v_timeout := (def->>'timeout')::interval;
			v_exclude := (SELECT array_agg(e ORDER BY n)
							FROM jsonb_array_elements_text(def->'exclude') WITH ORDINALITY AS x(e, n));
			v_definition := def->'definition';
			PERFORM set_config('search_path', the_path, true);
			entity := entity_name::regclass;
			PERFORM set_config('search_path', 'pg_catalog, pg_temp', true);
			is_flow := def->>'kind' = 'flow';
			SELECT true, p.related_entity, p.kind INTO exists_already, current_entity, current_kind
			  FROM procflow.processes p WHERE p.name = pname AND p.owner_name = current_user;
			exists_already := coalesce(exists_already, false);
			wanted_kind := CASE WHEN is_flow THEN 'flow' ELSE 'light' END;
			IF exists_already AND current_kind <> wanted_kind THEN
				RAISE EXCEPTION 'process "%" is of kind "%", not "%"', pname, current_kind, wanted_kind
					USING ERRCODE = '42809',
						  HINT = 'Drop the existing process first to replace it with one of another kind.';
			END IF;
			IF pass = 1 THEN
				PERFORM set_config('search_path', the_path, true);
				IF NOT exists_already AND is_flow THEN
					PERFORM procflow.create_flow(name => pname, entity => entity,
						definition => v_definition, execution_order => v_order,
						label => v_label, condition => v_condition, enabled => v_enabled,
						max_attempts => v_attempts, timeout => v_timeout);
				ELSIF NOT exists_already THEN
					PERFORM procflow.create_process(name => pname, entity => entity,
						action => v_action, execution_order => v_order,
						label => v_label, condition => v_condition, enabled => v_enabled,
						max_attempts => v_attempts, timeout => v_timeout);
				END IF;
				PERFORM set_config('search_path', 'pg_catalog, pg_temp', true);
				IF as_owner THEN
					EXECUTE format('SET LOCAL ROLE %I', caller);
				END IF;
				CONTINUE;
			END IF;
			keep := '{}';
			to_add := '[]';

			-- the triggers the process keeps, and those to add
			IF NOT exists_already OR current_entity IS NOT DISTINCT FROM entity THEN
				FOR trig IN SELECT value FROM jsonb_array_elements(coalesce(def->'triggers', '[]')) LOOP
					tid := NULL;
					IF exists_already THEN
						SELECT t.id INTO tid
						  FROM procflow.process_triggers t
						 WHERE t.process = pname AND t.owner = current_user AND t.id <> ALL (keep)
						   AND t.event IS NOT DISTINCT FROM trig->>'event'
						   AND t.fields IS NOT DISTINCT FROM
							   (SELECT array_agg(f ORDER BY n)
								  FROM jsonb_array_elements_text(trig->'fields') WITH ORDINALITY AS x(f, n))
						   AND t.queued = (coalesce((trig->>'queued')::boolean, false)
										   OR trig->>'delay' IS NOT NULL OR trig->>'cron' IS NOT NULL)
						   AND t.delay IS NOT DISTINCT FROM (trig->>'delay')::interval
						   AND t.priority = coalesce((trig->>'priority')::int, 0)
						   AND t.cron IS NOT DISTINCT FROM trig->>'cron'
						 ORDER BY t.id LIMIT 1;
					END IF;
					IF tid IS NULL THEN
						to_add := to_add || jsonb_build_array(trig);
					ELSE
						keep := keep || tid;
					END IF;
				END LOOP;
			ELSE
				to_add := coalesce(def->'triggers', '[]');
			END IF;

			IF exists_already THEN
				PERFORM procflow.drop_trigger(t.id)
				   FROM procflow.process_triggers t
				  WHERE t.process = pname AND t.owner = current_user AND t.id <> ALL (keep);
			END IF;
			-- a new process is created, an existing one changed in place,
			-- keeping its enabled flag (NULL to alter_process)
			IF exists_already THEN
				v_enabled := NULL;
			END IF;
			call_sql := format('SELECT procflow.%I(name => $1, entity => $2, action => $3,'
							   ' execution_order => $4, label => $5, condition => $6, enabled => $7,'
							   ' max_attempts => $8, timeout => $9, exclude => $10)',
							   CASE WHEN exists_already THEN 'alter_process' ELSE 'create_process' END);
			PERFORM set_config('search_path', the_path, true);
			EXECUTE call_sql
			USING pname, entity, v_action, v_order, v_label, v_condition, v_enabled,
				  v_attempts, v_timeout, v_exclude;
			-- a flow's changed definition is its next version
			IF is_flow THEN
				PERFORM procflow.alter_flow(pname, v_definition);
			END IF;
			PERFORM set_config('search_path', 'pg_catalog, pg_temp', true);

			FOR trig IN SELECT value FROM jsonb_array_elements(to_add) LOOP
				PERFORM procflow.add_trigger(
					process => pname,
					event => trig->>'event',
					fields => (SELECT array_agg(f ORDER BY n)
								 FROM jsonb_array_elements_text(trig->'fields') WITH ORDINALITY AS x(f, n)),
					queued => coalesce((trig->>'queued')::boolean, false),
					delay => (trig->>'delay')::interval,
					priority => coalesce((trig->>'priority')::int, 0),
					cron => trig->>'cron');
			END LOOP;
			IF as_owner THEN
				EXECUTE format('SET LOCAL ROLE %I', caller);
			END IF;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, state = RETURNED_SQLSTATE,
									detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
			-- the callee's error, naming the process (RAISE takes no empty options)
			msg := format('process "%s": %s', pname, msg);
			IF detail = '' AND hint = '' THEN
				RAISE EXCEPTION USING ERRCODE = state, MESSAGE = msg;
			ELSIF detail = '' THEN
				RAISE EXCEPTION USING ERRCODE = state, MESSAGE = msg, HINT = hint;
			ELSIF hint = '' THEN
				RAISE EXCEPTION USING ERRCODE = state, MESSAGE = msg, DETAIL = detail;
			ELSE
				RAISE EXCEPTION USING ERRCODE = state, MESSAGE = msg, DETAIL = detail, HINT = hint;
			END IF;
		END;
	END LOOP;
	END LOOP;
END
$$;

CREATE FUNCTION procflow.load_definitions(doc jsonb) RETURNS void
LANGUAGE sql VOLATILE
AS $$SELECT procflow.load_definitions_in(doc, pg_catalog.current_setting('search_path'))$$;

CREATE FUNCTION procflow.export_definitions(processes text[] DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	missing text;
BEGIN
	SELECT n INTO missing
	  FROM unnest(processes) AS n
	 WHERE NOT EXISTS (SELECT 1 FROM procflow.processes p
						WHERE p.name = n AND p.owner_name = current_user)
	 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'process "%" does not exist', missing USING ERRCODE = '42704';
	END IF;
	RETURN jsonb_build_object('processes', coalesce(jsonb_object_agg(p.name, (jsonb_build_object(
		'owner', p.owner_name,
		-- a flow's SQL resolves with its current version's search_path
		'search_path', coalesce((SELECT v.search_path FROM procflow.flow_versions v
								  WHERE v.flow = p.name AND v.owner = p.owner_name AND v.current),
								p.search_path),
		'label', p.label,
		'entity', CASE WHEN c.oid IS NOT NULL THEN format('%I.%I', n.nspname, c.relname) END,
		'action', p.action,
		'condition', p.condition,
		'execution_order', p.execution_order,
		'enabled', p.enabled,
		'max_attempts', p.max_attempts,
		'timeout', p.timeout::text,
		'exclude', to_jsonb(p.exclude),
		'triggers', coalesce((SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
									'event', t.event,
									'fields', to_jsonb(t.fields),
									'queued', t.queued,
									'delay', t.delay::text,
									'priority', t.priority,
									'cron', t.cron)) ORDER BY t.id)
								FROM procflow.process_triggers t
							   WHERE t.process = p.name AND t.owner = p.owner_name), '[]'))
		|| CASE WHEN p.kind = 'flow' THEN
			   jsonb_build_object('kind', 'flow', 'definition',
								  (SELECT v.definition FROM procflow.flow_versions v
									WHERE v.flow = p.name AND v.owner = p.owner_name AND v.current))
		   ELSE '{}' END)
		- CASE WHEN p.kind = 'flow' THEN 'action' ELSE '' END
		ORDER BY p.name), '{}'))
	  FROM procflow.processes p
	  LEFT JOIN pg_class c ON c.oid = p.related_entity
	  LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE p.owner_name = current_user
	   AND (export_definitions.processes IS NULL OR p.name = ANY (export_definitions.processes));
END
$$;

/*
 * An entity table cannot be dropped while a process uses it, as a table
 * cannot while a view uses it: its pending jobs could never run.  Nor can a
 * table that a wait of a flow waits for events of (in the flow's current
 * version, or one that live instances run).  Nor can
 * a column that an update trigger watches ("fields"): the trigger would
 * fire on no change, or on every change.  (Run as the extension owner, to
 * read the definitions; it reads nothing else.)
 */
CREATE FUNCTION procflow.entity_dropped() RETURNS event_trigger
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

CREATE EVENT TRIGGER procflow_entity_dropped ON sql_drop
	EXECUTE FUNCTION procflow.entity_dropped();

/*
 * ALTER TABLE of an entity table: renamed columns are followed, and its
 * primary key cannot go, nor change while jobs are pending (see ddl.c).
 */
CREATE FUNCTION procflow.table_altering() RETURNS event_trigger
	LANGUAGE C AS 'MODULE_PATHNAME', 'procflow_table_altering';
CREATE FUNCTION procflow.table_altered() RETURNS event_trigger
	LANGUAGE C AS 'MODULE_PATHNAME', 'procflow_table_altered';

CREATE EVENT TRIGGER procflow_table_altering ON ddl_command_start
	WHEN TAG IN ('ALTER TABLE')
	EXECUTE FUNCTION procflow.table_altering();
CREATE EVENT TRIGGER procflow_table_altered ON ddl_command_end
	WHEN TAG IN ('ALTER TABLE')
	EXECUTE FUNCTION procflow.table_altered();

/*
 * Internal functions: procflow's triggers and event triggers call them; no
 * role needs to, and a trigger of a role's own on a table of its own would
 * otherwise make every write of it flush every session's caches and wake
 * the executors.  (Triggers call their functions whatever the privileges.)
 */
REVOKE EXECUTE ON FUNCTION procflow.definitions_changed(), procflow.jobs_inserted(),
	procflow.capture(), procflow.process_owner_by_name(), procflow.snapshot_restored(),
	procflow.entity_dropped(),
	procflow.table_altering(), procflow.table_altered() FROM PUBLIC;

/* Says, when the library is not preloaded, that queued jobs will not run. */
CREATE FUNCTION procflow.check_installation() RETURNS void
LANGUAGE C AS 'MODULE_PATHNAME', 'procflow_check_installation';
REVOKE EXECUTE ON FUNCTION procflow.check_installation() FROM PUBLIC;
SELECT procflow.check_installation();
