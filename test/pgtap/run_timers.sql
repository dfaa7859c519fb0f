-- procflow.run_timers(instance, until): a flow's timers run in a test as
-- if their time had come, with the steps they lead to, the times they set
-- counting from then; only for the owner's roles, only on an active
-- instance, recorded in the job history; every bad argument refused.
BEGIN;
SELECT plan(24);

CREATE ROLE rt_owner NOLOGIN;
CREATE ROLE rt_other NOLOGIN;
GRANT CREATE ON SCHEMA public TO rt_owner;
SET ROLE rt_owner;
CREATE TABLE rt_invoice (id int PRIMARY KEY);
CREATE TABLE rt_log (what text);
INSERT INTO rt_invoice VALUES (1), (2);
-- a task for clerks; unanswered for 30 days it escalates, and 7 days
-- after that a reminder goes out
SELECT procflow.create_flow('rt_escalation', 'rt_invoice', $${"start": "review", "activities": {
  "review": {"kind": "human", "group": "clerks", "timeout": "30 days",
             "next": {"approve": "done", "timeout": "escalate"}},
  "escalate": {"kind": "automatic", "action": "INSERT INTO rt_log VALUES ('escalated')", "next": "later"},
  "later": {"kind": "wait", "timeout": "7 days", "next": "remind"},
  "remind": {"kind": "automatic", "action": "INSERT INTO rt_log VALUES ('reminded')", "next": "done"},
  "done": {"kind": "end"}}}$$);
SELECT procflow.launch('rt_escalation', '1') AS inst \gset
RESET ROLE;

SELECT is(procflow.run_timers(:inst, now() + interval '29 days'), 0,
          'nothing is due in 29 days');
SELECT is((SELECT status FROM procflow.tasks WHERE instance = :inst), 'ready', 'the task waits');

SET ROLE rt_owner;
SELECT is(procflow.run_timers(:inst, now() + interval '31 days'), 2,
          'in 31 days: the timeout and the escalation it leads to');
RESET ROLE;
SELECT results_eq($$SELECT name, status, outcome FROM procflow.activities WHERE instance = $$ || :inst || $$ ORDER BY id$$,
    $$VALUES ('review'::text, 'closed'::text, 'timeout'::text), ('escalate', 'closed', NULL), ('later', 'waiting', NULL)$$,
    'the task timed out and escalated; the reminder waits');
SELECT is((SELECT string_agg(what, ',') FROM rt_log), 'escalated', 'the escalation ran, the reminder not');
SELECT cmp_ok((SELECT run_at FROM procflow.jobs WHERE instance = :inst AND event = 'timer'),
              '>', now() + interval '36 days',
              'the reminder counts its 7 days from the escalation''s time, not from now');
SELECT matches((SELECT error FROM procflow.job_history WHERE instance = :inst AND event = 'timer'),
               '^run early by procflow.run_timers as if at .*, called by rt_owner$',
               'the job history says the timer was run early, as if when, and by whom');

SELECT is(procflow.run_timers(:inst, now() + interval '40 days'), 2,
          'in 40 days: the reminder and the step after it');
SELECT is((SELECT string_agg(what, ',' ORDER BY what) FROM rt_log), 'escalated,reminded', 'the reminder ran');
SELECT is((SELECT status FROM procflow.instances WHERE id = :inst), 'completed', 'the instance completed');

-- a time already past runs only what is due
SELECT procflow.launch('rt_escalation', '2') AS inst2 \gset
SELECT is(procflow.run_timers(:inst2, now() - interval '1 day'), 0, 'a time in the past runs nothing not due');

-- refused
SELECT throws_ok($$SELECT procflow.run_timers(NULL, now())$$, '22004', NULL, 'a NULL instance');
SELECT throws_ok($$SELECT procflow.run_timers($$ || :inst2 || $$, NULL)$$, '22004', NULL, 'a NULL time');
SELECT throws_ok($$SELECT procflow.run_timers(-1, now())$$, '42704', NULL, 'no such instance');
SELECT throws_ok($$SELECT procflow.run_timers($$ || :inst || $$, now() + interval '1 year')$$, '55000',
                 'cannot run the timers of instance ' || :inst || ': it is completed', 'an instance that ended');
SELECT procflow.suspend(:inst2);
SELECT throws_ok($$SELECT procflow.run_timers($$ || :inst2 || $$, now() + interval '1 year')$$, '55000', NULL,
                 'a suspended instance: its timers are held');
SELECT procflow.resume(:inst2);
SET ROLE rt_other;
SELECT throws_ok($$SELECT procflow.run_timers($$ || :inst2 || $$, now() + interval '1 year')$$, '42501', NULL,
                 'a role without the owner''s privileges');
RESET ROLE;
DECLARE rt_cursor CURSOR FOR SELECT 1;
SELECT throws_ok($$SELECT procflow.run_timers($$ || :inst2 || $$, now() + interval '1 year')$$, '55000', NULL,
                 'with a cursor open, as run_jobs');
CLOSE rt_cursor;
SELECT is((SELECT status FROM procflow.tasks WHERE instance = :inst2), 'ready', 'nothing of the refused calls ran');
SELECT is(procflow.run_timers(:inst2, 'infinity'), 4, 'infinity: every timer, as far as they lead');

-- the engine's rules hold as in an executor: a cycle through a timeout
-- under a second fails after 100 rounds, one of a second runs on
SET ROLE rt_owner;
SELECT procflow.create_flow('rt_fast', 'rt_invoice', $${"start": "w", "activities": {
  "w": {"kind": "wait", "timeout": "999 milliseconds", "next": "d"},
  "d": {"kind": "decision", "cases": [{"when": "false", "next": "e"}], "else": "w"},
  "e": {"kind": "end"}}}$$);
SELECT procflow.create_flow('rt_second', 'rt_invoice', $${"start": "w", "activities": {
  "w": {"kind": "wait", "timeout": "1 second", "next": "d"},
  "d": {"kind": "decision", "cases": [{"when": "false", "next": "e"}], "else": "w"},
  "e": {"kind": "end"}}}$$);
SELECT procflow.launch('rt_fast', '1') AS fast \gset
SELECT procflow.launch('rt_second', '1') AS second \gset
SELECT procflow.run_timers(:fast, now() + interval '1 hour');
SELECT matches((SELECT error FROM procflow.activities WHERE instance = :fast AND status = 'failed'),
               'wait "w" ended at once 100 times in a row', 'a 999 ms cycle fails after 100 rounds');
SELECT is(procflow.run_timers(:second, now() + interval '150.5 seconds'), 150,
          'a one-second cycle runs on: 150 rounds in 150 seconds');
SELECT is((SELECT count(*) FROM procflow.activities WHERE instance = :second AND status = 'failed'), 0::bigint,
          'and none of them failed');
SELECT procflow.disable_process('rt_second');
SELECT throws_ok($$SELECT procflow.run_timers($$ || :second || $$, 'infinity')$$, '55000',
                 'cannot run the timers of instance ' || :second || ': flow "rt_second" is disabled',
                 'a disabled flow''s jobs are held');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
