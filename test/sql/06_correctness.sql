-- Correctness of the light engine under what users do: column names that
-- clash with procflow's own statements, other session settings, other
-- table shapes (partitions, inheritance), ALTER TABLE, TRUNCATE,
-- subtransactions, and "exclude" across queued hops.
CREATE SCHEMA correctness;
SET search_path = correctness, public;
CREATE TABLE trail (n serial, note text);

-- 1. no column name changes what procflow's statements mean: the re-read
--    of a row whose table has columns named like its alias
CREATE TABLE item (id int PRIMARY KEY, e int, procflow_row int, "select" text);
SELECT procflow.create_process('item_changed', 'item',
    $$INSERT INTO trail (note) VALUES (format('item %s e=%s row=%s', ($1).id, ($1).e, ($1).procflow_row))$$);
SELECT procflow.add_trigger('item_changed', 'update', queued => true) > 0 AS added;
INSERT INTO item VALUES (1, 10, 100, 'x');
UPDATE item SET e = 11;
SELECT procflow.run_jobs();
SELECT process, status, error FROM procflow.job_history WHERE process = 'item_changed';
SELECT note FROM trail ORDER BY n;
TRUNCATE trail;

-- 2. jobs collected by a statement belong to its (sub)transaction: a nested
--    statement whose exception block rolls back takes only its own jobs
CREATE TABLE orders (id int PRIMARY KEY);
CREATE TABLE audit (id serial PRIMARY KEY, note text);
CREATE FUNCTION orders_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        INSERT INTO audit (note) VALUES ('order ' || NEW.id);
        RAISE EXCEPTION 'audit refused';
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
    RETURN NULL;
END
$$;
CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION orders_audit();
SELECT procflow.create_process('order_placed', 'orders',
    $$INSERT INTO trail (note) VALUES ('order placed ' || ($1).id)$$);
SELECT procflow.add_trigger('order_placed', 'create', queued => true) > 0 AS added;
SELECT procflow.create_process('audit_written', 'audit',
    $$INSERT INTO trail (note) VALUES ('audit written ' || ($1).note)$$);
SELECT procflow.add_trigger('audit_written', 'create', queued => true) > 0 AS added;
INSERT INTO orders VALUES (1), (2), (3);
SELECT process, count(*) FROM procflow.jobs GROUP BY 1 ORDER BY 1;
-- a savepoint rolled back takes its jobs, and the cancellations its
-- deletes made; one released keeps them
BEGIN;
INSERT INTO orders VALUES (4);
SAVEPOINT s1;
INSERT INTO orders VALUES (5);
DELETE FROM orders WHERE id = 4;
ROLLBACK TO SAVEPOINT s1;
SAVEPOINT s2;
INSERT INTO orders VALUES (6);
RELEASE SAVEPOINT s2;
COMMIT;
SELECT procflow.run_jobs();
SELECT note FROM trail ORDER BY n;
SELECT count(*) AS audit_jobs FROM procflow.job_history WHERE process = 'audit_written';
TRUNCATE trail;

-- 4. partitioned entity tables fire for every partition, at any depth;
--    a partition's row reaches the action in the entity's row type, even
--    when the partition's columns are in another order
CREATE TABLE sale (region text, id int, amount numeric, PRIMARY KEY (region, id))
    PARTITION BY LIST (region);
CREATE TABLE sale_north PARTITION OF sale FOR VALUES IN ('north');
CREATE TABLE sale_south (dropped int, amount numeric, id int NOT NULL, region text NOT NULL);
ALTER TABLE sale_south DROP COLUMN dropped;
ALTER TABLE sale ATTACH PARTITION sale_south FOR VALUES IN ('south');
CREATE TABLE sale_east PARTITION OF sale FOR VALUES IN ('east', 'far east')
    PARTITION BY LIST (region);
CREATE TABLE sale_far_east PARTITION OF sale_east FOR VALUES IN ('far east');
SELECT procflow.create_process('sale_now', 'sale',
    $$INSERT INTO trail (note) VALUES (format('now %s %s %s %s', $3->>'event', ($1).region, ($1).id, ($1).amount))$$);
SELECT procflow.add_trigger('sale_now', 'create') > 0 AS added;
SELECT procflow.create_process('sale_later', 'sale',
    $$INSERT INTO trail (note) VALUES (format('later %s %s %s %s old %s', $3->>'event', ($1).region,
        ($1).id, ($1).amount, ($2).amount))$$);
SELECT procflow.add_trigger('sale_later', 'update', queued => true) > 0 AS added;
SELECT procflow.add_trigger('sale_later', 'delete', queued => true) > 0 AS added;
INSERT INTO sale VALUES ('north', 1, 10), ('south', 2, 20), ('far east', 3, 30);
INSERT INTO sale_south (region, id, amount) VALUES ('south', 4, 40);
UPDATE sale SET amount = amount + 1;
DELETE FROM sale_far_east;
SELECT procflow.run_jobs();
SELECT note FROM trail ORDER BY note;
-- a row moving to another partition is deleted there and created in the
-- other (its key changes): pending jobs of the old key are cancelled
UPDATE sale SET amount = 99 WHERE id = 4;
UPDATE sale SET region = 'north' WHERE id = 4;
SELECT procflow.run_jobs();
SELECT process, event, status, error, key FROM procflow.job_history
 WHERE process = 'sale_later' AND key->>'id' = '4' ORDER BY id;
-- TRUNCATE of one partition cancels the jobs of the rows it removed
UPDATE sale SET amount = 0;
TRUNCATE sale_south;
SELECT process, key FROM procflow.jobs ORDER BY id;
SELECT procflow.run_jobs() AS ran;
SELECT error, count(*) FROM procflow.job_history WHERE process = 'sale_later'
 GROUP BY 1 ORDER BY 1;
TRUNCATE trail;

-- 5. keys and old rows read back the same whatever the settings of the
--    writer and of the executor
CREATE TABLE shift (day date, at timestamptz, ratio float8, span interval, note text,
                    PRIMARY KEY (day, ratio));
SELECT procflow.create_process('shift_changed', 'shift',
    $$INSERT INTO trail (note) VALUES (format('%s %s %s %s | old %s %s %s', ($1).day, ($1).ratio,
        ($1).at AT TIME ZONE 'UTC', ($1).span, ($2).day, ($2).at AT TIME ZONE 'UTC', ($2).span))$$);
SELECT procflow.add_trigger('shift_changed', 'update', queued => true) > 0 AS added;
SELECT procflow.create_process('shift_gone', 'shift',
    $$INSERT INTO trail (note) VALUES (format('deleted %s %s %s', ($1).day, ($1).ratio, ($1).note))$$);
SELECT procflow.add_trigger('shift_gone', 'delete', queued => true) > 0 AS added;
INSERT INTO shift VALUES ('2024-02-01', '2024-02-01 10:00+00', 0.1::float8 + 0.2::float8, '1 day 2 hours', 'a'),
                         ('2024-01-25', '2024-01-25 23:30+00', 1.0 / 3, '-1 mon +3 days', 'b');
SET datestyle = 'SQL, DMY';
SET TimeZone = 'Asia/Kolkata';
SET extra_float_digits = 0;
SET IntervalStyle = 'sql_standard';
UPDATE shift SET note = 'changed';
DELETE FROM shift WHERE note = 'changed' AND day = '25/01/2024';
RESET datestyle;
RESET TimeZone;
RESET extra_float_digits;
RESET IntervalStyle;
SET datestyle = 'German, MDY';
SET TimeZone = 'America/St_Johns';
SELECT procflow.run_jobs();
RESET datestyle;
RESET TimeZone;
SELECT process, status, error FROM procflow.job_history WHERE process LIKE 'shift%' ORDER BY id;
SELECT note FROM trail ORDER BY n;
-- the key as the job keeps it, and as the jobs view shows it
SELECT key FROM procflow.job_history WHERE process = 'shift_gone';
-- run_process reads a key as its caller writes it
SET datestyle = 'SQL, DMY';
SELECT procflow.run_process('shift_changed', '{"day": "01/02/2024", "ratio": 0.30000000000000004}') > 0 AS queued;
RESET datestyle;
SELECT key FROM procflow.jobs WHERE process = 'shift_changed';
SELECT procflow.run_jobs();
SELECT process, status, error FROM procflow.job_history WHERE process = 'shift_changed' ORDER BY id DESC LIMIT 1;
TRUNCATE trail;

-- 6. pending jobs see their old row's values by column across ALTER TABLE
CREATE TABLE person (id int PRIMARY KEY, a text, b text);
SELECT procflow.create_process('person_gone', 'person',
    $$INSERT INTO trail (note) VALUES (format('deleted %s b=%s: %s', ($1).id, ($1).b, to_jsonb($1)))$$);
SELECT procflow.add_trigger('person_gone', 'delete', queued => true) > 0 AS added;
INSERT INTO person VALUES (1, 'A1', 'B1'), (2, 'A2', 'B2');
DELETE FROM person;
ALTER TABLE person DROP COLUMN a, ADD COLUMN z int;
SELECT procflow.run_jobs();
SELECT note FROM trail ORDER BY n;
TRUNCATE trail;

-- 7. renaming a watched column follows it; dropping it is refused
CREATE TABLE watched (id int PRIMARY KEY, price numeric, qty int);
SELECT procflow.create_process('price_changed', 'watched',
    $$INSERT INTO trail (note) VALUES ('price of ' || ($1).id || ' changed, old row ' || ($2)::text)$$);
SELECT procflow.add_trigger('price_changed', 'update', fields => '{price}', queued => true) > 0 AS added;
INSERT INTO watched VALUES (1, 10, 1);
UPDATE watched SET price = 11;
ALTER TABLE watched RENAME COLUMN price TO amount;
SELECT process, fields FROM procflow.process_triggers WHERE process = 'price_changed';
UPDATE watched SET qty = 2;
UPDATE watched SET amount = 12;
SELECT procflow.run_jobs();
SELECT note FROM trail ORDER BY n;
\set VERBOSITY terse
ALTER TABLE watched DROP COLUMN amount;
\set VERBOSITY default
SELECT procflow.export_definitions('{price_changed}') -> 'processes' -> 'price_changed' -> 'triggers';
SELECT procflow.load_definitions(procflow.export_definitions('{price_changed}'));
TRUNCATE trail;

-- 8. TRUNCATE cancels the pending create and update jobs of the rows it
--    removes; delete jobs, which carry their row, stay
CREATE TABLE member (id int PRIMARY KEY, name text);
SELECT procflow.create_process('welcome', 'member',
    $$INSERT INTO trail (note) VALUES ('welcome ' || ($1).name)$$);
SELECT procflow.add_trigger('welcome', 'create', queued => true) > 0 AS added;
SELECT procflow.create_process('farewell', 'member',
    $$INSERT INTO trail (note) VALUES ('farewell ' || ($1).name)$$);
SELECT procflow.add_trigger('farewell', 'delete', queued => true) > 0 AS added;
INSERT INTO member VALUES (1, 'old Ann');
DELETE FROM member;
INSERT INTO member VALUES (1, 'old Ann'), (2, 'old Bob');
TRUNCATE member;
INSERT INTO member VALUES (1, 'new Ann');
SELECT procflow.run_jobs();
SELECT note FROM trail ORDER BY n;
SELECT process, status, error, key FROM procflow.job_history
 WHERE process IN ('welcome', 'farewell') ORDER BY id;
TRUNCATE trail;

-- 9. "exclude" holds across queued hops
CREATE TABLE xa (id int PRIMARY KEY);
CREATE TABLE xb (id int PRIMARY KEY);
CREATE TABLE xc (id int PRIMARY KEY);
SELECT procflow.create_process('hop_c', 'xc', $$INSERT INTO trail (note) VALUES ('C ran')$$);
SELECT procflow.add_trigger('hop_c', 'create') > 0 AS added;
SELECT procflow.create_process('hop_b', 'xb', $$INSERT INTO xc VALUES (($1).id)$$);
SELECT procflow.add_trigger('hop_b', 'create', queued => true) > 0 AS added;
SELECT procflow.create_process('hop_a', 'xa', $$INSERT INTO xb VALUES (($1).id)$$, exclude => '{hop_c}');
SELECT procflow.add_trigger('hop_a', 'create') > 0 AS added;
INSERT INTO xa VALUES (1);
SELECT procflow.run_jobs();
SELECT count(*) AS c_ran FROM trail;
-- without the exclusion C runs
INSERT INTO xb VALUES (2);
SELECT procflow.run_jobs();
SELECT note FROM trail ORDER BY n;
TRUNCATE trail;

-- 10. the primary key names pending jobs' rows: it cannot change while jobs
--     are pending, and cannot go while processes use the table
CREATE TABLE coded (id int PRIMARY KEY, code int UNIQUE NOT NULL);
SELECT procflow.create_process('coded_changed', 'coded',
    $$INSERT INTO trail (note) VALUES ('coded ' || ($1).id || ' ' || ($1).code)$$);
SELECT procflow.add_trigger('coded_changed', 'update', queued => true) > 0 AS added;
INSERT INTO coded VALUES (1, 2), (2, 1);
UPDATE coded SET code = code + 10 WHERE id = 1;
\set VERBOSITY terse
BEGIN;
ALTER TABLE coded DROP CONSTRAINT coded_pkey;
ALTER TABLE coded ADD PRIMARY KEY (code);
ROLLBACK;
ALTER TABLE coded DROP CONSTRAINT coded_pkey, ADD PRIMARY KEY (code);
ALTER TABLE coded DROP CONSTRAINT coded_pkey;
\set VERBOSITY default
SELECT procflow.run_jobs();
SELECT note FROM trail ORDER BY n;
-- with no job pending, the key may change; processes then use the new one
ALTER TABLE coded DROP CONSTRAINT coded_pkey, ADD PRIMARY KEY (code);
UPDATE coded SET id = 7 WHERE code = 12;
SELECT key FROM procflow.jobs WHERE process = 'coded_changed';
SELECT procflow.run_jobs();
SELECT note FROM trail ORDER BY n;
TRUNCATE trail;

-- 12. the re-read goes through the table the process names, not its
--     inheritance children
CREATE TABLE animal (id int PRIMARY KEY, name text);
CREATE TABLE dog (good boolean) INHERITS (animal);
SELECT procflow.create_process('animal_seen', 'animal',
    $$INSERT INTO trail (note) VALUES ('animal ' || ($1).name)$$);
INSERT INTO dog VALUES (5, 'Rex', true);
SELECT procflow.run_process('animal_seen', '{"id": 5}') > 0 AS queued;
SELECT procflow.run_jobs();
SELECT process, status, error FROM procflow.job_history WHERE process = 'animal_seen';

-- 15. run_jobs() cannot be called from an action
SELECT procflow.create_process('nested_runner', NULL, 'SELECT procflow.run_jobs()', max_attempts => 1);
SELECT procflow.run_process('nested_runner') > 0 AS queued;
SELECT procflow.run_jobs();
SELECT process, status, error_code, error FROM procflow.job_history WHERE process = 'nested_runner';

SELECT count(procflow.drop_process(name)) AS dropped FROM procflow.processes;
