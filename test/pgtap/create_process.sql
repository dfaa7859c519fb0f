-- procflow.create_process: every argument, good and bad.
BEGIN;
SELECT plan(54);

CREATE TABLE cust (id int PRIMARY KEY, name text);
CREATE TABLE nopk (id int);
CREATE VIEW cust_v AS SELECT * FROM cust;
CREATE ROLE pgtap_other;
CREATE TABLE other_t (id int PRIMARY KEY);
ALTER TABLE other_t OWNER TO pgtap_other;
CREATE TEMP TABLE tmp_t (id int PRIMARY KEY);

-- the good path
SELECT lives_ok($$SELECT procflow.create_process('p1', 'cust', 'SELECT ($1).name')$$, 'minimal process');
SELECT lives_ok($$SELECT procflow.create_process('p2', 'cust', 'SELECT 1; SELECT 2', execution_order => -5,
    label => 'Two statements', condition => '($1).id > 0 AND $3 ? ''process''', enabled => false,
    max_attempts => 1000, timeout => '1 minute', exclude => '{p1}')$$, 'every argument');
SELECT lives_ok($$SELECT procflow.create_process('p3', NULL, 'SELECT $3->>''process''')$$, 'entity-less process');
SELECT lives_ok($$SELECT procflow.create_process('p4', 'cust', 'SELECT ($2).name', label => '')$$, 'empty label is a label');
SELECT results_eq($$SELECT name, label, related_entity::text, execution_order, enabled, max_attempts, timeout, exclude
    FROM procflow.processes WHERE name = 'p2'$$,
    $$VALUES ('p2'::text, 'Two statements'::text, 'cust'::text, -5, false, 1000, interval '1 minute', '{p1}'::text[])$$,
    'the definition as given');
SELECT is((SELECT owner::text FROM procflow.processes WHERE name = 'p1'), current_user::text, 'owned by its creator');
SELECT lives_ok($$SELECT procflow.create_process('p5', 'cust', 'ANALYZE cust')$$, 'ANALYZE can run in an action');
SELECT lives_ok($$SELECT procflow.create_process('p6', 'cust', 'SELECT 1', condition => '($1).id > 0 -- positive ids')$$, 'a condition ending in a comment');

CREATE TEMP TABLE before AS SELECT count(*) AS n FROM procflow.processes;

-- names
SELECT throws_ok($$SELECT procflow.create_process(NULL, 'cust', 'SELECT 1')$$, '22004', 'argument "name" must not be null', 'NULL name');
SELECT throws_ok($$SELECT procflow.create_process('', 'cust', 'SELECT 1')$$, '22023', 'argument "name" must not be empty', 'empty name');
SELECT throws_ok($$SELECT procflow.create_process('   ', 'cust', 'SELECT 1')$$, '22023', NULL, 'blank name');
SELECT throws_ok($$SELECT procflow.create_process(repeat('x', 201), 'cust', 'SELECT 1')$$, '42622', 'process name is too long', 'name too long');
SELECT throws_ok($$SELECT procflow.create_process('p1', 'cust', 'SELECT 1')$$, '42710', 'process "p1" already exists', 'duplicate name');
SELECT lives_ok($$SELECT procflow.create_process('p1''; DROP TABLE cust; --', 'cust', 'SELECT 1')$$, 'a name with quotes is only a name');
SELECT has_table('cust', 'and injects nothing');
SELECT lives_ok($$SELECT procflow.drop_process('p1''; DROP TABLE cust; --')$$, 'and can be dropped');

-- entity
SELECT throws_ok($$SELECT procflow.create_process('x', 'nosuch', 'SELECT 1')$$, '42P01', NULL, 'unknown table');
SELECT throws_ok($$SELECT procflow.create_process('x', 'nopk', 'SELECT 1')$$, '42P16', 'table "nopk" has no primary key', 'no primary key');
SELECT throws_ok($$SELECT procflow.create_process('x', 'cust_v', 'SELECT 1')$$, '42809', '"cust_v" is not a table', 'a view');
SELECT throws_ok($$SELECT procflow.create_process('x', 'tmp_t', 'SELECT 1')$$, '42809', '"tmp_t" is a temporary table', 'a temporary table');
SELECT throws_ok($$SELECT procflow.create_process('x', 'pg_class', 'SELECT 1')$$, '42501', 'processes cannot be bound to "pg_class"', 'a catalog');
SELECT throws_ok($$SELECT procflow.create_process('x', 'procflow.process', 'SELECT 1')$$, '42501', NULL, 'procflow''s own table');
SET ROLE pgtap_other;
SELECT throws_ok($$SELECT procflow.create_process('x', 'cust', 'SELECT 1')$$, '42501', 'must be owner of table cust', 'another role''s table');
RESET ROLE;
SELECT lives_ok($$SELECT procflow.create_process('x_super', 'other_t', 'SELECT 1')$$, 'a superuser may bind to any table');
SELECT lives_ok($$SELECT procflow.drop_process('x_super')$$, 'cleanup');

-- action
SELECT throws_ok($$SELECT procflow.create_process('x', 'cust', NULL)$$, '22004', 'argument "action" must not be null', 'NULL action');
SELECT throws_ok($$SELECT procflow.create_process('x', 'cust', '')$$, '22023', NULL, 'empty action');
SELECT throws_ok($$SELECT procflow.create_process('x', 'cust', ' ; ')$$, '42601', NULL, 'an action without statements');
SELECT throws_ok($$SELECT procflow.create_process('x', 'cust', 'SELEC 1')$$, '42601', NULL, 'syntax error in the action');
SELECT throws_ok($$SELECT procflow.create_process('x', 'cust', 'SELECT ($1).nosuch')$$, '42703', NULL, 'unknown field in the action');
SELECT throws_ok($$SELECT procflow.create_process('x', 'cust', 'INSERT INTO nosuch VALUES (1)')$$, '42P01', NULL, 'unknown table in the action');
SELECT throws_ok($$SELECT procflow.create_process('x', 'cust', 'SELECT $4')$$, '42P02', NULL, 'a fourth parameter');
SELECT throws_ok($$SELECT procflow.create_process('x', NULL, 'SELECT ($1).id')$$, '42703', NULL, 'entity-less actions have no row fields');
-- statements that can never run inside the transaction an action runs in
SELECT throws_ok($$SELECT procflow.create_process('x', 'cust', 'COMMIT')$$, '0A000', 'COMMIT cannot run in an action', 'COMMIT');
SELECT throws_ok($$SELECT procflow.create_process('x', 'cust', 'SELECT 1; ROLLBACK')$$, '0A000', 'ROLLBACK cannot run in an action', 'ROLLBACK after a statement');
SELECT throws_ok($$SELECT procflow.create_process('x', 'cust', 'VACUUM cust')$$, '0A000', 'VACUUM cannot run in an action', 'VACUUM');
SELECT throws_ok($$SELECT procflow.create_process('x', 'cust', 'COPY cust TO STDOUT')$$, '0A000', 'COPY cannot run in an action', 'COPY to the client');
SELECT throws_ok($$SELECT procflow.create_process('x', 'cust', 'CREATE INDEX CONCURRENTLY ON cust (name)')$$, '0A000', 'CREATE INDEX cannot run in an action', 'CREATE INDEX CONCURRENTLY');

-- condition
SELECT throws_ok($$SELECT procflow.create_process('x', 'cust', 'SELECT 1', condition => '($1).id')$$, '42804', 'condition must be a single boolean expression', 'non-boolean condition');
SELECT throws_ok($$SELECT procflow.create_process('x', 'cust', 'SELECT 1', condition => 'true); SELECT (true')$$, '42601', NULL, 'condition with two statements');
SELECT throws_ok($$SELECT procflow.create_process('x', 'cust', 'SELECT 1', condition => '')$$, '22023', NULL, 'empty condition');
SELECT throws_ok($$SELECT procflow.create_process('x', 'cust', 'SELECT 1', condition => '($1).nosuch')$$, '42703', NULL, 'unknown field in the condition');

-- numbers and flags
SELECT throws_ok($$SELECT procflow.create_process('x', 'cust', 'SELECT 1', execution_order => NULL)$$, '22004', NULL, 'NULL execution_order');
SELECT throws_ok($$SELECT procflow.create_process('x', 'cust', 'SELECT 1', enabled => NULL)$$, '22004', NULL, 'NULL enabled');
SELECT throws_ok($$SELECT procflow.create_process('x', 'cust', 'SELECT 1', max_attempts => 0)$$, '22023', 'max_attempts must be between 1 and 1000', 'max_attempts 0');
SELECT throws_ok($$SELECT procflow.create_process('x', 'cust', 'SELECT 1', max_attempts => 1001)$$, '22023', NULL, 'max_attempts too large');
SELECT throws_ok($$SELECT procflow.create_process('x', 'cust', 'SELECT 1', timeout => '0')$$, '22023', 'timeout must be positive', 'zero timeout');
SELECT throws_ok($$SELECT procflow.create_process('x', 'cust', 'SELECT 1', timeout => '-1 s')$$, '22023', NULL, 'negative timeout');
SELECT throws_ok($$SELECT procflow.create_process('x', 'cust', 'SELECT 1', exclude => '{}')$$, '22023', NULL, 'empty exclude');
SELECT throws_ok($$SELECT procflow.create_process('x', 'cust', 'SELECT 1', exclude => '{a,NULL}')$$, '22004', NULL, 'NULL in exclude');
SELECT throws_ok($$SELECT procflow.create_process('x', 'cust', 'SELECT 1', exclude => '{p1,nosuch}')$$, '42704', 'process "nosuch" named in "exclude" does not exist', 'exclude naming no process');

-- nothing half-written
SELECT is((SELECT count(*) FROM procflow.processes), (SELECT n FROM before), 'refusals wrote nothing');
-- A refused call's writes are rolled back with it (throws_ok's block is a
-- savepoint, as ROLLBACK TO would be); what could outlive the refusal is
-- the session's own state: the rule cache, which the next statement uses.
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'cust'::regclass), 0, 'no capture trigger on the table');
SELECT procflow.add_trigger('p4', 'create', queued => true) > 0 AS added;
INSERT INTO cust VALUES (100, 'x');
SELECT is((SELECT array_agg(process) FROM procflow.jobs), '{p4}',
    'an insert in the same session fires only the processes that exist');

SELECT * FROM finish();
ROLLBACK;
