# Executors in a real cluster: queued and delayed jobs, retries, a killed
# executor, owner roles, settings reload and history pruning.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ProcflowTest;

my $node = procflow_node('main', 'postgres', conf => q{
procflow.workers = 2
procflow.retry_delay = '100ms'
restart_after_crash = on
});
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION procflow;
CREATE TABLE customer (id bigserial PRIMARY KEY, name text);
CREATE TABLE welcome (customer_id bigint PRIMARY KEY, job_id bigint, at timestamptz DEFAULT clock_timestamp());
SELECT procflow.create_process('welcome', 'customer',
    $$INSERT INTO welcome (customer_id, job_id) VALUES (($1).id, ($3->>'job_id')::bigint)$$);
SELECT procflow.add_trigger('welcome', 'create', queued => true);
});

# the launcher and the executors show up with their own backend_type
wait_until($node, "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'procflow executor'",
	"executors did not start");
is($node->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'procflow launcher'"),
	'1', 'one launcher');

# queued jobs run, woken at commit
$node->safe_psql('postgres',
	"INSERT INTO customer (name) SELECT 'c' || g FROM generate_series(1, 200) g");
wait_until($node, "SELECT count(*) = 200 FROM procflow.job_history WHERE status = 'succeeded'",
	"queued jobs did not run");
is($node->safe_psql('postgres', 'SELECT count(*) FROM welcome'), '200', 'every queued job ran once');
# each job ran in a subtransaction of its round, and a round took no more
# of them than the backend's cache of 64 subtransaction ids holds (past it,
# every session's snapshot reads pg_subtrans): its history rows share the
# round's transaction id
cmp_ok($node->safe_psql('postgres', q{
	SELECT max(n) FROM (SELECT count(*) AS n FROM procflow.finished_job GROUP BY xmin::text) s}),
	'<=', 56, 'a round runs at most 56 jobs: its subtransactions stay in the cache');

# a delayed job does not run early, and runs on time
$node->safe_psql('postgres', q{
SELECT procflow.create_process('later', NULL,
    $$INSERT INTO welcome (customer_id, job_id) VALUES (-1, ($3->>'job_id')::bigint)$$);
SELECT procflow.run_process('later', delay => '2 seconds');
});
is($node->safe_psql('postgres', "SELECT count(*) FROM procflow.jobs WHERE process = 'later'"),
	'1', 'the delayed job is pending');
wait_until($node, "SELECT count(*) = 1 FROM procflow.job_history WHERE process = 'later'",
	"delayed job did not run");
my ($early, $late) = split /\|/, $node->safe_psql('postgres', q{
SELECT j.started_at < j.run_at, j.started_at > j.run_at + interval '5 seconds'
  FROM procflow.finished_job j JOIN procflow.process p ON p.id = j.process_id WHERE p.name = 'later'});
is($early, 'f', 'the delayed job did not start before its run_at');
is($late, 'f', 'the delayed job started right after its run_at');

# a failing job is retried with backoff and kept as failed after max_attempts
$node->safe_psql('postgres', q{
SELECT procflow.create_process('poison', NULL, 'SELECT 1 / 0', max_attempts => 3);
SELECT procflow.run_process('poison');
});
wait_until($node, "SELECT count(*) = 1 FROM procflow.job_history WHERE process = 'poison'",
	"poison job did not fail");
is($node->safe_psql('postgres',
	"SELECT status || ' ' || attempts || ' ' || error_code || ' ' || error FROM procflow.job_history WHERE process = 'poison'"),
	'failed 3 22012 division by zero', 'retries end in failed, with the error');
ok($node->log_contains(qr/job \d+ of process "poison" failed at attempt 2 of 3: division by zero/)
	  && $node->log_contains(qr/job \d+ of process "poison" failed for good at attempt 3: division by zero/),
	'each failure is logged, the last one as final');

# an action that tries RESET ROLE fails, recorded, and runs nothing as superuser
$node->safe_psql('postgres', q{
CREATE ROLE alice;
GRANT CREATE ON SCHEMA public TO alice;
SET ROLE alice;
CREATE TABLE alice_log (who text);
SELECT procflow.create_process('escape', NULL,
    $$RESET ROLE; INSERT INTO alice_log SELECT current_user$$, max_attempts => 1);
SELECT procflow.create_process('whoami', NULL,
    $$INSERT INTO alice_log SELECT current_user || '/' || (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)$$);
SELECT procflow.run_process('escape');
SELECT procflow.run_process('whoami');
});
wait_until($node, "SELECT count(*) = 2 FROM procflow.job_history WHERE process IN ('escape', 'whoami')",
	"alice's jobs did not run");
like($node->safe_psql('postgres',
	"SELECT status || ': ' || error FROM procflow.job_history WHERE process = 'escape'"),
	qr/^failed: cannot set parameter "role"/, 'RESET ROLE in an action fails');
is($node->safe_psql('postgres', 'SELECT string_agg(who, \',\') FROM alice_log'),
	'alice/false', 'the queued action ran as its owner, not as a superuser');

# SIGKILL an executor during a drain: the cluster restarts, the queue is
# finished, and nothing runs twice
$node->safe_psql('postgres',
	"INSERT INTO customer (name) SELECT 'k' || g FROM generate_series(1, 3000) g");
wait_until($node, "SELECT count(*) > 50 FROM welcome WHERE customer_id > 200",
	"drain did not start");
my $pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'procflow executor' LIMIT 1");
kill 'KILL', $pid;
wait_until($node, "SELECT count(*) = 0 FROM procflow.jobs WHERE process = 'welcome'",
	"queue was not finished after the kill");
is($node->safe_psql('postgres',
	"SELECT count(*) || ' ' || count(DISTINCT customer_id) || ' ' || count(DISTINCT job_id) FROM welcome WHERE customer_id > 0"),
	'3200 3200 3200', 'after SIGKILL every job ran exactly once');
ok($node->log_contains(qr/terminated by signal 9/), 'the executor was killed');
wait_until($node, "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'procflow executor'",
	"executors did not come back");
isnt($node->safe_psql('postgres',
	"SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE backend_type = 'procflow executor' AND pid = $pid"),
	"$pid", 'two executors run again, none of them the killed one');

# pg_cancel_backend of a running job: recorded as a failed attempt, to be
# retried; the executor stays
$node->safe_psql('postgres', q{
SELECT procflow.create_process('sleepy', NULL, 'SELECT pg_sleep(3600)', max_attempts => 2);
SELECT procflow.run_process('sleepy');
});
wait_until($node, "SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE 'procflow job % (process sleepy%'",
	"sleepy job did not start");
my $sleepy_executor = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE query LIKE 'procflow job % (process sleepy%'");
$node->safe_psql('postgres', q{
SELECT procflow.disable_process('sleepy');
SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'procflow job % (process sleepy%'});
wait_until($node, "SELECT count(*) = 1 FROM procflow.jobs WHERE process = 'sleepy' AND attempts = 1",
	"cancelled job was not recorded");
is($node->safe_psql('postgres', "SELECT state || ': ' || last_error FROM procflow.jobs WHERE process = 'sleepy'"),
	'retrying: canceling statement due to user request',
	'a cancelled action is recorded as a failed attempt, the job waits for its retry');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $sleepy_executor"), '1',
	'and the executor that ran it goes on');
$node->safe_psql('postgres', q{
SELECT procflow.cancel_job(id) FROM procflow.jobs WHERE process = 'sleepy'});

# a process timeout cancels a runaway action
$node->safe_psql('postgres', q{
SELECT procflow.create_process('runaway', NULL, 'SELECT pg_sleep(3600)', max_attempts => 1, timeout => '200ms');
SELECT procflow.run_process('runaway');
});
wait_until($node, "SELECT count(*) = 1 FROM procflow.job_history WHERE process = 'runaway'",
	"runaway job was not stopped");
is($node->safe_psql('postgres', "SELECT status || ': ' || error FROM procflow.job_history WHERE process = 'runaway'"),
	'failed: canceling statement due to statement timeout', 'the timeout stops a runaway action');

# SIGHUP reloads settings: fewer executors
$node->append_conf('postgresql.conf', "procflow.workers = 1\n");
$node->reload;
wait_until($node, "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'procflow executor'",
	"workers setting was not applied");
$node->safe_psql('postgres', q{
SELECT procflow.create_process('after_reload', NULL, 'SELECT 1');
SELECT procflow.run_process('after_reload');
});
wait_until($node, "SELECT count(*) = 1 FROM procflow.job_history WHERE process = 'after_reload'",
	'the one executor left ran nothing');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'procflow executor'"),
	'1', 'procflow.workers is applied on reload, and the executor left runs jobs');

# history older than procflow.history_retention is pruned; pending jobs stay;
# so are finished instances of flows, but not live ones
$node->safe_psql('postgres', q{
SELECT procflow.create_flow('short', NULL, '{"start": "e", "activities": {"e": {"kind": "end"}}}');
SELECT procflow.create_flow('long', NULL,
    '{"start": "w", "activities": {"w": {"kind": "wait", "timeout": "1 hour", "next": "e"}, "e": {"kind": "end"}}}');
SELECT procflow.launch('short');
SELECT procflow.launch('long');
});
$node->safe_psql('postgres', "SELECT procflow.run_process('after_reload', delay => '1 hour')");
$node->append_conf('postgresql.conf', "procflow.history_retention = 1\nprocflow.max_sleep = '200ms'\n");
$node->reload;
wait_until($node, "SELECT count(*) = 0 FROM procflow.job_history",
	"history was not pruned");
is($node->safe_psql('postgres', "SELECT count(*) FROM procflow.jobs WHERE process = 'after_reload'"), '1',
	'old history is pruned, and a pending job is not history');
wait_until($node, "SELECT count(*) = 0 FROM procflow.instances WHERE flow = 'short'",
	"a completed instance was not pruned");
is($node->safe_psql('postgres', "SELECT flow || ' ' || status FROM procflow.instances"), 'long active',
	'completed instances are pruned with the history, live ones stay');
is($node->safe_psql('postgres', "SELECT count(*) FROM procflow.activity a WHERE NOT EXISTS (SELECT 1 FROM procflow.instance i WHERE i.id = a.instance_id)"),
	'0', 'and their activities with them');

$node->stop;
done_testing();
