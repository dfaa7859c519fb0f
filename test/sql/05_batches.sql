-- Batches: a statement that queues many jobs of one trigger stores them as
-- one batch row; they behave as the same jobs stored one row each.
CREATE TABLE wallet (id int PRIMARY KEY, balance int);
CREATE TABLE wallet_log (seq bigserial PRIMARY KEY, job_id bigint, wallet int,
                     event text, balance int, old_balance int, changed jsonb);
SELECT procflow.create_process('book', 'wallet',
    $$INSERT INTO wallet_log (job_id, wallet, event, balance, old_balance, changed)
      VALUES (($3->>'job_id')::bigint, coalesce(($1).id, ($2).id), $3->>'event',
              ($1).balance, ($2).balance, $3->'changed')$$);
SELECT procflow.add_trigger('book', 'create', queued => true) > 0 AS created;
SELECT procflow.add_trigger('book', 'update', fields => '{balance}', queued => true) > 0 AS created;

-- a bulk insert is one batch; its items are pending jobs with consecutive ids
INSERT INTO wallet SELECT g, 100 FROM generate_series(1, 20) g;
SELECT event, key_columns, items FROM procflow.job_batch;
SELECT count(*) AS job_rows FROM procflow.job;
SELECT count(*) AS pending, count(DISTINCT id) AS ids, max(id) - min(id) + 1 AS id_span,
       min(key::text) FILTER (WHERE id = (SELECT min(id) FROM procflow.jobs)) AS first_key
  FROM procflow.jobs;
-- a short statement queues job rows
INSERT INTO wallet VALUES (21, 5), (22, 5);
SELECT count(*) AS job_rows FROM procflow.job;

-- running them writes one history row per item, with the item's id
CREATE TEMP TABLE shown AS SELECT id FROM procflow.jobs;
SELECT procflow.run_jobs();
SELECT count(*) AS batches FROM procflow.job_batch;
SELECT count(*) AS ran, bool_and(s.id IS NOT NULL) AS same_ids
  FROM procflow.job_history h LEFT JOIN shown s USING (id)
 WHERE h.status = 'succeeded';
SELECT count(*) AS entries, bool_and(job_id IS NOT NULL) AS job_ids,
       min(wallet), max(wallet) FROM wallet_log;

-- a bulk update: old rows and changed columns come with each item
TRUNCATE wallet_log;
UPDATE wallet SET balance = balance + id WHERE id <= 10;
SELECT event, items, old_rows IS NOT NULL AS old_rows, changed IS NOT NULL AS changed
  FROM procflow.job_batch;
SELECT procflow.run_jobs();
SELECT wallet, balance, old_balance, changed FROM wallet_log ORDER BY wallet LIMIT 3;

-- one row's jobs keep their order across job rows and batch items: the
-- single update of wallet 5 was queued first, so the bulk update's item
-- for it waits for it
TRUNCATE wallet_log;
UPDATE wallet SET balance = 0 WHERE id = 5;
UPDATE wallet SET balance = balance + 1000 WHERE id <= 10;
SELECT procflow.run_jobs();
SELECT procflow.run_jobs();
SELECT wallet, balance, old_balance FROM wallet_log WHERE wallet = 5 ORDER BY seq;
SELECT count(*) AS entries FROM wallet_log;
SELECT (SELECT count(*) FROM procflow.jobs) AS pending,
       (SELECT count(*) FROM procflow.job_batch) AS batches;

-- deleting a row cancels its item in a pending batch
SELECT procflow.add_trigger('book', 'create', delay => '1 hour') > 0 AS created;
SELECT procflow.drop_trigger(id) FROM procflow.process_triggers
 WHERE process = 'book' AND event = 'create' AND delay IS NULL;
INSERT INTO wallet SELECT g, 1 FROM generate_series(101, 130) g;
SELECT count(*) AS batches FROM procflow.job_batch;
DELETE FROM wallet WHERE id = 107;
SELECT status, key, error FROM procflow.job_history WHERE status = 'cancelled';
SELECT count(*) AS pending FROM procflow.jobs;

-- cancel_job and retry_job take an item's id
INSERT INTO wallet SELECT g, 1 FROM generate_series(201, 210) g;
SELECT min(id) AS item FROM procflow.jobs WHERE key->>'id' = '203' \gset
SELECT procflow.cancel_job(:item);
SELECT status, key FROM procflow.job_history WHERE id = :item;
SELECT procflow.retry_job(:item) > :item AS requeued;
SELECT min(id) AS item FROM procflow.jobs WHERE key->>'id' = '204' \gset
SELECT procflow.retry_job(:item) = :item AS made_due;
SELECT run_at <= now() AS due FROM procflow.jobs WHERE id = :item;

-- a batch that is not due does not hold back due work of its process: it
-- becomes job rows, and the due job runs
TRUNCATE wallet_log;
INSERT INTO wallet SELECT g, 1 FROM generate_series(301, 320) g;
UPDATE wallet SET balance = 7 WHERE id = 1;
SELECT procflow.run_jobs();
SELECT wallet, balance FROM wallet_log;
SELECT (SELECT count(*) FROM procflow.job_batch) AS batches,
       (SELECT count(*) FROM procflow.jobs WHERE key->>'id' BETWEEN '301' AND '320') AS still_pending;

-- jobs collected in a subtransaction that rolls back are dropped, also
-- when the statement failed before its end
CREATE FUNCTION fail_at_415() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id = 415 THEN RAISE EXCEPTION 'no 415'; END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER zz_fail AFTER INSERT ON wallet FOR EACH ROW EXECUTE FUNCTION fail_at_415();
BEGIN;
SAVEPOINT s;
INSERT INTO wallet SELECT g, 1 FROM generate_series(401, 420) g;
ROLLBACK TO s;
INSERT INTO wallet SELECT g, 1 FROM generate_series(501, 520) g;
SAVEPOINT t;
INSERT INTO wallet SELECT g, 1 FROM generate_series(601, 620) g;
ROLLBACK TO t;
COMMIT;
SELECT count(*) AS queued, min(key->>'id'), max(key->>'id')
  FROM procflow.jobs WHERE (key->>'id')::int > 400;
DROP TRIGGER zz_fail ON wallet;

-- cancelling a process's pending jobs reaches its batches
SELECT procflow.disable_process('book', cancel_pending => true);
SELECT (SELECT count(*) FROM procflow.jobs) AS pending,
       (SELECT count(*) FROM procflow.job_batch) AS batches;

-- other key types: a text key and a composite key
CREATE TABLE tag (name text PRIMARY KEY);
CREATE TABLE stock (sku text, warehouse int, qty int, PRIMARY KEY (sku, warehouse));
CREATE TABLE seen_keys (k text);
SELECT procflow.create_process('tags', 'tag', $$INSERT INTO seen_keys VALUES (($1).name)$$);
SELECT procflow.add_trigger('tags', 'create', queued => true) > 0 AS created;
SELECT procflow.create_process('stock', 'stock', $$INSERT INTO seen_keys VALUES (($1).sku || '/' || ($1).warehouse)$$);
SELECT procflow.add_trigger('stock', 'create', queued => true) > 0 AS created;
INSERT INTO tag SELECT 'tag ' || g FROM generate_series(1, 10) g;
INSERT INTO stock SELECT 'sku "' || g || '"', g % 3, 0 FROM generate_series(1, 10) g;
SELECT p.name, b.key_columns, b.items FROM procflow.job_batch b JOIN procflow.process p ON p.id = b.process_id ORDER BY 1;
SELECT process, key FROM procflow.jobs WHERE process IN ('tags', 'stock') ORDER BY id LIMIT 20 OFFSET 8;
SELECT procflow.run_jobs();
SELECT count(*) AS seen, min(k), max(k) FROM seen_keys;

-- an item's action that materializes another batch (by deleting rows that
-- another pending batch holds) leaves the batch being run intact
CREATE TABLE inbox (id int PRIMARY KEY);
CREATE TABLE outbox_later (id int PRIMARY KEY);
SELECT procflow.create_process('send_later', 'outbox_later', 'SELECT 1');
SELECT procflow.add_trigger('send_later', 'create', delay => '1 hour') > 0 AS created;
SELECT procflow.create_process('take_back', 'inbox', $$DELETE FROM outbox_later WHERE id = ($1).id$$);
SELECT procflow.add_trigger('take_back', 'create', queued => true) > 0 AS created;
INSERT INTO outbox_later SELECT g FROM generate_series(1, 10) g;
INSERT INTO inbox SELECT g FROM generate_series(1, 10) g;
SELECT p.name, b.items FROM procflow.job_batch b JOIN procflow.process p ON p.id = b.process_id ORDER BY 1;
SELECT procflow.run_jobs();
SELECT process, status, count(*) FROM procflow.job_history
 WHERE process IN ('send_later', 'take_back') GROUP BY 1, 2 ORDER BY 1, 2;
SELECT count(*) AS left_over FROM outbox_later;
