-- Instances of flows: launch, steps, decisions, splits and joins, waits for
-- events and timeouts, vars, suspend and resume, terminate, failures,
-- retry_activity and skip_activity, triggers that launch, and the picture
-- of an instance.  No executor runs here: procflow.run_jobs() runs the due
-- steps, timers and events.  Tables of their own schema: 07 has an invoice
-- table too.
CREATE SCHEMA run;
SET search_path = run, public;
CREATE TABLE invoice (id int PRIMARY KEY, amount numeric, number text,
                      status text DEFAULT 'open');
CREATE TABLE payment (id int PRIMARY KEY, invoice_id int, paid numeric);
CREATE TABLE reminder (invoice_id int, note text);
CREATE TABLE effect (instance bigint, activity text, n int);
INSERT INTO invoice (id, amount) VALUES (1, 50), (2, 20000), (3, 70);

-- the invoice example: number it, decide by size, wait for payment with a
-- reminder on timeout
SELECT procflow.create_flow('invoice_flow', 'invoice', $${
  "start": "number",
  "activities": {
    "number":    {"kind": "automatic",
                  "action": "UPDATE invoice SET number = 'INV-' || ($1).id WHERE id = ($1).id; SELECT jsonb_build_object('numbered', ($1).id)",
                  "next": "size"},
    "size":      {"kind": "decision", "cases": [{"when": "($1).amount > 10000", "next": "approve"}],
                  "else": "wait_paid"},
    "approve":   {"kind": "automatic", "action": "INSERT INTO effect VALUES (($3->>'instance')::bigint, 'approve', 1)",
                  "next": "wait_paid"},
    "wait_paid": {"kind": "wait", "on": {"event": "update", "fields": ["status"], "condition": "($1).status = 'paid'"},
                  "timeout": "1 hour", "next": {"event": "paid", "timeout": "remind"}},
    "remind":    {"kind": "automatic", "action": "INSERT INTO reminder VALUES (($1).id, 'remind')", "next": "wait_paid"},
    "paid":      {"kind": "end"}
  }}$$);

SELECT procflow.launch('invoice_flow', '1') AS first, procflow.launch('invoice_flow', '{"id": 2}') AS second;
-- the first step of each is a job of the queue
SELECT process, event, state FROM procflow.jobs ORDER BY id;
SELECT procflow.run_jobs();
SELECT id, number FROM invoice ORDER BY id;
SELECT id, key, status, vars FROM procflow.instances ORDER BY id;
SELECT instance, name, kind, status, outcome, attempts, run_at IS NOT NULL AS has_run_at
  FROM procflow.activities ORDER BY instance, id;
-- the waits' timers are pending jobs
SELECT process, event, state FROM procflow.jobs ORDER BY id;

-- an update that does not match the condition leaves the wait waiting; one
-- that does closes it (its timer goes), and the instance completes
UPDATE invoice SET status = 'late' WHERE id = 1;
SELECT procflow.run_jobs();
SELECT name, status, outcome FROM procflow.activities WHERE instance = 1 ORDER BY id;
UPDATE invoice SET status = 'paid' WHERE id = 1;
SELECT procflow.run_jobs();
SELECT name, status, outcome FROM procflow.activities WHERE instance = 1 ORDER BY id;
SELECT status, finished_at IS NOT NULL AS finished FROM procflow.instances WHERE id = 1;
SELECT process, event, status, error FROM procflow.job_history
 WHERE event IN ('update', 'timer') ORDER BY id;

-- a change of another field is no event for a wait on "status"
UPDATE invoice SET amount = 1 WHERE id = 2;
SELECT procflow.run_jobs();
SELECT name, status FROM procflow.activities WHERE instance = 2 AND name = 'wait_paid';

-- a wait whose condition already holds for its row when it begins closes at once
UPDATE invoice SET status = 'paid' WHERE id = 3;
SELECT procflow.launch('invoice_flow', '3') AS third;
SELECT procflow.run_jobs();
SELECT name, status, outcome FROM procflow.activities WHERE instance = 3 ORDER BY id;
SELECT status FROM procflow.instances WHERE id = 3;

-- the picture of an instance marks where it went and where it is
SELECT procflow.flow_graph('invoice_flow', instance => 2);
SELECT procflow.flow_graph('invoice_flow', 'mermaid', instance => 1);

-- suspend: the delivered event is kept, the instance's steps are held
SELECT procflow.suspend(2);
UPDATE invoice SET status = 'paid' WHERE id = 2;
SELECT procflow.run_jobs();
SELECT status FROM procflow.instances WHERE id = 2;
SELECT name, status FROM procflow.activities WHERE instance = 2 AND name = 'wait_paid';
SELECT process, event, state FROM procflow.jobs ORDER BY id;
SELECT procflow.resume(2);
SELECT procflow.run_jobs();
SELECT name, status, outcome FROM procflow.activities WHERE instance = 2 ORDER BY id;
SELECT status FROM procflow.instances WHERE id = 2;
SELECT count(*) AS pending FROM procflow.jobs;

-- states the functions refuse
SELECT procflow.suspend(2);
SELECT procflow.resume(1);
SELECT procflow.terminate(1);

-- a wait for another table, matched by key; a timeout as an expression
SELECT procflow.create_flow('collect', 'invoice', $${
  "start": "wait_payment",
  "activities": {
    "wait_payment": {"kind": "wait", "on": {"event": "create", "entity": "payment", "key": "($1).invoice_id",
                                            "condition": "($1).paid >= (SELECT amount FROM invoice WHERE id = ($1).invoice_id)"},
                     "timeout": {"sql": "now() + interval '1 day'"},
                     "next": {"event": "done", "timeout": "done"}},
    "done": {"kind": "end"}
  }}$$);
SELECT procflow.launch('collect', '2') AS collect;
INSERT INTO payment VALUES (1, 2, 0.5);          -- not enough
INSERT INTO payment VALUES (2, 1, 100);          -- another invoice
SELECT procflow.run_jobs();
SELECT name, status, outcome FROM procflow.activities WHERE flow = 'collect' ORDER BY id;
INSERT INTO payment VALUES (3, 2, 1);
SELECT procflow.run_jobs();
SELECT name, status, outcome FROM procflow.activities WHERE flow = 'collect' ORDER BY id;
SELECT status FROM procflow.instances WHERE flow = 'collect';

-- splits and joins; an end that terminates; vars merged and read back
SELECT procflow.create_flow('fan', NULL, $${
  "start": "split",
  "activities": {
    "split": {"kind": "automatic", "action": "SELECT jsonb_build_object('started', true)", "next": ["a", "b", "c"]},
    "a": {"kind": "automatic", "action": "INSERT INTO effect VALUES (($3->>'instance')::bigint, 'a', ($3->'vars'->>'n')::int); SELECT '{\"a\": 1}'::jsonb", "next": "j"},
    "b": {"kind": "automatic", "action": "SELECT '{\"b\": 2}'::jsonb", "next": "j"},
    "c": {"kind": "wait", "timeout": "1 day", "next": "stop"},
    "j": {"kind": "join", "next": "after"},
    "after": {"kind": "decision", "cases": [{"when": "($3->'vars'->>'a')::int + ($3->'vars'->>'b')::int = 3", "next": "stop"}],
              "else": "fine"},
    "fine": {"kind": "end"},
    "stop": {"kind": "end", "terminate": true}
  }}$$);
SELECT procflow.launch('fan', vars => '{"n": 7}') AS fan;
SELECT procflow.run_jobs();
SELECT name, kind, status, outcome FROM procflow.activities WHERE flow = 'fan' ORDER BY id;
SELECT status, vars FROM procflow.instances WHERE flow = 'fan';
SELECT activity, n FROM effect WHERE activity = 'a';
SELECT count(*) AS pending FROM procflow.jobs WHERE process = 'fan';

-- a failing action is retried, then failed with its error; the instance
-- stays active; retry_activity runs it again, skip_activity goes on
CREATE TABLE switch (on_ boolean);
INSERT INTO switch VALUES (false);
SELECT procflow.create_flow('fragile', NULL, $${
  "start": "try",
  "activities": {
    "try": {"kind": "automatic", "action": "SELECT 1 / (SELECT CASE WHEN on_ THEN 1 ELSE 0 END FROM switch)", "next": "end"},
    "end": {"kind": "end"}
  }}$$, max_attempts => 2);
SELECT procflow.launch('fragile') AS fragile;
SELECT procflow.run_jobs();
SELECT procflow.run_jobs();
SELECT name, status, attempts, error FROM procflow.activities WHERE flow = 'fragile';
SELECT status FROM procflow.instances WHERE flow = 'fragile';
SELECT procflow.retry_activity(id) FROM procflow.activities WHERE flow = 'fragile';
UPDATE switch SET on_ = true;
SELECT procflow.run_jobs();
SELECT name, status, attempts, error FROM procflow.activities WHERE flow = 'fragile' ORDER BY id;
SELECT status FROM procflow.instances WHERE flow = 'fragile';
UPDATE switch SET on_ = false;
SELECT procflow.launch('fragile') AS fragile_again;
SELECT procflow.run_jobs();
SELECT procflow.run_jobs();
SELECT procflow.skip_activity(a.id) FROM procflow.activities a
  JOIN procflow.instances i ON i.id = a.instance
 WHERE i.flow = 'fragile' AND a.status = 'failed';
SELECT a.name, a.status, a.closed_by IS NOT NULL AS closed_by_someone
  FROM procflow.activities a JOIN procflow.instances i ON i.id = a.instance
 WHERE i.flow = 'fragile' AND i.status = 'completed' AND a.name = 'try' AND a.status = 'skipped';

-- a wait whose timeout leads to SQL that fails is failed with the error;
-- retry_activity fires its timeout again
CREATE TABLE divisor (n int);
INSERT INTO divisor VALUES (0);
SELECT procflow.create_flow('late', NULL, $${
  "start": "w",
  "activities": {
    "w": {"kind": "wait", "timeout": {"sql": "now()"}, "next": "d"},
    "d": {"kind": "decision", "cases": [{"when": "(SELECT 1 / n FROM divisor) = 1", "next": "e"}], "else": "e"},
    "e": {"kind": "end"}
  }}$$, max_attempts => 1);
SELECT procflow.launch('late') AS late;
SELECT procflow.run_jobs();
SELECT name, status, error FROM procflow.activities WHERE flow = 'late' ORDER BY id;
UPDATE divisor SET n = 1;
SELECT procflow.retry_activity(id) FROM procflow.activities WHERE flow = 'late';
SELECT procflow.run_jobs();
SELECT name, status, outcome FROM procflow.activities WHERE flow = 'late' ORDER BY id;
SELECT status FROM procflow.instances WHERE flow = 'late';

-- triggers launch instances: queued ones through the queue, immediate ones at once
CREATE TABLE ticket (id int PRIMARY KEY, state text);
SELECT procflow.create_flow('ticket_flow', 'ticket', $${
  "start": "log",
  "activities": {
    "log": {"kind": "automatic", "action": "INSERT INTO effect VALUES (($3->>'instance')::bigint, 'log ' || ($1).id, 0)", "next": "e"},
    "e": {"kind": "end"}
  }}$$, condition => '($1).state <> ''spam''');
SELECT procflow.add_trigger('ticket_flow', 'create', queued => true) > 0 AS queued_trigger;
INSERT INTO ticket VALUES (1, 'new'), (2, 'spam');
SELECT count(*) AS instances_before_run FROM procflow.instances WHERE flow = 'ticket_flow';
SELECT procflow.run_jobs();
SELECT key, status FROM procflow.instances WHERE flow = 'ticket_flow' ORDER BY id;
SELECT procflow.add_trigger('ticket_flow', 'update') > 0 AS immediate_trigger;
UPDATE ticket SET state = 'open' WHERE id = 1;
SELECT key, status FROM procflow.instances WHERE flow = 'ticket_flow' ORDER BY id;

-- disabling a flow holds its instances' steps; cancel_pending terminates them
SELECT procflow.disable_process('ticket_flow');
SELECT procflow.run_jobs();
SELECT status, count(*) FROM procflow.instances WHERE flow = 'ticket_flow' GROUP BY 1 ORDER BY 1;
SELECT procflow.launch('ticket_flow', '1');
SELECT procflow.drop_process('ticket_flow');
SELECT procflow.disable_process('ticket_flow', cancel_pending => true);
SELECT status, count(*) FROM procflow.instances WHERE flow = 'ticket_flow' GROUP BY 1 ORDER BY 1;
SELECT count(*) AS live_activities FROM procflow.activities
 WHERE flow = 'ticket_flow' AND closed_at IS NULL;
SELECT procflow.drop_process('ticket_flow');
SELECT count(*) AS instances_left FROM procflow.instances WHERE flow = 'ticket_flow';

-- a cron trigger launches an instance without row
SELECT procflow.create_flow('nightly', NULL, $${"start": "a", "activities": {
  "a": {"kind": "automatic", "action": "INSERT INTO effect VALUES (($3->>'instance')::bigint, 'nightly', 0)", "next": "e"},
  "e": {"kind": "end"}}}$$);
SELECT procflow.add_trigger('nightly', cron => '0 3 * * *') > 0 AS cron_trigger;
UPDATE procflow.trigger SET next_run_at = now() - interval '1 second'
 WHERE process_id = (SELECT id FROM procflow.process WHERE name = 'nightly');
SELECT procflow.run_jobs() > 0 AS ran;
SELECT key, status FROM procflow.instances WHERE flow = 'nightly';
SELECT count(*) AS effects FROM effect WHERE activity = 'nightly';

-- a join whose branches both arrive in the step that began it goes on,
-- and the instance completes
SELECT procflow.create_flow('both', NULL, $${"start": "a", "activities": {
  "a": {"kind": "automatic", "action": "SELECT 1", "next": ["d1", "d2"]},
  "d1": {"kind": "decision", "cases": [{"when": "true", "next": "j"}], "else": "stop"},
  "d2": {"kind": "decision", "cases": [{"when": "true", "next": "j"}], "else": "stop"},
  "j": {"kind": "join", "next": "e"},
  "stop": {"kind": "end", "terminate": true},
  "e": {"kind": "end"}}}$$);
SELECT procflow.launch('both') > 0 AS launched;
SELECT procflow.run_jobs();
SELECT status FROM procflow.instances WHERE flow = 'both';

-- an event of the transaction that began a wait, at a later command, closes it
BEGIN;
SELECT procflow.launch('collect', '1') > 0 AS launched;
INSERT INTO payment VALUES (4, 1, 1000);
COMMIT;
SELECT procflow.run_jobs();
SELECT i.key, a.name, a.status, a.outcome FROM procflow.activities a
  JOIN procflow.instances i ON i.id = a.instance
 WHERE a.flow = 'collect' AND i.key = '{"id": 1}' ORDER BY a.id;

-- a bulk statement's events are written as one batch, and reach every wait
CREATE TABLE parcel (id int PRIMARY KEY, state text DEFAULT 'packed');
INSERT INTO parcel SELECT g FROM generate_series(1, 50) g;
SELECT procflow.create_flow('ship', 'parcel', $${"start": "w", "activities": {
  "w": {"kind": "wait", "on": {"event": "update", "condition": "($1).state = 'sent'"}, "next": "e"},
  "e": {"kind": "end"}}}$$);
SELECT count(procflow.launch('ship', to_jsonb(id))) AS launched FROM parcel;
UPDATE parcel SET state = 'sent';
SELECT b.items FROM procflow.job_batch b JOIN procflow.process p ON p.id = b.process_id
 WHERE p.name = 'ship';
SELECT procflow.run_jobs() > 0 AS ran;
SELECT status, count(*) FROM procflow.instances WHERE flow = 'ship' GROUP BY 1;
SELECT count(*) AS pending FROM procflow.jobs WHERE process = 'ship';

-- a table that a wait of a flow waits for cannot be dropped
DROP TABLE payment;

-- an event kept for a suspended instance keeps its place, once, when the
-- instance is suspended again before the event ran
SELECT procflow.launch('collect', '3') AS kept_id \gset
SELECT procflow.suspend(:kept_id);
INSERT INTO payment VALUES (10, 3, 1000);
SELECT procflow.run_jobs();
SELECT procflow.resume(:kept_id);
SELECT procflow.suspend(:kept_id);
SELECT procflow.run_jobs();
SELECT event, state FROM procflow.jobs WHERE process = 'collect' ORDER BY id;
SELECT procflow.resume(:kept_id);
SELECT procflow.run_jobs();
SELECT name, status, outcome FROM procflow.activities WHERE instance = :kept_id ORDER BY id;

-- how processes ran: procflow.process_stats
SELECT process, kind, period, runs, failures, mean_ms >= 0 AS has_mean, p95_lag_ms >= 0 AS has_lag
  FROM procflow.process_stats WHERE process IN ('fragile', 'invoice_flow') ORDER BY process, period;

-- the SQL of a flow run in a writer's session resolves names in pg_temp
-- last: a writer's temporary table never shadows the owner's
CREATE TABLE sec_order (id int PRIMARY KEY, amount numeric);
CREATE TABLE sec_limit (val numeric);
INSERT INTO sec_limit VALUES (100);
CREATE ROLE pf_writer;
GRANT SELECT, INSERT ON sec_order TO pf_writer;
DO $$BEGIN EXECUTE format('GRANT USAGE ON SCHEMA %I TO pf_writer', current_schema()); END$$;
SELECT procflow.create_flow('sec_route', 'sec_order', $${"start": "d", "activities": {
  "d": {"kind": "decision", "cases": [{"when": "($1).amount > (SELECT max(val) FROM sec_limit)", "next": "big"}],
        "else": "small"},
  "big": {"kind": "end"}, "small": {"kind": "end"}}}$$);
SELECT procflow.add_trigger('sec_route', 'create') > 0 AS create_trigger;
SET ROLE pf_writer;
CREATE TEMP TABLE sec_limit (val numeric);
INSERT INTO sec_limit VALUES (0);
INSERT INTO sec_order VALUES (1, 5);
DROP TABLE sec_limit;
RESET ROLE;
SELECT a.name, a.status FROM procflow.activities a
  JOIN procflow.instances i ON i.id = a.instance
 WHERE i.flow = 'sec_route' ORDER BY a.id;
SELECT procflow.drop_process('sec_route');
DROP TABLE sec_order, sec_limit;
DROP OWNED BY pf_writer;
DROP ROLE pf_writer;

-- a step cannot act on its own instance (55006): it fails with the error,
-- and the instance stays as it was
SELECT procflow.create_flow('self_act', NULL, $${"start": "a", "activities": {
  "a": {"kind": "automatic", "action": "SELECT CASE $3->'vars'->>'how' WHEN 'terminate' THEN procflow.terminate(($3->>'instance')::bigint) WHEN 'suspend' THEN procflow.suspend(($3->>'instance')::bigint) ELSE procflow.skip_activity(($3->>'activity')::bigint) END", "next": "b"},
  "b": {"kind": "automatic", "action": "SELECT 1", "next": "e"},
  "e": {"kind": "end"}}}$$, max_attempts => 1);
SELECT procflow.launch('self_act', vars => jsonb_build_object('how', how)) > 0 AS launched
  FROM unnest(ARRAY['terminate', 'suspend', 'skip']) how;
SELECT procflow.run_jobs();
SELECT i.vars->>'how' AS how, i.status, a.name, a.status, regexp_replace(a.error, '[0-9]+', 'N') AS error
  FROM procflow.instances i JOIN procflow.activities a ON a.instance = i.id
 WHERE i.flow = 'self_act' ORDER BY i.id, a.id;
SELECT procflow.disable_process('self_act', cancel_pending => true);
SELECT procflow.drop_process('self_act');
