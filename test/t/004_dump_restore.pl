# Definitions and pending jobs survive pg_dump and restore into a new database.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ProcflowTest;

my $node = procflow_node('dump', 'restored');
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION procflow;
CREATE TABLE customer (id bigserial PRIMARY KEY, name text);
CREATE TABLE account (customer_id bigint, name text);
SELECT procflow.create_process('create_account', 'customer',
    $$INSERT INTO account VALUES (($1).id, ($1).name)$$, label => 'Account', execution_order => 3);
SELECT procflow.add_trigger('create_account', 'create');
SELECT procflow.add_trigger('create_account', 'update', fields => '{name}', queued => true, delay => '1 second');
INSERT INTO customer (name) VALUES ('Ann');
UPDATE customer SET name = 'Ann B.';
INSERT INTO customer (name) SELECT 'bulk ' || g FROM generate_series(1, 10) g;
UPDATE customer SET name = name || '.' WHERE name LIKE 'bulk %';
});
is($node->safe_psql('postgres', 'SELECT items FROM procflow.job_batch'), '10',
	'a bulk update queued a batch');

my $dump = $node->basedir . '/dump.sql';
command_ok([ 'pg_dump', '-d', $node->connstr('postgres'), '-f', $dump ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('restored'), '-f', $dump ],
	'restore');

my $defs = q{SELECT name, label, related_entity, execution_order FROM procflow.processes;
             SELECT process, event, fields, queued, delay FROM procflow.process_triggers ORDER BY id};
is($node->safe_psql('restored', $defs), $node->safe_psql('postgres', $defs),
	'definitions are restored');

# the pending delayed job and batch were restored too, and the restored
# database's executors run them
$node->poll_query_until('restored',
	"SELECT count(*) = 11 FROM procflow.job_history WHERE status = 'succeeded'")
  or die "restored jobs did not run";
is($node->safe_psql('restored', "SELECT name FROM account WHERE name LIKE 'Ann%' ORDER BY name"),
	"Ann\nAnn B.", 'the restored pending job ran');
is($node->safe_psql('restored', "SELECT count(*) FROM account WHERE name LIKE 'bulk %.'"),
	'10', 'the restored batch ran');

# capture works in the restored database
$node->safe_psql('restored', "INSERT INTO customer (name) VALUES ('Bob')");
is($node->safe_psql('restored', "SELECT count(*) FROM account WHERE name = 'Bob'"), '1',
	'the restored row trigger fires');

$node->stop;
done_testing();
