# The flow engine through a cluster's life: executors SIGKILLed five times
# and an immediate shutdown while tens of thousands of instances of a
# three-step flow run; a standby promoted with waits and timeouts pending;
# a pg_dump restored into a new cluster with instances waiting, suspended
# and due a timer; ALTER EXTENSION UPDATE from 0.3 with a light process, a
# pending job and a flow.  Each step's effect happens exactly once, every
# instance goes on to its end, and no timeout fires early or twice.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use ProcflowTest;

# Part 1 and 2: a three-step automatic flow under crashes.  Each step
# writes one row of "effect" (no unique constraint: a step that ran twice
# shows up twice), naming its instance, activity and attempt.  The node
# starts with the executors holding their jobs, so that the launches are
# all in before the work starts and the kills fall in the middle of it.
my $node = procflow_node('engine', 'postgres', conf => q{
procflow.workers = 2
procflow.retry_delay = 0
procflow.enabled = off
restart_after_crash = on
});
$node->start;

my $executors = "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'procflow executor'";
my $step = q{INSERT INTO effect VALUES (($3->>'instance')::bigint, $3->>'activity_name', ($1).id, ($3->>'activity')::bigint, ($3->>'attempt')::int)};
my $three = '{"start": "a", "activities": {'
  . qq{"a": {"kind": "automatic", "action": "$step", "next": "b"}, }
  . qq{"b": {"kind": "automatic", "action": "$step", "next": "c"}, }
  . qq{"c": {"kind": "automatic", "action": "$step", "next": "e"}, }
  . '"e": {"kind": "end"}}}';
$node->safe_psql('postgres', q{
CREATE EXTENSION procflow;
CREATE TABLE item (id int PRIMARY KEY);
CREATE TABLE effect (instance bigint, step text, item int, activity bigint, attempt int);
CREATE TABLE launched (item int PRIMARY KEY, instance bigint);
} . "SELECT procflow.create_flow('three', 'item', \$def\$$three\$def\$, max_attempts => 20);");
wait_until($node, $executors, 'executors started');

# What every check below asks of the first $n items: each of the three
# steps of each instance left exactly one effect, of the activity that the
# step closed, and every instance completed with nothing left to do.
sub check_exactly_once
{
	my ($n, $what) = @_;
	is($node->safe_psql('postgres', qq{
SELECT count(*), count(DISTINCT (instance, step)), count(DISTINCT item) FROM effect WHERE item <= $n}),
		3 * $n . "|" . 3 * $n . "|$n", "$what: every step's effect exists exactly once");
	is($node->safe_psql('postgres', qq{
SELECT count(*) FROM effect e
  JOIN launched l ON l.instance = e.instance AND l.item = e.item
  JOIN procflow.activities a ON a.id = e.activity AND a.instance = e.instance AND a.name = e.step
 WHERE a.status = 'closed' AND e.item <= $n}),
		3 * $n, "$what: each effect is the one of its instance's closed activity");
	is($node->safe_psql('postgres', qq{
SELECT string_agg(status || ' ' || n, ',' ORDER BY status) FROM (
  SELECT i.status, count(*) n FROM procflow.instances i JOIN launched l ON l.instance = i.id
   WHERE l.item <= $n GROUP BY 1) s}),
		"completed $n", "$what: every instance completed");
	is($node->safe_psql('postgres', q{
SELECT string_agg(kind || ' ' || status || ' ' || n, ',' ORDER BY kind, status) FROM (
  SELECT kind, status, count(*) n FROM procflow.activities WHERE flow = 'three' GROUP BY 1, 2) s}),
		'automatic closed ' . 3 * $n . ",end closed $n",
		"$what: each instance went through a, b, c and its end once, none failed");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM procflow.jobs'), '0', "$what: no job is left");
}

# 1. SIGKILL of an executor five times while the steps of 20,000
# instances run: each kill takes the whole server through crash recovery
# in the middle of the work; a step is one transaction with its action,
# so a step cut short leaves nothing and runs again, and a step that
# committed is not run again.
$node->safe_psql('postgres', 'INSERT INTO item SELECT g FROM generate_series(1, 20000) g');
for my $from (1, 5001, 10001, 15001)
{
	my $to = $from + 4999;
	$node->safe_psql('postgres', qq{
INSERT INTO launched SELECT g, procflow.launch('three', to_jsonb(g)) FROM generate_series($from, $to) g});
}
is($node->safe_psql('postgres', q{
SELECT count(*) FROM procflow.activities WHERE flow = 'three' AND name = 'a' AND status = 'ready'}),
	'20000', '20,000 instances launched, each at its first step');
$node->safe_psql('postgres', 'ALTER SYSTEM SET procflow.enabled = on');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');

for my $k (1 .. 5)
{
	wait_until($node, "SELECT count(*) >= $k * 9000 FROM effect", "progress before kill $k");
	my ($pid, $old, $done) = split /\|/, $node->safe_psql('postgres', q{
SELECT (SELECT pid FROM pg_stat_activity WHERE backend_type = 'procflow executor'
         ORDER BY state = 'active' DESC, pid LIMIT 1),
       (SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE backend_type = 'procflow executor'),
       (SELECT count(*) FROM effect)});
	cmp_ok($done, '<', 60000, "kill $k falls in the middle of the work ($done of 60,000 steps done)");
	kill 'KILL', $pid;
	wait_until($node, "SELECT count(*) = 2 AND count(*) FILTER (WHERE pid IN ($old)) = 0
	                     FROM pg_stat_activity WHERE backend_type = 'procflow executor'",
		"new executors after kill $k");
}
wait_until($node, q{SELECT count(*) = 20000 FROM procflow.instances WHERE flow = 'three' AND status = 'completed'},
	'the 20,000 instances completed after five kills');
is(scalar(() = slurp_file($node->logfile) =~ /terminated by signal 9/g), 5, 'five executors were killed');
check_exactly_once(20000, 'five SIGKILLs');
note('steps that a kill cut short and ran again: '
	  . $node->safe_psql('postgres', 'SELECT count(*) FROM effect WHERE attempt > 1'));

# 2. An immediate shutdown (no checkpoint, no clean exit: the next start
# is a crash recovery) while the steps of 10,000 more instances run: the
# same exactly-once and completion.
$node->safe_psql('postgres', 'ALTER SYSTEM SET procflow.enabled = off');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
$node->safe_psql('postgres', 'INSERT INTO item SELECT g FROM generate_series(20001, 30000) g');
for my $from (20001, 25001)
{
	my $to = $from + 4999;
	$node->safe_psql('postgres', qq{
INSERT INTO launched SELECT g, procflow.launch('three', to_jsonb(g)) FROM generate_series($from, $to) g});
}
$node->safe_psql('postgres', 'ALTER SYSTEM SET procflow.enabled = on');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
wait_until($node, 'SELECT count(*) >= 60000 + 12000 FROM effect', 'progress before the immediate shutdown');
my $done = $node->safe_psql('postgres', 'SELECT count(*) - 60000 FROM effect');
cmp_ok($done, '<', 30000, "the immediate shutdown falls in the middle of the work ($done of 30,000 steps done)");
$node->stop('immediate');
$node->start;
wait_until($node, q{SELECT count(*) = 30000 FROM procflow.instances WHERE flow = 'three' AND status = 'completed'},
	'the 30,000 instances completed after the restart');
check_exactly_once(30000, 'immediate shutdown');

# A step that an executor runs chained to the one before it (in the same
# transaction, right after it) and that ends the executor's process: the
# step before it is not blamed and its effect happens once; the chained
# step then runs as a job of its own, whose deaths count as its failed
# attempts, until it fails for good.
$node->safe_psql('postgres', q{
CREATE TABLE trail (instance bigint, step text);
SELECT procflow.create_flow('fatal', NULL, $${"start": "a", "activities": {
  "a": {"kind": "automatic", "action": "INSERT INTO trail VALUES (($3->>'instance')::bigint, 'a')", "next": "b"},
  "b": {"kind": "automatic", "action": "SELECT pg_terminate_backend(pg_backend_pid())", "next": "e"},
  "e": {"kind": "end"}}}$$, max_attempts => 2);
});
my $fatal = $node->safe_psql('postgres', q{SELECT procflow.launch('fatal')});
wait_until($node, qq{SELECT count(*) = 1 FROM procflow.activities WHERE instance = $fatal AND name = 'b' AND status = 'failed'},
	'the chained step that ends its executor did not fail for good');
is($node->safe_psql('postgres', qq{
SELECT string_agg(name || ' ' || status || ' ' || attempts || ' ' || coalesce(error_code, '-'), ', ' ORDER BY name)
  FROM procflow.activities WHERE instance = $fatal}),
	'a closed 1 -, b failed 2 57P02', 'the step before it closed; the chained step failed after two deaths');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM trail WHERE instance = $fatal}), '1',
	'the step before it took effect once');
ok($node->log_contains(qr/the server process running activity "b", chained to the run of job \d+, terminated abnormally/),
	'the death of the chained step was noted with its activity');
wait_until($node, $executors, 'executors back after the chained step');

# A failed wait's kept events are due once the wait is skipped, and the
# executors, sleeping up to procflow.max_sleep (a minute here), are told:
# they take them at once.
$node->safe_psql('postgres', q{
CREATE TABLE divisor (d int);
INSERT INTO divisor VALUES (0);
CREATE TABLE parked (id int PRIMARY KEY, s text);
INSERT INTO parked VALUES (1, 'a');
SELECT procflow.create_flow('parking', 'parked', $${"start": "w", "activities": {
  "w": {"kind": "wait", "on": {"event": "update", "condition": "($1).s = 'go' AND (SELECT 1 / d FROM divisor) > 0"},
        "next": "w2"},
  "w2": {"kind": "wait", "on": {"event": "update", "condition": "($1).s = 'second'"}, "next": "e"},
  "e": {"kind": "end"}}}$$, max_attempts => 1);
SELECT procflow.launch('parking', '1');
});
wait_until($node, q{SELECT count(*) = 1 FROM procflow.activities WHERE name = 'w' AND status = 'waiting'},
	'the wait began');
$node->safe_psql('postgres', q{UPDATE parked SET s = 'go'});
wait_until($node, q{SELECT count(*) = 1 FROM procflow.activities WHERE name = 'w' AND status = 'failed'},
	'the wait failed on its condition');
$node->safe_psql('postgres', q{UPDATE parked SET s = 'x'});
$node->safe_psql('postgres', q{UPDATE parked SET s = 'y'});
wait_until($node, q{SELECT count(*) = 2 FROM procflow.jobs WHERE process = 'parking' AND run_at = 'infinity'},
	'the next events are kept behind the failed wait');
wait_until($node, q{SELECT count(*) = 2 FROM pg_stat_activity
                     WHERE backend_type = 'procflow executor' AND state = 'idle' AND wait_event = 'Extension'},
	'the executors sleep, nothing being due');
$node->safe_psql('postgres', q{
SELECT procflow.skip_activity(id) FROM procflow.activities WHERE name = 'w' AND status = 'failed'});
my $deadline = time() + 20;
my $left = '';
while (time() < $deadline)
{
	$left = $node->safe_psql('postgres', q{SELECT count(*) FROM procflow.jobs WHERE process = 'parking'});
	last if $left eq '0';
	usleep(100_000);
}
is($left, '0', 'the kept events ran at once after the skip, not after max_sleep');

# A table of the same name created later earlier on a version's
# search_path does not take its wait over: the wait keeps listening to the
# table it was checked with, also in executors started since.
$node->safe_psql('postgres', q{
CREATE TABLE ord (id int PRIMARY KEY);
CREATE TABLE pay (pid int PRIMARY KEY, ord_id int, ok boolean);
INSERT INTO ord VALUES (1);
SELECT procflow.create_flow('ordering', 'ord', $${"start": "w", "activities": {
  "w": {"kind": "wait", "on": {"event": "create", "entity": "pay", "key": "($1).ord_id", "condition": "($1).ok"},
        "next": "e"},
  "e": {"kind": "end"}}}$$);
SELECT procflow.launch('ordering', '1');
});
wait_until($node, q{SELECT count(*) = 1 FROM procflow.activities a JOIN procflow.instances i ON i.id = a.instance
                     WHERE i.flow = 'ordering' AND a.status = 'waiting'}, 'the wait for a payment began');
$node->safe_psql('postgres', q{
CREATE SCHEMA postgres;
CREATE TABLE postgres.pay (LIKE public.pay INCLUDING ALL);
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'procflow executor';
});
wait_until($node, $executors, 'new executors');
$node->safe_psql('postgres', q{INSERT INTO public.pay VALUES (1, 1, true)});
wait_until($node, q{SELECT status = 'completed' FROM procflow.instances WHERE flow = 'ordering'},
	'the payment closed the wait, though another table "pay" now comes first on the search_path');
is($node->safe_psql('postgres', q{SELECT count(*) FROM procflow.job_history WHERE process = 'ordering' AND status = 'skipped'}),
	'0', 'no event was skipped for want of a wait');
engine_rows_hold($node, 'postgres', 'the flow engine');
$node->stop;

# 3. A standby promoted with waits pending: instances of "short" wait for
# an update of their ticket or 5 seconds, those of "long" for an update or
# an hour.  The primary dies before the short timeouts are due.  After
# promotion each short timeout fires once, not before its wait began plus
# 5 seconds (its follow-up step writes now()); an update on the new primary
# closes a long wait.  And an event committed on the primary while "long"
# was disabled (so held there) is delivered once, after promotion, when the
# flow is enabled again.
my $primary = procflow_node('primary', 'postgres', allows_streaming => 1,
	conf => "procflow.workers = 2\nprocflow.retry_delay = 0\n");
$primary->start;
my $ticket_flow = sub {
	my ($timeout) = @_;
	return qq{\$\${"start": "w", "activities": {
    "w": {"kind": "wait", "on": {"event": "update", "fields": ["state"], "condition": "(\$1).state = 'done'"},
          "timeout": "$timeout", "next": {"event": "answered", "timeout": "expired"}},
    "expired": {"kind": "automatic", "action": "INSERT INTO fired VALUES ((\$3->>'instance')::bigint, (\$1).id, now())", "next": "e"},
    "answered": {"kind": "automatic", "action": "INSERT INTO answered VALUES ((\$3->>'instance')::bigint, (\$1).id, now())", "next": "e"},
    "e": {"kind": "end"}}}\$\$};
};
$primary->safe_psql('postgres', q{
CREATE EXTENSION procflow;
CREATE TABLE ticket (id int PRIMARY KEY, state text NOT NULL DEFAULT 'open');
CREATE TABLE fired (instance bigint, ticket int, at timestamptz);
CREATE TABLE answered (instance bigint, ticket int, at timestamptz);
INSERT INTO ticket SELECT g FROM generate_series(1, 13) g;
} . 'SELECT procflow.create_flow(\'short\', \'ticket\', ' . $ticket_flow->('5 seconds') . ');'
  . 'SELECT procflow.create_flow(\'long\', \'ticket\', ' . $ticket_flow->('1 hour') . ');');
$primary->backup('backup');

# init_from_backup copies the primary's configuration: procflow preloaded,
# procflow.database set
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;

$primary->safe_psql('postgres', q{
SELECT procflow.launch('short', to_jsonb(g)) FROM generate_series(1, 10) g;
SELECT procflow.launch('long', to_jsonb(g)) FROM generate_series(11, 13) g;
SELECT procflow.disable_process('long');
UPDATE ticket SET state = 'done' WHERE id = 12;
});
$primary->wait_for_catchup($standby);
$primary->stop('immediate');

is($standby->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'procflow%'"),
	'0', 'no launcher or executor on the standby');
is($standby->safe_psql('postgres', q{
SELECT count(*) FILTER (WHERE a.status = 'waiting'), (SELECT count(*) FROM fired)
  FROM procflow.activities a WHERE a.flow = 'short' AND a.name = 'w'}),
	'10|0', 'the primary died with the 10 short waits waiting, none timed out');
is($standby->safe_psql('postgres', q{
SELECT (SELECT count(*) FROM procflow.jobs WHERE process = 'long' AND event = 'update'),
       (SELECT count(*) FROM answered)}),
	'1|0', 'and with the event of ticket 12 held');

$standby->promote;
wait_until($standby, q{SELECT count(*) = 10 FROM procflow.instances WHERE flow = 'short' AND status = 'completed'},
	'the short timeouts did not fire after promotion');
is($standby->safe_psql('postgres', 'SELECT count(*), count(DISTINCT instance), count(DISTINCT ticket) FROM fired'),
	'10|10|10', 'each short timeout fired once');
is($standby->safe_psql('postgres', q{
SELECT count(*) FROM fired f JOIN procflow.activities a ON a.instance = f.instance AND a.name = 'w'
 WHERE a.outcome = 'timeout' AND f.at >= a.created_at + interval '5 seconds' AND f.at >= a.run_at}),
	'10', 'none before its wait began plus 5 seconds');
is($standby->safe_psql('postgres', q{
SELECT count(*), count(*) FILTER (WHERE j.started_at < j.run_at)
  FROM procflow.finished_job j JOIN procflow.process p ON p.id = j.process_id
 WHERE p.name = 'short' AND j.event = 'timer' AND j.status = 'succeeded'}),
	'10|0', 'ten timer jobs ran, none before its time');
note('the timer jobs started after their due time by at most '
	  . $standby->safe_psql('postgres', q{
SELECT max(j.started_at - j.run_at) FROM procflow.finished_job j JOIN procflow.process p ON p.id = j.process_id
 WHERE p.name = 'short' AND j.event = 'timer'}));

$standby->safe_psql('postgres', "SELECT procflow.enable_process('long')");
$standby->safe_psql('postgres', "UPDATE ticket SET state = 'done' WHERE id = 11");
wait_until($standby, q{SELECT count(*) = 2 FROM procflow.instances
                        WHERE flow = 'long' AND status = 'completed' AND key->>'id' IN ('11', '12')},
	'the updates did not close the long waits');
is($standby->safe_psql('postgres', q{
SELECT string_agg(ticket::text, ',' ORDER BY ticket) FROM answered}),
	'11,12', 'the update on the new primary closed its wait, the one held over the failover was delivered once');
is($standby->safe_psql('postgres', q{
SELECT string_agg(i.key->>'id' || ' ' || i.status || ' ' || a.status || ' ' || coalesce(a.outcome, '-'), ',' ORDER BY i.id)
  FROM procflow.instances i JOIN procflow.activities a ON a.instance = i.id AND a.name = 'w'
 WHERE i.flow = 'long'}),
	'11 completed closed event,12 completed closed event,13 active waiting -',
	'the other long wait still waits');
is($standby->safe_psql('postgres', q{
SELECT (SELECT count(*) FROM fired), (SELECT count(*) FROM procflow.jobs WHERE process = 'long' AND event = 'timer')}),
	'10|1', 'no timeout fired again; the waiting one keeps its timer');
$standby->stop;

# 4. pg_dump and restore into a new cluster with instances under way: one
# waiting for an event, one suspended while it waits, one with a timer
# pending.  The source serves no database, so nothing moves there; the
# restored cluster holds its jobs until the state is compared.  There, an
# update closes the waiting one; an update of the suspended one is kept
# until resume lets it go on; the timer fires, not before its time.
my $source = procflow_node('source', '', conf => "procflow.workers = 1\nprocflow.max_sleep = '1s'\n");
$source->start;
$source->safe_psql('postgres', q{
CREATE EXTENSION procflow;
CREATE TABLE doc (id int PRIMARY KEY, state text NOT NULL DEFAULT 'draft');
CREATE TABLE trail (note text);
SELECT procflow.create_flow('signing', 'doc', $${"start": "w", "activities": {
    "w": {"kind": "wait", "on": {"event": "update", "fields": ["state"], "condition": "($1).state = 'signed'"},
          "next": "a"},
    "a": {"kind": "automatic", "action": "INSERT INTO trail VALUES ('signed ' || ($1).id)", "next": "e"},
    "e": {"kind": "end"}}}$$);
SELECT procflow.create_flow('reminder', 'doc', $${"start": "w", "activities": {
    "w": {"kind": "wait", "timeout": "3 seconds", "next": "a"},
    "a": {"kind": "automatic", "action": "INSERT INTO trail VALUES ('reminded ' || ($1).id)", "next": "e"},
    "e": {"kind": "end"}}}$$);
INSERT INTO doc VALUES (1), (2), (3);
SELECT procflow.launch('signing', '1');
SELECT procflow.suspend(procflow.launch('signing', '2'));
SELECT procflow.launch('reminder', '3');
});
my $instances = q{SELECT key->>'id', flow, version, status, vars, started_at FROM procflow.instances ORDER BY key->>'id'};
my $activities = q{SELECT i.key->>'id', a.name, a.kind, a.status, a.run_at, a.created_at
                     FROM procflow.activities a JOIN procflow.instances i ON i.id = a.instance ORDER BY 1, a.id};
my $pending = q{SELECT process, event, run_at FROM procflow.jobs ORDER BY id};
is($source->safe_psql('postgres', "SELECT string_agg(key->>'id' || ' ' || status, ',' ORDER BY key->>'id') FROM procflow.instances"),
	'1 active,2 suspended,3 active', 'the source has a waiting, a suspended and a timed instance');

my $dump = $source->basedir . '/flows.sql';
command_ok([ 'pg_dump', '-d', $source->connstr('postgres'), '-f', $dump ], 'pg_dump');
my $restored = procflow_node('restored', 'postgres',
	conf => "procflow.workers = 2\nprocflow.retry_delay = 0\nprocflow.enabled = off\n");
$restored->start;
command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $restored->connstr('postgres'), '-f', $dump ],
	'restore into a new cluster');
is($restored->safe_psql('postgres', $instances), $source->safe_psql('postgres', $instances),
	'the instances are restored with their status');
is($restored->safe_psql('postgres', $activities), $source->safe_psql('postgres', $activities),
	'and their activities');
is($restored->safe_psql('postgres', $pending), $source->safe_psql('postgres', $pending),
	'and the pending timer');

$restored->safe_psql('postgres', 'ALTER SYSTEM SET procflow.enabled = on');
$restored->safe_psql('postgres', 'SELECT pg_reload_conf()');
my $i2 = $restored->safe_psql('postgres', q{SELECT id FROM procflow.instances WHERE key->>'id' = '2'});
$restored->safe_psql('postgres', "UPDATE doc SET state = 'signed' WHERE id = 2");
wait_until($restored, "SELECT count(*) = 1 FROM procflow.job WHERE instance_id = $i2 AND event = 'update'",
	'the event of the suspended instance was not kept for it');
$restored->safe_psql('postgres', "UPDATE doc SET state = 'signed' WHERE id = 1");
wait_until($restored, q{SELECT count(*) = 2 FROM procflow.instances WHERE key->>'id' IN ('1', '3') AND status = 'completed'},
	'the waiting instance and the timed one did not complete');
is($restored->safe_psql('postgres', q{SELECT string_agg(note, ',' ORDER BY note) FROM trail}),
	'reminded 3,signed 1', 'an update in the restored database closed the wait; the timer fired, once');
is($restored->safe_psql('postgres', q{
SELECT count(*), count(*) FILTER (WHERE j.started_at < j.run_at)
  FROM procflow.finished_job j JOIN procflow.process p ON p.id = j.process_id
 WHERE p.name = 'reminder' AND j.event = 'timer'}),
	'1|0', 'the restored timer ran once, not before its time');
is($restored->safe_psql('postgres', q{
SELECT i.status || ' ' || a.status FROM procflow.instances i JOIN procflow.activities a ON a.instance = i.id
 WHERE i.key->>'id' = '2' AND a.name = 'w'}),
	'suspended waiting', 'the suspended instance holds the event');
$restored->safe_psql('postgres', "SELECT procflow.resume($i2)");
wait_until($restored, "SELECT count(*) = 1 FROM procflow.instances WHERE id = $i2 AND status = 'completed'",
	'the resumed instance did not go on');
is($restored->safe_psql('postgres', q{SELECT string_agg(note, ',' ORDER BY note) FROM trail}),
	'reminded 3,signed 1,signed 2', 'resume let it go on with the event it was kept');
is($restored->safe_psql('postgres', 'SELECT count(*) FROM procflow.jobs'), '0', 'nothing is left to do');
$restored->stop;

# 5. ALTER EXTENSION UPDATE from 0.3 with a light process, its queued
# trigger and a pending job, and a flow whose wait listens to its own
# table (which no light trigger captures).  On the 0.3 catalog, this
# library adds the light trigger and captures the job; it refuses to define
# a flow until the update, so the flow is written as 0.3's create_flow
# wrote it, as 009_light_engine.pl does for older versions.  After the update: version
# 0.4, the flow's version knows the table it waits on and the table has
# its capture trigger; once executors serve the database, the light job
# runs, the flow launches and an update closes its wait.
$source->safe_psql('postgres', 'CREATE DATABASE upgraded');
$source->safe_psql('upgraded', q{
CREATE EXTENSION procflow VERSION '0.3';
CREATE TABLE item (id int PRIMARY KEY);
CREATE TABLE ord (id int PRIMARY KEY, state text NOT NULL DEFAULT 'new');
CREATE TABLE seen (note text);
SELECT procflow.create_process('note', 'item', $$INSERT INTO seen VALUES ('item ' || ($1).id)$$);
SELECT procflow.add_trigger('note', 'create', queued => true);
-- as 0.3's create_flow('paid', 'ord', ...) wrote it
INSERT INTO procflow.process (name, entity, owner_name, search_path, kind, version)
VALUES ('paid', 'ord', 'postgres', '"$user", public', 'flow', 1);
INSERT INTO procflow.flow_version (process_id, version, definition, search_path)
SELECT id, 1, $${"start": "w", "activities": {
    "w": {"kind": "wait", "on": {"event": "update", "fields": ["state"], "condition": "($1).state = 'paid'"},
          "next": "a"},
    "a": {"kind": "automatic", "action": "INSERT INTO seen VALUES ('paid ' || ($1).id)", "next": "e"},
    "e": {"kind": "end"}}}$$, '"$user", public'
  FROM procflow.process WHERE name = 'paid';
INSERT INTO item VALUES (1);
});
my ($ret, $out, $err) = $source->psql('upgraded', q{SELECT procflow.create_flow('other', 'ord',
    '{"start": "e", "activities": {"e": {"kind": "end"}}}')});
like($err, qr/extension "procflow" in this database is older than its library/,
	'a flow cannot be defined on the 0.3 catalog before the update');
is($source->safe_psql('upgraded', q{SELECT process || ' ' || event || ' ' || state FROM procflow.jobs}),
	'note create pending', 'the 0.3 catalog has a pending job');
$source->safe_psql('upgraded', 'ALTER EXTENSION procflow UPDATE');
is($source->safe_psql('upgraded', "SELECT extversion FROM pg_extension WHERE extname = 'procflow'"),
	'0.5', 'updated from 0.3 to 0.5');
is($source->safe_psql('upgraded', q{
SELECT string_agg(name || ' ' || kind || ' ' || coalesce(version, 0), ',' ORDER BY name) FROM procflow.processes}),
	'note light 0,paid flow 1', 'the light process and the flow are kept');
is($source->safe_psql('upgraded', q{SELECT waits_on FROM procflow.flow_version}), '{ord}',
	'the update found the table the flow waits on');
is($source->safe_psql('upgraded', q{
SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'ord'::regclass}),
	'procflow_capture,procflow_capture_flush,procflow_capture_truncate', 'and gave it its capture triggers');

$source->safe_psql('postgres', "ALTER SYSTEM SET procflow.database = 'upgraded'");
$source->reload;
$source->poll_query_until('upgraded', "SELECT count(*) = 1 FROM seen WHERE note = 'item 1'")
  or die 'the job queued by 0.3 did not run';
is($source->safe_psql('upgraded', q{SELECT status FROM procflow.job_history WHERE process = 'note'}),
	'succeeded', 'the job queued in the 0.3 catalog ran after the update');
$source->safe_psql('upgraded', q{
INSERT INTO ord VALUES (1);
SELECT procflow.launch('paid', '1');
});
is($source->safe_psql('upgraded', q{
SELECT i.status || ' ' || a.name || ' ' || a.status FROM procflow.instances i JOIN procflow.activities a ON a.instance = i.id}),
	'active w waiting', 'the flow defined in 0.3 launches and waits');
$source->safe_psql('upgraded', "UPDATE ord SET state = 'paid' WHERE id = 1");
$source->poll_query_until('upgraded', "SELECT count(*) = 1 FROM procflow.instances WHERE status = 'completed'")
  or die 'the update did not close the wait of the flow defined in 0.3';
is($source->safe_psql('upgraded', q{SELECT string_agg(note, ',' ORDER BY note) FROM seen}),
	'item 1,paid 1', 'an update closed its wait and the flow went on, once');

$source->stop;
done_testing();
