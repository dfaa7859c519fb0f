-- drop_process, enable_process, disable_process: good and bad.
BEGIN;
SELECT plan(33);

CREATE TABLE cust (id int PRIMARY KEY);
CREATE TABLE log (id int);
SELECT procflow.create_process('p', 'cust', 'INSERT INTO log VALUES (($1).id)');
SELECT procflow.add_trigger('p', 'create', queued => true);
CREATE ROLE pgtap_other;

SELECT throws_ok($$SELECT procflow.enable_process(NULL)$$, '22004', NULL, 'enable: NULL name');
SELECT throws_ok($$SELECT procflow.enable_process('nosuch')$$, '42704', 'process "nosuch" does not exist', 'enable: unknown');
SELECT throws_ok($$SELECT procflow.disable_process(NULL)$$, '22004', NULL, 'disable: NULL name');
SELECT throws_ok($$SELECT procflow.disable_process('p', NULL)$$, '22004', 'argument "cancel_pending" must not be null', 'disable: NULL cancel_pending');
SELECT throws_ok($$SELECT procflow.drop_process(NULL)$$, '22004', NULL, 'drop: NULL name');
SELECT throws_ok($$SELECT procflow.drop_process('')$$, '22023', NULL, 'drop: empty name');
SELECT throws_ok($$SELECT procflow.drop_process('nosuch')$$, '42704', NULL, 'drop: unknown');
SET ROLE pgtap_other;
SELECT throws_ok($$SELECT procflow.disable_process('p')$$, '42704', NULL, 'disable: another role''s process');
SELECT throws_ok($$SELECT procflow.drop_process('p')$$, '42704', NULL, 'drop: another role''s process');
RESET ROLE;

-- disabled: no events, jobs held; enabled: released
SELECT lives_ok($$SELECT procflow.disable_process('p')$$, 'disable');
SELECT lives_ok($$SELECT procflow.disable_process('p')$$, 'disabling twice is fine');
INSERT INTO cust VALUES (1);
SELECT is((SELECT count(*)::int FROM procflow.jobs), 0, 'a disabled process takes no events');
SELECT lives_ok($$SELECT procflow.run_process('p', '{"id": 1}')$$, 'run_process still queues');
SELECT is(procflow.run_jobs(), 0, 'its job is held');
SELECT lives_ok($$SELECT procflow.enable_process('p')$$, 'enable');
SELECT is(procflow.run_jobs(), 1, 'the held job runs');

-- an entity table cannot be dropped under its process
SELECT throws_ok($$DROP TABLE cust$$, '2BP01', 'cannot drop table public.cust because process "p" uses it',
    'drop of an entity table refused');
SELECT throws_ok($$DROP TABLE log, cust$$, '2BP01', NULL, 'also among other tables');
SELECT lives_ok($$DROP TABLE log$$, 'other tables drop as usual');
CREATE TABLE log (id int);

-- delays are bounded, so that a run time stays a timestamp
SELECT throws_ok($$SELECT procflow.run_process('p', delay => '101 years')$$, '22023', 'delay must be at most 100 years', 'run_process: delay too long');
SELECT throws_ok($$SELECT procflow.add_trigger('p', 'create', delay => '1000000 years')$$, '22023', 'delay must be at most 100 years', 'add_trigger: delay too long');

-- alter_process: good and bad
SELECT lives_ok($$SELECT procflow.alter_process('p', 'cust', 'INSERT INTO log VALUES (($1).id + 1)', label => 'Changed')$$, 'alter');
SELECT is((SELECT label FROM procflow.processes WHERE name = 'p'), 'Changed', 'altered in place');
SELECT throws_ok($$SELECT procflow.alter_process('nosuch', 'cust', 'SELECT 1')$$, '42704', NULL, 'alter: unknown');
SELECT throws_ok($$SELECT procflow.alter_process('p', 'cust', 'SELEC 1')$$, '42601', NULL, 'alter: bad action');
SELECT throws_ok($$SELECT procflow.alter_process('p', NULL, 'SELECT 1')$$, '55006', NULL, 'alter: no entity change under event triggers');
SELECT is((SELECT label FROM procflow.processes WHERE name = 'p'), 'Changed', 'refusals changed nothing');
-- A refused call's writes are rolled back with it (throws_ok's block is a
-- savepoint, as ROLLBACK TO would be); what could outlive the refusal is
-- the session's own state: the rule cache, which the next statement uses.
DELETE FROM log;
INSERT INTO cust VALUES (10);
SELECT procflow.run_jobs();
SELECT is((SELECT array_agg(id) FROM log), '{11}', 'the next insert runs the process as last altered, not as refused');
SET ROLE pgtap_other;
SELECT throws_ok($$SELECT procflow.alter_process('p', 'cust', 'SELECT 1')$$, '42704', NULL, 'alter: another role''s process');
RESET ROLE;

-- drop removes the definition, its triggers, jobs and history
INSERT INTO cust VALUES (2);
SELECT lives_ok($$SELECT procflow.drop_process('p')$$, 'drop');
SELECT is((SELECT count(*)::int FROM procflow.job), 0, 'jobs went with it');
SELECT is((SELECT count(*)::int FROM procflow.finished_job), 0, 'history went with it');
SELECT is((SELECT count(*)::int FROM procflow.trigger), 0, 'triggers went with it');

SELECT * FROM finish();
ROLLBACK;
