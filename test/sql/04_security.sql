-- Security: ownership of entity tables and definitions, actions as the owner.
CREATE ROLE pf_alice;
CREATE ROLE pf_bob;
CREATE TABLE alice_t (id int PRIMARY KEY, note text);
ALTER TABLE alice_t OWNER TO pf_alice;
CREATE TABLE alice_log (id bigserial PRIMARY KEY, who text, note text);
ALTER TABLE alice_log OWNER TO pf_alice;
GRANT INSERT, UPDATE, DELETE, SELECT ON alice_t TO pf_bob;

SET ROLE pf_bob;
-- bob may not bind a process to alice's table, nor touch procflow's tables
SELECT procflow.create_process('bob_on_alice', 'alice_t', 'SELECT 1');
SELECT * FROM procflow.process;
INSERT INTO procflow.job (process_id, event, ord, run_at) VALUES (1, 'run', 0, now());
RESET ROLE;

SET ROLE pf_alice;
SELECT procflow.create_process('alice_audit', 'alice_t',
    $$INSERT INTO alice_log (who, note) VALUES (current_user || '/' || session_user, ($1).note)$$);
SELECT procflow.add_trigger('alice_audit', 'create');
SELECT procflow.create_process('alice_queued', 'alice_t',
    $$INSERT INTO alice_log (who, note) VALUES (current_user || '/' || session_user, 'queued ' || ($1).note)$$);
SELECT procflow.add_trigger('alice_queued', 'create', queued => true);
RESET ROLE;

-- bob writes alice's table: alice's actions run as alice, not as bob
SET ROLE pf_bob;
INSERT INTO alice_t VALUES (1, 'from bob');
-- bob sees none of alice's definitions or jobs, and cannot change them
SELECT count(*) FROM procflow.processes;
SELECT count(*) FROM procflow.jobs;
SELECT procflow.disable_process('alice_audit');
SELECT procflow.drop_process('alice_audit');
SELECT procflow.add_trigger('alice_audit', 'delete');
SELECT procflow.run_process('alice_audit');
SELECT procflow.run_jobs();		-- runs only bob's own jobs: none
RESET ROLE;

SET ROLE pf_alice;
SELECT name, owner FROM procflow.processes ORDER BY name;
SELECT process, state FROM procflow.jobs;
SELECT procflow.run_jobs();
SELECT who, note FROM alice_log ORDER BY id;
RESET ROLE;

-- the superuser sees everything; queued actions still run as the owner
SELECT name, owner FROM procflow.processes ORDER BY name;
INSERT INTO alice_t VALUES (2, 'from the superuser');
SELECT procflow.run_jobs();
SELECT who, note FROM alice_log ORDER BY id;

-- an action cannot become another role: SET ROLE, RESET ROLE and set_config are refused
SET ROLE pf_alice;
SELECT procflow.create_process('alice_escape', NULL, 'RESET ROLE', max_attempts => 1);
SELECT procflow.create_process('alice_escape2', NULL, $$SELECT set_config('role', 'postgres', false)$$, max_attempts => 1);
SELECT procflow.create_process('alice_escape3', NULL, $$SET SESSION AUTHORIZATION postgres$$, max_attempts => 1);
SELECT procflow.create_process('alice_temp', NULL, $$CREATE TEMP TABLE shadow (id int)$$, max_attempts => 1);
SELECT procflow.run_process(p) > 0 AS queued
  FROM unnest(ARRAY['alice_escape', 'alice_escape2', 'alice_escape3', 'alice_temp']) p;
RESET ROLE;
SELECT procflow.run_jobs();
SELECT process, status, error FROM procflow.job_history WHERE process LIKE 'alice_escape%' OR process = 'alice_temp' ORDER BY process;
SELECT current_user, session_user;

-- immediate actions too
SET ROLE pf_alice;
SELECT procflow.create_process('alice_reset', 'alice_t', 'RESET ROLE');
SELECT procflow.add_trigger('alice_reset', 'update');
RESET ROLE;
UPDATE alice_t SET note = 'x' WHERE id = 1;

-- system catalogs and procflow's own tables are refused
SELECT procflow.create_process('catalog', 'pg_class', 'SELECT 1');
SELECT procflow.create_process('own', 'procflow.job', 'SELECT 1');

SELECT count(procflow.drop_process(name)) AS dropped FROM procflow.processes;
DROP TABLE alice_t, alice_log;
DROP ROLE pf_alice, pf_bob;
