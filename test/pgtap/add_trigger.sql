-- procflow.add_trigger and drop_trigger: every argument, good and bad.
BEGIN;
SELECT plan(33);

CREATE TABLE cust (id int PRIMARY KEY, name text, vip boolean);
SELECT procflow.create_process('p', 'cust', 'SELECT 1');
SELECT procflow.create_process('free', NULL, 'SELECT 1');
CREATE ROLE pgtap_other;

SELECT ok(procflow.add_trigger('p', 'create') > 0, 'create trigger');
SELECT ok(procflow.add_trigger('p', 'update', fields => '{name, vip}') > 0, 'update trigger with fields');
SELECT ok(procflow.add_trigger('p', 'delete', queued => true, delay => '5 minutes', priority => 7) > 0, 'delayed delete trigger');
SELECT results_eq($$SELECT event, fields, queued, delay, priority FROM procflow.process_triggers ORDER BY id$$,
    $$VALUES ('create'::text, NULL::text[], false, NULL::interval, 0),
             ('update', '{name,vip}', false, NULL, 0),
             ('delete', NULL, true, interval '5 minutes', 7)$$,
    'the triggers as given');
SELECT ok(procflow.add_trigger('p', 'create', delay => '0') > 0, 'a delay makes the trigger queued');
SELECT is((SELECT queued FROM procflow.process_triggers ORDER BY id DESC LIMIT 1), true, 'queued');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'cust'::regclass AND tgname = 'procflow_capture'),
    1, 'one row trigger however many process triggers');

CREATE TEMP TABLE before AS SELECT count(*) AS n FROM procflow.process_triggers;

SELECT throws_ok($$SELECT procflow.add_trigger(NULL, 'create')$$, '22004', 'argument "process" must not be null', 'NULL process');
SELECT throws_ok($$SELECT procflow.add_trigger('nosuch', 'create')$$, '42704', 'process "nosuch" does not exist', 'unknown process');
SELECT throws_ok($$SELECT procflow.add_trigger('p', NULL)$$, '22004', 'argument "event" must not be null', 'NULL event');
SELECT throws_ok($$SELECT procflow.add_trigger('p', 'insert')$$, '22023', 'invalid event "insert"', 'unknown event');
SELECT throws_ok($$SELECT procflow.add_trigger('p', 'CREATE')$$, '22023', NULL, 'events are lower case');
SELECT throws_ok($$SELECT procflow.add_trigger('p', 'create', cron => '* * * * *')$$, '22023', 'a trigger has an event or a cron schedule, not both', 'event and cron');
SELECT throws_ok($$SELECT procflow.add_trigger('p', 'create', fields => '{name}')$$, '22023', 'fields apply only to update triggers', 'fields on create');
SELECT throws_ok($$SELECT procflow.add_trigger('p', 'update', fields => '{nosuch}')$$, '42703', 'column "nosuch" of relation "cust" does not exist', 'unknown field');
SELECT throws_ok($$SELECT procflow.add_trigger('p', 'update', fields => '{name, NULL}')$$, '22004', NULL, 'NULL field');
SELECT throws_ok($$SELECT procflow.add_trigger('p', 'update', fields => '{}')$$, '22023', NULL, 'empty fields');
SELECT throws_ok($$SELECT procflow.add_trigger('p', 'update', fields => '{ctid}')$$, '42703', NULL, 'system columns are not fields');
SELECT throws_ok($$SELECT procflow.add_trigger('p', 'update', fields => '{"name\"; DROP TABLE cust; --"}')$$, '42703', NULL, 'injection in a field name is an unknown field');
SELECT throws_ok($$SELECT procflow.add_trigger('p', 'create', queued => NULL)$$, '22004', NULL, 'NULL queued');
SELECT throws_ok($$SELECT procflow.add_trigger('p', 'create', delay => '-1 second')$$, '22023', 'delay must not be negative', 'negative delay');
SELECT throws_ok($$SELECT procflow.add_trigger('p', 'create', delay => '1 day -25 hours')$$, '22023', NULL, 'a delay that adds up to less than zero');
SELECT throws_ok($$SELECT procflow.add_trigger('p', 'create', priority => NULL)$$, '22004', NULL, 'NULL priority');
SELECT throws_ok($$SELECT procflow.add_trigger('free', 'create')$$, '22023', 'process "free" has no entity, so it has no create events', 'entity-less process');
SET ROLE pgtap_other;
SELECT throws_ok($$SELECT procflow.add_trigger('p', 'create')$$, '42704', 'process "p" does not exist', 'another role''s process');
RESET ROLE;
SELECT is((SELECT count(*) FROM procflow.process_triggers), (SELECT n FROM before), 'refusals wrote nothing');
-- A refused call's writes are rolled back with it (throws_ok's block is a
-- savepoint, as ROLLBACK TO would be); what could outlive the refusal is
-- the session's own state: the rule cache, which the next statement uses.
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'cust'::regclass AND tgname LIKE 'procflow_capture%'),
    3, 'the capture triggers are those of the triggers that exist');
INSERT INTO cust VALUES (100, 'x', false);
SELECT is((SELECT count(*)::int FROM procflow.jobs), 1,
    'an insert in the same session fires only the triggers that exist (one queued create)');

-- drop_trigger
SELECT throws_ok($$SELECT procflow.drop_trigger(NULL)$$, '22004', NULL, 'NULL id');
SELECT throws_ok($$SELECT procflow.drop_trigger(-1)$$, '42704', 'trigger -1 does not exist', 'unknown id');
SELECT lives_ok($$SELECT procflow.drop_trigger(id) FROM procflow.process_triggers WHERE event <> 'delete'$$, 'drop some');
SELECT lives_ok($$SELECT procflow.drop_trigger(id) FROM procflow.process_triggers$$, 'drop the last');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgname = 'procflow_capture'), 0, 'the row trigger went with the last one');

SELECT * FROM finish();
ROLLBACK;
