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
# what went wrong.
sub wait_until
{
	my ($node, $query, $what) = @_;

	$node->poll_query_until('postgres', $query)
	  or die "timed out: $what";
	return;
}

1;
