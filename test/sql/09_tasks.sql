-- Tasks, subflows and conditional starts end to end: the expense approval
-- example (a task for the finance group, approve or reject, escalation to
-- managers on timeout), the taskbox, a start_delay, a subflow whose child
-- ends, a conditional start per event, and their pictures.  No executor
-- runs here: procflow.run_jobs() runs the due steps and timers.
CREATE SCHEMA tasks;
SET search_path = tasks, public;
CREATE TABLE expense (id int PRIMARY KEY, who text, amount numeric, status text DEFAULT 'new');
CREATE TABLE payment (id serial PRIMARY KEY, expense_id int, amount numeric);
INSERT INTO expense VALUES (1, 'ann', 120), (2, 'bob', 9000), (3, 'cy', 40);

SELECT procflow.create_flow('expense_approval', 'expense', $${
  "start": "review",
  "activities": {
    "review":   {"kind": "human", "group": "finance",
                 "instructions": {"sql": "'Approve ' || ($1).amount || ' for ' || ($1).who"},
                 "due": {"sql": "'2030-01-01'::timestamptz + (($1).id || ' days')::interval"},
                 "timeout": {"sql": "CASE WHEN ($1).amount > 1000 THEN now() ELSE now() + interval '3 days' END"},
                 "next": {"approve": "pay", "reject": "rejected", "timeout": "escalate"}},
    "escalate": {"kind": "human", "group": "managers", "instructions": "Finance did not answer in time",
                 "allow_skip": true, "next": {"approve": "pay", "reject": "rejected", "skipped": "rejected"}},
    "pay":      {"kind": "automatic", "action": "UPDATE expense SET status = 'paid' WHERE id = ($1).id",
                 "next": "done"},
    "rejected": {"kind": "end", "terminate": true},
    "done":     {"kind": "end"}
  }}$$, label => 'Expense approval');
SELECT procflow.add_trigger('expense_approval', 'create', queued => true) > 0 AS launched_on_create;
INSERT INTO expense VALUES (4, 'dee', 75);
SELECT procflow.launch('expense_approval', '1') > 0 AS ann, procflow.launch('expense_approval', '2') > 0 AS bob,
       procflow.launch('expense_approval', '3') > 0 AS cy;
SELECT procflow.run_jobs();     -- launches 4; the big expense's review times out at once
SELECT key, name, status, assignee, "group", instructions, due_at::date FROM procflow.tasks ORDER BY activity;
SELECT key, name, "group" FROM procflow.taskbox('frank', '{finance}');
SELECT key, name, "group" FROM procflow.taskbox('mia', '{managers}');

-- frank claims ann's, completes it; cy's is rejected; dee's is assigned to
-- gus, who finds it in his taskbox
SELECT procflow.claim_task(activity, 'frank') FROM procflow.tasks WHERE key = '{"id": 1}';
SELECT key, status, assignee FROM procflow.taskbox('frank', '{}');
SELECT procflow.complete_task(activity, 'approve', '{"approved_by": "frank"}') FROM procflow.tasks WHERE key = '{"id": 1}';
SELECT procflow.complete_task(activity, 'reject') FROM procflow.tasks WHERE key = '{"id": 3}';
SELECT procflow.assign_task(activity, 'gus') FROM procflow.tasks WHERE key = '{"id": 4}';
SELECT key, status, assignee FROM procflow.taskbox('gus', '{}');
-- the manager skips bob's escalation: it is rejected
SELECT procflow.skip_activity(activity) FROM procflow.taskbox('mia', '{managers}');
SELECT procflow.run_jobs();
SELECT id, status FROM expense ORDER BY id;
SELECT key, status, vars FROM procflow.instances WHERE flow = 'expense_approval' ORDER BY id;
SELECT i.key, a.name, a.status, a.outcome, a.closed_by
  FROM procflow.activities a JOIN procflow.instances i ON i.id = a.instance
 WHERE a.flow = 'expense_approval' ORDER BY a.id;
SELECT procflow.flow_graph('expense_approval');
SELECT procflow.flow_graph('expense_approval', 'mermaid',
                           instance => (SELECT id FROM procflow.instances
                                         WHERE flow = 'expense_approval' AND key = '{"id": 4}'));

-- a task with a start_delay is scheduled until then
SELECT procflow.create_flow('later', 'expense', $${"start": "t", "activities": {
  "t": {"kind": "human", "assignee": "ann", "start_delay": {"sql": "now() + interval '1 hour'"}, "next": "e"},
  "e": {"kind": "end"}}}$$);
SELECT procflow.launch('later', '1') > 0 AS launched;
SELECT name, status, assignee, run_at > now() AS later FROM procflow.activities WHERE flow = 'later';
SELECT count(*) AS in_taskbox FROM procflow.taskbox('ann', '{}');
UPDATE procflow.activity SET run_at = now() WHERE name = 't';
UPDATE procflow.job SET run_at = now()
 WHERE activity_id = (SELECT id FROM procflow.activity WHERE name = 't');
SELECT procflow.run_jobs();
SELECT name, status FROM procflow.taskbox('ann', '{}');

-- a subflow: the child's end closes the parent's activity, its vars kept
-- under the activity's name; a conditional start begins a branch for each
-- payment while the instance is active
SELECT procflow.create_flow('pay_out', 'expense', $${"start": "send", "activities": {
  "send": {"kind": "automatic", "action": "SELECT jsonb_build_object('sent', ($1).amount)", "next": "e"},
  "e": {"kind": "end"}}}$$);
SELECT procflow.create_flow('settle', 'expense', $${"start": "sub", "activities": {
  "sub": {"kind": "subflow", "flow": "pay_out", "vars": "jsonb_build_object('by', 'settle')",
          "next": {"completed": "wait", "terminated": "wait"}},
  "wait": {"kind": "wait", "on": {"event": "update", "condition": "($1).status = 'closed'"}, "next": "e"},
  "paid": {"kind": "conditional_start", "on": {"event": "create", "entity": "payment", "key": "($1).expense_id"},
           "next": "note"},
  "note": {"kind": "automatic", "action": "SELECT jsonb_build_object('last_payment', ($3->'event'->'key'))", "next": "e2"},
  "e2": {"kind": "end"},
  "e": {"kind": "end"}}}$$);
SELECT procflow.launch('settle', '2') > 0 AS launched;
SELECT procflow.run_jobs();
SELECT flow, status, parent IS NOT NULL AS is_child, vars FROM procflow.instances
 WHERE flow IN ('settle', 'pay_out') ORDER BY id;
INSERT INTO payment (expense_id, amount) VALUES (2, 10), (2, 20), (1, 5);
SELECT procflow.run_jobs();
SELECT name, kind, status, outcome FROM procflow.activities WHERE flow = 'settle' ORDER BY id;
UPDATE expense SET status = 'closed' WHERE id = 2;
SELECT procflow.run_jobs();
SELECT status FROM procflow.instances WHERE flow = 'settle';
SELECT procflow.flow_graph('settle');
