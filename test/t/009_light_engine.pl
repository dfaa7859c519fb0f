# What the light engine does where users take it: a job that kills its
# executor ends as failed instead of crashing it for ever; jobs read but
# not started can be cancelled at once and are taken by an idle executor;
# COMMIT PREPARED wakes the executors; a dump restores where an owner role
# is missing; ALTER EXTENSION UPDATE from 0.1 keeps definitions and jobs
# and leaves the catalog a fresh installation makes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ProcflowTest;

my $node = procflow_node('light', 'postgres', conf => q{
procflow.workers = 2
procflow.retry_delay = 0
procflow.max_sleep = '10min'
max_prepared_transactions = 2
restart_after_crash = on
wal_level = replica
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION procflow;
CREATE TABLE trail (note text);
CREATE TABLE item (id int PRIMARY KEY, state text);
});

# a job whose action terminates its own backend (a FATAL error, as a crash
# in an extension would end the process too) counts one failed attempt per
# death, and ends as failed after max_attempts; other jobs keep running
$node->safe_psql('postgres', q{
SELECT procflow.create_process('suicide', NULL,
    'SELECT pg_terminate_backend(pg_backend_pid())', max_attempts => 2);
SELECT procflow.run_process('suicide');
SELECT procflow.create_process('ordinary', NULL, $$INSERT INTO trail VALUES ('ordinary ran')$$);
SELECT procflow.run_process('ordinary');
});
wait_until($node, "SELECT count(*) = 1 FROM procflow.job_history WHERE process = 'suicide'",
	'the job that kills its executor did not end');
is($node->safe_psql('postgres',
	"SELECT status || ' ' || attempts || ' ' || error_code FROM procflow.job_history WHERE process = 'suicide'"),
	'failed 2 57P02', 'a job that kills its executor fails after max_attempts, each death an attempt');
wait_until($node, "SELECT count(*) = 1 FROM procflow.job_history WHERE process = 'ordinary'",
	'the other job did not run');
is($node->safe_psql('postgres', "SELECT status FROM procflow.job_history WHERE process = 'ordinary'")
	  . ' ' . $node->safe_psql('postgres', "SELECT count(*) FROM trail WHERE note = 'ordinary ran'"),
	'succeeded 1', 'the other job ran, once');

# a crash of the whole server while a job runs counts one attempt too
$node->safe_psql('postgres', q{
SELECT procflow.create_process('sleeper', NULL, 'SELECT pg_sleep(60)', max_attempts => 5);
SELECT procflow.run_process('sleeper');
});
wait_until($node, "SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE 'procflow job % (process sleeper%'",
	'the sleeping job did not start');
my $pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE query LIKE 'procflow job % (process sleeper%'");
kill 'KILL', $pid;
wait_until($node, "SELECT count(*) = 1 FROM procflow.jobs WHERE process = 'sleeper' AND attempts = 1",
	'the crash did not count an attempt');
is($node->safe_psql('postgres', "SELECT last_error FROM procflow.jobs WHERE process = 'sleeper'"),
	'the server process running this job terminated abnormally',
	'a crash during a job is its failed attempt, with the reason');
# the retry runs: stop it, and hold and cancel the job
wait_until($node, "SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE 'procflow job % (process sleeper%'",
	'the sleeping job did not run again');
$node->safe_psql('postgres', q{
SELECT procflow.disable_process('sleeper');
SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'procflow job % (process sleeper%';
});
wait_until($node, "SELECT count(*) = 1 FROM procflow.jobs WHERE process = 'sleeper' AND attempts = 2",
	'the cancelled run was not recorded');
$node->safe_psql('postgres', "SELECT procflow.disable_process('sleeper', cancel_pending => true)");

# jobs read but not started are not held: a second executor takes them
# while the first runs a slow one, and cancelling does not wait for them
$node->safe_psql('postgres', q{
SELECT procflow.create_process('slow', 'item', 'SELECT pg_sleep(2)');
SELECT procflow.add_trigger('slow', 'create', queued => true);
INSERT INTO item SELECT g, 'new' FROM generate_series(1, 4) g;
});
wait_until($node, "SELECT count(*) = 4 FROM procflow.job_history WHERE process = 'slow'",
	'the slow jobs did not run');
is($node->safe_psql('postgres', q{
SELECT count(*) FROM procflow.job_history a JOIN procflow.job_history b
    ON a.id < b.id AND a.started_at < b.finished_at AND b.started_at < a.finished_at
 WHERE a.process = 'slow' AND b.process = 'slow'}) > 0 ? 'overlap' : 'serial',
	'overlap', 'two executors ran the slow jobs side by side');

$node->safe_psql('postgres', q{
SELECT procflow.alter_process('slow', 'item', 'SELECT pg_sleep(1)');
INSERT INTO item SELECT g, 'new' FROM generate_series(11, 20) g;
});
wait_until($node, "SELECT count(*) >= 2 FROM pg_stat_activity WHERE query LIKE 'procflow job % (process slow%'",
	'the slow jobs did not start');
# would fail on a lock wait: the call must not wait for the jobs not started
my $disabled_at = $node->safe_psql('postgres', q{
SET lock_timeout = '200ms';
SELECT procflow.disable_process('slow', cancel_pending => true);
SELECT clock_timestamp();
});
wait_until($node, "SELECT count(*) = 0 FROM procflow.jobs WHERE process = 'slow'",
	'jobs of the disabled process are still pending');
my ($ran, $cancelled, $late) = split /\|/, $node->safe_psql('postgres', qq{
SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'cancelled'),
       count(*) FILTER (WHERE status <> 'cancelled' AND started_at > '$disabled_at')
  FROM procflow.job_history WHERE process = 'slow' AND (key->>'id')::int > 10});
is($ran + $cancelled, 10, "every job either ran or was cancelled ($ran ran, $cancelled cancelled)");
is($late, 0, 'cancelling reached every job that had not started when it returned');
cmp_ok($cancelled, '>', 0, 'and there were some');

# COMMIT PREPARED wakes the executors (their next wake-up is 10 minutes away)
$node->safe_psql('postgres', q{
SELECT procflow.create_process('prepared', 'item', $$INSERT INTO trail VALUES ('prepared ' || ($1).id)$$);
SELECT procflow.add_trigger('prepared', 'create', queued => true);
BEGIN;
INSERT INTO item VALUES (100, 'prepared');
PREPARE TRANSACTION 'queued_work';
});
$node->safe_psql('postgres', "COMMIT PREPARED 'queued_work'");
wait_until($node, "SELECT count(*) = 1 FROM procflow.job_history WHERE process = 'prepared'",
	'the job of a prepared transaction did not run after COMMIT PREPARED');
is($node->safe_psql('postgres', "SELECT count(*) FROM trail WHERE note = 'prepared 100'"), '1',
	'the job of a prepared transaction ran once it was committed');

# a dump restores into a cluster where a process's owner role is missing:
# that role's processes are restored without an owner and run nothing,
# the others are restored and run
$node->safe_psql('postgres', q{
CREATE ROLE alice LOGIN;
CREATE TABLE alice_t (id int PRIMARY KEY);
ALTER TABLE alice_t OWNER TO alice;
GRANT INSERT ON trail TO alice;
SET ROLE alice;
SELECT procflow.create_process('alice_p', 'alice_t', $$INSERT INTO trail VALUES ('alice ' || ($1).id)$$);
SELECT procflow.add_trigger('alice_p', 'create', queued => true, delay => '2 seconds');
INSERT INTO alice_t VALUES (1);
RESET ROLE;
SELECT procflow.create_process('super_p', 'item', $$INSERT INTO trail VALUES ('super ' || ($1).id)$$);
SELECT procflow.add_trigger('super_p', 'create', queued => true, delay => '2 seconds');
INSERT INTO item VALUES (200, 'dumped');
});
my $dump = $node->basedir . '/dump.sql';
command_ok([ 'pg_dump', '-d', $node->connstr('postgres'), '-f', $dump ], 'pg_dump');

my $other = procflow_node('other', 'postgres', conf => 'procflow.retry_delay = 0');
$other->start;
# psql goes on after the errors of the missing role (ALTER ... OWNER TO alice)
$other->psql('postgres', undef, on_error_stop => 0, extra_params => [ '-f', $dump ]);
is($other->safe_psql('postgres', q{SELECT name || ' ' || coalesce(owner::text, '-') || ' ' || owner_name
    FROM procflow.processes WHERE name IN ('alice_p', 'super_p') ORDER BY name}),
	"alice_p - alice\nsuper_p postgres postgres",
	'every process is restored, the one of the missing role without an owner');
$other->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM procflow.job_history WHERE process = 'super_p' AND status = 'succeeded'")
  or die 'the restored job of an existing owner did not run';
is($other->safe_psql('postgres', "SELECT count(*) FROM trail WHERE note = 'super 200'"), '1',
	'the restored job of an existing owner ran, once');
$other->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM procflow.job_history WHERE process = 'alice_p' AND status = 'failed'")
  or die 'the job of the missing owner did not fail';
is($other->safe_psql('postgres',
	"SELECT error FROM procflow.job_history WHERE process = 'alice_p'"),
	'role "alice", the owner of process "alice_p", does not exist',
	'the job of the missing owner ran nothing, and says why');
is($other->safe_psql('postgres', "SELECT count(*) FROM trail WHERE note LIKE 'alice%'"), '0',
	'nothing ran without its owner');
# once the role exists, naming it again gives the process its owner
$other->safe_psql('postgres', q{
CREATE ROLE alice;
UPDATE procflow.process SET owner_name = owner_name WHERE owner = 0;
});
is($other->safe_psql('postgres', "SELECT owner::text FROM procflow.processes WHERE name = 'alice_p'"),
	'alice', 'the process finds its owner by name');
$other->stop;

# ALTER ROLE ... RENAME keeps the owner (by OID) and renames it in the catalog
$node->safe_psql('postgres', 'ALTER ROLE alice RENAME TO alicia');
is($node->safe_psql('postgres', "SELECT owner::text || ' ' || owner_name FROM procflow.processes WHERE name = 'alice_p'"),
	'alicia alicia', 'a renamed owner keeps its processes, under its new name');

# a statement on the definition tables that changes no row announces no
# change (executors check owner names every minute with such a statement,
# and so does every ALTER ROLE ... RENAME); one that changes a row does.
# The announcement is a relcache invalidation of procflow.process, which
# the WAL records (at commit, or alone when the transaction wrote nothing).
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_walinspect;
CREATE TABLE wal_flushed (n int);
CREATE ROLE owns_nothing;
});
sub announcements
{
	my ($sql) = @_;
	my $start = $node->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
	$node->safe_psql('postgres', $sql);
	my $end = $node->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
	return '0' if $end eq $start;	# nothing written at all
	# a write's commit flushes the WAL up to it, which pg_walinspect reads
	$node->safe_psql('postgres', 'INSERT INTO wal_flushed VALUES (1)');
	return $node->safe_psql('postgres', qq{
SELECT count(*) FROM pg_get_wal_records_info('$start', '$end')
 WHERE description ~ ('relcache ' || 'procflow.process'::regclass::oid || '\\M')});
}
is(announcements('UPDATE procflow.process SET owner_name = owner_name WHERE false'), '0',
	'an UPDATE of no process announces nothing');
is(announcements('DELETE FROM procflow.trigger WHERE false'), '0',
	'a DELETE of no trigger announces nothing');
is(announcements('UPDATE procflow.trigger SET queued = queued WHERE false'), '0',
	'an UPDATE of no trigger announces nothing');
is(announcements('ALTER ROLE owns_nothing RENAME TO still_owns_nothing'), '0',
	'renaming a role that owns no process announces nothing');
cmp_ok(announcements(q{UPDATE procflow.process SET enabled = enabled WHERE name = 'alice_p'}), '>', 0,
	'an UPDATE of a process announces it');

# cancelling a job wakes the executors for the later job of its row that
# waited for it (max_sleep is 10 minutes here, longer than the wait below)
$node->safe_psql('postgres', q{
CREATE TABLE held (id int PRIMARY KEY, v int);
SELECT procflow.create_process('held_p', 'held', $$INSERT INTO trail VALUES ('held ' || ($3->>'event'))$$);
SELECT procflow.add_trigger('held_p', 'create', delay => '1 day');
SELECT procflow.add_trigger('held_p', 'update', queued => true);
INSERT INTO held VALUES (1, 0);
UPDATE held SET v = 1;
});
$node->safe_psql('postgres',
	"SELECT procflow.cancel_job(id) FROM procflow.jobs WHERE process = 'held_p' AND event = 'create'");
wait_until($node, "SELECT count(*) = 1 FROM trail WHERE note = 'held update'",
	'the update job freed by the cancel did not run');
is($node->safe_psql('postgres', "SELECT count(*) FROM trail WHERE note LIKE 'held %'"), '1',
	'the job that waited behind a cancelled one runs at once');

# a key column's type is part of the key: it cannot change under pending
# jobs, whose keys are text of the old type (a date key read back as text
# would name no row), and it can once they are gone
$node->safe_psql('postgres', q{
CREATE TABLE dated (k date PRIMARY KEY, v int);
SELECT procflow.create_process('dated_p', 'dated', 'SELECT 1');
SELECT procflow.add_trigger('dated_p', 'create', delay => '1 day');
INSERT INTO dated VALUES ('2020-02-01', 1);
});
my ($ret, $out, $err) = $node->psql('postgres',
	"SET DateStyle = 'SQL, DMY'; ALTER TABLE dated ALTER COLUMN k TYPE text");
like($err, qr/cannot change the primary key of table dated while its processes have pending jobs/,
	'a key column\'s type cannot change while jobs are pending');
$node->safe_psql('postgres', q{
SELECT procflow.cancel_job(id) FROM procflow.jobs WHERE process = 'dated_p';
ALTER TABLE dated ALTER COLUMN k TYPE text;
});
is($node->safe_psql('postgres', "SELECT pg_typeof(k) FROM dated"), 'text', 'and can once they are gone');

# ALTER EXTENSION UPDATE from 0.1 with definitions, a pending job queued in
# 0.1's format (its old row as record text) and a batch
$node->safe_psql('postgres', q{
CREATE DATABASE upgraded;
});
$node->safe_psql('upgraded', q{
CREATE EXTENSION procflow VERSION '0.1';
CREATE TABLE customer (id int PRIMARY KEY, name text, born date);
CREATE TABLE seen (note text);
-- as 0.1 wrote them (with 0.1's own functions, which this library no longer serves)
SET session_replication_role = replica;
INSERT INTO procflow.process (id, name, entity, action, owner, search_path)
VALUES (1, 'renamed', 'customer', $$INSERT INTO seen VALUES (($2).name || ' -> ' || ($1).name || ' ' || ($2).born)$$,
        'postgres', 'public'),
       (2, 'cron_p', NULL, $$INSERT INTO seen VALUES ('cron')$$, 'postgres', 'public');
INSERT INTO procflow.trigger (process_id, event, queued) VALUES (1, 'update', true);
CREATE TRIGGER procflow_capture AFTER INSERT OR UPDATE OR DELETE ON customer
    FOR EACH ROW EXECUTE FUNCTION procflow.capture();
CREATE TRIGGER procflow_capture_flush AFTER INSERT OR UPDATE OR DELETE ON customer
    FOR EACH STATEMENT EXECUTE FUNCTION procflow.capture();
INSERT INTO customer VALUES (1, 'Ann B.', '1990-02-01');
INSERT INTO procflow.job (id, process_id, trigger_id, event, ord, row_hash, key, old_row, run_at, partition)
VALUES (1, 1, 1, 'update', 0, 1, '{1}', '(1,Ann,1990-02-01)', now(), 0),
       (2, 2, NULL, 'run', 0, NULL, NULL, NULL, now(), 0);
SELECT setval('procflow.job_id_seq', 2);
SELECT setval('procflow.process_id_seq', 2);
RESET session_replication_role;
ALTER EXTENSION procflow UPDATE;
});
is($node->safe_psql('upgraded', "SELECT extversion FROM pg_extension WHERE extname = 'procflow'"),
	'0.5', 'updated to 0.5');
is($node->safe_psql('upgraded', "SELECT name || ' ' || owner || ' ' || kind FROM procflow.processes ORDER BY name"),
	"cron_p postgres light\nrenamed postgres light", 'the definitions and their owners are kept, as light processes');
$node->safe_psql('upgraded', 'SELECT procflow.run_jobs()');
is($node->safe_psql('upgraded', "SELECT note FROM seen ORDER BY note"),
	"Ann -> Ann B. 1990-02-01\ncron", 'the jobs queued by 0.1 ran, the old row read from its record text');
$node->safe_psql('upgraded', q{
UPDATE customer SET name = 'Ann C.';
SELECT procflow.run_jobs();
TRUNCATE customer;
});
is($node->safe_psql('upgraded', "SELECT count(*) FROM seen WHERE note = 'Ann B. -> Ann C. 1990-02-01'"),
	'1', 'the updated extension queues and runs new jobs');
is($node->safe_psql('upgraded', q{SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger
    WHERE tgrelid = 'customer'::regclass}),
	'procflow_capture,procflow_capture_flush,procflow_capture_truncate',
	'the entity table got its TRUNCATE trigger');

# the updated catalog is the one a fresh CREATE EXTENSION makes (the same
# base script and updates, run here over tables holding definitions, jobs
# and history, there over empty ones): relations, columns, defaults,
# storage options, partitions, indexes, constraints, triggers, views,
# functions, privileges, comments and configuration tables
my $catalog = q{
SELECT string_agg(d, E'\n' ORDER BY d) FROM (
  SELECT format('rel %s %s %s %s %s %s', c.relname, c.relkind, c.relpersistence,
                c.reloptions, pg_get_expr(c.relpartbound, c.oid), c.relacl)
    FROM pg_class c WHERE c.relnamespace = 'procflow'::regnamespace
  UNION ALL
  SELECT format('col %s.%s %s %s %s %s', c.relname, a.attname,
                format_type(a.atttypid, a.atttypmod), a.attnotnull,
                pg_get_expr(ad.adbin, ad.adrelid), a.attnum)
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
   WHERE c.relnamespace = 'procflow'::regnamespace AND c.relkind <> 'i'
     AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT 'idx ' || pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
   WHERE c.relnamespace = 'procflow'::regnamespace
  UNION ALL
  SELECT format('con %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
    FROM pg_constraint WHERE connamespace = 'procflow'::regnamespace
  UNION ALL
  SELECT 'trg ' || pg_get_triggerdef(t.oid)
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
   WHERE c.relnamespace = 'procflow'::regnamespace AND NOT t.tgisinternal
  UNION ALL
  SELECT format('view %s %s', c.relname, pg_get_viewdef(c.oid))
    FROM pg_class c WHERE c.relkind = 'v' AND c.relnamespace = 'procflow'::regnamespace
  UNION ALL
  SELECT format('fn %s %s %s', p.oid::regprocedure, pg_get_functiondef(p.oid), p.proacl)
    FROM pg_proc p WHERE p.pronamespace = 'procflow'::regnamespace
  UNION ALL
  SELECT format('comment %s %s', pg_describe_object(classoid, objoid, objsubid), description)
    FROM pg_description
   WHERE (classoid = 'pg_class'::regclass
          AND objoid IN (SELECT oid FROM pg_class WHERE relnamespace = 'procflow'::regnamespace))
      OR (classoid = 'pg_proc'::regclass
          AND objoid IN (SELECT oid FROM pg_proc WHERE pronamespace = 'procflow'::regnamespace))
  UNION ALL
  SELECT 'member ' || pg_describe_object(classid, objid, objsubid)
    FROM pg_depend
   WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
     AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'procflow')
  UNION ALL
  SELECT format('config %s %s', cfg::regclass, cond)
    FROM pg_extension, unnest(extconfig, extcondition) AS u(cfg, cond)
   WHERE extname = 'procflow'
) s(d)};
# ALTER EXTENSION UPDATE from 0.2, with a pending job, a batch and a
# history row: they are kept and run, and flows can be defined
$node->safe_psql('postgres', 'CREATE DATABASE from02');
$node->safe_psql('from02', q{
CREATE EXTENSION procflow VERSION '0.2';
CREATE TABLE item (id int PRIMARY KEY, n int);
CREATE TABLE seen (note text);
-- as 0.2's functions wrote them (this library serves the current version's
-- functions); capture and executors work on 0.2's catalog until the update
INSERT INTO procflow.process (name, entity, action, owner, owner_name, search_path)
VALUES ('count', 'item', $$INSERT INTO seen VALUES ('item ' || ($1).id)$$, 0, 'postgres', 'public');
INSERT INTO procflow.trigger (process_id, event, queued) SELECT id, 'create', true FROM procflow.process;
CREATE TRIGGER procflow_capture AFTER INSERT OR UPDATE OR DELETE ON item
    FOR EACH ROW EXECUTE FUNCTION procflow.capture();
CREATE TRIGGER procflow_capture_flush AFTER INSERT OR UPDATE OR DELETE ON item
    FOR EACH STATEMENT EXECUTE FUNCTION procflow.capture();
INSERT INTO item VALUES (1, 0);
SELECT procflow.run_jobs();
INSERT INTO item VALUES (2, 0);
INSERT INTO item SELECT g, 0 FROM generate_series(3, 5) g;
ALTER EXTENSION procflow UPDATE;
});
is($node->safe_psql('from02', "SELECT extversion FROM pg_extension WHERE extname = 'procflow'"),
	'0.5', 'updated from 0.2 to 0.5');
is($node->safe_psql('from02', "SELECT count(*) FROM procflow.jobs WHERE process = 'count'"),
	'4', 'the pending jobs and the batch are kept');
$node->safe_psql('from02', 'SELECT procflow.run_jobs()');
is($node->safe_psql('from02', "SELECT string_agg(note, ',' ORDER BY note) FROM seen"),
	'item 1,item 2,item 3,item 4,item 5', 'and run after the update');
is($node->safe_psql('from02', q{SELECT procflow.create_flow('f', 'item', '{"start": "w", "activities": {
    "w": {"kind": "wait", "on": {"event": "update", "fields": ["n"]}, "next": "e"}, "e": {"kind": "end"}}}')}),
	'1', 'a flow can be defined in the updated database');
is($node->safe_psql('from02', "SELECT string_agg(name || ' ' || kind || ' ' || coalesce(version, 0), ',' ORDER BY name) FROM procflow.processes"),
	'count light 0,f flow 1', 'beside the light process');

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION procflow');
is($node->safe_psql('upgraded', $catalog), $node->safe_psql('fresh', $catalog),
	'the updated catalog is the same as a fresh installation\'s');

$node->stop;
done_testing();
