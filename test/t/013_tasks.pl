# Tasks (human activities) through a cluster's life: task timeouts fire
# exactly once across a SIGKILL of the executors and across a promoted
# standby, never early; a person completes a task on the new primary; and
# NOTIFY procflow_task reaches a listening session with the activity's id
# when a task becomes ready (at launch, or when its start_delay passes in an
# executor), is claimed, is completed, or times out.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use ProcflowTest;

# The task timeouts fired on this node: the task closed with outcome
# "timeout", once, not before its timeout_at (procflow.activity keeps it;
# the view does not show it), and its follow-up step, which writes now()
# and clock_timestamp() into "fired", ran once and not before either; each
# task's timeout timer job ran once, not before its time.
sub check_timeouts
{
	my ($node, $flow, $n, $what) = @_;
	is($node->safe_psql('postgres', qq{
SELECT count(*), count(DISTINCT a.instance_id),
       count(*) FILTER (WHERE a.status = 'closed' AND a.outcome = 'timeout' AND a.closed_by IS NULL),
       count(*) FILTER (WHERE a.closed_at < a.timeout_at)
  FROM procflow.activity a JOIN procflow.instance i ON i.id = a.instance_id
  JOIN procflow.process p ON p.id = i.process_id
 WHERE p.name = '$flow' AND a.kind = 'human'}),
		"$n|$n|$n|0", "$what: each of the $n tasks closed once with outcome timeout, none before its timeout");
	is($node->safe_psql('postgres', qq{
SELECT count(*), count(DISTINCT f.instance),
       count(*) FILTER (WHERE f.at >= a.timeout_at AND f.clock >= a.timeout_at)
  FROM fired f
  JOIN procflow.activity a ON a.instance_id = f.instance AND a.kind = 'human'
  JOIN procflow.instance i ON i.id = f.instance
  JOIN procflow.process p ON p.id = i.process_id
 WHERE p.name = '$flow'}),
		"$n|$n|$n", "$what: the timeout's follow-up step ran once per instance, its now() not before the timeout");
	# The timer job that fired a timeout ran: job_history records it as
	# succeeded (as it does a wait's timer), with its start not before its
	# due time.
	is($node->safe_psql('postgres', qq{
SELECT string_agg(status || ' ' || n || ' ' || activities || ' ' || early, ',' ORDER BY status) FROM (
  SELECT j.status, count(*) n, count(DISTINCT j.activity_id) activities,
         count(*) FILTER (WHERE j.started_at IS NULL OR j.started_at < j.run_at) early
    FROM procflow.finished_job j JOIN procflow.process p ON p.id = j.process_id
   WHERE p.name = '$flow' AND j.event = 'timer' GROUP BY 1) s}),
		"succeeded $n $n 0", "$what: job_history: one timer job per task, succeeded, started not before its time");
	note("$what: the timeouts' follow-up steps ran after timeout_at by at most "
		  . $node->safe_psql('postgres', qq{
SELECT max(f.clock - a.timeout_at) FROM fired f JOIN procflow.activity a ON a.instance_id = f.instance AND a.kind = 'human'
  JOIN procflow.instance i ON i.id = f.instance JOIN procflow.process p ON p.id = i.process_id WHERE p.name = '$flow'}));
}

# A task flow over table "req": task "review" for group "finance", with
# this timeout, outcomes "approve" (to an automatic step writing
# "approved") and "timeout" (to "expired", writing "fired").  With $slow,
# the timeout goes through a decision "slow" whose case sleeps 30 ms, in
# the timer job's transaction, so that the executors are busy firing
# timeouts when they are killed.
sub task_flow
{
	my ($timeout, $slow) = @_;
	my $then = $slow ? 'slow' : 'expired';
	my $decision = $slow
	  ? q{"slow": {"kind": "decision", "cases": [{"when": "(SELECT true FROM pg_sleep(0.03))", "next": "expired"}], "else": "e"},}
	  : '';
	return qq{\$def\${"start": "review", "activities": {
    "review": {"kind": "human", "group": "finance", "instructions": {"sql": "'Review request ' || (\$1).id"},
               "timeout": $timeout, "next": {"approve": "ok", "timeout": "$then"}},
    $decision
    "expired": {"kind": "automatic",
                "action": "INSERT INTO fired VALUES ((\$3->>'instance')::bigint, (\$1).id, now(), clock_timestamp(), (\$3->>'attempt')::int)",
                "next": "e"},
    "ok": {"kind": "automatic", "action": "INSERT INTO approved VALUES ((\$3->>'instance')::bigint, (\$1).id, now())", "next": "e"},
    "e": {"kind": "end"}}}\$def\$};
}

# Poll a query (in database postgres) until it returns true, for at most
# $seconds (the server may be restarting meanwhile), and pass; on timeout,
# fail showing the state of the activities and jobs.
sub wait_for
{
	my ($node, $query, $what, $seconds) = @_;
	my $deadline = time() + $seconds;
	while (time() <= $deadline)
	{
		# across a crash restart psql may die of a broken pipe: not yet
		my ($rc, $out) = eval { $node->psql('postgres', $query) };

		die $@ if $@ && $@ !~ /Broken pipe/;
		return pass($what) if defined $rc && $rc == 0 && $out eq 't';
		usleep(100_000);
	}
	diag("activities:\n" . $node->safe_psql('postgres', q{
SELECT kind, name, status, coalesce(outcome, '-'), attempts, coalesce(error, '-'), count(*)
  FROM procflow.activity GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3}));
	diag("pending jobs:\n" . $node->safe_psql('postgres', q{
SELECT process, event, attempts, state, coalesce(last_error, '-'), count(*) FROM procflow.jobs GROUP BY 1, 2, 3, 4, 5}));
	diag("finished jobs:\n" . $node->safe_psql('postgres', q{
SELECT event, status, coalesce(error_message, '-'), count(*) FROM procflow.finished_job GROUP BY 1, 2, 3 ORDER BY 1, 2}));
	fail("$what (timed out after $seconds seconds)");
	return 0;
}

my $schema = q{
CREATE EXTENSION procflow;
CREATE TABLE req (id int PRIMARY KEY);
CREATE TABLE fired (instance bigint, req int, at timestamptz, clock timestamptz, attempt int);
CREATE TABLE approved (instance bigint, req int, at timestamptz);
CREATE TABLE launched (req int PRIMARY KEY, instance bigint);
};

# 1. A task timeout fires exactly once across a SIGKILL of the executors.
# 200 instances each wait at a task whose timeout comes 3 seconds after the
# launch plus 15 ms per request id, so that the timeouts fire one after
# another for 3 seconds; the outcome "timeout" leads (through a decision
# that takes 30 ms, in the timer's transaction) to an automatic step that
# writes one row of "fired" (no unique constraint: a step that ran twice
# shows up twice).  Both executors are killed with SIGKILL while the
# timeouts fire, so that timer jobs are cut short: the server goes through
# crash recovery, a timer or a step cut short leaves nothing and runs
# again (the task stays live meanwhile, still ready), and one that
# committed does not.
my $node = procflow_node('tasks', 'postgres', conf => q{
procflow.workers = 2
procflow.retry_delay = 0
restart_after_crash = on
});
$node->start;
my $executors = "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'procflow executor'";
$node->safe_psql('postgres', $schema
	  . 'SELECT procflow.create_flow(\'escalation\', \'req\', '
	  . task_flow(q{{"sql": "now() + interval '3 seconds' + ($1).id * interval '15 milliseconds'"}}, 1)
	  . ', max_attempts => 20);');
wait_for($node, $executors, 'executors started', 30) or die;

$node->safe_psql('postgres', q{
INSERT INTO req SELECT g FROM generate_series(1, 200) g;
INSERT INTO launched SELECT g, procflow.launch('escalation', to_jsonb(g)) FROM generate_series(1, 200) g;
});
is($node->safe_psql('postgres', q{
SELECT count(*), count(*) FILTER (WHERE t.instructions = 'Review request ' || (t.key->>'id'))
  FROM procflow.tasks t WHERE t.flow = 'escalation' AND t.status = 'ready' AND t."group" = 'finance'}),
	'200|200', '200 tasks are ready, with their instructions computed');
is($node->safe_psql('postgres', q{SELECT count(*) FROM procflow.taskbox('carol', '{finance}') WHERE flow = 'escalation'}),
	'200', 'and in the taskbox of the group finance');

wait_for($node, q{SELECT count(*) >= 40 FROM procflow.activity WHERE kind = 'human' AND status = 'closed'},
	'the first timeouts fired', 30) or die;
my ($old, $closed, $fired) = split /\|/, $node->safe_psql('postgres', q{
SELECT (SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE backend_type = 'procflow executor'),
       (SELECT count(*) FROM procflow.activity WHERE kind = 'human' AND status = 'closed'),
       (SELECT count(*) FROM fired)});
cmp_ok($closed, '<', 200, "the kill falls while the timeouts fire ($closed of 200 timed out, $fired follow-ups done)");
my @old = split /,/, $old;
is(scalar(@old), 2, "both executors are running ($old)");
my $killed = kill('KILL', @old);
cmp_ok($killed, '>=', 1, 'the executors killed with SIGKILL');
note("SIGKILL delivered to $killed of the executors $old");
wait_for($node, "SELECT count(*) = 2 AND count(*) FILTER (WHERE pid IN ($old)) = 0
                   FROM pg_stat_activity WHERE backend_type = 'procflow executor'",
	'new executors after the kill', 60) or die;
like(slurp_file($node->logfile), qr/terminated by signal 9/, 'the server restarted after the kill');

wait_for($node, q{SELECT count(*) = 200 FROM procflow.instances WHERE flow = 'escalation' AND status = 'completed'},
	'the 200 instances completed after the kill', 40);
check_timeouts($node, 'escalation', 200, 'SIGKILL');
is($node->safe_psql('postgres', q{
SELECT count(*), count(DISTINCT f.req) FROM fired f JOIN launched l ON l.instance = f.instance AND l.req = f.req}),
	'200|200', 'one row of fired per instance, for its own request');
is($node->safe_psql('postgres', q{
SELECT string_agg(kind || ' ' || name || ' ' || status || ' ' || coalesce(outcome, '-') || ' ' || n, ',' ORDER BY kind, name) FROM (
  SELECT kind, name, status, outcome, count(*) n FROM procflow.activities WHERE flow = 'escalation' GROUP BY 1, 2, 3, 4) s}),
	'automatic expired closed - 200,decision slow closed case 1 200,end e closed - 200,human review closed timeout 200',
	'each instance went through its task, its timeout, its timeout step and its end once');
is($node->safe_psql('postgres', q{
SELECT (SELECT count(*) FROM procflow.jobs), (SELECT count(*) FROM procflow.tasks), (SELECT count(*) FROM approved)}),
	'0|0|0', 'no job and no task is left, no task was approved');
note('timeout steps that the kill cut short and ran again: '
	  . $node->safe_psql('postgres', 'SELECT count(*) FROM fired WHERE attempt > 1'));

# 3. NOTIFY procflow_task reaches a session that listens, with the
# activity's id as payload, sent at commit by whoever changed the task:
# (a) a task that is ready at launch, by the launching session;
# (c) the same task claimed and then completed, by the sessions doing so;
# (b) a task with a start_delay, by an executor when the delay passes (no
#     session does anything), and again when its timeout closes it.
# Each change is notified once: the listener gets exactly these, in order.
# (Run on the node of part 1, once its timeouts are done.)
$node->safe_psql('postgres', q{
SELECT procflow.create_flow('desk', NULL, $${"start": "t", "activities": {
    "t": {"kind": "human", "group": "desk", "next": {"done": "e"}},
    "e": {"kind": "end"}}}$$);
SELECT procflow.create_flow('later', NULL, $${"start": "t", "activities": {
    "t": {"kind": "human", "assignee": "dave", "start_delay": "2 seconds", "timeout": "4 seconds",
          "next": {"done": "e", "timeout": "e"}},
    "e": {"kind": "end"}}}$$);
});
my $listener = $node->background_psql('postgres');
$listener->set_query_timer_restart();
$listener->query_safe('LISTEN procflow_task');
my @heard;    # [payload, pid] of each notification, in the order received

# Run a query in the listening session, note the notifications psql prints
# with its output, and return the rest of the output.
sub listen_poll
{
	my ($query) = @_;
	my $out = $listener->query_safe($query);
	while ($out =~ s/^Asynchronous notification "procflow_task" with payload "([^"]*)" received from server process with PID (\d+)\.\n?//m)
	{
		push @heard, [ $1, $2 ];
	}
	$out =~ s/^\s+|\s+$//g;
	return $out;
}

# The notifications heard so far for this activity.
sub heard_for
{
	my ($id) = @_;
	return grep { $_->[0] eq $id } @heard;
}

# Poll the listening session until it heard $count notifications for
# activity $id, or fail after 30 seconds.
sub wait_heard
{
	my ($id, $count, $what) = @_;
	my $deadline = time() + 30;
	while (scalar(heard_for($id)) < $count)
	{
		if (time() > $deadline)
		{
			diag('heard: ' . join(',', map { "$_->[0] (pid $_->[1])" } @heard));
			die "timed out waiting for the notification: $what";
		}
		listen_poll('SELECT 1');
		usleep(50_000);
	}
	is(scalar(heard_for($id)), $count, "notification heard: $what");
}

# (a) ready at launch, notified by the launching session at its commit
my ($desk, $launcher) = split /\|/, $node->safe_psql('postgres', q{SELECT procflow.launch('desk'), pg_backend_pid()});
my $ta = $node->safe_psql('postgres', "SELECT activity FROM procflow.tasks WHERE instance = $desk AND status = 'ready'");
like($ta, qr/^\d+$/, 'the desk task is ready');
wait_heard($ta, 1, '(a) the task ready at launch');
is((heard_for($ta))[0]->[1], $launcher, '(a) sent by the session that launched');

# (c) claimed, then completed, each notified by the session doing it
my (undef, $claimer) = split /\|/, $node->safe_psql('postgres', "SELECT procflow.claim_task($ta, 'bob'), pg_backend_pid()");
is($node->safe_psql('postgres', "SELECT status || ' ' || assignee FROM procflow.tasks WHERE activity = $ta"),
	'open bob', '(c) bob claimed the task');
wait_heard($ta, 2, '(c) the task claimed');
is((heard_for($ta))[1]->[1], $claimer, '(c) the claim notified by the session that claimed');
my (undef, $completer) = split /\|/, $node->safe_psql('postgres', qq{SELECT procflow.complete_task($ta, 'done', '{"answer": 42}'), pg_backend_pid()});
wait_heard($ta, 3, '(c) the task completed');
is((heard_for($ta))[2]->[1], $completer, '(c) the completion notified by the session that completed');
is($node->safe_psql('postgres', qq{
SELECT a.status || ' ' || a.outcome || ' ' || a.closed_by || ' ' || i.status || ' ' || (i.vars->>'answer')
  FROM procflow.activities a JOIN procflow.instances i ON i.id = a.instance WHERE a.id = $ta}),
	'closed done bob completed 42', '(c) the task closed by bob, the instance completed with its vars');

# (b) a start_delay of 2 seconds: scheduled and not notified at launch;
# ready and notified by an executor once the delay passed; notified again
# by an executor when its timeout (4 seconds) closes it.
my $later = $node->safe_psql('postgres', q{SELECT procflow.launch('later')});
my $tb = $node->safe_psql('postgres', "SELECT id FROM procflow.activity WHERE instance_id = $later AND kind = 'human'");
my $early = listen_poll("SELECT status, run_at - clock_timestamp() > interval '1 second' FROM procflow.activity WHERE id = $tb");
is($early, 'scheduled|t', '(b) the task is scheduled, its start well ahead');
is(scalar(heard_for($tb)), 0, '(b) no notification while the task is scheduled');
is($node->safe_psql('postgres', "SELECT count(*) FROM procflow.taskbox('dave') WHERE activity = $tb"),
	'0', '(b) a scheduled task is in no taskbox');
wait_heard($tb, 1, '(b) the task ready after its start_delay');
my $executor_pids = $node->safe_psql('postgres', q{
SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE backend_type = 'procflow executor'});
ok((grep { $_ eq (heard_for($tb))[0]->[1] } split(/,/, $executor_pids)),
	'(b) the notification came from an executor (pid ' . (heard_for($tb))[0]->[1] . ")");
is($node->safe_psql('postgres', qq{
SELECT status || ' ' || (run_at <= clock_timestamp()) FROM procflow.activity WHERE id = $tb}),
	'ready true', '(b) the task is ready, its start_delay passed');
is($node->safe_psql('postgres', "SELECT count(*) FROM procflow.taskbox('dave') WHERE activity = $tb"),
	'1', '(b) and in its assignee\'s taskbox');
wait_heard($tb, 2, '(b) the task closed by its timeout');
ok((grep { $_ eq (heard_for($tb))[1]->[1] } split(/,/, $executor_pids)), '(b) the timeout notified by an executor');
is($node->safe_psql('postgres', qq{
SELECT a.status || ' ' || a.outcome || ' ' || (a.closed_at >= a.timeout_at) || ' ' || i.status
  FROM procflow.activity a JOIN procflow.instance i ON i.id = a.instance_id WHERE a.id = $tb}),
	'closed timeout true completed', '(b) the task timed out, not early, and the instance completed');

listen_poll('SELECT 1');
is(join(',', map { $_->[0] } @heard), join(',', $ta, $ta, $ta, $tb, $tb),
	'the listener heard each change once: ready, claimed, completed; ready, timed out');
$listener->quit;
engine_rows_hold($node, 'postgres', 'tasks across a crash');
$node->stop;

# 2. A standby promoted with tasks pending.  The primary has 10 instances
# of "short", whose tasks time out 5 seconds after the launch, and 3 of
# "long", whose tasks time out in an hour: someone completes one of those
# on the primary and alice claims another.  The primary dies (immediate
# stop) before the short timeouts are due.  After promotion each short
# timeout fires once and none early (its follow-up step writes now(), which
# is compared with the task's timeout); alice completes her task on the new
# primary; the third long task still waits, with its timer.
my $primary = procflow_node('primary', 'postgres', allows_streaming => 1,
	conf => "procflow.workers = 2\nprocflow.retry_delay = 0\n");
$primary->start;
$primary->safe_psql('postgres', $schema
	  . 'SELECT procflow.create_flow(\'short\', \'req\', ' . task_flow('"5 seconds"', 0) . ');'
	  . 'SELECT procflow.create_flow(\'long\', \'req\', ' . task_flow('"1 hour"', 0) . ');'
	  . 'INSERT INTO req SELECT g FROM generate_series(1, 13) g;');
$primary->backup('backup');

# init_from_backup copies the primary's configuration: procflow preloaded,
# procflow.database set
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;

$primary->safe_psql('postgres', q{
INSERT INTO launched SELECT g, procflow.launch('short', to_jsonb(g)) FROM generate_series(1, 10) g;
INSERT INTO launched SELECT g, procflow.launch('long', to_jsonb(g)) FROM generate_series(11, 13) g;
SELECT procflow.complete_task(t.activity, 'approve') FROM procflow.tasks t WHERE t.flow = 'long' AND t.key->>'id' = '12';
SELECT procflow.claim_task(t.activity, 'alice') FROM procflow.tasks t WHERE t.flow = 'long' AND t.key->>'id' = '11';
});
$primary->wait_for_catchup($standby);
$primary->stop('immediate');

is($standby->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'procflow%'"),
	'0', 'no launcher or executor on the standby');
is($standby->safe_psql('postgres', q{
SELECT count(*) FILTER (WHERE t.status = 'ready'), (SELECT count(*) FROM fired),
       (SELECT count(*) FROM procflow.activity a WHERE a.id IN (SELECT activity FROM procflow.tasks WHERE flow = 'short')
           AND a.timeout_at > now())
  FROM procflow.tasks t WHERE t.flow = 'short'}),
	'10|0|10', 'the primary died with the 10 short tasks ready, none timed out');
is($standby->safe_psql('postgres', q{
SELECT string_agg(t.key->>'id' || ' ' || t.status || ' ' || coalesce(t.assignee, '-'), ',' ORDER BY t.key->>'id')
  FROM procflow.tasks t WHERE t.flow = 'long'}),
	'11 open alice,13 ready -', 'alice holds one long task, one is ready, the third was approved');

$standby->promote;
wait_for($standby, q{SELECT count(*) = 10 FROM procflow.instances WHERE flow = 'short' AND status = 'completed'},
	'the short task timeouts fired after promotion', 60);
check_timeouts($standby, 'short', 10, 'promoted standby');

my $alice = $standby->safe_psql('postgres', q{SELECT activity FROM procflow.tasks WHERE flow = 'long' AND key->>'id' = '11'});
$standby->safe_psql('postgres', qq{SELECT procflow.complete_task($alice, 'approve', '{"approved_by": "alice"}')});
wait_for($standby, q{SELECT count(*) = 2 FROM procflow.instances WHERE flow = 'long' AND status = 'completed'},
	'the task completed on the new primary went on', 30);
is($standby->safe_psql('postgres', q{
SELECT string_agg(l.req || ' ' || i.status || ' ' || a.status || ' ' || coalesce(a.outcome, '-') || ' '
                  || coalesce(a.closed_by, '-') || ' ' || coalesce(i.vars->>'approved_by', '-'), ',' ORDER BY l.req)
  FROM launched l JOIN procflow.instances i ON i.id = l.instance
  JOIN procflow.activities a ON a.instance = i.id AND a.name = 'review'
 WHERE i.flow = 'long'}),
	'11 completed closed approve alice alice,12 completed closed approve postgres -,13 active ready - - -',
	'alice completed her task on the new primary; the third long task is still ready');
is($standby->safe_psql('postgres', q{SELECT string_agg(req::text, ',' ORDER BY req) FROM approved}),
	'11,12', 'each approval step ran once');
is($standby->safe_psql('postgres', q{
SELECT (SELECT count(*) FROM fired),
       (SELECT string_agg(process || ' ' || event, ',') FROM procflow.jobs)}),
	'10|long timer', 'no timeout fired again; the ready long task keeps its timer');
$standby->stop;

done_testing();
