-- Light processes end to end: the seed's example, immediate and queued
-- triggers, update fields, conditions, deletes and execution order.
CREATE TABLE customer (id bigserial PRIMARY KEY, name text NOT NULL, vip boolean DEFAULT false);
CREATE TABLE account (id bigserial PRIMARY KEY, customer_id bigint REFERENCES customer, name text);
CREATE TABLE welcome (id bigserial PRIMARY KEY, customer_id bigint, note text);
CREATE TABLE trail (id bigserial PRIMARY KEY, note text);

-- a new customer creates an account at once, and a welcome record later
SELECT procflow.create_process('create_account', 'customer',
    $$INSERT INTO account (customer_id, name) VALUES (($1).id, ($1).name)$$,
    label => 'Create an account for a new customer');
SELECT procflow.add_trigger('create_account', 'create');
SELECT procflow.create_process('welcome_customer', 'customer',
    $$INSERT INTO welcome (customer_id, note) VALUES (($1).id, 'welcome, ' || ($1).name)$$,
    execution_order => 10, label => 'Welcome record');
SELECT procflow.add_trigger('welcome_customer', 'create', queued => true);

-- the trigger procflow installed
SELECT tgname, tgrelid::regclass, tgfoid::regproc FROM pg_trigger WHERE tgname = 'procflow_capture';

INSERT INTO customer (name) VALUES ('Ann'), ('Bob');
SELECT customer_id, name FROM account ORDER BY id;
SELECT process, event, key, state, attempts FROM procflow.jobs ORDER BY id;
SELECT count(*) FROM welcome;

-- executors would run them; here this session does
SELECT procflow.run_jobs();
SELECT customer_id, note FROM welcome ORDER BY id;
SELECT process, event, key, status, attempts, error FROM procflow.job_history ORDER BY id;

-- COPY and multi-row statements issue events like any insert
COPY customer (name) FROM stdin;
Cid
Dee
\.
SELECT count(*) AS accounts FROM account;

-- session_replication_role = replica skips capture
SET session_replication_role = replica;
INSERT INTO customer (name) VALUES ('Bulk');
RESET session_replication_role;
SELECT count(*) AS accounts FROM account;

-- update triggers with fields fire only when one of them changed
SELECT procflow.create_process('vip_changed', 'customer',
    $$INSERT INTO trail (note) VALUES (format('vip %s: %s -> %s, changed %s', ($1).name, ($2).vip, ($1).vip, $3->'changed'))$$);
SELECT procflow.add_trigger('vip_changed', 'update', fields => '{vip}');
UPDATE customer SET name = 'Ann B.' WHERE name = 'Ann';
UPDATE customer SET vip = true WHERE name = 'Ann B.';
UPDATE customer SET vip = true WHERE name = 'Ann B.';	-- no change, no event
SELECT note FROM trail ORDER BY id;

-- conditions are checked at the event and again when a queued job runs
SELECT procflow.create_process('vip_letter', 'customer',
    $$INSERT INTO trail (note) VALUES ('letter to ' || ($1).name)$$,
    condition => '($1).vip');
SELECT procflow.add_trigger('vip_letter', 'update', queued => true);
UPDATE customer SET name = name || '!' WHERE name IN ('Ann B.', 'Bob');
SELECT process, key FROM procflow.jobs ORDER BY id;
UPDATE customer SET vip = false WHERE name = 'Ann B.!';
SELECT procflow.run_jobs();
SELECT process, status, error FROM procflow.job_history WHERE process = 'vip_letter' ORDER BY id;

-- a delete cancels pending create and update jobs of the row; delete jobs get the old row
SELECT procflow.create_process('farewell', 'customer',
    $$INSERT INTO trail (note) VALUES ('farewell ' || ($1).name || ' ' || (($2).id = ($1).id))$$);
SELECT procflow.add_trigger('farewell', 'delete', queued => true);
INSERT INTO customer (name) VALUES ('Eve');
SELECT process, event FROM procflow.jobs ORDER BY id;
DELETE FROM account WHERE customer_id = (SELECT id FROM customer WHERE name = 'Eve');
DELETE FROM customer WHERE name = 'Eve';
SELECT process, event, status, error FROM procflow.job_history WHERE status = 'cancelled';
SELECT procflow.run_jobs();
SELECT note FROM trail WHERE note LIKE 'farewell%';

-- a queued job whose row is gone is skipped
SELECT procflow.add_trigger('vip_letter', 'create', queued => true);
SELECT procflow.create_process('late_note', 'customer', $$INSERT INTO trail (note) VALUES ('late')$$);
SELECT procflow.add_trigger('late_note', 'create', queued => true);
INSERT INTO customer (name) VALUES ('Fay');
ALTER TABLE account DROP CONSTRAINT account_customer_id_fkey;
SET session_replication_role = replica;		-- delete without events
DELETE FROM customer WHERE name = 'Fay';
RESET session_replication_role;
SELECT procflow.run_jobs();
SELECT process, status, error FROM procflow.job_history WHERE process = 'late_note';

-- execution order: smaller first, then higher priority
TRUNCATE trail;
SELECT procflow.create_process('order_b', 'customer', $$INSERT INTO trail (note) VALUES ('b')$$, execution_order => 2);
SELECT procflow.create_process('order_a', 'customer', $$INSERT INTO trail (note) VALUES ('a')$$, execution_order => 1);
SELECT procflow.create_process('order_c', 'customer', $$INSERT INTO trail (note) VALUES ('c')$$, execution_order => 2);
SELECT procflow.add_trigger('order_b', 'create');
SELECT procflow.add_trigger('order_a', 'create');
SELECT procflow.add_trigger('order_c', 'create');
SELECT procflow.create_process('q_low', 'customer', $$INSERT INTO trail (note) VALUES ('q low')$$, execution_order => 5);
SELECT procflow.create_process('q_high', 'customer', $$INSERT INTO trail (note) VALUES ('q high')$$, execution_order => 5);
SELECT procflow.create_process('q_first', 'customer', $$INSERT INTO trail (note) VALUES ('q first')$$, execution_order => -1);
SELECT procflow.add_trigger('q_low', 'create', queued => true, priority => 1);
SELECT procflow.add_trigger('q_high', 'create', queued => true, priority => 9);
SELECT procflow.add_trigger('q_first', 'create', queued => true);
SELECT procflow.disable_process('welcome_customer');
SELECT procflow.disable_process('vip_letter');
INSERT INTO customer (name) VALUES ('Gus');
SELECT procflow.run_jobs();
SELECT note FROM trail ORDER BY id;

-- disabled processes: no new events; enabling releases held jobs
SELECT procflow.run_process('welcome_customer', '{"id": 1}');
SELECT process, state FROM procflow.jobs;
SELECT procflow.run_jobs();
SELECT procflow.enable_process('welcome_customer');
SELECT procflow.run_jobs();
SELECT procflow.disable_process('welcome_customer', cancel_pending => true);
SELECT procflow.run_process('welcome_customer', '{"id": 2}');
SELECT procflow.disable_process('welcome_customer', cancel_pending => true);
SELECT process, status, error FROM procflow.job_history WHERE process = 'welcome_customer' ORDER BY id DESC LIMIT 1;
SELECT name, enabled FROM procflow.processes WHERE name LIKE 'welcome%';

-- the grid and the details page
SELECT name, label, related_entity, execution_order, enabled, owner FROM procflow.processes ORDER BY execution_order, name;
SELECT process, event, fields, queued, delay, priority FROM procflow.process_triggers ORDER BY id;

-- dropping the last trigger of a table removes procflow's row trigger
SELECT count(procflow.drop_process(name)) AS dropped FROM procflow.processes;
SELECT count(*) FROM pg_trigger WHERE tgname = 'procflow_capture';
SELECT (SELECT count(*) FROM procflow.job) + (SELECT count(*) FROM procflow.finished_job) AS job_rows;
