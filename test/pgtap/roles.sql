-- Three ordinary roles: none reaches another's tables, definitions, jobs or
-- history, and no action runs as anyone but its process's owner.
BEGIN;
SELECT plan(34);

CREATE ROLE pgtap_alice;
CREATE ROLE pgtap_bob;
CREATE ROLE pgtap_carol;
GRANT pgtap_alice TO pgtap_carol;		-- carol acts for alice
GRANT CREATE ON SCHEMA public TO pgtap_alice, pgtap_bob, pgtap_carol;
CREATE TABLE who_ran (process text, who text, session_who text);
GRANT INSERT, SELECT ON who_ran TO PUBLIC;

SET ROLE pgtap_alice;
CREATE TABLE alice_t (id int PRIMARY KEY, v int);
CREATE FUNCTION alice_secret() RETURNS text LANGUAGE sql SECURITY DEFINER AS $$ SELECT 'secret' $$;
REVOKE EXECUTE ON FUNCTION alice_secret() FROM PUBLIC;
SELECT procflow.create_process('alice_p', 'alice_t',
    $$INSERT INTO who_ran VALUES ('alice_p', current_user, session_user)$$);
SELECT procflow.add_trigger('alice_p', 'create', queued => true) > 0 AS added;
INSERT INTO alice_t VALUES (1, 1);
INSERT INTO alice_t SELECT g, g FROM generate_series(10, 30) g;	-- a batch
RESET ROLE;

SET ROLE pgtap_bob;
CREATE TABLE bob_t (id int PRIMARY KEY);
-- no process on another's table, no reach into another's definitions
SELECT throws_ok($$SELECT procflow.create_process('bob_on_alice', 'alice_t', 'SELECT 1')$$, '42501', NULL,
    'bob cannot attach a process to alice''s table');
SELECT throws_ok($$SELECT procflow.add_trigger('alice_p', 'update')$$, '42704', NULL, 'nor add a trigger to her process');
SELECT throws_ok($$SELECT procflow.alter_process('alice_p', 'bob_t', 'SELECT 1')$$, '42704', NULL, 'nor alter it');
SELECT throws_ok($$SELECT procflow.disable_process('alice_p')$$, '42704', NULL, 'nor disable it');
SELECT throws_ok($$SELECT procflow.enable_process('alice_p')$$, '42704', NULL, 'nor enable it');
SELECT throws_ok($$SELECT procflow.drop_process('alice_p')$$, '42704', NULL, 'nor drop it');
SELECT throws_ok($$SELECT procflow.run_process('alice_p', '{"id": 1}')$$, '42704', NULL, 'nor run it');
SELECT throws_ok($$SELECT procflow.export_definitions('{alice_p}')$$, '42704', NULL, 'nor export them');
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": {"alice_p": {"owner": "pgtap_alice", "action": "SELECT 1"}}}')$$,
    '42501', NULL, 'nor load a document of hers');
SELECT throws_ok($$SELECT procflow.create_process('alice_p', NULL, 'SELECT 1'); SELECT procflow.drop_process('alice_p'); SELECT 1/0$$,
    '22012', NULL, 'her process''s name is his to use too, and dropping his drops his');
SELECT is((SELECT count(*)::int FROM procflow.processes), 0, 'bob sees no definitions of alice');
SELECT is((SELECT count(*)::int FROM procflow.process_triggers), 0, 'nor triggers');
SELECT is((SELECT count(*)::int FROM procflow.jobs), 0, 'nor pending jobs, single or batched');
SELECT is(procflow.export_definitions(), '{"processes": {}}'::jsonb, 'nor anything to export');
SELECT is(procflow.run_jobs(), 0, 'bob''s run_jobs runs none of alice''s jobs');
-- no direct edit of procflow's tables
SELECT throws_ok($$INSERT INTO procflow.job (process_id, event, ord, run_at) VALUES (1, 'run', 0, now())$$, '42501', NULL, 'job table');
SELECT throws_ok($$UPDATE procflow.process SET owner = 'pgtap_bob'::regrole$$, '42501', NULL, 'process table');
SELECT throws_ok($$DELETE FROM procflow.trigger$$, '42501', NULL, 'trigger table');
SELECT throws_ok($$UPDATE procflow.job_batch SET run_at = now()$$, '42501', NULL, 'batch table');
SELECT throws_ok($$SELECT * FROM procflow.job$$, '42501', NULL, 'nor read the job table');
SELECT throws_ok($$SELECT * FROM procflow.job_1$$, '42501', NULL, 'nor a partition of it');
SELECT throws_ok($$TRUNCATE procflow.job_2$$, '42501', NULL, 'nor truncate one');
SELECT throws_ok($$SELECT * FROM procflow.finished_job$$, '42501', NULL, 'nor read the history table');
-- bob's actions try to become someone else
SELECT procflow.create_process('bob_set_role', NULL, $$SET ROLE pgtap_alice$$, max_attempts => 1);
SELECT procflow.create_process('bob_set_config', NULL, $$SELECT set_config('role', 'pgtap_alice', false)$$, max_attempts => 1);
SELECT procflow.create_process('bob_reset', NULL, $$RESET ROLE$$, max_attempts => 1);
SELECT procflow.create_process('bob_session', NULL, $$SET SESSION AUTHORIZATION DEFAULT$$, max_attempts => 1);
SELECT procflow.create_process('bob_definer', NULL, $$SELECT alice_secret()$$, max_attempts => 1);
SELECT procflow.create_process('bob_whoami', NULL,
    $$INSERT INTO who_ran VALUES ('bob_whoami', current_user, session_user)$$);
SELECT procflow.run_process(name) FROM procflow.processes WHERE name LIKE 'bob_%';
RESET ROLE;

-- a superuser runs the queue: each action as its owner
SELECT ok(procflow.run_jobs() >= 28, 'the superuser runs every role''s jobs');
SELECT results_eq($$SELECT process, who, count(*)::int FROM who_ran GROUP BY 1, 2 ORDER BY 1$$,
    $$VALUES ('alice_p'::text, 'pgtap_alice'::text, 22), ('bob_whoami', 'pgtap_bob', 1)$$,
    'alice''s jobs ran as alice, bob''s as bob');
SELECT results_eq($$SELECT process, status, error_code FROM procflow.job_history
                    WHERE process IN ('bob_set_role', 'bob_set_config', 'bob_reset', 'bob_session', 'bob_definer')
                    ORDER BY process$$,
    $$VALUES ('bob_definer'::text, 'failed'::text, '42501'::text),
             ('bob_reset', 'failed', '42501'),
             ('bob_session', 'failed', '42501'),
             ('bob_set_config', 'failed', '42501'),
             ('bob_set_role', 'failed', '42501')$$,
    'SET ROLE, set_config(''role''), RESET ROLE, SET SESSION AUTHORIZATION and her SECURITY DEFINER function all fail');

-- history: each role reads its own
SET ROLE pgtap_bob;
SELECT is((SELECT count(*)::int FROM procflow.job_history WHERE process LIKE 'alice%'), 0, 'bob reads none of alice''s history');
SELECT is((SELECT count(*)::int FROM procflow.job_history), 6, 'but his own');
RESET ROLE;
SELECT min(id) AS alice_job FROM procflow.job_history WHERE process = 'alice_p' \gset
SELECT min(id) AS alice_trigger FROM procflow.process_triggers WHERE process = 'alice_p' \gset
SET ROLE pgtap_bob;
SELECT throws_ok('SELECT procflow.drop_trigger(' || :alice_trigger || ')', '42704', NULL, 'nor drop her trigger by id');
SELECT throws_ok('SELECT procflow.retry_job(' || :alice_job || ')', '42704', NULL, 'nor retry one of hers by id');
SELECT throws_ok('SELECT procflow.cancel_job(' || :alice_job || ')', '42704', NULL, 'nor cancel one');
RESET ROLE;

-- carol, a member of alice, sees and manages alice's processes; bob's not
SET ROLE pgtap_carol;
SELECT is((SELECT array_agg(name ORDER BY name) FROM procflow.processes), ARRAY['alice_p'], 'carol sees alice''s processes only');
SELECT lives_ok($$SELECT procflow.disable_process('alice_p')$$, 'and may manage them');
SELECT throws_ok($$SELECT procflow.disable_process('bob_whoami')$$, '42704', NULL, 'but not bob''s');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
