-- The catalog: what CREATE EXTENSION installs, and the views ordinary roles read.
SELECT c.relname, c.relkind, c.relispartition
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'procflow' AND c.relkind IN ('r', 'p', 'v')
 ORDER BY 1;

SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS arguments,
       pg_get_function_result(p.oid) AS result
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'procflow'
 ORDER BY 1;

-- configuration tables survive pg_dump
SELECT unnest(extconfig)::regclass AS config_table, unnest(extcondition) AS condition
  FROM pg_extension WHERE extname = 'procflow' ORDER BY 1::text;

-- ordinary roles reach the views, not the tables (nor the queue's partitions)
SELECT c.relname, has_table_privilege('public', c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE') AS any_privilege
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'procflow' AND c.relkind IN ('r', 'p')
 ORDER BY 1;
SELECT has_table_privilege('public', 'procflow.process', 'SELECT') AS process_table,
       has_table_privilege('public', 'procflow.job', 'INSERT') AS job_table,
       has_table_privilege('public', 'procflow.processes', 'SELECT') AS processes_view,
       has_table_privilege('public', 'procflow.job_history', 'SELECT') AS history_view;

-- the Oro grid columns
SELECT attname FROM pg_attribute
 WHERE attrelid = 'procflow.processes'::regclass AND attnum > 0 ORDER BY attnum;
SELECT attname FROM pg_attribute
 WHERE attrelid = 'procflow.process_triggers'::regclass AND attnum > 0 ORDER BY attnum;

-- constraints refuse nonsense even on direct writes
\set VERBOSITY terse
INSERT INTO procflow.process (name, action, owner, owner_name, search_path) VALUES ('', 'select 1', 0, current_user, 'public');
INSERT INTO procflow.process (name, action, owner, owner_name, search_path, max_attempts) VALUES ('p', 'select 1', 0, current_user, 'public', 0);
SELECT count(*) FROM procflow.process;
\set VERBOSITY default

SHOW procflow.workers;
SHOW procflow.batch_size;
SHOW procflow.max_sleep;
SHOW procflow.history_retention;
SHOW procflow.enabled;
SHOW procflow.max_depth;
