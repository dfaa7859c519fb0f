# Helpers shared by procflow's Perl TAP tests.
#
# Copyright (c) 2026, procflow developers
package ProcflowTest;

use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Cluster;

our @EXPORT = qw(procflow_node wait_until);

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

1;
