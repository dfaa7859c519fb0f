# Executors do nothing on a standby and start on promotion.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ProcflowTest;

my $primary = procflow_node('primary', 'postgres', allows_streaming => 1);
$primary->start;
$primary->safe_psql('postgres', q{
CREATE EXTENSION procflow;
CREATE TABLE done (job_id bigint PRIMARY KEY);
SELECT procflow.create_process('later', NULL,
    $$INSERT INTO done VALUES (($3->>'job_id')::bigint)$$);
});
$primary->backup('backup');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;

# jobs due in a few seconds; the primary goes away before they are due
$primary->safe_psql('postgres',
	"SELECT procflow.run_process('later', delay => '3 seconds') FROM generate_series(1, 20)");
$primary->wait_for_catchup($standby);
$primary->stop('immediate');

is($standby->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'procflow%'"),
	'0', 'no launcher or executor on a standby');

$standby->promote;
wait_until($standby, "SELECT count(*) = 20 FROM procflow.job_history WHERE status = 'succeeded'",
	"jobs did not run after promotion");
is($standby->safe_psql('postgres', 'SELECT count(*), count(DISTINCT job_id) FROM done'),
	'20|20', 'every delayed job ran once on the promoted standby');
is($standby->safe_psql('postgres',
	"SELECT count(*) FROM procflow.finished_job WHERE started_at < run_at"),
	'0', 'none before its time');

$standby->stop;
done_testing();
