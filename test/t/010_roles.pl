# Roles beside each other in executors: what one role's job leaves in the
# executor's session reaches no other job, one role's flood of due work does
# not hold back another's, and procflow.max_timeout caps every action.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ProcflowTest;

my $node = procflow_node('roles', 'postgres', conf => q{
procflow.workers = 2
procflow.retry_delay = 0
procflow.max_timeout = '2s'
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION procflow;
CREATE ROLE attacker;
CREATE ROLE victim;
CREATE TABLE seen (who text, what text, at timestamptz DEFAULT clock_timestamp());
GRANT INSERT, SELECT ON seen TO PUBLIC;
GRANT CREATE ON SCHEMA public TO attacker, victim;
});

# a session-level advisory lock a job takes in an executor is released
# after it: the next jobs that want it get it (in shared mode, so that the
# two of them, run at once by the two executors, do not exclude each other)
$node->safe_psql('postgres', q{
SET ROLE attacker;
SELECT procflow.create_process('locker', NULL, 'SELECT pg_advisory_lock(4242)', execution_order => 1);
SELECT procflow.run_process('locker');
RESET ROLE;
});
wait_until($node, "SELECT count(*) = 1 FROM procflow.job_history WHERE process = 'locker'", 'the locking job did not run');
$node->safe_psql('postgres', q{
SET ROLE victim;
SELECT procflow.create_process('needs_lock', NULL,
    $$INSERT INTO seen SELECT current_user, 'got the lock' WHERE pg_try_advisory_lock_shared(4242)$$);
SELECT procflow.run_process('needs_lock');
SELECT procflow.run_process('needs_lock');
RESET ROLE;
});
wait_until($node, "SELECT count(*) = 2 FROM procflow.job_history WHERE process = 'needs_lock'",
	'the jobs that want the lock did not run');
is($node->safe_psql('postgres', "SELECT count(*) FROM seen WHERE what = 'got the lock'"), '2',
	'an advisory lock a job took is not held after it, in either executor');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"), '0',
	'no executor holds an advisory lock');

# a job cannot queue a deferred constraint trigger, which would fire at
# the executor's commit as its superuser
$node->safe_psql('postgres', q{
SET ROLE attacker;
CREATE FUNCTION note_deferred() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO seen VALUES (current_user, 'deferred trigger');
    RETURN NULL;
END
$$;
CREATE TABLE deferred_t (id int);
CREATE CONSTRAINT TRIGGER deferred_note AFTER INSERT ON deferred_t DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION note_deferred();
SELECT procflow.create_process('defers', NULL, 'INSERT INTO deferred_t VALUES (1)', max_attempts => 1);
SELECT procflow.run_process('defers');
RESET ROLE;
});
wait_until($node, "SELECT count(*) = 1 FROM procflow.job_history WHERE process = 'defers'",
	'the job that queues a deferred trigger did not end');
is($node->safe_psql('postgres', "SELECT status || ' ' || error_code FROM procflow.job_history WHERE process = 'defers'")
	  . ' ' . $node->safe_psql('postgres', "SELECT count(*) FROM seen WHERE what = 'deferred trigger'"),
	'failed 42501 0', 'the job fails, and no deferred trigger fires after it');

# a job's cursor is gone for the next job of the same executor transaction
$node->safe_psql('postgres', q{
SET ROLE victim;
SELECT procflow.create_process('opens', NULL, 'DECLARE shared_c CURSOR WITH HOLD FOR SELECT 1', execution_order => 5);
RESET ROLE;
SET ROLE attacker;
SELECT procflow.create_process('reads', NULL, 'FETCH shared_c', execution_order => 6, max_attempts => 1);
RESET ROLE;
SELECT procflow.disable_process('opens');
SELECT procflow.disable_process('reads');
});
$node->safe_psql('postgres', q{
SET ROLE victim;
SELECT procflow.run_process('opens');
RESET ROLE;
SET ROLE attacker;
SELECT procflow.run_process('reads');
RESET ROLE;
SET ROLE victim;
SELECT procflow.enable_process('opens');
RESET ROLE;
SET ROLE attacker;
SELECT procflow.enable_process('reads');
RESET ROLE;
});
wait_until($node, "SELECT count(*) = 2 FROM procflow.job_history WHERE process IN ('opens', 'reads')",
	'the cursor jobs did not run');
is($node->safe_psql('postgres', "SELECT status || ' ' || error FROM procflow.job_history WHERE process = 'reads'"),
	'failed cursor "shared_c" does not exist', 'a job cannot read the cursor another job left');

# procflow.max_timeout caps an action whatever its process says
$node->safe_psql('postgres', q{
SET ROLE attacker;
SELECT procflow.create_process('endless', NULL, 'SELECT pg_sleep(600)', max_attempts => 1, timeout => '1 hour');
SELECT procflow.run_process('endless');
RESET ROLE;
});
wait_until($node, q{SELECT count(*) = 1 FROM procflow.executors
                     WHERE process = 'endless' AND deadline = started_at + interval '2s'},
	'procflow.executors did not show the running job with its deadline');
wait_until($node, "SELECT count(*) = 1 FROM procflow.job_history WHERE process = 'endless'",
	'the endless job was not stopped');
is($node->safe_psql('postgres', "SELECT status || ' ' || error_code FROM procflow.job_history WHERE process = 'endless'"),
	'failed 57014', 'procflow.max_timeout cancels an action whose own timeout is longer');

# with no limit, one role's endless jobs hold both executors: another
# role's due job waits, and procflow.executors says why (busy since when,
# with a job it may not see); lowering procflow.max_timeout by a reload
# cuts the jobs already running, also one that catches its cancel (its
# executor ends a second later), and the waiting job runs
$node->append_conf('postgresql.conf', "procflow.max_timeout = 0\n");
$node->reload;
$node->safe_psql('postgres', q{
SET ROLE attacker;
CREATE FUNCTION stubborn() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	LOOP
		BEGIN
			PERFORM pg_sleep(600);
		EXCEPTION WHEN query_canceled THEN NULL;
		END;
	END LOOP;
END $$;
SELECT procflow.create_process('holder', NULL, 'SELECT pg_sleep(600)', max_attempts => 1);
SELECT procflow.create_process('stubborn', NULL, 'SELECT stubborn()', max_attempts => 1);
SELECT procflow.run_process('holder');
SELECT procflow.run_process('stubborn');
RESET ROLE;
});
wait_until($node, q{SELECT count(*) = 2 FROM procflow.executors WHERE state = 'running'},
	'the endless jobs did not start');
$node->safe_psql('postgres', q{
SET ROLE victim;
SELECT procflow.create_process('waiting', NULL, $$INSERT INTO seen VALUES (current_user, 'waited')$$);
SELECT procflow.run_process('waiting');
RESET ROLE;
});
is($node->safe_psql('postgres', q{
SET ROLE victim;
SELECT count(*) || ' ' || count(job) || ' ' || count(started_at) || ' ' || count(deadline)
  FROM procflow.executors WHERE state = 'running';
}), '2 0 2 0', 'a role sees both executors busy, since when, without the jobs it may not see, and no deadline');
is($node->safe_psql('postgres', q{
SET ROLE attacker;
SELECT string_agg(process, ',' ORDER BY process) FROM procflow.executors;
}), 'holder,stubborn', 'the owner of the jobs sees them');
is($node->safe_psql('postgres', q{SET ROLE victim; SELECT state FROM procflow.jobs WHERE process = 'waiting'}),
	'pending', "the other role's job waits");
$node->append_conf('postgresql.conf', "procflow.max_timeout = '1s'\n");
$node->reload;
wait_until($node, q{SELECT count(*) = 1 FROM seen WHERE what = 'waited'},
	'the waiting job did not run after max_timeout was lowered');
wait_until($node, q{SELECT count(*) = 2 FROM procflow.job_history WHERE process IN ('holder', 'stubborn')},
	'the endless jobs were not cut');
is($node->safe_psql('postgres', q{
SELECT string_agg(process || ' ' || error_code || ' ' || error_detail, '; ' ORDER BY process)
  FROM procflow.job_history WHERE process IN ('holder', 'stubborn');
}), 'holder 57014 The job ran longer than procflow.max_timeout, lowered to 1000 ms while it ran.; '
  . 'stubborn 57P02 The job may have crashed it; it counts as a failed attempt.',
	'the running jobs were cut: one by its cancel, one that caught it by ending its executor');
wait_until($node, q{SELECT count(*) = 2 FROM procflow.executors}, 'the ended executor did not start again');
$node->append_conf('postgresql.conf', "procflow.max_timeout = '2s'\n");
$node->reload;

# one role floods the queue with short jobs of the smallest execution
# order; another role's job queued after them does not wait for the flood
$node->safe_psql('postgres', q{
SET ROLE attacker;
SELECT procflow.create_process('flood', NULL, 'SELECT pg_sleep(0.002)', execution_order => -2147483648);
SELECT procflow.disable_process('flood');
SELECT count(procflow.run_process('flood')) FROM generate_series(1, 2000);
RESET ROLE;
SET ROLE victim;
CREATE TABLE victim_t (id int PRIMARY KEY);
SELECT procflow.create_process('victim_job', 'victim_t', $$INSERT INTO seen VALUES (current_user, 'victim ran')$$);
SELECT procflow.add_trigger('victim_job', 'create', queued => true);
RESET ROLE;
});
$node->safe_psql('postgres', q{
SET ROLE attacker;
SELECT procflow.enable_process('flood');
RESET ROLE;
SET ROLE victim;
INSERT INTO victim_t VALUES (1);
RESET ROLE;
});
wait_until($node, "SELECT count(*) = 1 FROM seen WHERE what = 'victim ran'", "the victim's job did not run");
my $left = $node->safe_psql('postgres', "SELECT count(*) FROM procflow.jobs WHERE process = 'flood'");
cmp_ok($left, '>', 0, "the victim's job ran while the flood was still pending ($left of 2000 jobs left)");

# in a session, run_jobs() stops when its query is cancelled: the running
# job is not recorded as a failure, it stays pending (a database no
# executor serves, so that only the session runs it)
$node->safe_psql('postgres', 'CREATE DATABASE sessions');
$node->safe_psql('sessions', q{
CREATE EXTENSION procflow;
SELECT procflow.create_process('long', NULL, 'SELECT pg_sleep(600)');
SELECT procflow.run_process('long');
});
my $session = $node->background_psql('sessions', on_error_stop => 0);
$session->query_until(qr/started/, q{
\echo started
SELECT procflow.run_jobs();
});
wait_until($node, "SELECT count(*) = 1 FROM pg_stat_activity WHERE datname = 'sessions' AND query LIKE 'SELECT procflow.run_jobs()%' AND wait_event = 'PgSleep'",
	'run_jobs did not start the long job');
$node->safe_psql('postgres',
	"SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = 'sessions' AND query LIKE 'SELECT procflow.run_jobs()%'");
wait_until($node, "SELECT count(*) = 0 FROM pg_stat_activity WHERE datname = 'sessions' AND wait_event = 'PgSleep'",
	'run_jobs was not cancelled');
is($node->safe_psql('sessions', "SELECT state || ' ' || attempts FROM procflow.jobs WHERE process = 'long'"),
	'pending 0', 'a cancelled run_jobs() stops, and leaves the job pending as it was');
$session->quit;

$node->stop;
done_testing();
