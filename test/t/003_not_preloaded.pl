# Without shared_preload_libraries, CREATE EXTENSION works and warns that
# queued jobs will not run; immediate processes still run; the views that
# read shared memory show nothing.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('plain');
$node->init;
$node->start;

my ($ret, $stdout, $stderr) = $node->psql('postgres', 'CREATE EXTENSION procflow');
is($ret, 0, 'CREATE EXTENSION works without preloading');
like($stderr, qr/WARNING:  procflow is not in shared_preload_libraries, so queued and delayed jobs will not run/,
	'it warns');
like($stderr, qr/HINT:  Add procflow to shared_preload_libraries/, 'with a hint');

$node->safe_psql('postgres', q{
CREATE TABLE t (id int PRIMARY KEY);
CREATE TABLE log (id int);
SELECT procflow.create_process('copy', 't', $$INSERT INTO log VALUES (($1).id)$$);
SELECT procflow.add_trigger('copy', 'create');
INSERT INTO t VALUES (1);
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM log'), '1', 'immediate processes run');
is($node->safe_psql('postgres', 'SELECT count(*) FROM procflow.executors'), '0',
	'procflow.executors lists no executor, and the server stays up');

$node->stop;
done_testing();
