# The queue's rotating partitions: with an old snapshot held, drained
# partitions are truncated, the jobs still pending in them are moved (not
# lost, not run twice), and a session reading the queue delays a truncation
# without stopping jobs.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use ProcflowTest;

my $node = procflow_node('rotation', 'postgres', conf => 'procflow.workers = 2');
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION procflow;
CREATE TABLE src (id bigserial PRIMARY KEY, v int);
CREATE TABLE sink (src_id bigint);
SELECT procflow.create_process('flow', 'src', 'INSERT INTO sink VALUES (($1).id)');
SELECT procflow.add_trigger('flow', 'create', queued => true);
SELECT procflow.create_process('held', NULL, 'INSERT INTO sink VALUES (-1)');
SELECT procflow.create_process('later', NULL, 'INSERT INTO sink VALUES (-2)');
});

sub filenode
{
	my ($partition) = @_;
	return $node->safe_psql('postgres',
		"SELECT pg_relation_filenode('procflow.job_$partition')");
}

sub partition_of
{
	my ($process) = @_;
	return $node->safe_psql('postgres', qq{
SELECT DISTINCT j.tableoid::regclass FROM procflow.job j
  JOIN procflow.process p ON p.id = j.process_id WHERE p.name = '$process'});
}

# single-row transactions, each queueing one job
my $sent = 0;
sub flow
{
	my ($n) = @_;
	$node->safe_psql('postgres', "INSERT INTO src (v) VALUES (1);\n" x $n);
	$sent += $n;
	return;
}

# Keep jobs flowing until the condition holds; false at the deadline.
# $each, if given, runs after every hundred jobs.
sub flow_until
{
	my ($query, $each) = @_;
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	while (time < $deadline)
	{
		flow(100);
		$each->() if $each;
		return 1 if $node->safe_psql('postgres', "SELECT ($query)") eq 't';
	}
	return 0;
}

# Keep jobs flowing for some seconds.
sub flow_for
{
	my ($seconds, $each) = @_;
	my $start = time;
	while (time < $start + $seconds)
	{
		flow(100);
		$each->() if $each;
	}
	return;
}

# a job of a disabled process waits in a rotating partition; a job due
# later goes to the held partition at once
$node->safe_psql('postgres', q{
BEGIN;
SELECT procflow.run_process('held');
SELECT procflow.disable_process('held');
COMMIT;
SELECT procflow.run_process('later', delay => '20 seconds');
});
is(partition_of('later'), 'procflow.job_0', 'a job due later is queued in job_0');
my $first = partition_of('held');
like($first, qr/^procflow\.job_[123]$/, 'a due job is queued in a rotating partition');
my ($n) = $first =~ /(\d)$/;
my $before = filenode($n);

# an old snapshot, held until the mass cancel below
my $old = $node->background_psql('postgres');
$old->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$old->query_safe('SELECT count(*) FROM sink');

ok(flow_until("pg_relation_filenode('procflow.job_$n') <> $before"),
	"job_$n is truncated while the old snapshot is held");
is(partition_of('held'), 'procflow.job_0',
	"the disabled process's job was moved to job_0 first");
wait_until($node, "SELECT count(*) = $sent FROM sink WHERE src_id > 0",
	'the flow was not drained');
is($node->safe_psql('postgres',
	'SELECT count(*), count(DISTINCT src_id) FROM sink WHERE src_id > 0'),
	"$sent|$sent", 'every job of the flow ran once');

# a transaction that works with an older snapshot (as pg_dump does) holds
# back the truncation of a partition whose jobs it may still read; moving
# them is fine
$node->safe_psql('postgres', "SELECT procflow.run_process('held')");
$n = $node->safe_psql('postgres', q{
SELECT substr(j.tableoid::regclass::text, length('procflow.job_') + 1)
  FROM procflow.job j JOIN procflow.process p ON p.id = j.process_id
 WHERE p.name = 'held' AND j.tableoid <> 'procflow.job_0'::regclass});
like($n, qr/^[123]$/, 'a second job of the disabled process in a rotating partition');
my $dumper = $node->background_psql('postgres');
$dumper->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$dumper->query_safe('SELECT count(*) FROM sink');
$before = filenode($n);
my $working = sub { $dumper->query_safe('SELECT 1') };
ok( flow_until(
		"(SELECT count(*) FROM procflow.job_$n j JOIN procflow.process p ON p.id = j.process_id WHERE p.name = 'held') = 0",
		$working),
	"the second held job is moved out of job_$n");
flow_for(5, $working);
is(filenode($n), $before, "job_$n is not truncated under the working snapshot");
is($dumper->query_safe(qq{
SELECT count(*) FROM procflow.job_$n j JOIN procflow.process p ON p.id = j.process_id
 WHERE p.name = 'held'}),
	'1', 'which still sees the job pending where it was');
$dumper->query_safe('COMMIT');
$dumper->quit;
ok(flow_until("pg_relation_filenode('procflow.job_$n') <> $before"),
	"job_$n is truncated once that transaction is gone");

# a session that read the queue holds a lock on every partition: jobs keep
# running, the truncation waits for it
my $reader = $node->background_psql('postgres');
$reader->query_safe('BEGIN');
$reader->query_safe('SELECT count(*) FROM procflow.jobs');
my %held = map { $_ => filenode($_) } 1 .. 3;
flow_for(20);
wait_until($node, "SELECT count(*) = $sent FROM sink WHERE src_id > 0",
	'jobs stopped while a reader held the queue');
is(join(',', map { filenode($_) } 1 .. 3), join(',', map { $held{$_} } 1 .. 3),
	'nothing was truncated under the reader');
$reader->query_safe('COMMIT');
$reader->quit;
ok( flow_until(join(' OR ',
			map { "pg_relation_filenode('procflow.job_$_') <> $held{$_}" } 1 .. 3)),
	'a partition is truncated once the reader is gone');

# a mass cancel: 20,000 pending jobs cancelled at once stay in front of
# every claim in their partition's index; the partition is rewritten at
# once (as VACUUM FULL does), and the jobs still pending in it stay there
# and run once
$node->safe_psql('postgres', q{
SELECT procflow.create_process('mass', NULL, 'INSERT INTO sink VALUES (-3)');
SELECT procflow.create_process('kept', NULL, 'INSERT INTO sink VALUES (-4)');
BEGIN;
SELECT count(procflow.run_process('mass')) FROM generate_series(1, 20000);
SELECT count(procflow.run_process('kept')) FROM generate_series(1, 10);
SELECT procflow.disable_process('mass');
SELECT procflow.disable_process('kept');
COMMIT;
});
my $mass = partition_of('kept');
like($mass, qr/^procflow\.job_[123]$/, 'the jobs are queued in a rotating partition');
($n) = $mass =~ /(\d)$/;
$before = filenode($n);
$node->safe_psql('postgres', "SELECT procflow.disable_process('mass', cancel_pending => true)");
# the old snapshot may still see the cancelled rows: a rewrite would keep them
flow_for(3);
is(filenode($n), $before, "job_$n is not rewritten while a snapshot may see the cancelled jobs");
$old->query_safe('COMMIT');
$old->quit;
ok( flow_until(
		"pg_relation_filenode('procflow.job_$n') <> $before AND (SELECT count(*) FROM procflow.job_$n j JOIN procflow.process p ON p.id = j.process_id WHERE p.name = 'kept') = 10"
	),
	"job_$n is rewritten once it is gone, the jobs pending in it kept");
is($node->safe_psql('postgres', q{
SELECT count(*) FROM procflow.finished_job j JOIN procflow.process p ON p.id = j.process_id
 WHERE p.name = 'mass' AND j.status = 'cancelled'}),
	'20000', 'the cancelled jobs are in the history');
$node->safe_psql('postgres', "SELECT procflow.enable_process('kept')");
wait_until($node, 'SELECT count(*) = 10 FROM sink WHERE src_id = -4',
	'the jobs kept in the rewritten partition did not run');

# nothing lost, nothing twice
wait_until($node, "SELECT count(*) = $sent FROM sink WHERE src_id > 0",
	'the flow was not drained');
is($node->safe_psql('postgres',
	'SELECT count(*), count(DISTINCT src_id) FROM sink WHERE src_id > 0'),
	"$sent|$sent", 'every job of the flow ran once');
is($node->safe_psql('postgres', q{
SELECT count(*) FROM procflow.finished_job j JOIN procflow.process p ON p.id = j.process_id
 WHERE p.name = 'flow' AND j.status = 'succeeded'}),
	$sent, 'each has one history row');
$node->safe_psql('postgres', "SELECT procflow.enable_process('held')");
wait_until($node,
	"SELECT count(*) FILTER (WHERE src_id = -1) = 2 AND count(*) FILTER (WHERE src_id = -2) = 1 FROM sink",
	'the moved and the delayed jobs did not run');
is($node->safe_psql('postgres', 'SELECT count(*) FROM procflow.job'),
	'0', 'the queue is empty');

$node->stop;
done_testing();
