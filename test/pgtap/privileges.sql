-- Privileges: what an ordinary role can reach, and that no name it controls
-- is resolved while procflow acts with the extension owner's rights.
BEGIN;
SELECT plan(14);

CREATE ROLE pgtap_mallory;
CREATE ROLE pgtap_victim;
GRANT CREATE ON SCHEMA public TO pgtap_mallory, pgtap_victim;
DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO pgtap_mallory', current_database()); END $$;
CREATE TABLE hijacked (who text);
GRANT INSERT ON hijacked TO PUBLIC;

-- the catalog tables are closed, the views and functions open
SELECT ok(NOT has_table_privilege('pgtap_mallory', 'procflow.process', 'SELECT'), 'process table closed');
SELECT ok(NOT has_table_privilege('pgtap_mallory', 'procflow.trigger', 'INSERT'), 'trigger table closed');
SELECT ok(NOT has_table_privilege('pgtap_mallory', 'procflow.job', 'UPDATE'), 'job table closed');
SELECT ok(has_table_privilege('pgtap_mallory', 'procflow.jobs', 'SELECT'), 'jobs view open');
SELECT ok(has_function_privilege('pgtap_mallory', 'procflow.create_process(text, regclass, text, int, text, text, boolean, int, interval, text[])', 'EXECUTE'),
    'create_process open');

-- the victim defines a process and has a pending job
SET ROLE pgtap_victim;
CREATE TABLE victim_t (id int PRIMARY KEY);
SELECT procflow.create_process('victim_p', 'victim_t', 'SELECT 1');
SELECT procflow.add_trigger('victim_p', 'create', queued => true);
INSERT INTO victim_t VALUES (1);
RESET ROLE;

SET ROLE pgtap_mallory;
SELECT is((SELECT count(*)::int FROM procflow.processes), 0, 'mallory sees no process of the victim');
SELECT is((SELECT count(*)::int FROM procflow.jobs), 0, 'nor its jobs');
SELECT is((SELECT count(*)::int FROM procflow.process_triggers), 0, 'nor its triggers');
SELECT throws_ok($$UPDATE procflow.process SET owner = 'pgtap_mallory'::regrole$$, '42501', NULL, 'no direct edits');

-- a function that shadows a built-in on mallory's search_path
CREATE TABLE mallory_t (id int PRIMARY KEY);
CREATE SCHEMA evil;
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql
    AS $$ INSERT INTO public.hijacked VALUES (current_user) RETURNING pg_catalog.now() $$;
CREATE FUNCTION evil.clock_timestamp() RETURNS timestamptz LANGUAGE sql
    AS $$ INSERT INTO public.hijacked VALUES (current_user) RETURNING pg_catalog.now() $$;
SET search_path = evil, pg_catalog, public;
SELECT procflow.create_process('mallory_p', 'mallory_t', 'SELECT 1');
SELECT procflow.add_trigger('mallory_p', 'create', queued => true);
SELECT procflow.disable_process('mallory_p', cancel_pending => true);
SELECT procflow.enable_process('mallory_p');
INSERT INTO mallory_t VALUES (1);
DELETE FROM mallory_t;
SELECT procflow.run_process('mallory_p');
SELECT procflow.run_jobs();
RESET search_path;
RESET ROLE;
SELECT is((SELECT count(*)::int FROM hijacked WHERE who <> 'pgtap_mallory'), 0,
    'no shadowing function ran with anyone else''s rights');

-- the victim's job ran as the victim when a superuser ran the queue
SET ROLE pgtap_victim;
CREATE TABLE victim_log (who text);
RESET ROLE;
SELECT procflow.create_process('victim_log', 'victim_t', 'INSERT INTO victim_log SELECT current_user', exclude => NULL);
SELECT is((SELECT owner::text FROM procflow.processes WHERE name = 'victim_log'), current_user::text,
    'a superuser''s own process is owned by the superuser');
SELECT procflow.drop_process('victim_log');
SET ROLE pgtap_victim;
SELECT procflow.create_process('victim_log', 'victim_t', 'INSERT INTO victim_log SELECT current_user');
SELECT procflow.add_trigger('victim_log', 'create', queued => true);
INSERT INTO victim_t VALUES (2);
RESET ROLE;
SELECT ok(procflow.run_jobs() >= 2, 'the superuser runs every role''s jobs');
SELECT is((SELECT array_agg(who) FROM victim_log), ARRAY['pgtap_victim'], 'as their owner');

SET ROLE pgtap_mallory;
SELECT is(procflow.run_jobs(), 0, 'mallory cannot run the victim''s jobs');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
