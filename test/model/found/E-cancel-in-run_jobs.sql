-- A query cancel (statement_timeout) while run_jobs() runs a step leaves the session
-- in an aborted transaction block outside any BEGIN: the next statement fails with
-- 25P02, and ROLLBACK ends the backend (FATAL: UserAbortTransactionBlock: unexpected
-- state STARTED).  Run with psql against a server with procflow.database = ''.
\set VERBOSITY verbose
CREATE SCHEMA lg2; SET search_path = lg2;
CREATE TABLE item (id int primary key);
SELECT procflow.create_flow('lg2_f', 'item', $${"start": "a", "activities": {
 "a": {"kind": "automatic", "action": "SELECT 1", "next": "d"},
 "d": {"kind": "decision", "cases": [{"when": "(SELECT count(*) FROM generate_series(1, 10000000)) > 0", "next": "e"}], "else": "e"},
 "e": {"kind": "end"}}}$$);
INSERT INTO item VALUES (1);
SELECT procflow.launch('lg2_f', '1');
SET statement_timeout = 300;
SELECT procflow.run_jobs();
SELECT 1 AS after_timeout;
ROLLBACK;
SELECT 2 AS after_rollback;
