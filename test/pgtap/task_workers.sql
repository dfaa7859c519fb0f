-- Roles as task workers: where a task's assignee or group names a role,
-- that role and the roles with its privileges see and work the task with
-- no right on the flow's owner; they see nothing else of the flow.  Who
-- may complete or release an open task, and whose name closed_by records.
-- Steps run with procflow.run_jobs() in this transaction.
BEGIN;
SELECT plan(65);

CREATE ROLE wk_owner;
CREATE ROLE wk_app;
CREATE ROLE wk_clerks NOLOGIN;
CREATE ROLE wk_alice;
CREATE ROLE wk_bob;
CREATE ROLE wk_lazy NOINHERIT;
CREATE ROLE wk_carol;
CREATE ROLE wk_other_owner;
GRANT wk_owner TO wk_app;
GRANT wk_clerks TO wk_alice, wk_bob, wk_lazy;
GRANT CREATE ON SCHEMA public TO wk_owner, wk_other_owner;

SET ROLE wk_owner;
CREATE TABLE wk_expense (id int PRIMARY KEY, amount numeric);
INSERT INTO wk_expense SELECT g, g * 10 FROM generate_series(1, 6) g;
SELECT procflow.create_flow('wk_review', 'wk_expense', $${
  "start": "review",
  "activities": {
    "review": {"kind": "human", "group": {"sql": "CASE WHEN ($1).id = 6 THEN NULL ELSE 'wk_clerks' END"},
               "assignee": {"sql": "CASE ($1).id WHEN 4 THEN 'wk_bob' WHEN 5 THEN 'frank' END"},
               "instructions": "Check it", "allow_skip": true,
               "next": {"approve": "done", "reject": "done", "skipped": "done"}},
    "done": {"kind": "end"}}}$$) > 0 AS created;
SELECT count(procflow.launch('wk_review', to_jsonb(id))) FROM wk_expense;
SELECT procflow.run_jobs();
CREATE TEMP TABLE t AS
SELECT (key->>'id')::int AS row_id, activity FROM procflow.tasks WHERE flow = 'wk_review';
GRANT SELECT ON t TO PUBLIC;
RESET ROLE;

-- another owner's flow with a task for the same group
SET ROLE wk_other_owner;
CREATE TABLE wk_other (id int PRIMARY KEY);
INSERT INTO wk_other VALUES (1);
SELECT procflow.create_flow('wk_elsewhere', 'wk_other', $${
  "start": "look", "activities": {
    "look": {"kind": "human", "group": "wk_clerks", "next": "done"},
    "done": {"kind": "end"}}}$$) > 0 AS created;
SELECT procflow.launch('wk_elsewhere', '1') > 0 AS launched;
SELECT procflow.run_jobs();
RESET ROLE;

-- a member of the group role sees its tasks, and nothing else of the flow
SET ROLE wk_alice;
SELECT results_eq($$SELECT flow, (key->>'id')::int FROM procflow.taskbox() ORDER BY 1, 2$$,
    $$VALUES ('wk_elsewhere'::text, 1), ('wk_review', 1), ('wk_review', 2), ('wk_review', 3)$$,
    'taskbox(): the unassigned tasks of the group roles the caller has the privileges of, of any owner');
SELECT results_eq($$SELECT flow, name, status, "group", instructions FROM procflow.tasks WHERE (key->>'id')::int = 1 AND flow = 'wk_review'$$,
    $$VALUES ('wk_review'::text, 'review'::text, 'ready'::text, 'wk_clerks'::text, 'Check it'::text)$$,
    'the tasks view shows the task''s fields and its key');
SELECT results_eq($$SELECT flow_label, outcomes, allow_skip FROM procflow.tasks WHERE (key->>'id')::int = 1 AND flow = 'wk_review'$$,
    $$VALUES (NULL::text, '{approve,reject}'::text[], true)$$,
    'and what it needs to work it: the flow''s label (none given here), the outcomes to complete it with, whether it may skip it');
SELECT results_eq($$SELECT flow, flow_label, outcomes, allow_skip FROM procflow.taskbox() WHERE (key->>'id')::int = 1 ORDER BY 1$$,
    $$VALUES ('wk_elsewhere'::text, NULL::text, '{}'::text[], false),
             ('wk_review', NULL, '{approve,reject}', true)$$,
    'so does the taskbox (a plain next: no outcome to choose)');
SELECT is((SELECT count(*) FROM procflow.tasks), 4::bigint, 'and only the tasks the worker may work');
SELECT results_eq($$SELECT activity FROM procflow.taskbox(page_size => 2)$$,
    $$SELECT activity FROM procflow.taskbox() LIMIT 2$$, 'taskbox(page_size): the first tasks, in the taskbox''s order');
SELECT results_eq($$SELECT activity FROM procflow.taskbox(page_size => 2, after => (SELECT activity FROM procflow.taskbox(page_size => 2) OFFSET 1))$$,
    $$SELECT activity FROM procflow.taskbox() OFFSET 2 LIMIT 2$$, 'after: the next page');
SELECT is((SELECT count(*) FROM procflow.taskbox(page_size => 2, after => (SELECT activity FROM procflow.taskbox() OFFSET 3))),
    0::bigint, 'after the last task: none');
SELECT throws_ok($$SELECT * FROM procflow.taskbox(page_size => 0)$$, '22023', NULL, 'a page of no tasks is refused');
SELECT throws_ok($$SELECT * FROM procflow.taskbox(after => -1)$$, '22023', NULL, 'after no task: refused');
SELECT throws_ok('SELECT * FROM procflow.taskbox(after => ' || (SELECT activity FROM t WHERE row_id = 6) || ')',
    '22023', NULL, 'after a task the worker may not see: refused (its place in the order is not told)');
SELECT lives_ok('SELECT * FROM procflow.taskbox(after => ' || (SELECT activity FROM t WHERE row_id = 4) || ')',
    'after a task of its group that is another''s now: it still marks its place');
SELECT is((SELECT count(*) FROM procflow.instances), 0::bigint, 'no instances of the owner');
SELECT is((SELECT count(*) FROM procflow.activities), 0::bigint, 'no activities');
SELECT is((SELECT count(*) FROM procflow.jobs), 0::bigint, 'no jobs');
SELECT is((SELECT count(*) FROM procflow.flow_versions), 0::bigint, 'no definitions');
SELECT throws_ok($$SELECT procflow.suspend((SELECT instance FROM procflow.tasks WHERE flow = 'wk_review' LIMIT 1))$$,
    '42501', NULL, 'no admin function on the instance');
SELECT throws_ok('SELECT procflow.assign_task(' || (SELECT activity FROM t WHERE row_id = 1) || ', ''wk_alice'')',
    '42501', NULL, 'assign_task is the owner''s');
SELECT throws_ok('SELECT procflow.skip_activity(' || (SELECT activity FROM t WHERE row_id = 4) || ')',
    '42501', NULL, 'a worker skips only a task that is its to work');
SELECT throws_ok('SELECT procflow.claim_task(' || (SELECT activity FROM t WHERE row_id = 1) || ', ''wk_bob'')',
    '42501', NULL, 'a worker claims a task for itself only');
SELECT throws_ok('SELECT procflow.claim_task(' || (SELECT activity FROM t WHERE row_id = 4) || ')',
    '42501', NULL, 'nor a task assigned to another');
SELECT throws_ok('SELECT procflow.complete_task(' || (SELECT activity FROM t WHERE row_id = 6) || ', ''approve'')',
    '42501', NULL, 'nor a task of no group');
SELECT lives_ok('SELECT procflow.claim_task(' || (SELECT activity FROM t WHERE row_id = 1) || ')', 'claim_task by a worker');
SELECT results_eq('SELECT status, assignee FROM procflow.tasks WHERE activity = ' || (SELECT activity FROM t WHERE row_id = 1),
    $$VALUES ('open'::text, 'wk_alice'::text)$$, 'the task is open for the worker');
RESET ROLE;

-- another member of the group no longer sees it, and cannot act on it
SET ROLE wk_bob;
SELECT results_eq($$SELECT flow, (key->>'id')::int FROM procflow.taskbox() ORDER BY 1, 2$$,
    $$VALUES ('wk_elsewhere'::text, 1), ('wk_review', 2), ('wk_review', 3), ('wk_review', 4)$$,
    'another worker: the group''s unclaimed tasks and the one assigned to it');
SELECT throws_ok('SELECT procflow.complete_task(' || (SELECT activity FROM t WHERE row_id = 1) || ', ''approve'')',
    '42501', NULL, 'an open task is completed only by its claimant');
SELECT throws_ok('SELECT procflow.complete_task(' || (SELECT activity FROM t WHERE row_id = 1) || ', ''approve'', ''{"x": 1}'')',
    '42501', NULL, 'also with vars: the right is told before anything of the task');
SELECT throws_ok('SELECT procflow.release_task(' || (SELECT activity FROM t WHERE row_id = 1) || ')',
    '42501', NULL, 'and released only by its claimant');
SELECT throws_ok('SELECT procflow.claim_task(' || (SELECT activity FROM t WHERE row_id = 1) || ')',
    '42501', NULL, 'nor claimed by another');
SELECT throws_ok('SELECT procflow.skip_activity(' || (SELECT activity FROM t WHERE row_id = 1) || ')',
    '42501', NULL, 'nor skipped by another');
SELECT lives_ok('SELECT procflow.complete_task(' || (SELECT activity FROM t WHERE row_id = 4) || ', ''reject'', ''{"why": "late"}'')',
    'a worker completes the ready task assigned to it without claiming it');
SELECT throws_ok('SELECT procflow.complete_task(' || (SELECT activity FROM t WHERE row_id = 2) || ', ''skipped'')',
    '22023', NULL, 'completing is not skipping: "skipped" is skip_activity''s outcome');
SELECT lives_ok('SELECT procflow.complete_task(' || (SELECT activity FROM t WHERE row_id = 2) || ', ''approve'')',
    'and a ready task of its group');
SELECT is((SELECT count(*) FROM procflow.tasks WHERE activity IN (SELECT activity FROM t WHERE row_id IN (2, 4))), 0::bigint,
    'completed tasks leave the tasks view');
RESET ROLE;

-- NOINHERIT: the group's tasks are the member's only once it takes the role
SET ROLE wk_lazy;
SELECT is((SELECT count(*) FROM procflow.taskbox()), 0::bigint, 'a NOINHERIT member has no group tasks');
SELECT throws_ok('SELECT procflow.claim_task(' || (SELECT activity FROM t WHERE row_id = 3) || ')',
    '42501', NULL, 'nor may claim one');
SET ROLE wk_clerks;
SELECT is((SELECT count(*) FROM procflow.taskbox()), 2::bigint, 'with SET ROLE to the group it has');
RESET ROLE;

-- a role with no part in the task
SET ROLE wk_carol;
SELECT is((SELECT count(*) FROM procflow.taskbox()), 0::bigint, 'a stranger''s taskbox is empty');
SELECT is((SELECT count(*) FROM procflow.tasks), 0::bigint, 'so is its tasks view');
SELECT throws_ok('SELECT procflow.claim_task(' || (SELECT activity FROM t WHERE row_id = 3) || ')',
    '42501', NULL, 'it cannot claim a task');
SELECT throws_ok('SELECT procflow.complete_task(' || (SELECT activity FROM t WHERE row_id = 3) || ', ''approve'')',
    '42501', NULL, 'nor complete one');
RESET ROLE;

-- the worker completes its own task: recorded as itself; the owner sees the outcome
SET ROLE wk_alice;
SELECT throws_ok('SELECT procflow.complete_task(' || (SELECT activity FROM t WHERE row_id = 1) || ', ''maybe'')',
    '22023', NULL, 'a worker is told of an unknown outcome');
SELECT lives_ok('SELECT procflow.release_task(' || (SELECT activity FROM t WHERE row_id = 1) || ')',
    'the claimant releases its task');
SELECT lives_ok('SELECT procflow.claim_task(' || (SELECT activity FROM t WHERE row_id = 1) || ')', 'and claims it again');
SELECT lives_ok('SELECT procflow.complete_task(' || (SELECT activity FROM t WHERE row_id = 1) || ', ''approve'', ''{"ok": true}'')',
    'the claimant completes its task');
RESET ROLE;
SET ROLE wk_owner;
SELECT results_eq($$SELECT (i.key->>'id')::int, a.outcome, a.closed_by, i.status, i.vars FROM procflow.activities a
                      JOIN procflow.instances i ON i.id = a.instance
                     WHERE a.name = 'review' AND a.status = 'closed' ORDER BY 1$$,
    $$VALUES (1, 'approve'::text, 'wk_alice'::text, 'completed'::text, '{"ok": true}'::jsonb),
             (2, 'approve', 'wk_bob', 'completed', '{}'),
             (4, 'reject', 'wk_bob', 'completed', '{"why": "late"}')$$,
    'closed_by names the worker who acted; vars merged; the instances went on');
RESET ROLE;

-- the owner's side: an application role serves application users
SET ROLE wk_app;
SELECT results_eq($$SELECT (key->>'id')::int FROM procflow.taskbox('frank', '{}') WHERE flow = 'wk_review' ORDER BY 1$$,
    $$VALUES (5), (6)$$, 'an application role lists an application user''s tasks, and those of no group');
SELECT results_eq($$SELECT (key->>'id')::int FROM procflow.taskbox('dora', '{wk_clerks}') WHERE flow = 'wk_review' ORDER BY 1$$,
    $$VALUES (3), (6)$$, 'and those of the groups it passes');
SELECT is((SELECT count(*) FROM procflow.taskbox('dora', '{wk_clerks}') WHERE flow = 'wk_elsewhere'), 0::bigint,
    'but not another owner''s');
RESET ROLE;
GRANT wk_clerks TO wk_app;
SET ROLE wk_app;
SELECT is((SELECT count(*) FROM procflow.taskbox('dora', '{wk_clerks}') WHERE flow = 'wk_elsewhere'), 0::bigint,
    'not even when the application role is a member of the group role: that is its own taskbox''s');
SELECT is((SELECT count(*) FROM procflow.taskbox() WHERE flow = 'wk_elsewhere'), 1::bigint,
    'which has it');
RESET ROLE;
REVOKE wk_clerks FROM wk_app;
SET ROLE wk_app;
SELECT lives_ok('SELECT procflow.claim_task(' || (SELECT activity FROM t WHERE row_id = 5) || ', ''frank'')',
    'it claims for an application user');
SELECT lives_ok('SELECT procflow.complete_task(' || (SELECT activity FROM t WHERE row_id = 5) || ', ''approve'')',
    'and completes for it');
RESET ROLE;

-- a worker's open task completed by a role with the owner's privileges: recorded as that role
SET ROLE wk_bob;
SELECT lives_ok('SELECT procflow.claim_task(' || (SELECT activity FROM t WHERE row_id = 3) || ')', 'a worker claims a task');
RESET ROLE;
SET ROLE wk_app;
SELECT lives_ok('SELECT procflow.complete_task(' || (SELECT activity FROM t WHERE row_id = 3) || ', ''reject'')',
    'a role with the owner''s privileges completes it');
SELECT results_eq($$SELECT (i.key->>'id')::int, a.closed_by FROM procflow.activities a JOIN procflow.instances i ON i.id = a.instance
                     WHERE a.name = 'review' AND (i.key->>'id')::int IN (3, 5) ORDER BY 1$$,
    $$VALUES (3, 'wk_app'::text), (5, 'frank')$$,
    'closed_by: the role that acted on a worker''s task; the application user the application acted for');
RESET ROLE;

-- a task whose assignee names a group role: its members claim it for themselves
SET ROLE wk_owner;
SELECT procflow.assign_task((SELECT activity FROM t WHERE row_id = 6), 'wk_clerks');
RESET ROLE;
SET ROLE wk_alice;
SELECT results_eq($$SELECT (key->>'id')::int, assignee FROM procflow.taskbox() WHERE flow = 'wk_review'$$,
    $$VALUES (6, 'wk_clerks'::text)$$, 'a task assigned to a role is in its members'' taskbox');
SELECT lives_ok('SELECT procflow.claim_task(' || (SELECT activity FROM t WHERE row_id = 6) || ')', 'a member claims it');
SELECT results_eq('SELECT status, assignee FROM procflow.tasks WHERE activity = ' || (SELECT activity FROM t WHERE row_id = 6),
    $$VALUES ('open'::text, 'wk_alice'::text)$$, 'for itself');
RESET ROLE;

-- a worker skips the task it claimed, where its activity allows it
SET ROLE wk_bob;
SELECT throws_ok('SELECT procflow.skip_activity(' || (SELECT activity FROM t WHERE row_id = 6) || ')',
    '42501', NULL, 'a task claimed by another is not skipped by a worker');
RESET ROLE;
SET ROLE wk_alice;
SELECT lives_ok('SELECT procflow.skip_activity(' || (SELECT activity FROM t WHERE row_id = 6) || ')',
    'its claimant skips it');
RESET ROLE;
SET ROLE wk_owner;
SELECT results_eq($$SELECT a.status, a.closed_by, i.status FROM procflow.activities a JOIN procflow.instances i ON i.id = a.instance
                     WHERE a.name = 'review' AND (i.key->>'id')::int = 6$$,
    $$VALUES ('skipped'::text, 'wk_alice'::text, 'completed'::text)$$, 'skipped by the worker, recorded as it');
RESET ROLE;

-- the other owner's task, worked by the same group
SET ROLE wk_bob;
SELECT throws_ok($$SELECT procflow.skip_activity((SELECT activity FROM procflow.tasks WHERE flow = 'wk_elsewhere'))$$,
    '55000', NULL, 'a task whose activity does not allow it is not skipped');
SELECT lives_ok($$SELECT procflow.complete_task((SELECT activity FROM procflow.tasks WHERE flow = 'wk_elsewhere'))$$,
    'a worker completes another owner''s task of its group');
RESET ROLE;
SET ROLE wk_other_owner;
SELECT results_eq($$SELECT a.closed_by, i.status FROM procflow.activities a JOIN procflow.instances i ON i.id = a.instance
                     WHERE a.name = 'look'$$,
    $$VALUES ('wk_bob'::text, 'completed'::text)$$, 'that owner sees who did it');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
