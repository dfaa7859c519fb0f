# Failover under an HA manager: pg_auto_failover (a monitor and two nodes,
# procflow preloaded on both).  The primary is killed while 5,000 flow
# instances run their steps and their timers come due; the manager promotes
# the secondary; there every step's effect is found once, every timer fired
# once and none early, and waits are closed by events on the new primary.
# Skipped, saying so, where pg_auto_failover is not installed
# (postgresql-15-auto-failover).
use strict;
use warnings;
use File::Path qw(make_path);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $autoctl = `command -v pg_autoctl 2>/dev/null`;
chomp $autoctl;
plan skip_all => 'pg_auto_failover is not installed (Debian: postgresql-15-auto-failover)'
  unless $autoctl;

my $base = PostgreSQL::Test::Utils::tempdir_short();
my $bindir = `pg_config --bindir`;
chomp $bindir;
$ENV{PATH} = "$bindir:$ENV{PATH}";
# pg_autoctl reaches its local server on the default socket directory
delete $ENV{PGHOST};
# pg_autoctl keeps its state and pid files in the XDG directories
for my $xdg (qw(config data run))
{
	make_path("$base/xdg_$xdg");
}
$ENV{XDG_CONFIG_HOME} = "$base/xdg_config";
$ENV{XDG_DATA_HOME} = "$base/xdg_data";
$ENV{XDG_RUNTIME_DIR} = "$base/xdg_run";

my %port = map { $_ => PostgreSQL::Test::Cluster::get_free_port() } qw(monitor node1 node2);
my %service;

# Start "pg_autoctl run" for a data directory, in the background.
sub run_service
{
	my ($name) = @_;
	$service{$name} = IPC::Run::start([ 'pg_autoctl', 'run', '--pgdata', "$base/$name" ],
		'>', "$base/$name.log", '2>&1');
}

# psql against a node (the monitor's own database for the monitor);
# returns the output, dies on error.
sub sql
{
	my ($name, $query) = @_;
	my $out = '';
	my $err = '';
	IPC::Run::run([ 'psql', '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1',
		'-p', $port{$name}, '-U', 'postgres',
		'-d', $name eq 'monitor' ? 'pg_auto_failover' : 'postgres', '-c', $query ],
		'>', \$out, '2>', \$err)
	  or die "psql on $name failed: $err";
	chomp $out;
	return $out;
}

# Poll a query on a node until it returns "t", or die naming what waited.
sub poll
{
	my ($name, $query, $what) = @_;
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;

	while (time() < $deadline)
	{
		my $r = eval { sql($name, $query) } // '';
		return if $r eq 't';
		select(undef, undef, undef, 0.2);
	}
	die "timed out: $what";
}

# The monitor, told to notice a failed node within seconds
ok(run_log([ 'pg_autoctl', 'create', 'monitor', '--pgdata', "$base/monitor", '--pgport',
	$port{monitor}, '--auth', 'trust', '--no-ssl', '--hostname', '127.0.0.1' ]),
	'the monitor is created')
  or die 'the monitor could not be created';
open(my $conf, '>>', "$base/monitor/postgresql.conf") or die $!;
print $conf "pgautofailover.health_check_period = 1000\n"
  . "pgautofailover.health_check_timeout = 1000\n"
  . "pgautofailover.health_check_max_retries = 1\n"
  . "pgautofailover.health_check_retry_delay = 500\n"
  . "pgautofailover.node_considered_unhealthy_timeout = 3000\n";
close $conf;
run_service('monitor');
my $monitor_uri = "postgres://autoctl_node\@127.0.0.1:$port{monitor}/pg_auto_failover?sslmode=disable";
poll('monitor', 'SELECT true', 'the monitor did not start');

# Two nodes with procflow preloaded; the first becomes the primary
for my $name (qw(node1 node2))
{
	ok(run_log([ 'pg_autoctl', 'create', 'postgres', '--pgdata', "$base/$name", '--pgport',
		$port{$name}, '--auth', 'trust', '--no-ssl', '--hostname', '127.0.0.1',
		'--name', $name, '--monitor', $monitor_uri ]), "$name is created")
	  or die "$name could not be created";
	open($conf, '>>', "$base/$name/postgresql.conf") or die $!;
	print $conf "shared_preload_libraries = 'procflow'\n"
	  . "procflow.workers = 2\n";
	close $conf;
	run_service($name);
	poll($name, 'SELECT true', "$name did not start");
	poll('monitor', "SELECT reportedstate IN ('single', 'primary', 'secondary') FROM pgautofailover.node WHERE nodename = '$name'",
		"$name did not join");
}
is(sql('node1', 'SELECT pg_is_in_recovery()'), 'f', 'node1 is the primary');
poll('node2', "SELECT pg_is_in_recovery() AND current_setting('shared_preload_libraries') = 'procflow'",
	'node2 is not a secondary with procflow');

# Each instance: two steps, then a wait for its row's "go", for an hour
# (even rows: closed by events on the new primary) or 4 seconds (odd rows:
# their timers come due around the failover); either way a last step.
# Every step writes its effect, with the time.
sql('node1', q{
CREATE EXTENSION procflow;
CREATE TABLE item (id int PRIMARY KEY, go boolean NOT NULL DEFAULT false);
CREATE TABLE effect (instance bigint, step text, at timestamptz DEFAULT clock_timestamp());
SELECT procflow.create_flow('ha_flow', 'item', $${"start": "a", "activities": {
  "a": {"kind": "automatic", "action": "INSERT INTO effect (instance, step) VALUES (($3->>'instance')::bigint, 'a')", "next": "b"},
  "b": {"kind": "automatic", "action": "INSERT INTO effect (instance, step) VALUES (($3->>'instance')::bigint, 'b')", "next": "w"},
  "w": {"kind": "wait", "on": {"event": "update", "fields": ["go"], "condition": "($1).go"},
        "timeout": {"sql": "clock_timestamp() + CASE WHEN ($1).id % 2 = 0 THEN interval '1 hour' ELSE interval '4 seconds' END"},
        "next": {"event": "by_event", "timeout": "by_timer"}},
  "by_event": {"kind": "automatic", "action": "INSERT INTO effect (instance, step) VALUES (($3->>'instance')::bigint, 'event')", "next": "e"},
  "by_timer": {"kind": "automatic", "action": "INSERT INTO effect (instance, step) VALUES (($3->>'instance')::bigint, 'timer')", "next": "e"},
  "e": {"kind": "end"}}}$$);
SELECT procflow.add_trigger('ha_flow', 'create', queued => true);
});
sql('node1', 'INSERT INTO item SELECT g FROM generate_series(1, 5000) g');

# kill the primary while its instances run and their timers come due
poll('node1', "SELECT count(*) > 1000 FROM procflow.activities WHERE name = 'w'",
	'the instances did not get going');
my $postmaster = (split /\n/, slurp_file("$base/node1/postmaster.pid"))[0];
$service{node1}->kill_kill;
kill 'KILL', $postmaster;
poll('node2', 'SELECT NOT pg_is_in_recovery()', 'the manager did not promote node2');
pass('the manager promoted node2');

# on the new primary: the even rows' waits are closed by events, the odd
# rows' time out
poll('node2', "SELECT count(*) = 5000 FROM procflow.instances WHERE flow = 'ha_flow'",
	'the new primary does not have the 5,000 instances');
poll('node2', "SELECT count(*) = 0 FROM procflow.activities WHERE name IN ('a', 'b') AND status <> 'closed'",
	'the steps did not all run on the new primary');
sql('node2', 'UPDATE item SET go = true WHERE id % 2 = 0');
poll('node2', "SELECT count(*) = 5000 FROM procflow.instances WHERE flow = 'ha_flow' AND status = 'completed'",
	'the instances did not all complete on the new primary');

is(sql('node2', q{SELECT count(*) FROM (SELECT instance, step FROM effect GROUP BY 1, 2 HAVING count(*) > 1) d}),
	'0', 'no step ran twice');
is(sql('node2', q{SELECT string_agg(step || ' ' || n, ', ' ORDER BY step) FROM
	(SELECT step, count(*) AS n FROM effect GROUP BY step) s WHERE step IN ('a', 'b')}),
	'a 5000, b 5000', 'every step ran once');
is(sql('node2', q{
SELECT string_agg(f.step || ' ' || n, ', ' ORDER BY f.step) FROM
  (SELECT step, count(*) AS n FROM effect e
     JOIN procflow.instances i ON i.id = e.instance
    WHERE step IN ('event', 'timer')
      AND (step = 'event') = ((i.key->>'id')::int % 2 = 0)
    GROUP BY step) f}), 'event 2500, timer 2500',
	'every wait ended once: the updated rows\' by their events on the new primary, the others by their timers');
is(sql('node2', q{
SELECT count(*) FROM effect f
  JOIN procflow.activities w ON w.instance = f.instance AND w.name = 'w'
 WHERE f.step = 'timer' AND f.at < w.created_at + interval '4 seconds'}), '0',
	'no timer fired early');

# stop everything this test started
for my $name (qw(node2 node1 monitor))
{
	$service{$name}->kill_kill if $service{$name};
	system('pg_ctl', '-D', "$base/$name", '-m', 'immediate', 'stop');
}
done_testing();
