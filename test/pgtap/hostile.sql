-- A hostile role beside a victim and a superuser: no code chosen by one
-- role runs with another's privileges, jobs leave nothing behind for the
-- next, and names are per owner.
BEGIN;
SELECT plan(38);

CREATE ROLE pgtap_attacker;
CREATE ROLE pgtap_victim;
CREATE SCHEMA att AUTHORIZATION pgtap_attacker;
CREATE SCHEMA vic AUTHORIZATION pgtap_victim;
GRANT USAGE ON SCHEMA att, vic TO PUBLIC;
-- what ran as whom
CREATE TABLE public.seen (who text, what text);
GRANT INSERT, SELECT ON public.seen TO PUBLIC;

-- the attacker's code: escalates when it finds itself a superuser
SET ROLE pgtap_attacker;
CREATE FUNCTION att.escalate(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.seen VALUES (current_user, what);
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE pgtap_attacker SUPERUSER';
    END IF;
    RETURN true;
END
$$;
CREATE TABLE att.t (id int PRIMARY KEY, v int);
RESET ROLE;

-- 1. processes as code never hand a process to a more privileged owner
SET ROLE pgtap_attacker;
SET search_path = att, public;
SELECT procflow.create_process('att_p', NULL, $$SELECT escalate('att_p')$$);
CREATE TEMP TABLE att_doc AS SELECT procflow.export_definitions() AS d;
RESET search_path;
RESET ROLE;
SELECT procflow.create_process('dba_p', NULL, 'SELECT 1');
SELECT is(procflow.export_definitions()->'processes' ? 'att_p', false,
    'a superuser''s export holds the superuser''s processes only');
SELECT is((SELECT d->'processes'->'att_p'->>'owner' FROM att_doc), 'pgtap_attacker',
    'an export says whose each process is');
SET ROLE pgtap_attacker;
SELECT procflow.drop_process('att_p');
RESET ROLE;
SELECT lives_ok($$SELECT procflow.load_definitions((SELECT d FROM att_doc))$$,
    'a superuser reloads the attacker''s export, with its search_path');
SELECT is((SELECT owner::text FROM procflow.processes WHERE name = 'att_p'), 'pgtap_attacker',
    'the reloaded process keeps its owner');
SELECT procflow.run_process('att_p');
SELECT procflow.run_jobs();
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'pgtap_attacker'), false,
    'and its action ran as that owner, not as the superuser who loaded it');
SELECT is((SELECT string_agg(DISTINCT who, ',') FROM seen WHERE what = 'att_p'), 'pgtap_attacker', 'as whom it ran');

-- 2. procflow's own work on the attacker's table (re-reads, key and row
--    values through the attacker's domain) runs as the table's owner, also
--    for a superuser's process
SET ROLE pgtap_attacker;
CREATE DOMAIN att.did AS int CHECK (att.escalate('domain check'));
CREATE TABLE att.d (id att.did PRIMARY KEY, v att.did);
INSERT INTO att.d VALUES (1, 1), (2, 2);
RESET ROLE;
SELECT procflow.create_process('dba_on_att', 'att.d', $$INSERT INTO seen VALUES (current_user, 'dba action')$$);
SELECT procflow.add_trigger('dba_on_att', 'update', queued => true) > 0 AS added;
SELECT procflow.add_trigger('dba_on_att', 'delete', queued => true) > 0 AS added;
SET ROLE pgtap_attacker;
UPDATE att.d SET v = v + 10;
DELETE FROM att.d WHERE id = 2;
RESET ROLE;
DELETE FROM seen;
SELECT is(procflow.run_jobs(), 2, 'the superuser''s jobs on the attacker''s table ran (an update, a delete)');
SELECT is((SELECT string_agg(DISTINCT who, ',') FROM seen WHERE what = 'domain check'), 'pgtap_attacker',
    'the attacker''s domain check ran as the attacker only');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'pgtap_attacker'), false, 'and escalated nothing');
SELECT is((SELECT count(*)::int FROM seen WHERE what = 'dba action' AND who = 'postgres'), 2,
    'the superuser''s own action ran as the superuser');

-- 3. cursors: a job's open cursor is closed when it ends; run_jobs does not
--    run jobs beside the caller's cursors
SET ROLE pgtap_victim;
CREATE TABLE vic.secret (s text);
INSERT INTO vic.secret VALUES ('victim''s secret');
SELECT procflow.create_process('vic_cursor', NULL, 'DECLARE vc CURSOR WITH HOLD FOR SELECT s FROM vic.secret',
    execution_order => 1);
SELECT procflow.run_process('vic_cursor');
RESET ROLE;
SET ROLE pgtap_attacker;
SELECT procflow.create_process('att_fetch', NULL, 'FETCH vc', execution_order => 2, max_attempts => 1);
SELECT procflow.run_process('att_fetch');
RESET ROLE;
SELECT procflow.run_jobs();
SELECT is((SELECT error FROM procflow.job_history WHERE process = 'att_fetch'), 'cursor "vc" does not exist',
    'a later job cannot read a cursor a job left');
SELECT is((SELECT count(*)::int FROM pg_cursors WHERE name = 'vc'), 0, 'the cursor was closed when its job ended');
DECLARE mine CURSOR FOR SELECT rolname FROM pg_authid;
SELECT throws_ok($$SELECT procflow.run_jobs()$$, '55000', NULL, 'run_jobs refuses to run jobs beside open cursors');
CLOSE mine;
-- an immediate action's cursor is closed when it returns
SET ROLE pgtap_attacker;
SELECT procflow.create_process('att_leave_cursor', 'att.t', 'DECLARE ac CURSOR FOR SELECT 1');
SELECT procflow.add_trigger('att_leave_cursor', 'create') > 0 AS added;
INSERT INTO att.t VALUES (1, 1);
SELECT is((SELECT count(*)::int FROM pg_cursors WHERE name = 'ac'), 0, 'an immediate action''s cursor is closed');
RESET ROLE;

-- 4. what a job does to its transaction stays with it
SET ROLE pgtap_attacker;
SELECT procflow.create_process('att_deferred_mode', NULL, 'SET CONSTRAINTS ALL DEFERRED', max_attempts => 1);
SELECT procflow.run_process('att_deferred_mode');
CREATE FUNCTION att.deferred_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM att.escalate('deferred trigger');
    RETURN NULL;
END
$$;
CREATE TABLE att.c (id int);
CREATE CONSTRAINT TRIGGER att_c_check AFTER INSERT ON att.c DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION att.deferred_check();
SELECT procflow.create_process('att_deferred', NULL, 'INSERT INTO att.c VALUES (1)');
SELECT procflow.run_process('att_deferred');
RESET ROLE;
DELETE FROM seen;
SELECT procflow.run_jobs();
SELECT is((SELECT error_code FROM procflow.job_history WHERE process = 'att_deferred_mode'), '0A000',
    'SET CONSTRAINTS in an action is refused');
SELECT is((SELECT error FROM procflow.job_history WHERE process = 'att_deferred'),
    'cannot fire deferred trigger within security-restricted operation',
    'an action cannot queue a deferred trigger, which would fire at the caller''s commit as the caller');
SELECT is((SELECT count(*)::int FROM seen WHERE what = 'deferred trigger'), 0, 'and none fired');

-- 5. actions cannot create temporary objects, even in a session that has
--    its temporary schema already
CREATE TEMP TABLE session_has_temp (x int);
SET ROLE pgtap_attacker;
SELECT procflow.create_process('att_temp', NULL,
    $$CREATE FUNCTION pg_temp.helper() RETURNS text LANGUAGE sql AS 'SELECT current_user::text'$$, max_attempts => 1);
SELECT procflow.run_process('att_temp');
SELECT procflow.create_process('att_temp_now', 'att.t', $$CREATE TEMP TABLE att_tmp (x int)$$);
SELECT procflow.add_trigger('att_temp_now', 'update') > 0 AS added;
RESET ROLE;
SELECT procflow.run_jobs();
SELECT is((SELECT error FROM procflow.job_history WHERE process = 'att_temp'),
    'an action cannot create temporary objects', 'a temporary function from a queued action is refused');
SELECT is((SELECT count(*)::int FROM pg_proc WHERE proname = 'helper'), 0, 'and none was created');
SELECT throws_ok($$UPDATE att.t SET v = 2$$, '42501', NULL,
    'a temporary table from an immediate action is refused');

-- 6. nothing an action does to procflow's rows keeps other jobs from running
SET ROLE pgtap_attacker;
SELECT procflow.create_process('att_poison', NULL,
    $$SELECT procflow.cancel_job((($3)->>'job_id')::bigint)$$, execution_order => -2147483648);
SELECT procflow.run_process('att_poison');
SELECT procflow.create_process('att_suicide', NULL,
    $$SELECT procflow.drop_process('att_suicide')$$, execution_order => -2147483648);
SELECT procflow.run_process('att_suicide');
SELECT procflow.run_process('att_suicide');
RESET ROLE;
SET ROLE pgtap_victim;
SELECT procflow.create_process('vic_work', NULL, $$INSERT INTO seen VALUES (current_user, 'victim work')$$);
SELECT procflow.run_process('vic_work');
RESET ROLE;
DELETE FROM seen;
SELECT lives_ok($$SELECT procflow.run_jobs()$$, 'a round with jobs that remove their own rows completes');
SELECT is((SELECT count(*)::int FROM seen WHERE what = 'victim work'), 1, 'the victim''s job ran');
SELECT is((SELECT status FROM procflow.job_history WHERE process = 'att_poison'), 'cancelled',
    'the job that cancelled itself is recorded as cancelled');
SELECT is((SELECT count(*)::int FROM procflow.processes WHERE name = 'att_suicide'), 0,
    'the process that dropped itself is gone with its jobs');
SELECT is((SELECT count(*)::int FROM procflow.jobs), 0, 'nothing is left pending');

-- 9. internal functions are not PUBLIC's
SET ROLE pgtap_attacker;
SELECT throws_ok($$CREATE TRIGGER flush_all AFTER INSERT ON att.t FOR EACH STATEMENT
    EXECUTE FUNCTION procflow.definitions_changed()$$, '42501', NULL, 'definitions_changed() is not executable by PUBLIC');
SELECT throws_ok($$CREATE TRIGGER wake_all AFTER INSERT ON att.t FOR EACH STATEMENT
    EXECUTE FUNCTION procflow.jobs_inserted()$$, '42501', NULL, 'jobs_inserted() neither');
SELECT throws_ok($$CREATE TRIGGER capture_mine AFTER INSERT ON att.t FOR EACH ROW
    EXECUTE FUNCTION procflow.capture()$$, '42501', NULL, 'capture() neither');
RESET ROLE;
SELECT throws_ok($$CREATE TRIGGER flush_all AFTER INSERT ON att.t FOR EACH STATEMENT
    EXECUTE FUNCTION procflow.definitions_changed(); INSERT INTO att.t VALUES (99, 1)$$,
    '39P01', 'procflow.definitions_changed() fires only on procflow''s own tables', 'and they fire on procflow''s tables only');

-- 10. names are per owner: no enumeration, no squatting, exclude among one's own
SET ROLE pgtap_victim;
CREATE TABLE vic.audited (id int PRIMARY KEY);
CREATE TABLE vic.audit_log (id int);
GRANT INSERT ON vic.audited TO pgtap_attacker;
SELECT procflow.create_process('v_audit', 'vic.audited', 'INSERT INTO vic.audit_log VALUES (($1).id)');
SELECT procflow.add_trigger('v_audit', 'create') > 0 AS added;
RESET ROLE;
SET ROLE pgtap_attacker;
SELECT lives_ok($$SELECT procflow.create_process('v_audit', NULL, 'SELECT 1')$$,
    'another role''s process name is neither taken nor revealed');
SELECT procflow.create_process('att_writer', 'att.t', 'INSERT INTO vic.audited VALUES (($1).id)',
    exclude => '{v_audit}');
SELECT procflow.add_trigger('att_writer', 'create') > 0 AS added;
INSERT INTO att.t VALUES (5, 5);
RESET ROLE;
SELECT is((SELECT count(*)::int FROM vic.audit_log WHERE id = 5), 1,
    'exclude names the attacker''s own v_audit, not the victim''s');
SELECT is((SELECT count(*)::int FROM procflow.processes WHERE name = 'v_audit'), 2, 'two processes, one name');
SELECT throws_ok($$SELECT procflow.drop_process('v_audit')$$, '42725', 'process name "v_audit" is ambiguous',
    'a superuser with no process of that name must say whose');
SET ROLE pgtap_victim;
SELECT lives_ok($$SELECT procflow.disable_process('v_audit')$$, 'each owner addresses its own');
RESET ROLE;

-- 11. a search_path naming a schema that merely contains "pg_temp" still
--     searches the session's temporary schema last
CREATE SCHEMA my_pg_temp_x;
CREATE TABLE my_pg_temp_x.shadowed (v text);
INSERT INTO my_pg_temp_x.shadowed VALUES ('the owner''s table');
SET search_path = my_pg_temp_x;
SELECT procflow.create_process('reads_shadowed', NULL,
    'INSERT INTO public.seen SELECT current_user, v FROM shadowed');
RESET search_path;
CREATE TEMP TABLE shadowed (v text);
INSERT INTO shadowed VALUES ('the session''s temporary table');
SELECT procflow.run_process('reads_shadowed');
DELETE FROM seen;
SELECT procflow.run_jobs();
SELECT is((SELECT what FROM seen), 'the owner''s table', 'temporary tables of the session never shadow the owner''s');


-- load_definitions resolves none of its own names through the caller's
-- search_path: the attacker's exact-match overload of a pg_catalog function
-- in a schema on that path does not run as the superuser loading a document
SET ROLE pgtap_attacker;
CREATE FUNCTION att.format(a text, b text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM att.escalate('format as ' || current_user);
    RETURN pg_catalog.format(a, b);
END
$$;
CREATE FUNCTION att.jsonb_build_array(a jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM att.escalate('jsonb_build_array as ' || current_user);
    RETURN pg_catalog.jsonb_build_array(a);
END
$$;
RESET ROLE;
DELETE FROM seen;
SET search_path = att, public;
SELECT lives_ok($$SELECT procflow.load_definitions('{"processes": {"supers_own": {"action": "SELECT 1",
    "exclude": ["supers_own"], "timeout": "5 s", "triggers": [{"cron": "0 0 * * *"}]}}}')$$,
    'a superuser loads its own document with another role''s schema first on its search_path');
RESET search_path;
SELECT is((SELECT string_agg(what, ', ') FROM seen), NULL, 'none of the attacker''s functions ran');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'pgtap_attacker'), false, 'the attacker is no superuser');

SELECT * FROM finish();
ROLLBACK;
