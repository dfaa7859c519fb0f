-- procflow demo: the example procflow started from.  A new customer gets an
-- account at once (an immediate process, inside the inserting transaction)
-- and a welcome record a moment later (a delayed process, run by an
-- executor in the background).
\pset footer off
CREATE EXTENSION procflow;

CREATE TABLE customer (id bigserial PRIMARY KEY, name text NOT NULL, email text);
CREATE TABLE account (id bigserial PRIMARY KEY, customer_id bigint REFERENCES customer, name text);
CREATE TABLE welcome (id bigserial PRIMARY KEY, customer_id bigint REFERENCES customer,
                      message text, created_at timestamptz DEFAULT clock_timestamp());

\o /dev/null
SELECT procflow.create_process('create_account', 'customer',
    $$INSERT INTO account (customer_id, name) VALUES (($1).id, ($1).name)$$,
    label => 'Create an account for a new customer');
SELECT procflow.add_trigger('create_account', 'create');

SELECT procflow.create_process('welcome_customer', 'customer',
    $$INSERT INTO welcome (customer_id, message) VALUES (($1).id, 'Welcome, ' || ($1).name || '!')$$,
    execution_order => 10, label => 'Welcome a new customer');
SELECT procflow.add_trigger('welcome_customer', 'create', delay => '2 seconds');
\o

\echo
\echo '== System > Processes (procflow.processes)'
SELECT name, label, related_entity, execution_order, enabled, created_at::timestamp(0) AS created_at
  FROM procflow.processes ORDER BY execution_order;
\echo '== Process triggers (procflow.process_triggers)'
SELECT id, process, event, queued, delay, priority FROM procflow.process_triggers ORDER BY id;

\echo '== INSERT INTO customer (name) VALUES (''Ann''), (''Bob'')'
INSERT INTO customer (name, email) VALUES ('Ann', 'ann@example.com'), ('Bob', 'bob@example.com');
\echo '== accounts, created in the same transaction'
SELECT id, customer_id, name FROM account ORDER BY id;
\echo '== queued jobs (procflow.jobs)'
SELECT id, process, event, key, run_at::timestamp(3) AS run_at, state FROM procflow.jobs ORDER BY id;

-- wait for the executor (a poll with a deadline)
DO $$
BEGIN
    FOR i IN 1..300 LOOP
        EXIT WHEN (SELECT count(*) FROM procflow.job_history) >= 2;
        PERFORM pg_sleep(0.05);
    END LOOP;
END
$$;

\echo '== welcome records, written by an executor about two seconds later'
SELECT customer_id, message FROM welcome ORDER BY id;
\echo '== job history (procflow.job_history)'
SELECT id, process, event, key, status, attempts,
       round(extract(epoch FROM started_at - created_at)::numeric, 3) AS seconds_after_insert
  FROM procflow.job_history ORDER BY id;

\echo
\echo '== a flow over a customer''s life cycle: greet, wait to be active (remind after 7 days)'
ALTER TABLE customer ADD COLUMN status text DEFAULT 'new';
SELECT procflow.create_flow('onboarding', 'customer', $${
  "start": "greet",
  "activities": {
    "greet":  {"kind": "automatic", "next": "active",
               "action": "INSERT INTO welcome (customer_id, message) VALUES (($1).id, 'Hello ' || ($1).name)"},
    "active": {"kind": "wait", "on": {"event": "update", "fields": ["status"], "condition": "($1).status = 'active'"},
               "timeout": "7 days", "next": {"event": "done", "timeout": "remind"}},
    "remind": {"kind": "automatic", "next": "active",
               "action": "INSERT INTO welcome (customer_id, message) VALUES (($1).id, 'Still there?')"},
    "done":   {"kind": "end"}
  }}$$, label => 'Onboarding') AS version;
SELECT name, label, kind, version FROM procflow.processes WHERE kind = 'flow';
\echo '== its picture (procflow.flow_graph, Graphviz DOT: pipe it to dot -Tsvg)'
\pset format unaligned
\pset tuples_only on
SELECT procflow.flow_graph('onboarding');
\pset format aligned
\pset tuples_only off

\echo '== launch it for Ann and Bob (procflow.launch)'
SELECT procflow.launch('onboarding', '1') AS ann, procflow.launch('onboarding', '2') AS bob;
DO $$
BEGIN
    FOR i IN 1..300 LOOP
        EXIT WHEN (SELECT count(*) FROM procflow.activities WHERE name = 'active') >= 2;
        PERFORM pg_sleep(0.05);
    END LOOP;
END
$$;
\echo '== UPDATE customer SET status = ''active'' WHERE name = ''Ann'': the event closes her wait'
UPDATE customer SET status = 'active' WHERE name = 'Ann';
DO $$
BEGIN
    FOR i IN 1..300 LOOP
        EXIT WHEN (SELECT status FROM procflow.instances WHERE id = 1) = 'completed';
        PERFORM pg_sleep(0.05);
    END LOOP;
END
$$;
\echo '== instances (procflow.instances)'
SELECT id, flow, key, status, started_at::timestamp(0) AS started_at FROM procflow.instances ORDER BY id;
\echo '== their activities (procflow.activities)'
SELECT instance, name, kind, status, outcome, run_at::timestamp(0) AS run_at
  FROM procflow.activities ORDER BY instance, id;
\echo '== Bob''s instance, where it went and where it waits (Mermaid)'
\pset format unaligned
\pset tuples_only on
SELECT procflow.flow_graph('onboarding', 'mermaid', instance => 2);
\pset format aligned
\pset tuples_only off

\echo '== a task in a taskbox: call each new customer (a human activity for the support group)'
SELECT procflow.create_flow('welcome_call', 'customer', $${
  "start": "call",
  "activities": {
    "call": {"kind": "human", "group": "support", "instructions": {"sql": "'Call ' || ($1).name"},
             "due": "1 day", "next": {"reached": "done", "no_answer": "done"},
             "form": {"fields": {
               "note": {"type": "text", "label": "What the customer said"},
               "call_back": {"type": "date", "label": "Call back on"},
               "plan": {"type": "choice", "label": "Plan", "options": ["basic", "pro"], "default": "basic"}}}},
    "done": {"kind": "end"}
  }}$$, label => 'Welcome call') AS version;
SELECT procflow.launch('welcome_call', '1') AS ann_call;
\echo '== the taskbox of zoe, in the support group (procflow.taskbox)'
SELECT activity, name, instructions, status, assignee FROM procflow.taskbox('zoe', '{support}');
\echo '== zoe claims it (procflow.claim_task), and completes it with an outcome (procflow.complete_task)'
SELECT procflow.claim_task(activity, 'zoe') FROM procflow.taskbox('zoe', '{support}');
SELECT activity, name, status, assignee FROM procflow.taskbox('zoe', '{}');
SELECT procflow.complete_task(activity, 'reached', '{"note": "happy customer"}') FROM procflow.taskbox('zoe', '{}');
SELECT i.id, i.status, i.vars, a.name, a.outcome, a.closed_by
  FROM procflow.instances i JOIN procflow.activities a ON a.instance = i.id
 WHERE i.flow = 'welcome_call' ORDER BY a.id;
