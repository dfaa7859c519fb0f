# Several databases: each served database runs its own processes with its
# own executors; a database without the extension is reported once and
# skipped until the extension is created; dropping the extension or the
# database under running executors is survived.  With procflow.database
# '*', every database that has the extension is found and served, also one
# created and extended after the start; DROP DATABASE, ALTER DATABASE
# RENAME and CREATE DATABASE ... TEMPLATE of a served database work without
# FORCE (its executors leave first); CREATE EXTENSION where nothing will
# serve the database warns and says why.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ProcflowTest;

# executors look again at a database without the extension every max_sleep
my $node = procflow_node('databases', '', conf => "procflow.workers = 1\nprocflow.max_sleep = '1s'\n");
$node->start;

my $setup = q{
CREATE EXTENSION procflow;
CREATE TABLE item (id int PRIMARY KEY);
CREATE TABLE done (db text, item_id int);
SELECT procflow.create_process('note', 'item',
    $$INSERT INTO done VALUES (current_database(), ($1).id)$$);
SELECT procflow.add_trigger('note', 'create', queued => true);
};
for my $db (qw(db1 db2 plain))
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
}
$node->safe_psql($_, $setup) for qw(db1 db2);
$node->safe_psql('plain', 'CREATE TABLE item (id int PRIMARY KEY)');

$node->safe_psql('postgres', "ALTER SYSTEM SET procflow.database = 'db1,db2,plain'");
$node->reload;
wait_until($node, "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'procflow executor'",
	'an executor in db1 and one in db2');
is($node->safe_psql('postgres',
	"SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_stat_activity WHERE backend_type = 'procflow executor'"),
	'db1,db2', 'each database has its own executor');

$node->safe_psql($_, 'INSERT INTO item SELECT g FROM generate_series(1, 100) g') for qw(db1 db2);
$node->poll_query_until($_, "SELECT count(*) = 100 FROM done WHERE db = current_database()")
  or die "jobs of $_ did not run" for qw(db1 db2);
is(join(' ', map { $node->safe_psql($_, "SELECT count(*) || '/' || count(*) FILTER (WHERE db = '$_') FROM done") } qw(db1 db2)),
	'100/100 100/100', "each database ran its own jobs, and only its own");

# the database without the extension: said once, not retried in a loop
my $missing = qr/extension "procflow" is not installed in database "plain"/;
$node->wait_for_log($missing);
my $t0 = $node->safe_psql('postgres', 'SELECT now()');
wait_until($node, "SELECT now() > '$t0'::timestamptz + interval '3 seconds'", 'several max_sleep periods');
is(scalar(() = slurp_file($node->logfile) =~ /$missing/g), 1, 'a database without the extension is reported once');

# creating the extension there starts its executor
$node->safe_psql('plain', 'DROP TABLE item');
$node->safe_psql('plain', $setup);
wait_until($node, "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'procflow executor' AND datname = 'plain'",
	'an executor in the database that got the extension');
$node->safe_psql('plain', 'INSERT INTO item VALUES (1)');
$node->poll_query_until('plain', 'SELECT count(*) = 1 FROM done') or die 'plain did not run its job';
is($node->safe_psql('plain', "SELECT db || ' ' || item_id FROM done"), 'plain 1', 'and it runs its jobs');

# dropping the extension under a running executor: it leaves first (its
# locks would meet the drop's), the others stay
$node->safe_psql('db2', q{
CREATE TABLE busy (id int PRIMARY KEY);
SELECT procflow.create_process('slow', 'busy', 'SELECT pg_sleep(0.05)');
SELECT procflow.add_trigger('slow', 'create', queued => true);
INSERT INTO busy SELECT generate_series(1, 200);
});
wait_until($node, "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = 'db2' AND query LIKE 'procflow job % (process slow%'",
	'the slow jobs did not start');
$node->safe_psql('db2', 'DROP EXTENSION procflow CASCADE');
ok($node->log_contains(qr/procflow executor leaves database "db2" for a statement that needs it without other sessions/),
	'DROP EXTENSION: the executor left first, between two of its jobs');
wait_until($node, "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'procflow executor' AND datname = 'db2'",
	'the executor of db2 left');
$node->wait_for_log(qr/extension "procflow" (was dropped from|is not installed in) database "db2"/);
ok($node->log_contains(qr/extension "procflow" (was dropped from|is not installed in) database "db2"/),
	'and said why in the log');

# dropping a served database with its executor connected (FORCE)
$node->safe_psql('postgres', 'DROP DATABASE plain WITH (FORCE)');
$node->safe_psql('db1', 'INSERT INTO item SELECT g FROM generate_series(111, 120) g');
$node->poll_query_until('db1', 'SELECT count(*) = 110 FROM done') or die 'db1 stopped after the drop';
is($node->safe_psql('db1', 'SELECT count(*) FROM done WHERE item_id BETWEEN 111 AND 120'), '10',
	'db1 keeps running after another served database was dropped');
is($node->safe_psql('postgres',
	"SELECT string_agg(coalesce(datname, '-') || ' ' || backend_type, ', ' ORDER BY backend_type, datname)
	   FROM pg_stat_activity WHERE backend_type IN ('procflow executor', 'procflow launcher')"),
	'db1 procflow executor, - procflow launcher', 'the launcher and db1\'s executor are up');
ok(!$node->log_contains(qr/server process .* was terminated|terminated by signal/), 'nothing crashed');

# every database that has the extension, found by the launcher
$node->safe_psql('postgres', "ALTER SYSTEM SET procflow.database = '*'");
$node->reload;
$node->safe_psql('postgres', 'CREATE DATABASE later');
$node->safe_psql('postgres', 'CREATE DATABASE bare');
$node->safe_psql('later', $setup);
wait_until($node, "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'procflow executor' AND datname = 'later'",
	'a database created and extended after the start got no executor');
$node->safe_psql('later', 'INSERT INTO item VALUES (7)');
$node->poll_query_until('later', 'SELECT count(*) = 1 FROM done') or die 'later did not run its job';
is($node->safe_psql('later', "SELECT db || ' ' || item_id FROM done"), 'later 7',
	'a database created and extended after the start runs its jobs, unnamed');
wait_until($node, "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'procflow executor' AND datname = 'bare'",
	'the probe of a database without the extension stayed');
ok(!$node->log_contains(qr/not installed in database "bare"/),
	'a database without the extension that procflow.database does not name is not reported');

# a served database is dropped, renamed, copied, without FORCE: its
# executors leave first, and come back where it is still there
$node->safe_psql('postgres', 'ALTER DATABASE later RENAME TO renamed');
wait_until($node, "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'procflow executor' AND datname = 'renamed'",
	'the executor did not come back to the renamed database');
$node->safe_psql('renamed', 'INSERT INTO item VALUES (8)');
$node->poll_query_until('renamed', 'SELECT count(*) = 2 FROM done') or die 'renamed did not run its job';
$node->safe_psql('postgres', 'CREATE DATABASE copied TEMPLATE renamed');
wait_until($node, "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'procflow executor' AND datname = 'copied'",
	'the copy of a served database got no executor');
$node->safe_psql('copied', 'INSERT INTO item VALUES (9)');
$node->poll_query_until('copied', 'SELECT count(*) = 3 FROM done') or die 'the copy did not run its job';
pass('a served database is renamed and copied; both are served');
$node->safe_psql('postgres', 'DROP DATABASE renamed');
$node->safe_psql('postgres', 'DROP DATABASE copied');
ok($node->log_contains(qr/procflow executor leaves database "copied" for a statement that needs it without other sessions/),
	'DROP DATABASE without FORCE: the executors left first, and said so');
wait_until($node, "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'procflow executor'",
	'the executors of the dropped databases did not go');
$node->safe_psql('db1', 'INSERT INTO item VALUES (121)');
$node->poll_query_until('db1', 'SELECT count(*) = 111 FROM done') or die 'db1 stopped after the drops';
pass('db1 runs on');

# a launcher that ends (the server does not) is started again, and ends the
# executors its predecessor started before it starts its own: no database
# gets two sets of them
my $old_executor = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'procflow executor' AND datname = 'db1'");
$node->safe_psql('postgres',
	"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'procflow launcher'");
wait_until($node, "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'procflow executor'
                    AND datname = 'db1' AND pid <> $old_executor",
	'the new launcher did not replace the executor of db1');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type IN ('procflow executor', 'procflow launcher')"),
	'2', 'one launcher, and one executor for db1: the old one ended');
$node->safe_psql('db1', 'INSERT INTO item VALUES (122)');
$node->poll_query_until('db1', 'SELECT count(*) = 112 FROM done') or die 'db1 stopped after the launcher restarted';

# CREATE EXTENSION where no executor will serve the database warns, saying why
$node->safe_psql('postgres', 'CREATE DATABASE tmpl IS_TEMPLATE true');
my ($ret, $out, $err) = $node->psql('tmpl', 'CREATE EXTENSION procflow');
like($err, qr/procflow's executors will not serve database "tmpl".*DETAIL:  It is a template/s,
	'CREATE EXTENSION in a template warns that it will not be served, and why');
$node->safe_psql('postgres', "ALTER SYSTEM SET procflow.database = 'db1, db2'");
$node->reload;
wait_until($node, "SELECT current_setting('procflow.database') = 'db1, db2'", 'the reload');
($ret, $out, $err) = $node->psql('bare', 'CREATE EXTENSION procflow');
like($err, qr/will not serve database "bare".*procflow.database is "db1, db2", which does not name it/s,
	'so does CREATE EXTENSION in a database procflow.database does not name');
($ret, $out, $err) = $node->psql('db2', 'CREATE EXTENSION procflow');
is($err, '', 'and not in one it names');
wait_until($node, "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'procflow executor' AND datname = 'db2'",
	'db2 was not served again once its extension was created again');

$node->stop;
done_testing();
