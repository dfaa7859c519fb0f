# Helpers shared by procflow's Perl TAP tests.
#
# Copyright (c) 2026, procflow developers
package ProcflowTest;

use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Cluster;

our @EXPORT = qw(procflow_node wait_until engine_rows_hold);

# A new, not yet started node that preloads procflow and serves "database".
# Extra named arguments go to init(); "conf" adds postgresql.conf lines.
sub procflow_node
{
	my ($name, $database, %args) = @_;
	my $conf = delete $args{conf} // '';
	my $node = PostgreSQL::Test::Cluster->new($name);

	$node->init(%args);
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'procflow'
procflow.database = '$database'
$conf});
	return $node;
}

# Poll a query in database postgres until it returns true, or die saying
# what went wrong, with the server's processes as pg_stat_activity shows
# them (which procflow workers run, and what they wait for).  While the
# server restarts after a crash, psql may exit before it has read its
# query (IPC::Run then dies of a broken pipe): polling goes on, within the
# same deadline.
sub wait_until
{
	my ($node, $query, $what) = @_;
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;

	while (1)
	{
		my $ok = eval { $node->poll_query_until('postgres', $query) };

		return if $ok;
		last if !$@ || time() >= $deadline;
		die $@ unless $@ =~ /Broken pipe/;
		select(undef, undef, undef, 0.1);
	}
	my $activity = $node->safe_psql('postgres', q{
		SELECT string_agg(format('%s %s %s %s', pid, backend_type, wait_event, left(query, 60)), E'\n')
		  FROM pg_stat_activity WHERE pid <> pg_backend_pid()});
	diag("processes:\n$activity");
	die "timed out: $what";
}

# The rules of the engine's rows, which procflow's C code keeps (the
# tables have no CHECK constraints: each would be parsed again by every
# statement that writes them): kinds and statuses from their lists, a
# closed activity and a finished instance have their end time and only
# they, a task names its flow, vars are an object.  Passes when no row of
# database $db breaks one, else fails naming the rules broken and how often.
sub engine_rows_hold
{
	my ($node, $db, $what) = @_;
	my $broken = $node->safe_psql($db, q{
SELECT string_agg(rule || ' ' || n, ', ') FROM (
  SELECT 'activity kind' AS rule, count(*) AS n FROM procflow.activity
   WHERE kind NOT IN ('automatic', 'human', 'wait', 'decision', 'join', 'conditional_start', 'subflow', 'end')
  UNION ALL
  SELECT 'activity status', count(*) FROM procflow.activity
   WHERE status NOT IN ('scheduled', 'ready', 'open', 'waiting', 'closed', 'skipped', 'cancelled', 'failed')
  UNION ALL
  SELECT 'activity closed_at', count(*) FROM procflow.activity
   WHERE (closed_at IS NULL) <> (status IN ('scheduled', 'ready', 'open', 'waiting', 'failed'))
  UNION ALL
  SELECT 'task without its flow', count(*) FROM procflow.activity
   WHERE kind = 'human' AND process_id IS NULL
  UNION ALL
  SELECT 'instance status', count(*) FROM procflow.instance
   WHERE status NOT IN ('active', 'suspended', 'completed', 'terminated')
  UNION ALL
  SELECT 'instance finished_at', count(*) FROM procflow.instance
   WHERE (finished_at IS NULL) <> (status IN ('active', 'suspended'))
  UNION ALL
  SELECT 'instance vars', count(*) FROM procflow.instance
   WHERE pg_catalog.jsonb_typeof(vars) <> 'object') r
 WHERE n > 0});
	Test::More::is($broken, '', "the engine's rows keep their rules: $what");
	return;
}

1;
