# Faults: executors killed during a drain, an immediate shutdown, an
# executor terminated mid-job, and actions that fail in every way an
# environment can make them fail.  Nothing is lost or run twice, every
# failure is recorded, and no failure takes an executor down.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ProcflowTest;

my $node = procflow_node('faults', 'postgres',
	conf => "procflow.workers = 2\nprocflow.retry_delay = 0\nrestart_after_crash = on\n");
$node->start;

my $executors = "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'procflow executor'";

# a job's effect: one row per run, so a job run twice shows up twice
$node->safe_psql('postgres', q{
CREATE EXTENSION procflow;
CREATE TABLE src (id int PRIMARY KEY);
CREATE TABLE effect (job_id bigint, src_id int);
SELECT procflow.create_process('drain', 'src',
    $$INSERT INTO effect VALUES (($3->>'job_id')::bigint, ($1).id); SELECT pg_sleep(0.0005)$$);
SELECT procflow.add_trigger('drain', 'create', queued => true);
});
wait_until($node, $executors, 'executors started');

# SIGKILL an executor five times during a drain of 20,000 jobs
$node->safe_psql('postgres', 'INSERT INTO src SELECT g FROM generate_series(1, 20000) g');
for my $k (1 .. 5)
{
	wait_until($node, "SELECT count(*) >= $k * 3000 FROM effect", "progress before kill $k");
	my $pid = $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'procflow executor' ORDER BY pid LIMIT 1");
	kill 'KILL', $pid;
	wait_until($node, $executors, "executors back after kill $k");
}
wait_until($node, "SELECT count(*) = 0 FROM procflow.jobs", 'the drain finished after five kills');
is($node->safe_psql('postgres', 'SELECT count(*), count(DISTINCT job_id), count(DISTINCT src_id) FROM effect'),
	'20000|20000|20000', 'five SIGKILLs: every job ran exactly once');
is(scalar(() = slurp_file($node->logfile) =~ /terminated by signal 9/g), 5, 'five executors were killed');

# an immediate shutdown during a drain, then a start
$node->safe_psql('postgres', 'INSERT INTO src SELECT g FROM generate_series(20001, 25000) g');
wait_until($node, 'SELECT count(*) >= 21000 FROM effect', 'progress before the immediate shutdown');
$node->stop('immediate');
$node->start;
wait_until($node, "SELECT count(*) = 0 FROM procflow.jobs", 'the drain finished after the restart');
is($node->safe_psql('postgres', 'SELECT count(*), count(DISTINCT job_id), count(DISTINCT src_id) FROM effect'),
	'25000|25000|25000', 'immediate shutdown: every job ran exactly once');

# pg_terminate_backend of an executor running a job: the job runs again,
# the executor comes back
$node->safe_psql('postgres', q{
CREATE TABLE slept (job_id bigint);
SELECT procflow.create_process('sleepy', NULL,
    $$SELECT pg_sleep(2); INSERT INTO slept VALUES (($3->>'job_id')::bigint)$$);
SELECT procflow.run_process('sleepy');
});
wait_until($node, "SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE 'procflow job % (process sleepy%'",
	'the sleepy job is running');
my $terminated = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE query LIKE 'procflow job % (process sleepy%'");
$node->safe_psql('postgres', "SELECT pg_terminate_backend($terminated)");
wait_until($node, "SELECT count(*) = 1 FROM procflow.job_history WHERE process = 'sleepy' AND status = 'succeeded'",
	'the terminated job ran again');
is($node->safe_psql('postgres', 'SELECT count(*) FROM slept'), '1', 'once');
wait_until($node, $executors, 'the terminated executor came back');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'procflow executor' AND pid = $terminated"),
	'0', 'as a new process');

# actions that fail because of their environment: each is recorded as a
# readable failure, and the executors keep running
my $pids = $node->safe_psql('postgres',
	"SELECT string_agg(pid::text, ',' ORDER BY pid) FROM pg_stat_activity WHERE backend_type = 'procflow executor'");
my $launcher = $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'procflow launcher'");
$node->safe_psql('postgres', q{
ALTER SYSTEM SET temp_file_limit = '64kB';
SELECT pg_reload_conf();
CREATE TABLE renamed (id int PRIMARY KEY, price int);
CREATE TABLE bypassed (id int PRIMARY KEY);
CREATE ROLE gone;
SELECT procflow.create_process('memory', NULL,
    $$SELECT length(repeat('x', 1100000000))$$, max_attempts => 1);
SELECT procflow.create_process('disk', NULL,
    $$SET LOCAL work_mem = '64kB'; SELECT count(*) FROM (SELECT g FROM generate_series(1, 200000) g ORDER BY g DESC) s$$,
    max_attempts => 1);
SELECT procflow.create_process('renamed', 'renamed', $$SELECT ($1).price$$, max_attempts => 1);
SELECT procflow.add_trigger('renamed', 'create', queued => true);
SELECT procflow.create_process('bypassed', 'bypassed', 'SELECT 1', max_attempts => 1);
SELECT procflow.add_trigger('bypassed', 'create', queued => true, delay => '3 seconds');
SET ROLE gone;
SELECT procflow.create_process('orphan', NULL, 'SELECT 1', max_attempts => 1);
RESET ROLE;
DROP ROLE gone;
});
$node->safe_psql('postgres', q{
SELECT procflow.run_process('memory');
SELECT procflow.run_process('disk');
SELECT procflow.run_process('orphan');
ALTER TABLE renamed RENAME price TO amount;
INSERT INTO renamed VALUES (1, 5);
INSERT INTO bypassed VALUES (1);
});

# dropping an entity table is refused while a process uses it
my ($ret, $out, $err) = $node->psql('postgres', 'DROP TABLE bypassed');
like($err, qr/cannot drop table public.bypassed because process "bypassed" uses it/,
	'dropping an entity table is refused');
# with event triggers off (replication role replica), a drop gets through;
# the job then fails readably
$node->safe_psql('postgres', "SET session_replication_role = replica; DROP TABLE bypassed");

wait_until($node, "SELECT count(*) = 5 FROM procflow.job_history WHERE process IN ('memory', 'disk', 'renamed', 'bypassed', 'orphan')",
	'the failing jobs were recorded');
my %errors = split /\|/, join('|', split /\n/, $node->safe_psql('postgres', q{
	SELECT process, status || ': ' || error FROM procflow.job_history
	 WHERE process IN ('memory', 'disk', 'renamed', 'bypassed', 'orphan')}));
like($errors{memory}, qr/^failed: requested length too large/, 'an allocation over the 1 GB limit: recorded');
like($errors{disk}, qr/^failed: temporary file size exceeds temp_file_limit/, 'disk quota exceeded: recorded');
like($errors{renamed}, qr/^failed: column "price" not found in data type renamed/, 'a renamed column: recorded');
like($errors{bypassed}, qr/^failed: the entity table of the process \(relation \d+\) no longer exists/,
	'a dropped entity table: recorded');
like($errors{orphan}, qr/^failed: role "gone", the owner of process "orphan", does not exist/,
	'a dropped owner role: recorded, and nothing ran');
is($node->safe_psql('postgres',
	"SELECT string_agg(pid::text, ',' ORDER BY pid) FROM pg_stat_activity WHERE backend_type = 'procflow executor'"),
	$pids, 'the executors that ran them are still the same processes');
is($node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'procflow launcher'"),
	$launcher, 'and so is the launcher');

$node->stop;
done_testing();
