-- Processes as code: load_definitions and export_definitions, every refusal.
BEGIN;
SELECT plan(53);

CREATE TABLE shop_order (id int PRIMARY KEY, status text, total numeric);
CREATE TABLE shop_log (order_id int, what text);

CREATE TEMP TABLE doc AS SELECT $${
  "processes": {
    "order_created": {
      "label": "Order created", "entity": "shop_order", "execution_order": 2,
      "action": "INSERT INTO shop_log VALUES (($1).id, 'created')",
      "triggers": [{"event": "create", "queued": true, "priority": 3}]
    },
    "order_paid": {
      "entity": "public.shop_order",
      "action": "INSERT INTO shop_log VALUES (($1).id, 'paid')",
      "condition": "($1).status = 'paid'", "max_attempts": 3, "timeout": "30 seconds",
      "exclude": ["order_created"], "enabled": false,
      "triggers": [{"event": "update", "fields": ["status"]},
                   {"event": "update", "fields": ["status"], "delay": "1 day"}]
    },
    "nightly_report": {
      "action": "SELECT 1",
      "triggers": [{"cron": "0 2 * * *"}]
    }
  }
}$$::jsonb AS d;

SELECT lives_ok($$SELECT procflow.load_definitions((SELECT d FROM doc))$$, 'a document loads');
SELECT results_eq($$SELECT name, label, related_entity::text, execution_order, enabled, max_attempts, timeout
                      FROM procflow.processes ORDER BY name$$,
    $$VALUES ('nightly_report'::text, NULL::text, NULL::text, 0, true, 5, NULL::interval),
             ('order_created', 'Order created', 'shop_order', 2, true, 5, NULL),
             ('order_paid', NULL, 'shop_order', 0, false, 3, interval '30 seconds')$$,
    'the processes as written');
SELECT results_eq($$SELECT process, event, fields, queued, delay, priority, cron
                      FROM procflow.process_triggers ORDER BY process, id$$,
    $$VALUES ('nightly_report'::text, NULL::text, NULL::text[], true, NULL::interval, 0, '0 2 * * *'::text),
             ('order_created', 'create', NULL, true, NULL, 3, NULL),
             ('order_paid', 'update', '{status}', false, NULL, 0, NULL),
             ('order_paid', 'update', '{status}', true, interval '1 day', 0, NULL)$$,
    'the triggers as written');

-- export gives the same document back, and loading it changes nothing
CREATE TEMP TABLE state AS
    SELECT (SELECT jsonb_agg(p ORDER BY p.name) FROM procflow.processes p) AS processes,
           (SELECT jsonb_agg(t ORDER BY t.id) FROM procflow.process_triggers t) AS triggers;
SELECT lives_ok($$SELECT procflow.load_definitions(procflow.export_definitions())$$, 'load(export())');
SELECT is((SELECT jsonb_agg(p ORDER BY p.name) FROM procflow.processes p), (SELECT processes FROM state),
    'load(export()) changes no process, not even updated_at');
SELECT is((SELECT jsonb_agg(t ORDER BY t.id) FROM procflow.process_triggers t), (SELECT triggers FROM state),
    'load(export()) keeps every trigger and its id');
SELECT is(procflow.export_definitions()->'processes'->'order_paid',
    $${"owner": "postgres", "search_path": "\"$user\", public",
       "label": null, "entity": "public.shop_order", "action": "INSERT INTO shop_log VALUES (($1).id, 'paid')",
       "condition": "($1).status = 'paid'", "execution_order": 0, "enabled": false, "max_attempts": 3,
       "timeout": "00:00:30", "exclude": ["order_created"],
       "triggers": [{"event": "update", "fields": ["status"], "queued": false, "priority": 0},
                    {"event": "update", "fields": ["status"], "queued": true, "delay": "1 day", "priority": 0}]}$$::jsonb,
    'the exported form');
SELECT is(jsonb_object_keys(procflow.export_definitions('{nightly_report}')->'processes'), 'nightly_report',
    'export of named processes');
SELECT throws_ok($$SELECT procflow.export_definitions('{nosuch}')$$, '42704', 'process "nosuch" does not exist',
    'export of an unknown process');

-- loading again: changes in place, the admin's enabled flag stays, triggers are replaced
SELECT procflow.enable_process('order_paid');
SELECT lives_ok($$SELECT procflow.load_definitions($doc${"processes": {"order_paid": {
    "entity": "shop_order", "action": "INSERT INTO shop_log VALUES (($1).id, 'paid!')", "enabled": false,
    "triggers": [{"event": "update", "fields": ["status", "total"]}]}}}$doc$)$$, 'a changed definition loads');
SELECT results_eq($$SELECT enabled, action, condition, max_attempts FROM procflow.processes WHERE name = 'order_paid'$$,
    $$VALUES (true, 'INSERT INTO shop_log VALUES (($1).id, ''paid!'')', NULL::text, 5)$$,
    'changed in place; enabled kept as the admin left it');
SELECT results_eq($$SELECT event, fields FROM procflow.process_triggers WHERE process = 'order_paid'$$,
    $$VALUES ('update'::text, '{status,total}'::text[])$$, 'its triggers are the document''s');
SELECT is((SELECT count(*)::int FROM procflow.processes), 3, 'processes not in the document are left alone');
INSERT INTO shop_order VALUES (1, 'new', 10);
UPDATE shop_order SET status = 'paid' WHERE id = 1;
SELECT procflow.run_jobs();
SELECT results_eq($$SELECT what FROM shop_log ORDER BY what$$, $$VALUES ('created'), ('paid!')$$,
    'the loaded processes run');

-- refusals name the process and the key, and change nothing
CREATE TEMP TABLE snapshot AS SELECT procflow.export_definitions() AS d;
SELECT throws_ok($$SELECT procflow.load_definitions(NULL)$$, '22004', 'doc must not be null', 'NULL document');
SELECT throws_ok($$SELECT procflow.load_definitions('[]')$$, '22023', NULL, 'not an object');
SELECT throws_ok($$SELECT procflow.load_definitions('{}')$$, '22023', NULL, 'no processes key');
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": [], "x": 1}')$$, '22023', NULL, 'processes not an object');
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": {}, "x": 1}')$$, '22023',
    'unknown key "x" in the definition document', 'unknown top-level key');
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": {"a": 1}}')$$, '22023',
    'process "a": its definition must be an object', 'definition not an object');
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": {"a": {"action": "SELECT 1", "colour": "red"}}}')$$,
    '22023', 'process "a": unknown key "colour"', 'unknown key');
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": {"a": {"label": "x"}}}')$$,
    '22004', 'process "a": key "action" must not be null', 'missing action');
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": {"a": {"action": 1}}}')$$,
    '22023', 'process "a": key "action" must be a string', 'action not a string');
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": {"a": {"action": "SELECT 1", "execution_order": 1.5}}}')$$,
    '22023', 'process "a": key "execution_order" must be an integer', 'fractional order');
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": {"a": {"action": "SELECT 1", "execution_order": 99999999999}}}')$$,
    '22023', 'process "a": key "execution_order" must be an integer', 'huge order');
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": {"a": {"action": "SELECT 1", "execution_order": null}}}')$$,
    '22004', 'process "a": key "execution_order" must not be null', 'null order');
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": {"a": {"action": "SELECT 1", "enabled": "yes"}}}')$$,
    '22023', 'process "a": key "enabled" must be true or false', 'enabled not boolean');
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": {"a": {"action": "SELECT 1", "timeout": "soon"}}}')$$,
    '22023', 'process "a": key "timeout" must be an interval as a string, such as "5 minutes"', 'bad interval');
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": {"a": {"action": "SELECT 1", "exclude": "b"}}}')$$,
    '22023', 'process "a": key "exclude" must be an array of strings', 'exclude not an array');
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": {"a": {"action": "SELECT 1", "triggers": {}}}}')$$,
    '22023', 'process "a": key "triggers" must be an array of objects', 'triggers not an array');
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": {"a": {"action": "SELECT 1", "triggers": [{"when": "now"}]}}}')$$,
    '22023', 'process "a": unknown key "when" in a trigger', 'unknown trigger key');
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": {"a": {"action": "SELECT 1", "triggers": [{"cron": 5}]}}}')$$,
    '22023', 'process "a": key "triggers.cron" must be a string', 'cron not a string');
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": {"a": {"action": "SELECT 1", "triggers": [{"cron": "@often"}]}}}')$$,
    '22023', 'process "a": invalid cron schedule "@often"', 'bad cron, named process');
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": {"a": {"action": "SELECT 1", "entity": "no_such_table"}}}')$$,
    '42P01', NULL, 'unknown table');
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": {"a": {"action": "SELEC 1"}}}')$$,
    '42601', NULL, 'bad SQL in the action');
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": {"a": {"action": "SELECT 1", "entity": "shop_order", "triggers": [{"event": "update", "fields": ["nope"]}]}}}')$$,
    '42703', NULL, 'unknown field');
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": {"a": {"action": "SELECT 1", "entity": "shop_order", "triggers": [{"event": "update", "fields": []}]}}}')$$,
    '22023', 'process "a": key "triggers.fields" must not be an empty array', 'empty fields, as add_trigger refuses them');
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": {"a": {"action": "SELECT 1", "exclude": ["b"]}}}')$$,
    '42704', 'process "a": process "b" named in "exclude" does not exist', 'exclude naming no process');
SELECT lives_ok($$SELECT procflow.load_definitions('{"processes": {"x_a": {"action": "SELECT 1", "exclude": ["x_b"]},
    "x_b": {"action": "SELECT 2", "exclude": ["x_a", "x_b"]}}}')$$, 'processes of one document may exclude each other');
SELECT results_eq($$SELECT name, exclude FROM procflow.processes WHERE name LIKE 'x\__' ORDER BY name$$,
    $$VALUES ('x_a'::text, '{x_b}'::text[]), ('x_b', '{x_a,x_b}')$$, 'with their exclusions');
SELECT lives_ok($$SELECT procflow.drop_process('x_a'); SELECT procflow.drop_process('x_b')$$, 'cleanup');
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": {"a\"; DROP TABLE shop_log; --": {"action": "SELECT 1", "entity": "shop_order; DROP TABLE shop_log"}}}')$$,
    '42602', NULL, 'injection in names is a bad name, not SQL');
-- a later bad process refuses the earlier good ones too
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": {"a_good": {"action": "SELECT 1"}, "b_bad": {"action": "SELECT 1", "max_attempts": 0}}}')$$,
    '22023', 'process "b_bad": max_attempts must be between 1 and 1000', 'one bad process refuses the document');
SELECT is(procflow.export_definitions(), (SELECT d FROM snapshot), 'refused documents changed nothing');
SELECT is(to_regclass('shop_log')::text, 'shop_log', 'and ran nothing');
-- A refused call's writes are rolled back with it (throws_ok's block is a
-- savepoint, as ROLLBACK TO would be); what could outlive the refusal is
-- the session's own state: the rule cache, which the next statement uses.
INSERT INTO shop_order VALUES (900, 'new', 1);
SELECT is((SELECT array_agg(process ORDER BY process) FROM procflow.jobs WHERE key->>'id' = '900'), '{order_created}',
    'an insert in the same session fires only the definitions that were loaded');

-- names are per owner: another role's document makes a process of its own,
-- and cannot touch the other's, nor name it as its owner
CREATE ROLE pgtap_loader;
GRANT SELECT ON shop_order TO pgtap_loader;
CREATE TEMP TABLE others AS SELECT procflow.export_definitions() AS d;
SET ROLE pgtap_loader;
SELECT lives_ok($$SELECT procflow.load_definitions('{"processes": {"order_paid": {"action": "SELECT 1"}}}')$$,
    'a name another role uses is free for this one');
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": {"mine": {"action": "SELECT 1", "entity": "shop_order"}}}')$$,
    '42501', NULL, 'a table the role does not own');
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": {"mine": {"owner": "postgres", "action": "SELECT 1"}}}')$$,
    '42501', 'process "mine" belongs to role "postgres"', 'a process of another owner');
SELECT is(procflow.export_definitions(),
    '{"processes": {"order_paid": {"owner": "pgtap_loader", "search_path": "\"$user\", public", "label": null, "entity": null, "action": "SELECT 1", "condition": null, "execution_order": 0, "enabled": true, "max_attempts": 5, "timeout": null, "exclude": null, "triggers": []}}}',
    'the role exports its own definitions only, with their owner');
RESET ROLE;
SELECT is(procflow.export_definitions(), (SELECT d FROM others), 'the other role''s process of that name is untouched');
SELECT is((SELECT count(*)::int FROM procflow.processes WHERE name = 'order_paid'), 2, 'a superuser sees both');
SELECT procflow.disable_process('order_paid');
SELECT is((SELECT enabled FROM procflow.processes WHERE name = 'order_paid' AND owner_name = 'pgtap_loader'),
    true, 'and by name addresses its own');

SELECT * FROM finish();
ROLLBACK;
