# Cron triggers: firing on the second without drift, one job per due time
# with two executors, a run missed while the server was down made up once,
# a disabled schedule resuming at its next time.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use ProcflowTest;

my $node = procflow_node('cron', 'postgres', conf => "procflow.workers = 2\n");
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION procflow;
CREATE TABLE tick (job_id bigint PRIMARY KEY, ctx jsonb);
SELECT procflow.create_process('every_second', NULL,
    $$INSERT INTO tick VALUES (($3->>'job_id')::bigint, $3)$$);
SELECT procflow.add_trigger('every_second', cron => '* * * * * *');
});

# the runs of the schedule, as history rows (run_at is the scheduled time)
my $runs = q{FROM procflow.finished_job j JOIN procflow.process p ON p.id = j.process_id
             WHERE p.name = 'every_second' AND j.status = 'succeeded'};

wait_until($node, "SELECT count(*) >= 6 $runs", 'six runs of a one-second schedule');

is($node->safe_psql('postgres', "SELECT count(*) FILTER (WHERE run_at <> date_trunc('second', run_at)) $runs"),
	'0', 'every run is due on a whole second');
# the scheduler skips times it missed (a loaded machine may miss some),
# so no second is promised: what is, is that no time runs twice, and that
# a late firing makes up only its first missed time
is($node->safe_psql('postgres', "SELECT count(*) - count(DISTINCT run_at) $runs"),
	'0', 'no scheduled time runs twice, with two executors');
is($node->safe_psql('postgres', qq{
	SELECT count(*) FROM (SELECT run_at, lag(started_at) OVER (ORDER BY run_at) AS previous_start $runs) r
	 WHERE run_at <= date_trunc('second', previous_start) - interval '1 second'}),
	'0', 'no run is for a time before the previous run started: missed times are made up once at most');
is($node->safe_psql('postgres', "SELECT count(*) FILTER (WHERE started_at < run_at) $runs"),
	'0', 'no run starts early');
is($node->safe_psql('postgres', "SELECT count(*) FROM tick WHERE ctx->>'event' = 'cron' AND ctx->>'process' = 'every_second'"),
	$node->safe_psql('postgres', "SELECT count(*) $runs"), 'each run ran its action once, with event cron');
diag('start after the scheduled second, ms: ' . $node->safe_psql('postgres', qq{
	SELECT format('p50 %s, max %s',
	              round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - run_at)) * 1000)::numeric, 2),
	              round((max(extract(epoch FROM started_at - run_at)) * 1000)::numeric, 2)) $runs}));

# down for a few scheduled times: the first missed time runs once at
# start-up, the others are skipped (the waits below are for time itself
# to pass, so they are fixed; everything else polls)
my $last_before = $node->safe_psql('postgres', "SELECT max(run_at) $runs");
$node->stop('fast');
my $stopped = time;
usleep(100_000) while time < $stopped + 4;    # let scheduled times pass while down
$node->start;
my $started = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
wait_until($node, "SELECT count(*) >= 2 $runs AND run_at > '$started'", 'runs after the restart');
is($node->safe_psql('postgres', "SELECT count(*) $runs AND run_at > '$last_before' AND run_at < '$started'"),
	'1', 'the runs missed while down make one run');

# disabled, the schedule does not fire; enabled, it resumes at its next time
$node->safe_psql('postgres', "SELECT procflow.disable_process('every_second')");
my $disabled_at = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
my $t = time;
usleep(100_000) while time < $t + 3;    # let scheduled times pass while disabled
my $enabled_at = $node->safe_psql('postgres',
	"SELECT procflow.enable_process('every_second'); SELECT clock_timestamp()");
wait_until($node, "SELECT count(*) >= 2 $runs AND run_at > '$enabled_at'", 'runs after enabling');
is($node->safe_psql('postgres',
	"SELECT count(*) $runs AND run_at > '$disabled_at'::timestamptz + interval '1 second' AND run_at < '$enabled_at'"),
	'0', 'nothing ran for the times the process was disabled');

$node->stop;
done_testing();
