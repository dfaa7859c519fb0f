# Definitions and pending jobs survive pg_dump and restore into a new
# database; definitions exported to a file load into another database with
# psql.
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
SELECT procflow.create_process('nightly', NULL, 'SELECT 1', label => 'Nightly');
SELECT procflow.add_trigger('nightly', cron => '0 3 * * *', priority => 2);
SELECT procflow.create_flow('follow_up', 'customer', '{"start": "w", "activities": {
    "w": {"kind": "wait", "on": {"event": "update", "fields": ["name"]}, "timeout": "1 day",
          "next": {"event": "e", "timeout": "e"}}, "e": {"kind": "end"}}}', label => 'Follow up');
SELECT procflow.alter_flow('follow_up', '{"start": "a", "activities": {
    "a": {"kind": "automatic", "action": "SELECT ($1).name", "next": "e"}, "e": {"kind": "end"}}}');
INSERT INTO customer (name) VALUES ('Ann');
UPDATE customer SET name = 'Ann B.';
INSERT INTO customer (name) SELECT 'bulk ' || g FROM generate_series(1, 10) g;
UPDATE customer SET name = name || '.' WHERE name LIKE 'bulk %';
});
# a batch for the light process, and one of events for the waits of the
# flow (a flow listens to every table any of its versions waits for)
is($node->safe_psql('postgres', 'SELECT string_agg(items::text, \',\' ORDER BY xid IS NULL) FROM procflow.job_batch'),
	'10,10', 'a bulk update queued a batch');

my $dump = $node->basedir . '/dump.sql';
command_ok([ 'pg_dump', '-d', $node->connstr('postgres'), '-f', $dump ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('restored'), '-f', $dump ],
	'restore');

my $defs = q{SELECT name, label, related_entity, execution_order, enabled, action FROM procflow.processes ORDER BY name;
             SELECT process, event, fields, queued, delay, priority, cron FROM procflow.process_triggers ORDER BY process, id};
is($node->safe_psql('restored', $defs), $node->safe_psql('postgres', $defs),
	'definitions are restored');

my $flows = q{SELECT flow, version, current, definition, owner FROM procflow.flow_versions ORDER BY flow, version;
              SELECT name, kind, version FROM procflow.processes ORDER BY name;
              SELECT procflow.flow_graph('follow_up', version => 1)};
is($node->safe_psql('restored', $flows), $node->safe_psql('postgres', $flows),
	'flows are restored with all their versions');
is($node->safe_psql('restored', q{SELECT procflow.alter_flow('follow_up', '{"start": "e", "activities": {"e": {"kind": "end"}}}')}),
	'3', 'and take their next version there');

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

my $next = q{SELECT next_run_at FROM procflow.process_triggers WHERE process = 'nightly'};
is($node->safe_psql('restored', $next), $node->safe_psql('postgres', $next),
	'the schedule keeps its next time');

# processes as code: export to a file, load the file with psql elsewhere
my $file = $node->basedir . '/processes.json';
open(my $fh, '>', $file) or die $!;
print $fh $node->safe_psql('postgres', 'SELECT jsonb_pretty(procflow.export_definitions())');
close $fh;
my $script = $node->basedir . '/load.sql';
open($fh, '>', $script) or die $!;
print $fh "\\set doc `cat $file`\nSELECT procflow.load_definitions(:'doc');\n";
close $fh;
$node->safe_psql('postgres', 'CREATE DATABASE loaded');
$node->safe_psql('loaded', q{
CREATE EXTENSION procflow;
CREATE TABLE customer (id bigserial PRIMARY KEY, name text);
CREATE TABLE account (customer_id bigint, name text);
});
command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('loaded'), '-f', $script ],
	'load_definitions of a file read by psql');
is($node->safe_psql('loaded', $defs), $node->safe_psql('postgres', $defs),
	'the loaded definitions are the exported ones');
command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('loaded'), '-f', $script ],
	'loading the same file again');
is($node->safe_psql('loaded', 'SELECT count(*) FROM procflow.process_triggers'), '3',
	'and nothing is doubled');

$node->stop;
done_testing();
