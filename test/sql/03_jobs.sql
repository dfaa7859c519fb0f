-- Jobs: run_process, the context, failures, retries, retry_job and cancel_job.
CREATE TABLE item (sku text, warehouse int, qty int, PRIMARY KEY (sku, warehouse));
CREATE TABLE seen (id bigserial PRIMARY KEY, row_sku text, ctx jsonb);

SELECT procflow.create_process('restock', 'item',
    $$INSERT INTO seen (row_sku, ctx) VALUES (($1).sku, $3 - 'job_id' - 'trigger_id')$$);
INSERT INTO item VALUES ('A-1', 7, 0), ('B-2', 7, 3);

-- composite keys, given as jsonb; numbers may be strings
SELECT procflow.run_process('restock', '{"sku": "A-1", "warehouse": 7}') > 0 AS queued;
SELECT procflow.run_process('restock', '{"sku": "B-2", "warehouse": "7"}') > 0 AS queued;
SELECT procflow.run_process('restock') > 0 AS queued;			-- no row
SELECT procflow.run_process('restock', '{"sku": "A-1", "warehouse": 7}', delay => '1 day') > 0 AS queued;
SELECT process, event, key, state FROM procflow.jobs ORDER BY id;
SELECT procflow.run_jobs();
SELECT row_sku, ctx FROM seen ORDER BY id;
SELECT count(*) AS still_pending FROM procflow.jobs;

-- bad keys
SELECT procflow.run_process('restock', '{"sku": "A-1"}');
SELECT procflow.run_process('restock', '{"sku": "A-1", "warehouse": "x"}');
SELECT procflow.run_process('restock', '[1, 2]');
SELECT procflow.run_process('restock', '{"sku": "A-1", "warehouse": 7, "extra": 1}');
SELECT procflow.run_process('restock', '{"sku": null, "warehouse": 7}');
SELECT procflow.run_process('restock', delay => '-1 minute');
SELECT procflow.run_process('nosuch');

-- entity-less processes get NULL rows
CREATE TABLE ticks (id bigserial PRIMARY KEY, row_is_null boolean, process text);
SELECT procflow.create_process('tick', NULL, $$INSERT INTO ticks (row_is_null, process) VALUES ($1 IS NULL, $3->>'process')$$);
SELECT procflow.run_process('tick', '{"id": 1}');
SELECT procflow.add_trigger('tick', 'create');
SELECT procflow.run_process('tick') > 0 AS queued;
SELECT procflow.run_jobs();
SELECT row_is_null, process FROM ticks;

-- a failing job is retried with backoff, then kept as failed with its error
SELECT procflow.create_process('poison', NULL, $$SELECT 1 / 0$$, max_attempts => 3);
SELECT procflow.run_process('poison') AS poison_job \gset
SELECT procflow.run_jobs();
SELECT process, status, attempts, error_code, error FROM procflow.job_history WHERE process = 'poison';
-- the other jobs keep flowing
SELECT procflow.run_process('tick') > 0 AS queued;
SELECT procflow.run_jobs();
SELECT count(*) AS ticks FROM ticks;

-- retry_job queues a failed job again as a new job
SELECT procflow.retry_job(:poison_job) > :poison_job AS new_job;
SELECT process, state FROM procflow.jobs;
SELECT procflow.retry_job(:poison_job) > 0 AS queued_again;	-- a failed job can be retried more than once
SELECT count(*) FROM procflow.jobs;
SELECT procflow.cancel_job(id) FROM procflow.jobs;
SELECT process, status, error FROM procflow.job_history WHERE status = 'cancelled' ORDER BY id;
SELECT procflow.cancel_job(:poison_job);
SELECT procflow.retry_job(id) FROM procflow.job_history WHERE status = 'succeeded' LIMIT 1;
SELECT procflow.retry_job(-1);
SELECT procflow.cancel_job(NULL);

-- a failure in a retry is recorded per attempt; the error keeps SQLSTATE and detail
SELECT procflow.create_process('detailed', NULL,
    $$DO 'BEGIN RAISE EXCEPTION ''bad thing'' USING DETAIL = ''more about it'', ERRCODE = ''P0042''; END'$$,
    max_attempts => 1);
SELECT procflow.run_process('detailed') > 0 AS queued;
SELECT procflow.run_jobs();
SELECT status, attempts, error_code, error, error_detail, error_context FROM procflow.job_history WHERE process = 'detailed';

-- recursion: an action that fires its own process stops at procflow.max_depth
CREATE TABLE counter (id int PRIMARY KEY, n int);
INSERT INTO counter VALUES (1, 0);
SELECT procflow.create_process('bump', 'counter', $$UPDATE counter SET n = n + 1 WHERE id = ($1).id$$);
SELECT procflow.add_trigger('bump', 'update');
SET procflow.max_depth = 5;
UPDATE counter SET n = 100;
-- exclude lets a process ignore what its own action does
SELECT procflow.create_process('bump_once', 'counter', $$UPDATE counter SET n = n + 1 WHERE id = ($1).id$$,
    exclude => '{bump_once, bump}');
SELECT procflow.drop_process('bump');
SELECT procflow.add_trigger('bump_once', 'update');
UPDATE counter SET n = 100;
SELECT n FROM counter;
-- queued chains stop too: the job whose action would go too deep fails
SELECT procflow.create_process('bump_queued', 'counter', $$UPDATE counter SET n = n + 1 WHERE id = ($1).id$$, max_attempts => 1);
SELECT procflow.drop_process('bump_once');
SELECT procflow.add_trigger('bump_queued', 'update', queued => true);
UPDATE counter SET n = 0;
SELECT procflow.run_jobs();
SELECT n FROM counter;
SELECT status, count(*), max(error) FROM procflow.job_history WHERE process = 'bump_queued' GROUP BY 1 ORDER BY 1;
RESET procflow.max_depth;

-- settings an action changes do not outlive it
SELECT procflow.create_process('setter', NULL, $$SELECT set_config('work_mem', '1234kB', false)$$);
SELECT procflow.run_process('setter') > 0 AS queued;
SELECT procflow.run_jobs();
SHOW work_mem;
SELECT count(procflow.drop_process(name)) AS dropped FROM procflow.processes;
SELECT (SELECT count(*) FROM procflow.job) + (SELECT count(*) FROM procflow.finished_job) AS job_rows;
