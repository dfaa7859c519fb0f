/*
 * procflow--0.2--0.3.sql: update from procflow 0.2 to 0.3
 *
 * 0.3 adds the definitions of flows: processes of kind "flow", whose work
 * is a graph of activities kept in versions (procflow.flow_version), with
 * create_flow, alter_flow, flow_graph and the view flow_versions; flows in
 * export_definitions and load_definitions.  Light processes, their
 * triggers and pending jobs are kept as they are.
 *
 * Copyright (c) 2026, procflow developers
 */

\echo Use "ALTER EXTENSION procflow UPDATE TO '0.3'" to load this file. \quit

ALTER TABLE procflow.process
	ALTER COLUMN action DROP NOT NULL,
	DROP CONSTRAINT process_action_check,
	ADD COLUMN kind text NOT NULL DEFAULT 'light'
		CONSTRAINT process_kind_check CHECK (kind IN ('light', 'flow')),
	ADD COLUMN version int,
	ADD CONSTRAINT process_action_check CHECK (CASE kind
		WHEN 'light' THEN action IS NOT NULL AND action <> '' AND version IS NULL
		WHEN 'flow' THEN action IS NULL AND version >= 1 END);

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
	PRIMARY KEY (process_id, version)
);

COMMENT ON TABLE procflow.flow_version IS 'the definitions of flows: one row per version';

REVOKE ALL ON procflow.flow_version FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('procflow.flow_version', '');

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

CREATE OR REPLACE VIEW procflow.processes WITH (security_barrier) AS
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

GRANT SELECT ON procflow.flow_versions TO PUBLIC;

/* Refuse a value of a definition document that is not of the expected kind. */
CREATE OR REPLACE FUNCTION procflow.definition_check(process text, key text, value jsonb, kind text)
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
CREATE OR REPLACE FUNCTION procflow.load_definitions_in(doc jsonb, caller_path text) RETURNS void
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

CREATE OR REPLACE FUNCTION procflow.load_definitions(doc jsonb) RETURNS void
LANGUAGE sql VOLATILE
AS $$SELECT procflow.load_definitions_in(doc, pg_catalog.current_setting('search_path'))$$;

CREATE OR REPLACE FUNCTION procflow.export_definitions(processes text[] DEFAULT NULL) RETURNS jsonb
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
