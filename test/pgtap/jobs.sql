-- run_process, retry_job, cancel_job, run_jobs: good and bad.
BEGIN;
SELECT plan(29);

CREATE TABLE item (sku text, wh int, PRIMARY KEY (sku, wh));
CREATE TABLE log (sku text);
SELECT procflow.create_process('p', 'item', 'INSERT INTO log VALUES (($1).sku)');
SELECT procflow.create_process('free', NULL, 'SELECT 1');
CREATE ROLE pgtap_other;
INSERT INTO item VALUES ('a', 1);

CREATE TEMP TABLE before AS SELECT count(*) AS n FROM procflow.job;

SELECT throws_ok($$SELECT procflow.run_process(NULL)$$, '22004', NULL, 'NULL name');
SELECT throws_ok($$SELECT procflow.run_process('nosuch')$$, '42704', NULL, 'unknown process');
SELECT throws_ok($$SELECT procflow.run_process('p', '{"sku": "a"}')$$, '22023', NULL, 'key without every column');
SELECT throws_ok($$SELECT procflow.run_process('p', '{"sku": "a", "wh": 1, "x": 2}')$$, '22023', NULL, 'key with an extra column');
SELECT throws_ok($$SELECT procflow.run_process('p', '{"sku": "a", "whx": 1}')$$, '22023', 'key has no value for primary key column "wh"', 'key with a wrong column');
SELECT throws_ok($$SELECT procflow.run_process('p', '{"sku": "a", "wh": "one"}')$$, '22P02', NULL, 'key value of the wrong type');
SELECT throws_ok($$SELECT procflow.run_process('p', '{"sku": ["a"], "wh": 1}')$$, '22023', NULL, 'key value that is an array');
SELECT throws_ok($$SELECT procflow.run_process('p', '"a"')$$, '22023', NULL, 'key that is not an object');
SELECT throws_ok($$SELECT procflow.run_process('p', '{"sku": "a", "wh": 99999999999}')$$, '22003', NULL, 'key value out of range');
SELECT throws_ok($$SELECT procflow.run_process('free', '{"id": 1}')$$, '22023', NULL, 'key for an entity-less process');
SELECT throws_ok($$SELECT procflow.run_process('p', delay => '-1 s')$$, '22023', NULL, 'negative delay');
SET ROLE pgtap_other;
SELECT throws_ok($$SELECT procflow.run_process('p')$$, '42704', NULL, 'another role''s process');
RESET ROLE;
SELECT is((SELECT count(*) FROM procflow.job), (SELECT n FROM before), 'refusals queued nothing');
SELECT is(procflow.run_jobs(), 0, 'and nothing runs');

SELECT ok(procflow.run_process('p', '{"sku": "a", "wh": 1}') > 0, 'run for a row');
SELECT ok(procflow.run_process('p', '{"wh": "1", "sku": "a"}', delay => '1 hour') > 0, 'any key order, text numbers, a delay');
SELECT is((SELECT array_agg(key ORDER BY id) FROM procflow.jobs),
    ARRAY['{"sku": "a", "wh": 1}', '{"sku": "a", "wh": 1}']::jsonb[], 'keys are normalised');
SELECT is(procflow.run_jobs(), 1, 'only the due job runs');
SELECT throws_ok($$SELECT procflow.run_jobs(-1)$$, '22023', NULL, 'negative max_jobs');

SELECT throws_ok($$SELECT procflow.retry_job(NULL)$$, '22004', NULL, 'retry: NULL id');
SELECT throws_ok($$SELECT procflow.retry_job(-5)$$, '42704', 'job -5 does not exist', 'retry: unknown job');
SELECT throws_ok($$SELECT procflow.retry_job(id) FROM procflow.job_history$$, '55000', NULL, 'retry: a succeeded job');
SELECT throws_ok($$SELECT procflow.cancel_job(id) FROM procflow.job_history$$, '55000', NULL, 'cancel: a finished job');
SET ROLE pgtap_other;
SELECT throws_ok($$SELECT procflow.cancel_job(id) FROM procflow.job WHERE status = 'pending'$$, '42501', NULL, 'cancel: procflow.job is not readable');
RESET ROLE;
SELECT lives_ok($$SELECT procflow.cancel_job(id) FROM procflow.jobs$$, 'cancel the delayed job');

-- a job queued again: its history row names the new job
SELECT is((SELECT retried_as FROM procflow.job_history WHERE status = 'cancelled'), NULL::bigint,
    'a cancelled job not queued again has no retried_as');
SELECT procflow.retry_job(id) AS again FROM procflow.job_history WHERE status = 'cancelled' \gset
SELECT is((SELECT retried_as FROM procflow.job_history WHERE status = 'cancelled'), :again::bigint,
    'retried_as: the job retry_job queued');
SELECT procflow.retry_job(id) AS later FROM procflow.job_history WHERE status = 'cancelled' \gset
SELECT is((SELECT retried_as FROM procflow.job_history WHERE status = 'cancelled'), :later::bigint,
    'queued again once more: the latest');
SELECT is((SELECT count(*) FROM procflow.jobs WHERE id IN (:again, :later)), 2::bigint, 'both are pending');

SELECT * FROM finish();
ROLLBACK;
