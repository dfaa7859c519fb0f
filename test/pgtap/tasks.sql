-- Tasks, subflows and conditional starts: every definition error of the new
-- kinds with its SQLSTATE and nothing written; taskbox and the task
-- functions with their states and bad inputs; the roles that may act on a
-- task (the flow's owner, a member of it) and those that may not.  Steps
-- run with procflow.run_jobs() in this transaction.
BEGIN;
SELECT plan(72);

CREATE ROLE pgtap_task_owner;
CREATE ROLE pgtap_task_member;
CREATE ROLE pgtap_task_stranger;
GRANT pgtap_task_owner TO pgtap_task_member;
GRANT CREATE ON SCHEMA public TO pgtap_task_owner, pgtap_task_stranger;

SET ROLE pgtap_task_stranger;
CREATE TABLE stranger_t (id int PRIMARY KEY);
SELECT procflow.create_flow('strangers', 'stranger_t', '{"start": "e", "activities": {"e": {"kind": "end"}}}');
RESET ROLE;

SET ROLE pgtap_task_owner;
CREATE TABLE expense (id int PRIMARY KEY, who text, amount numeric);
CREATE TABLE other (id int PRIMARY KEY, expense_id int);
INSERT INTO expense VALUES (1, 'ann', 100), (2, 'bob', 200), (3, 'cy', 300);

-- a task definition that is right; the refusals change one thing in it
CREATE TEMP TABLE good (doc jsonb);
INSERT INTO good VALUES ($${
  "start": "review",
  "activities": {
    "review": {"kind": "human", "group": "finance", "instructions": {"sql": "'Check ' || ($1).who"},
               "due": "1 day", "timeout": "3 days", "allow_skip": true,
               "next": {"approve": "done", "reject": "done", "timeout": "done", "skipped": "done"}},
    "done": {"kind": "end"}
  }}$$);
CREATE FUNCTION bad(path text[], value jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT CASE WHEN value IS NULL THEN (SELECT doc FROM good) #- path
                ELSE jsonb_set((SELECT doc FROM good), path, value) END $$;

-- definition errors of human activities
SELECT throws_ok($$SELECT procflow.create_flow('x', 'expense', bad('{activities,review,who}', '"me"'))$$, '22023',
    'unknown key "who"', 'a task: unknown key');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'expense', bad('{activities,review,group}', '""'))$$, '22023', NULL,
    'a task: an empty group');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'expense', bad('{activities,review,assignee}', '7'))$$, '22023', NULL,
    'a task: an assignee that is no string');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'expense', bad('{activities,review,instructions}', '{"sql": "($1).nosuch"}'))$$,
    '42703', NULL, 'a task: instructions whose SQL does not plan');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'expense', bad('{activities,review,timeout}', '"soon"'))$$, '22007', NULL,
    'a task: a timeout that is no interval');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'expense', bad('{activities,review,timeout}', '{"sql": "42"}'))$$, '42804', NULL,
    'a task: a timeout expression that is no timestamptz');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'expense', bad('{activities,review,start_delay}', '"-1 hour"'))$$, '22023', NULL,
    'a task: a start_delay that is not positive');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'expense', bad('{activities,review,due}', '[1]'))$$, '22023', NULL,
    'a task: a due date that is neither');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'expense', bad('{activities,review,allow_skip}', '"yes"'))$$, '22023', NULL,
    'a task: allow_skip that is no boolean');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'expense', bad('{activities,review,timeout}', NULL))$$, '22023',
    'activity "review" cannot have the outcome "timeout"', 'a task without timeout has no outcome "timeout"');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'expense', bad('{activities,review,next}', '{"approve": "done"}'))$$, '22023',
    'key "next" of activity "review" has no activity for the outcome "timeout"', 'a task with a timeout needs its outcome');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'expense', bad('{activities,review,next}', '{}'))$$, '22023', NULL,
    'a task with no outcome');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'expense', bad('{activities,review,next}', '{"approve": "done", "timeout": "done"}'))$$, '22023',
    'activity "review" allows skipping but its "next" has no outcome "skipped"', 'a task that allows skipping needs the outcome "skipped"');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'expense', bad('{activities,review,next}', '{"timeout": "done", "skipped": "done"}'))$$, '22023',
    'key "next" of activity "review" has no outcome a person can complete it with', 'a task needs an outcome a person can complete it with');
SELECT lives_ok($$SELECT procflow.create_flow('x', 'expense', bad('{activities,review,allow_skip}', 'false'))$$,
    'without allow_skip, "skipped" may stay (skip_activity is refused)');
SELECT procflow.drop_process('x');

-- conditional starts and subflows
SELECT throws_ok($$SELECT procflow.create_flow('x', 'expense', bad('{activities,c}', '{"kind": "conditional_start", "next": "done"}'))$$,
    '22023', NULL, 'a conditional start without "on"');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'expense', bad('{activities,c}', '{"kind": "conditional_start", "on": {"event": "create", "entity": "other"}, "next": "done"}'))$$,
    '42P17', NULL, 'a conditional start on another table without "key"');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'expense', jsonb_set(bad('{activities,c}', '{"kind": "conditional_start", "on": {"event": "update"}, "next": "done"}'), '{start}', '"c"'))$$,
    '42P17', NULL, 'start naming a conditional start');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'expense', jsonb_set(bad('{activities,c}', '{"kind": "conditional_start", "on": {"event": "update"}, "next": "done"}'), '{activities,review,next,approve}', '"c"'))$$,
    '42P17', NULL, 'a link to a conditional start');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'expense', bad('{activities,review}', '{"kind": "subflow", "flow": "nosuch", "next": "done"}'))$$,
    '42704', 'subflow "review" names flow "nosuch", which does not exist', 'a subflow of no flow');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'expense', bad('{activities,review}', '{"kind": "subflow", "flow": "strangers", "next": "done"}'))$$,
    '42704', NULL, 'a subflow of another owner''s flow');
SELECT lives_ok($$SELECT procflow.create_flow('child', 'expense', '{"start": "t", "activities": {
    "t": {"kind": "human", "assignee": {"sql": "($1).who"}, "next": {"ok": "e", "no": "stop"}},
    "e": {"kind": "end"}, "stop": {"kind": "end", "terminate": true}}}')$$, 'a child flow');
SELECT lives_ok($$SELECT procflow.create_flow('nobody', NULL, '{"start": "e", "activities": {"e": {"kind": "end"}}}')$$,
    'a flow without table');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'expense', bad('{activities,review}', '{"kind": "subflow", "flow": "nobody", "key": "($1).id", "next": "done"}'))$$,
    '22023', NULL, 'a key for a child without table');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'other', '{"start": "s", "activities": {"s": {"kind": "subflow", "flow": "child", "next": "e"}, "e": {"kind": "end"}}}')$$,
    '42P17', NULL, 'no key for a child on another table');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'expense', bad('{activities,review}', '{"kind": "subflow", "flow": "child", "next": {"completed": "done"}}'))$$,
    '22023', NULL, 'a subflow whose next misses "terminated"');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'expense', bad('{activities,review}', '{"kind": "subflow", "flow": "child", "vars": "1", "next": "done"}'))$$,
    '42804', NULL, 'subflow vars that are no jsonb');
SELECT lives_ok($$SELECT procflow.create_flow('parent', 'expense', '{"start": "s", "activities": {
    "s": {"kind": "subflow", "flow": "child", "vars": "jsonb_build_object(''amount'', ($1).amount)",
          "next": {"completed": "e", "terminated": "e"}},
    "e": {"kind": "end"}}}')$$, 'a parent flow');
SELECT throws_ok($$SELECT procflow.alter_flow('child', '{"start": "s", "activities": {"s": {"kind": "subflow", "flow": "parent", "next": "e"}, "e": {"kind": "end"}}}')$$,
    '42P17', 'subflow "s" would launch flow "child" again', 'a subflow cycle');
SELECT is((SELECT count(*) FROM procflow.processes WHERE name = 'x'), 0::bigint, 'no refused definition was written');
SELECT is((SELECT max(version) FROM procflow.flow_versions WHERE flow = 'child'), 1, 'nor a version');

-- tasks
SELECT procflow.create_flow('approval', 'expense', (SELECT doc FROM good));
SELECT procflow.create_flow('later', 'expense', '{"start": "t", "activities": {
    "t": {"kind": "human", "start_delay": "1 hour", "next": "e"}, "e": {"kind": "end"}}}');
CREATE TEMP TABLE ids (name text PRIMARY KEY, id bigint);
INSERT INTO ids VALUES ('one', procflow.launch('approval', '1')), ('two', procflow.launch('approval', '2')),
    ('later', procflow.launch('later', '3'));
SELECT results_eq($$SELECT name, status, "group", instructions FROM procflow.tasks ORDER BY activity$$,
    $$VALUES ('review'::text, 'ready'::text, 'finance'::text, 'Check ann'::text), ('review', 'ready', 'finance', 'Check bob')$$,
    'ready tasks are in procflow.tasks, with their values computed; a scheduled one is not');
SELECT results_eq($$SELECT status FROM procflow.activities WHERE flow = 'later'$$, $$VALUES ('scheduled'::text)$$,
    'a task with a start_delay is scheduled');
SELECT is((SELECT count(*) FROM procflow.taskbox('dora', '{finance}')), 2::bigint, 'the taskbox of a finance member');
SELECT is((SELECT count(*) FROM procflow.taskbox('dora', '{sales}')), 0::bigint, 'nothing for another group');
INSERT INTO ids SELECT 'task1', activity FROM procflow.tasks WHERE key = '{"id": 1}';
INSERT INTO ids SELECT 'task2', activity FROM procflow.tasks WHERE key = '{"id": 2}';
INSERT INTO ids SELECT 'task3', id FROM procflow.activities WHERE flow = 'later';
SELECT id AS task1 FROM ids WHERE name = 'task1' \gset
SELECT id AS task2 FROM ids WHERE name = 'task2' \gset
SELECT id AS task3 FROM ids WHERE name = 'task3' \gset

SELECT throws_ok($$SELECT procflow.claim_task(NULL)$$, '22004', NULL, 'claim_task: NULL');
SELECT throws_ok($$SELECT procflow.claim_task(-1)$$, '42704', NULL, 'claim_task: no such activity');
SELECT throws_ok('SELECT procflow.claim_task(' || :task3 || ')', '55000', NULL, 'claim_task: a scheduled task');
SELECT lives_ok('SELECT procflow.claim_task(' || :task1 || ', ''dora'')', 'claim_task');
SELECT results_eq('SELECT status, assignee FROM procflow.tasks WHERE activity = ' || :task1,
    $$VALUES ('open'::text, 'dora'::text)$$, 'the task is open for its claimant');
SELECT lives_ok('SELECT procflow.claim_task(' || :task1 || ', ''dora'')', 'claiming one''s own task again changes nothing');
SELECT throws_ok('SELECT procflow.claim_task(' || :task1 || ', ''eve'')', '55000', NULL, 'another cannot claim it');
SELECT results_eq($$SELECT activity FROM procflow.taskbox('dora', '{}')$$, 'VALUES (' || :task1 || '::bigint)',
    'it is in its claimant''s taskbox');
SELECT is((SELECT count(*) FROM procflow.taskbox('eve', '{finance}')), 1::bigint, 'not in the group''s any more');
SELECT throws_ok('SELECT procflow.assign_task(' || :task1 || ', ''eve'')', '55000', NULL, 'assign_task: an open task');
SELECT lives_ok('SELECT procflow.release_task(' || :task1 || ')', 'release_task');
SELECT results_eq('SELECT status, assignee FROM procflow.tasks WHERE activity = ' || :task1,
    $$VALUES ('ready'::text, NULL::text)$$, 'the task is ready and unassigned again');
SELECT throws_ok('SELECT procflow.assign_task(' || :task1 || ', NULL)', '22004', NULL, 'assign_task: NULL assignee');
SELECT lives_ok('SELECT procflow.assign_task(' || :task1 || ', ''eve'')', 'assign_task');
SELECT throws_ok('SELECT procflow.claim_task(' || :task1 || ', ''dora'')', '55000', NULL,
    'a task assigned to another cannot be claimed');
SELECT throws_ok('SELECT procflow.complete_task(' || :task1 || ', ''maybe'')', '22023',
    'task ' || :task1 || ' ("review") has no outcome "maybe"', 'complete_task: an unknown outcome');
SELECT throws_ok('SELECT procflow.complete_task(' || :task1 || ')', '22023', NULL, 'complete_task: no outcome');
SELECT throws_ok('SELECT procflow.complete_task(' || :task1 || ', ''timeout'')', '22023', NULL,
    'complete_task: "timeout" is the timer''s');
SELECT throws_ok('SELECT procflow.complete_task(' || :task1 || ', ''approve'', ''[1]'')', '22023', 'vars must be a JSON object',
    'complete_task: vars that are no object');
SELECT lives_ok('SELECT procflow.complete_task(' || :task1 || ', ''approve'', ''{"ok": true}'')', 'complete_task');
SELECT results_eq('SELECT a.status, a.outcome, a.closed_by, i.status, i.vars FROM procflow.activities a JOIN procflow.instances i ON i.id = a.instance WHERE a.id = ' || :task1,
    $$VALUES ('closed'::text, 'approve'::text, 'eve'::text, 'completed'::text, '{"ok": true}'::jsonb)$$,
    'the task is closed by its assignee with the outcome; vars merged; the instance went on');
SELECT throws_ok('SELECT procflow.complete_task(' || :task1 || ', ''approve'')', '55000', NULL, 'complete_task: a closed task');
SELECT throws_ok('SELECT procflow.release_task(' || :task1 || ')', '55000', NULL, 'release_task: a closed task');
SELECT throws_ok($$SELECT procflow.claim_task((SELECT min(id) FROM procflow.activities WHERE kind <> 'human'))$$,
    '42809', NULL, 'claim_task: an activity that is no task');

-- skip, suspend
SELECT lives_ok('SELECT procflow.skip_activity(' || :task2 || ')', 'a task that allows it is skipped');
SELECT is((SELECT status FROM procflow.activities WHERE id = :task2), 'skipped', 'and is skipped');
SELECT throws_ok('SELECT procflow.skip_activity(' || :task3 || ')', '55000', NULL, 'a task that does not allow it is not');
SELECT procflow.suspend((SELECT id FROM ids WHERE name = 'later'));
SELECT throws_ok('SELECT procflow.release_task(' || :task3 || ')', '55000', NULL, 'no task of a suspended instance');
SELECT procflow.resume((SELECT id FROM ids WHERE name = 'later'));

-- subflows: the child's task, its end closes the parent's activity
SELECT procflow.launch('parent', '3') AS parent_id \gset
SELECT results_eq($$SELECT flow, parent IS NOT NULL, vars FROM procflow.instances WHERE flow IN ('parent', 'child') ORDER BY id$$,
    $$VALUES ('parent'::text, false, '{}'::jsonb), ('child', true, '{"amount": 300}')$$, 'a subflow launches a child that names its parent');
SELECT lives_ok($$SELECT procflow.complete_task((SELECT activity FROM procflow.taskbox('cy', '{}')), 'ok')$$,
    'the child''s task, assigned by SQL, is completed');
SELECT is(procflow.run_jobs(), 1, 'the parent''s step runs');
SELECT results_eq($$SELECT status, vars FROM procflow.instances WHERE flow = 'parent'$$,
    $$VALUES ('completed'::text, '{"s": {"amount": 300}}'::jsonb)$$, 'the parent went on, with the child''s vars under the activity''s name');
RESET ROLE;

-- roles
SET ROLE pgtap_task_member;
SELECT is((SELECT count(*) FROM procflow.taskbox('zed', '{}')), 0::bigint, 'the member sees the tasks (none are for zed)');
SELECT procflow.launch('approval', '3') > 0 AS launched;
SELECT lives_ok($$SELECT procflow.claim_task((SELECT activity FROM procflow.tasks WHERE flow = 'approval' AND key = '{"id": 3}'), 'zed')$$,
    'and acts on them');
RESET ROLE;
SET ROLE pgtap_task_stranger;
SELECT is((SELECT count(*) FROM procflow.taskbox('zed', '{}')), 0::bigint, 'a stranger''s taskbox shows no other role''s task');
SELECT is((SELECT count(*) FROM procflow.tasks), 0::bigint, 'nor does procflow.tasks');
SELECT throws_ok('SELECT procflow.claim_task(' || :task3 || ', ''zed'')', '42501', NULL, 'a stranger cannot claim a task');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
