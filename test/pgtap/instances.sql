-- The functions on instances and activities: launch, suspend, resume,
-- terminate, retry_activity, skip_activity and flow_graph with an instance;
-- every bad input with its SQLSTATE and nothing written; the roles that may
-- act on an instance (its flow's owner, a member of it) and those that may
-- not.  Steps run with procflow.run_jobs() in this transaction.
BEGIN;
SELECT plan(83);

CREATE ROLE pgtap_inst_owner;
CREATE ROLE pgtap_inst_member;
CREATE ROLE pgtap_inst_stranger;
GRANT pgtap_inst_owner TO pgtap_inst_member;
GRANT CREATE ON SCHEMA public TO pgtap_inst_owner, pgtap_inst_stranger;

SET ROLE pgtap_inst_owner;
CREATE TABLE doc (id int PRIMARY KEY, state text);
CREATE TABLE pair (a int, b text, PRIMARY KEY (a, b));
CREATE TABLE flag (fail boolean);
INSERT INTO doc VALUES (1, 'new'), (2, 'new');
INSERT INTO pair VALUES (1, 'x');
INSERT INTO flag VALUES (true);
SELECT procflow.create_flow('review', 'doc', $${
  "start": "check",
  "activities": {
    "check": {"kind": "automatic", "action": "SELECT 1 / CASE WHEN fail THEN 0 ELSE 1 END FROM flag", "next": "wait"},
    "wait": {"kind": "wait", "on": {"event": "update", "condition": "($1).state = 'done'"}, "timeout": "1 day",
             "next": {"event": "done", "timeout": "done", "skipped": "done"}},
    "done": {"kind": "end"}
  }}$$, max_attempts => 1) AS version;
SELECT procflow.create_flow('timer_only', NULL, $${
  "start": "w", "activities": {"w": {"kind": "wait", "timeout": "1 day", "next": {"timeout": "e"}},
                               "e": {"kind": "end"}}}$$);
SELECT procflow.create_flow('by_pair', 'pair', $${
  "start": "e", "activities": {"e": {"kind": "end"}}}$$);
SELECT procflow.create_process('light', 'doc', 'SELECT 1');
RESET ROLE;

-- launch and its bad inputs
SET ROLE pgtap_inst_owner;
SELECT throws_ok($$SELECT procflow.launch(NULL)$$, '22004', NULL, 'launch: NULL flow');
SELECT throws_ok($$SELECT procflow.launch('nosuch', '1')$$, '42704', NULL, 'launch: no such flow');
SELECT throws_ok($$SELECT procflow.launch('light', '1')$$, '42809', 'process "light" is not a flow',
    'launch: a light process');
SELECT throws_ok($$SELECT procflow.launch('review')$$, '22004',
    'flow "review" needs the key of a row of table "doc"', 'launch: an entity flow needs a key');
SELECT throws_ok($$SELECT procflow.launch('review', '99')$$, '23503', 'table "doc" has no row with key 99',
    'launch: the key must name a row');
SELECT throws_ok($$SELECT procflow.launch('review', '"x"')$$, '22P02', NULL, 'launch: a key of the wrong type');
SELECT throws_ok($$SELECT procflow.launch('review', '{"nope": 1}')$$, '22023', NULL, 'launch: a key naming no key column');
SELECT throws_ok($$SELECT procflow.launch('timer_only', '1')$$, '22023',
    'flow "timer_only" has no entity, so it takes no key', 'launch: an entity-less flow takes no key');
SELECT throws_ok($$SELECT procflow.launch('review', '1', '[1]')$$, '22023', 'vars must be a JSON object',
    'launch: vars must be an object');
SELECT throws_ok($$SELECT procflow.launch('by_pair', '1')$$, '22023', NULL,
    'launch: a scalar key only for a one-column key');
SELECT is((SELECT count(*) FROM procflow.instances), 0::bigint, 'no failed launch wrote an instance');
SELECT is((SELECT count(*) FROM procflow.jobs), 0::bigint, 'nor a job');
SELECT lives_ok($$SELECT procflow.launch('by_pair', '{"a": 1, "b": "x"}')$$, 'launch: a composite key as an object');
SELECT is((SELECT status FROM procflow.instances WHERE flow = 'by_pair'), 'completed',
    'an instance that reaches its end at once is completed at once');
SELECT procflow.disable_process('review');
SELECT throws_ok($$SELECT procflow.launch('review', '1')$$, '55000', 'flow "review" is disabled',
    'launch: a disabled flow');
SELECT procflow.enable_process('review');

CREATE TEMP TABLE ids (name text PRIMARY KEY, id bigint);
INSERT INTO ids VALUES ('first', procflow.launch('review', '1', '{"who": "me"}'));
INSERT INTO ids VALUES ('timer', procflow.launch('timer_only'));
SELECT results_eq($$SELECT flow, key, status, vars FROM procflow.instances WHERE id = (SELECT id FROM ids WHERE name = 'first')$$,
    $$VALUES ('review'::text, '{"id": 1}'::jsonb, 'active'::text, '{"who": "me"}'::jsonb)$$,
    'launch writes an active instance with its key and vars');
SELECT results_eq($$SELECT name, kind, status FROM procflow.activities WHERE instance = (SELECT id FROM ids WHERE name = 'first')$$,
    $$VALUES ('check'::text, 'automatic'::text, 'ready'::text)$$, 'and its first activity, ready');
SELECT is((SELECT count(*) FROM procflow.jobs WHERE process = 'review' AND event = 'step'), 1::bigint,
    'whose step is a job');

-- steps and timers are the engine's, not jobs to retry or cancel by hand
SELECT throws_ok($$SELECT procflow.cancel_job((SELECT id FROM procflow.jobs WHERE event = 'step'))$$, '42809', NULL,
    'cancel_job refuses a step');
SELECT throws_ok($$SELECT procflow.retry_job((SELECT id FROM procflow.jobs WHERE event = 'timer'))$$, '42809', NULL,
    'retry_job refuses a timer');

-- a failure: the activity fails with its error, the instance stays active
SELECT is(procflow.run_jobs(), 1, 'the step ran');
SELECT results_eq($$SELECT status, attempts, error FROM procflow.activities WHERE name = 'check'$$,
    $$VALUES ('failed'::text, 1, 'division by zero'::text)$$, 'and failed, with its error');
SELECT results_eq($$SELECT error_code, error_detail, error_context FROM procflow.activities WHERE name = 'check'$$,
    $$VALUES ('22012'::text, NULL::text, 'SQL statement "SELECT 1 / CASE WHEN fail THEN 0 ELSE 1 END FROM flag"'::text)$$,
    'its SQLSTATE and context: the statement that failed');
SELECT results_eq($$SELECT activity, live, failed FROM procflow.activity_counts
                     WHERE flow = 'review' AND owner = 'pgtap_inst_owner' ORDER BY activity$$,
    $$VALUES ('check'::text, 0::bigint, 1::bigint)$$,
    'activity_counts: the failed activity of the unfinished instance');
SELECT results_eq($$SELECT activity, live, failed FROM procflow.activity_counts WHERE flow = 'timer_only'$$,
    $$VALUES ('w'::text, 1::bigint, 0::bigint)$$, 'and a live one');
SELECT is((SELECT status FROM procflow.instances WHERE id = (SELECT id FROM ids WHERE name = 'first')), 'active',
    'the instance stays active');
SELECT is((SELECT status FROM procflow.job_history WHERE event = 'step'), 'failed', 'the step job failed');
SELECT results_eq($$SELECT h.instance, a.name FROM procflow.job_history h
                     JOIN procflow.activities a ON a.id = h.activity WHERE h.event = 'step'$$,
    $$SELECT id, 'check'::text FROM ids WHERE name = 'first'$$,
    'its history row names its instance and activity');
SELECT is((SELECT count(*) FROM procflow.jobs j JOIN procflow.activities a ON a.id = j.activity
            WHERE j.event = 'timer' AND a.instance = j.instance AND a.name = 'w'), 1::bigint,
    'a pending timer names its instance and activity');
SELECT procflow.flow_graph('review', instance => (SELECT id FROM ids WHERE name = 'first')) ~ '"check" \[[^]]*fillcolor="#fde2e1"'
    AS failed_marked \gset
SELECT ok(:'failed_marked', 'the picture marks the failed activity');
SELECT throws_ok($$SELECT procflow.flow_graph('timer_only', instance => (SELECT id FROM ids WHERE name = 'first'))$$,
    '42704', NULL, 'flow_graph: an instance of another flow');
SELECT throws_ok($$SELECT procflow.flow_graph('review', instance => (SELECT id FROM ids WHERE name = 'first'), version => 2)$$,
    '22023', NULL, 'flow_graph: another version than the instance''s');

-- retry_activity and skip_activity: states and bad inputs
SELECT throws_ok($$SELECT procflow.retry_activity(NULL)$$, '22004', NULL, 'retry_activity: NULL');
SELECT throws_ok($$SELECT procflow.retry_activity(-1)$$, '42704', 'activity -1 does not exist', 'retry_activity: no such activity');
SELECT throws_ok($$SELECT procflow.skip_activity(-1)$$, '42704', NULL, 'skip_activity: no such activity');
UPDATE flag SET fail = false;
SELECT lives_ok($$SELECT procflow.retry_activity((SELECT id FROM procflow.activities WHERE name = 'check'))$$,
    'retry_activity on a failed activity');
SELECT throws_ok($$SELECT procflow.retry_activity((SELECT id FROM procflow.activities WHERE name = 'check'))$$,
    '55000', NULL, 'not twice: it is ready again');
SELECT is(procflow.run_jobs(), 1, 'it ran again');
SELECT results_eq($$SELECT name, status FROM procflow.activities WHERE instance = (SELECT id FROM ids WHERE name = 'first') ORDER BY id$$,
    $$VALUES ('check'::text, 'closed'::text), ('wait', 'waiting')$$, 'closed, and the wait began');
SELECT throws_ok($$SELECT procflow.skip_activity((SELECT id FROM procflow.activities WHERE name = 'check'))$$,
    '55000', NULL, 'skip_activity: a closed activity');
SELECT throws_ok($$SELECT procflow.retry_activity((SELECT id FROM procflow.activities WHERE name = 'wait'))$$,
    '55000', NULL, 'retry_activity: a wait');

-- suspend, resume, terminate: states and bad inputs
SELECT throws_ok($$SELECT procflow.suspend(NULL)$$, '22004', NULL, 'suspend: NULL');
SELECT throws_ok($$SELECT procflow.suspend(-1)$$, '42704', 'instance -1 does not exist', 'suspend: no such instance');
SELECT throws_ok($$SELECT procflow.resume((SELECT id FROM ids WHERE name = 'first'))$$, '55000', NULL,
    'resume: an active instance');
SELECT lives_ok($$SELECT procflow.suspend((SELECT id FROM ids WHERE name = 'first'))$$, 'suspend');
SELECT throws_ok($$SELECT procflow.suspend((SELECT id FROM ids WHERE name = 'first'))$$, '55000', NULL,
    'suspend: a suspended instance');
SELECT throws_ok($$SELECT procflow.skip_activity((SELECT id FROM procflow.activities WHERE name = 'wait'))$$,
    '55000', NULL, 'skip_activity: an activity of a suspended instance');
SELECT lives_ok($$SELECT procflow.resume((SELECT id FROM ids WHERE name = 'first'))$$, 'resume');
SELECT lives_ok($$SELECT procflow.skip_activity((SELECT id FROM procflow.activities WHERE name = 'wait'))$$,
    'skip_activity on a waiting wait');
SELECT results_eq($$SELECT name, status, closed_by FROM procflow.activities WHERE instance = (SELECT id FROM ids WHERE name = 'first') ORDER BY id$$,
    $$VALUES ('check'::text, 'closed'::text, NULL::text), ('wait', 'skipped', 'pgtap_inst_owner'), ('done', 'closed', NULL)$$,
    'the skipped wait took its outcome "skipped"; who skipped it is noted');
SELECT is((SELECT count(*) FROM procflow.jobs WHERE process = 'review'), 0::bigint, 'and its timer is gone');
SELECT throws_ok($$SELECT procflow.terminate((SELECT id FROM ids WHERE name = 'first'))$$, '55000', NULL,
    'terminate: a completed instance');
RESET ROLE;

-- roles: a member of the owner acts on its instances; a stranger sees
-- nothing and is refused
SET ROLE pgtap_inst_member;
SELECT is((SELECT count(*) FROM procflow.instances), 3::bigint, 'a member of the owner sees its instances');
SELECT lives_ok($$SELECT procflow.suspend((SELECT id FROM procflow.instances WHERE flow = 'timer_only'))$$,
    'and suspends one');
SELECT lives_ok($$SELECT procflow.launch('review', '2')$$, 'and launches its flow');
RESET ROLE;
SET ROLE pgtap_inst_stranger;
SELECT is((SELECT count(*) FROM procflow.instances), 0::bigint, 'a stranger sees no instance');
SELECT is((SELECT count(*) FROM procflow.activities), 0::bigint, 'nor activity');
SELECT is((SELECT count(*) FROM procflow.activity_counts), 0::bigint, 'nor counts of activities');
SELECT throws_ok($$SELECT procflow.launch('review', '2')$$, '42704', NULL, 'and cannot launch the flow');
RESET ROLE;
SELECT id AS timer_id FROM ids WHERE name = 'timer' \gset
SELECT min(id) AS an_activity FROM procflow.activity \gset
SET ROLE pgtap_inst_stranger;
SELECT throws_ok('SELECT procflow.retry_activity(' || :an_activity || ')', '42501',
    'permission denied for activity ' || :an_activity,
    'retry_activity of another role''s activity: refused naming the activity, not its instance');
SELECT throws_ok('SELECT procflow.resume(' || :timer_id || ')', '42501', NULL, 'nor resume an instance');
SELECT throws_ok('SELECT procflow.terminate(' || :timer_id || ')', '42501', NULL, 'nor terminate it');
SELECT throws_ok('SELECT procflow.flow_graph(''timer_only'', instance => ' || :timer_id || ')', '42704', NULL,
    'nor draw it');
SELECT throws_ok($$SELECT procflow.skip_activity((SELECT min(id) FROM procflow.activity))$$, '42501', NULL,
    'nor reach the catalog tables');
RESET ROLE;
SELECT is((SELECT status FROM procflow.instances WHERE id = :timer_id), 'suspended', 'the refusals changed nothing');
SELECT procflow.resume(:timer_id);
SELECT throws_ok('SELECT procflow.skip_activity(' || (SELECT id FROM procflow.activities WHERE instance = :timer_id) || ')',
    '55000', NULL, 'a wait whose next has no plain name nor "skipped" cannot be skipped');
SELECT procflow.suspend(:timer_id);

-- steps run as the flow's owner, whoever launched the instance and
-- whoever runs the jobs
SET ROLE pgtap_inst_owner;
CREATE TABLE who (who text, session_who text);
SELECT procflow.create_flow('whoami', NULL, $${"start": "a", "activities": {
  "a": {"kind": "automatic", "action": "INSERT INTO who VALUES (current_user, session_user)", "next": "e"},
  "e": {"kind": "end"}}}$$);
RESET ROLE;
SET ROLE pgtap_inst_member;
SELECT procflow.launch('whoami');
RESET ROLE;
SELECT procflow.run_jobs();
SELECT is((SELECT who FROM who), 'pgtap_inst_owner', 'a step runs as the flow''s owner');
SELECT is((SELECT count(*) FROM procflow.instances WHERE flow = 'whoami' AND status = 'completed'), 1::bigint,
    'and the instance completes');

-- a person corrects an instance's vars: merged, and kept in its history
SELECT throws_ok($$SELECT procflow.update_vars(NULL, '{}')$$, '22004', NULL, 'update_vars: NULL instance');
SELECT throws_ok('SELECT procflow.update_vars(' || :timer_id || ', NULL)', '22004', NULL, 'update_vars: NULL vars');
SELECT throws_ok('SELECT procflow.update_vars(' || :timer_id || ', ''[1]'')', '22023', NULL, 'update_vars: not an object');
SELECT throws_ok($$SELECT procflow.update_vars(-1, '{}')$$, '42704', NULL, 'update_vars: no such instance');
SET ROLE pgtap_inst_stranger;
SELECT throws_ok('SELECT procflow.update_vars(' || :timer_id || ', ''{"x": 1}'')', '42501', NULL,
    'update_vars: another owner''s instance');
SELECT is((SELECT count(*) FROM procflow.vars_changes), 0::bigint, 'a stranger sees no changes');
RESET ROLE;
SET ROLE pgtap_inst_member;
SELECT lives_ok('SELECT procflow.update_vars(' || :timer_id || ', ''{"x": 1, "y": {"z": 2}}'')',
    'a member of the owner changes a suspended instance''s vars');
SELECT lives_ok('SELECT procflow.update_vars(' || :timer_id || ', ''{"x": 3}'')', 'and again');
SELECT lives_ok('SELECT procflow.update_vars(' || :timer_id || ', ''{}'')', 'an empty change: nothing to keep');
SELECT is((SELECT vars FROM procflow.instances WHERE id = :timer_id), '{"x": 3, "y": {"z": 2}}'::jsonb,
    'merged as complete_task merges: its keys win');
SELECT results_eq('SELECT changed_by, vars, before FROM procflow.vars_changes WHERE instance = ' || :timer_id || ' ORDER BY id',
    $$VALUES ('pgtap_inst_member'::text, '{"x": 1, "y": {"z": 2}}'::jsonb, '{}'::jsonb),
             ('pgtap_inst_member', '{"x": 3}', '{"x": 1, "y": {"z": 2}}')$$,
    'each change kept: who, what, the vars before');
RESET ROLE;

-- terminate cancels every live activity and removes the pending jobs
SELECT lives_ok('SELECT procflow.terminate(' || :timer_id || ')', 'terminate a suspended instance');
SELECT throws_ok('SELECT procflow.update_vars(' || :timer_id || ', ''{"x": 4}'')', '55000', NULL,
    'the vars of an instance that ended stay');
SELECT results_eq('SELECT status FROM procflow.activities WHERE instance = ' || :timer_id,
    $$VALUES ('cancelled'::text)$$, 'its wait is cancelled');
SELECT is((SELECT count(*) FROM procflow.jobs WHERE process = 'timer_only'), 0::bigint, 'its timer is gone');

SELECT * FROM finish();
ROLLBACK;
