# Events and executors: a flow created (or altered) and launched at once,
# with its events arriving while its steps run, runs like any other;
# procflow.max_timeout bounds everything an executor does for one job (a
# wait's condition, a decision, a lock wait on an entity table that a role
# holds); history pruning keeps a finished child whose parent has not
# taken its end; ALTER EXTENSION UPDATE from 0.4 keeps waiting instances,
# kept events and pending events, which are delivered after it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ProcflowTest;

my $node = procflow_node('events', 'postgres', conf => q{
procflow.workers = 2
procflow.retry_delay = 0
procflow.max_sleep = '200ms'
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION procflow;
CREATE TABLE item (id int PRIMARY KEY, status text DEFAULT 'new');
CREATE TABLE trail (flow text, item int, note text);
});

# 1. Flows created and launched at once, events while steps run: every
# instance completes, no activity fails, and no event that came after its
# wait began is skipped.
my $n = 30;
for my $i (1 .. $n)
{
	$node->safe_psql('postgres', qq{
INSERT INTO item VALUES ($i);
SELECT procflow.create_flow('quick_$i', 'item', \$\${"start": "a", "activities": {
  "a": {"kind": "automatic", "action": "INSERT INTO trail VALUES ('quick_$i', (\$1).id, 'a')", "next": "w"},
  "w": {"kind": "wait", "on": {"event": "update", "fields": ["status"], "condition": "(\$1).status = 'paid'"}, "next": "b"},
  "b": {"kind": "automatic", "action": "INSERT INTO trail VALUES ('quick_$i', (\$1).id, 'b')", "next": "e"},
  "e": {"kind": "end"}}}\$\$);
SELECT procflow.launch('quick_$i', '$i');
});
	# the wait begins in the executor's step, which may still be running
	$node->safe_psql('postgres', "UPDATE item SET status = 'paid' WHERE id = $i");
}
wait_until($node, qq{SELECT count(*) = $n FROM procflow.instances WHERE flow LIKE 'quick_%' AND status = 'completed'},
	'the quick flows did not complete');
is($node->safe_psql('postgres', q{SELECT count(*) FROM procflow.activities WHERE flow LIKE 'quick_%' AND status = 'failed'}),
	'0', 'no activity of a flow launched right after its creation failed');
is($node->safe_psql('postgres', q{SELECT count(*) FROM trail WHERE flow LIKE 'quick_%'}),
	2 * $n, 'each step ran once');

# the same right after alter_flow: the new version's first instance
$node->safe_psql('postgres', q{
SELECT procflow.alter_flow('quick_1', $${"start": "w", "activities": {
  "w": {"kind": "wait", "on": {"event": "update", "fields": ["status"], "condition": "($1).status = 'shipped'"}, "next": "e"},
  "e": {"kind": "end"}}}$$);
SELECT procflow.launch('quick_1', '1');
UPDATE item SET status = 'shipped' WHERE id = 1;
});
wait_until($node, q{SELECT count(*) = 1 FROM procflow.instances WHERE flow = 'quick_1' AND version = 2 AND status = 'completed'},
	'the new version did not take its event');

# an instance's parallel branches' steps run in the order they were queued,
# whichever of the two executors claims them
$node->safe_psql('postgres', q{
CREATE TABLE branch_log (item int, activity text, at serial);
INSERT INTO item SELECT 200 + k FROM generate_series(1, 20) k;
SELECT procflow.create_flow('branches', 'item', $${"start": "fork", "activities": {
  "fork": {"kind": "automatic", "action": "INSERT INTO branch_log VALUES (($1).id, 'fork')", "next": ["b1", "b2", "b3"]},
  "b1": {"kind": "automatic", "action": "INSERT INTO branch_log VALUES (($1).id, 'b1'); SELECT pg_sleep(0.01)", "next": "c1"},
  "b2": {"kind": "automatic", "action": "INSERT INTO branch_log VALUES (($1).id, 'b2')", "next": "c2"},
  "b3": {"kind": "automatic", "action": "INSERT INTO branch_log VALUES (($1).id, 'b3')", "next": "j"},
  "c1": {"kind": "automatic", "action": "INSERT INTO branch_log VALUES (($1).id, 'c1')", "next": "j"},
  "c2": {"kind": "automatic", "action": "INSERT INTO branch_log VALUES (($1).id, 'c2')", "next": "j"},
  "j": {"kind": "join", "next": "e"},
  "e": {"kind": "end"}}}$$);
SELECT procflow.launch('branches', to_jsonb(200 + k)) FROM generate_series(1, 20) k;
});
wait_until($node, q{SELECT count(*) = 20 FROM procflow.instances WHERE flow = 'branches' AND status = 'completed'},
	'the branching flows did not complete');
is($node->safe_psql('postgres', q{
SELECT string_agg(DISTINCT order_seen, ' / ')
  FROM (SELECT string_agg(activity, ' ' ORDER BY at) AS order_seen FROM branch_log GROUP BY item) o}),
	'fork b1 b2 b3 c1 c2', 'each instance ran its steps in the order they were queued');

# an event of the transaction that disables its flow is kept for the
# instance (the executor reads the flow's state as its job's snapshot sees
# it, not as its cache last heard), and taken once the flow is enabled
$node->safe_psql('postgres', q{
INSERT INTO item SELECT 300 + k FROM generate_series(1, 15) k;
SELECT procflow.create_flow('held_flow', 'item', $${"start": "w", "activities": {
  "w": {"kind": "wait", "on": {"event": "update", "fields": ["status"]}, "next": "e"},
  "e": {"kind": "end"}}}$$);
});
my $taken_early = 0;
for my $k (301 .. 315)
{
	$node->safe_psql('postgres', qq{SELECT procflow.launch('held_flow', '$k')});
	$node->safe_psql('postgres', qq{
BEGIN;
UPDATE item SET status = 'sent' WHERE id = $k;
SELECT procflow.disable_process('held_flow');
COMMIT;
});
	wait_until($node, q{SELECT NOT EXISTS (SELECT 1 FROM procflow.job j JOIN procflow.process p ON p.id = j.process_id
	                                        WHERE p.name = 'held_flow' AND j.instance_id IS NULL)},
		'the event of the disabling transaction was not looked at');
	$taken_early += $node->safe_psql('postgres',
		qq{SELECT count(*) FROM procflow.activities a JOIN procflow.instances i ON i.id = a.instance
		    WHERE i.flow = 'held_flow' AND i.key = '$k' AND a.name = 'w' AND a.status <> 'waiting'});
	$node->safe_psql('postgres', q{SELECT procflow.enable_process('held_flow')});
}
is($taken_early, 0, 'no instance took an event of the transaction that disabled its flow');
wait_until($node, q{SELECT count(*) = 15 FROM procflow.instances WHERE flow = 'held_flow' AND status = 'completed'},
	'the kept events were not taken after enable_process');

# one event that 150 instances wait for: each takes it in a subtransaction
# of its own, so the executor delivers it to as many as its cache of
# subtransaction ids holds, and the others keep it and take it in jobs of
# their own; every instance takes it once
$node->safe_psql('postgres', q{
INSERT INTO item VALUES (400);
SELECT procflow.create_flow('crowd', 'item', $${"start": "w", "activities": {
  "w": {"kind": "wait", "on": {"event": "update", "fields": ["status"]}, "next": "e"},
  "e": {"kind": "end"}}}$$);
SELECT count(procflow.launch('crowd', '400')) FROM generate_series(1, 150);
UPDATE item SET status = 'sent' WHERE id = 400;
});
wait_until($node, q{SELECT count(*) = 150 FROM procflow.instances WHERE flow = 'crowd' AND status = 'completed'},
	'the crowd did not take its event');
is($node->safe_psql('postgres', q{
SELECT count(*) FILTER (WHERE j.instance_id IS NULL) = 1
   AND count(*) FILTER (WHERE j.instance_id IS NOT NULL) BETWEEN 150 - 56 AND 149
  FROM procflow.finished_job j JOIN procflow.process p ON p.id = j.process_id
 WHERE p.name = 'crowd' AND j.xid IS NOT NULL}),
	't', 'the event was delivered to at most 56 instances in its own job, kept for the others');
is($node->safe_psql('postgres', q{
SELECT count(*) FROM procflow.activities a JOIN procflow.instances i ON i.id = a.instance
 WHERE i.flow = 'crowd' AND a.name = 'w' AND a.outcome = 'event'}),
	'150', 'each instance took it once');

# 2. procflow.max_timeout bounds a wait's condition, a decision, and a lock
# wait on an entity table, in executors.
$node->append_conf('postgresql.conf', "procflow.max_timeout = '1s'\n");
$node->reload;
$node->safe_psql('postgres', q{
CREATE ROLE slowpoke;
GRANT USAGE, CREATE ON SCHEMA public TO slowpoke;
SET ROLE slowpoke;
CREATE TABLE slow_item (id int PRIMARY KEY, status text);
INSERT INTO slow_item VALUES (1, 'new'), (2, 'new');
SELECT procflow.create_flow('sleepy', 'slow_item', $${"start": "w", "activities": {
  "w": {"kind": "wait", "on": {"event": "update", "condition": "$2 IS NOT NULL AND pg_sleep(6) IS NULL"}, "next": "e"},
  "e": {"kind": "end"}}}$$, max_attempts => 1);
SELECT procflow.launch('sleepy', '1');
SELECT procflow.create_flow('ponder', 'slow_item', $${"start": "a", "activities": {
  "a": {"kind": "automatic", "action": "SELECT 1", "next": "d"},
  "d": {"kind": "decision", "cases": [{"when": "pg_sleep(6) IS NULL", "next": "e"}], "else": "e"},
  "e": {"kind": "end"}}}$$, max_attempts => 1);
SELECT procflow.launch('ponder', '2');
UPDATE slow_item SET status = 'touched' WHERE id = 1;
RESET ROLE;
});
wait_until($node, q{SELECT count(*) = 1 FROM procflow.activities WHERE flow = 'sleepy' AND status = 'failed'},
	'the slow condition was not cut short');
like($node->safe_psql('postgres', q{SELECT error FROM procflow.activities WHERE flow = 'sleepy' AND status = 'failed'}),
	qr/statement timeout/, 'a wait condition longer than max_timeout fails its wait');
ok($node->safe_psql('postgres', q{
SELECT max(finished_at - started_at) < interval '4 seconds' FROM procflow.job_history WHERE process = 'sleepy'}) eq 't',
	'after about max_timeout');
wait_until($node, q{SELECT count(*) = 1 FROM procflow.activities WHERE flow = 'ponder' AND status = 'failed'},
	'the slow decision was not cut short');
like($node->safe_psql('postgres', q{SELECT error FROM procflow.activities WHERE flow = 'ponder' AND status = 'failed'}),
	qr/statement timeout/, 'so is a decision');

# a role that holds a lock on its own entity table keeps no executor
$node->safe_psql('postgres', q{
SET ROLE slowpoke;
SELECT procflow.create_process('touch', 'slow_item', $$UPDATE slow_item SET status = status WHERE id = ($1).id$$,
                               max_attempts => 1);
RESET ROLE;
});
$node->safe_psql('postgres', q{SELECT procflow.run_process('touch', '{"id": 2}', delay => '2 seconds')});
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN');
$holder->query_safe('LOCK TABLE slow_item IN ACCESS EXCLUSIVE MODE');
wait_until($node, q{SELECT count(*) = 1 FROM procflow.job_history WHERE process = 'touch' AND status = 'failed'},
	'the job waiting for the lock was not cut short');
like($node->safe_psql('postgres', q{SELECT error FROM procflow.job_history WHERE process = 'touch'}),
	qr/statement timeout/, 'a lock wait longer than max_timeout fails the job');
$holder->query_safe('ROLLBACK');
$holder->quit;

# a job whose SQL catches the cancel and goes on (for an hour) ends its
# executor a moment after its deadline; the executor starts again, and the
# job counts that as a failed attempt
$node->safe_psql('postgres', q{
SET ROLE slowpoke;
CREATE FUNCTION stubborn() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	LOOP
		BEGIN
			PERFORM pg_sleep(0.2);
		EXCEPTION WHEN query_canceled THEN NULL;
		END;
		EXIT WHEN clock_timestamp() - statement_timestamp() > interval '1 hour';
	END LOOP;
	RETURN true;
END $$;
SELECT procflow.create_process('stubborn', 'slow_item', 'SELECT stubborn()', max_attempts => 1);
RESET ROLE;
});
$node->safe_psql('postgres', q{SELECT procflow.run_process('stubborn', '{"id": 1}')});
wait_until($node, q{SELECT count(*) = 1 FROM procflow.job_history WHERE process = 'stubborn' AND status = 'failed'},
	'a job that catches its cancel held its executor past max_timeout');
wait_until($node, q{SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'procflow executor'},
	'the executor ended for the job that overran did not start again');
$node->safe_psql('postgres', q{SELECT procflow.run_process('touch', '{"id": 2}')});
wait_until($node, q{SELECT count(*) = 1 FROM procflow.job_history WHERE process = 'touch' AND status = 'succeeded'},
	'the executors did not go on with other jobs');
$node->append_conf('postgresql.conf', "procflow.max_timeout = 0\n");
$node->reload;

# 3. Pruning keeps a finished child whose end its held parent has not
# taken; the parent takes it once enabled.
$node->safe_psql('postgres', q{
INSERT INTO item VALUES (100);
SELECT procflow.create_flow('kid', 'item', $${"start": "a", "activities": {
  "a": {"kind": "automatic", "action": "SELECT 1", "next": "e"}, "e": {"kind": "end"}}}$$);
SELECT procflow.create_flow('mom', 'item', $${"start": "s", "activities": {
  "s": {"kind": "subflow", "flow": "kid", "next": "e"}, "e": {"kind": "end"}}}$$);
});
my $mom = $node->safe_psql('postgres', q{
BEGIN;
SELECT procflow.launch('mom', '100');
SELECT procflow.disable_process('mom');
COMMIT;
});
($mom) = $mom =~ /(\d+)/;
wait_until($node, qq{SELECT count(*) = 1 FROM procflow.instances WHERE parent = $mom AND status = 'completed'},
	'the child did not end');
$node->safe_psql('postgres', qq{
UPDATE procflow.instance SET finished_at = now() - interval '1 hour' WHERE parent = $mom;
-- a finished instance of its own, which pruning removes
UPDATE procflow.instance SET finished_at = now() - interval '1 hour'
 WHERE process_id = (SELECT id FROM procflow.process WHERE name = 'quick_2');
});
$node->append_conf('postgresql.conf', "procflow.history_retention = 1\n");
$node->reload;
wait_until($node, q{SELECT count(*) = 0 FROM procflow.instances WHERE flow = 'quick_2'},
	'history was not pruned');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM procflow.instances WHERE parent = $mom}),
	'1', "a finished child whose end its held parent has not taken is kept");
$node->safe_psql('postgres', q{SELECT procflow.enable_process('mom')});
wait_until($node, qq{SELECT count(*) = 1 FROM procflow.instances WHERE id = $mom AND status = 'completed'},
	'the parent did not take its child\'s end');
$node->append_conf('postgresql.conf', "procflow.history_retention = '7d'\n");
$node->reload;

# 4. ALTER EXTENSION UPDATE from 0.4.  On the 0.4 catalog this library
# keeps light work going and holds flows; their rows are written as 0.4
# wrote them: an instance waiting on its row's update, a pending event
# for it (no new row: it is judged on the row as it is when delivered) and
# one kept for a suspended instance.
$node->safe_psql('postgres', 'CREATE DATABASE old');
$node->safe_psql('old', q{
CREATE EXTENSION procflow VERSION '0.4';
CREATE TABLE ord (id int PRIMARY KEY, state text NOT NULL DEFAULT 'new');
CREATE TABLE seen (note text);
INSERT INTO ord VALUES (1), (2);
-- as 0.4's create_flow('paid', 'ord', ...) and launch wrote them
INSERT INTO procflow.process (name, entity, owner_name, search_path, kind, version)
VALUES ('paid', 'ord', 'postgres', '"$user", public', 'flow', 1);
INSERT INTO procflow.flow_version (process_id, version, definition, search_path, waits_on)
SELECT id, 1, $${"start": "w", "activities": {
    "w": {"kind": "wait", "on": {"event": "update", "fields": ["state"], "condition": "($1).state = 'paid'"},
          "next": "a"},
    "a": {"kind": "automatic", "action": "INSERT INTO seen VALUES ('paid ' || ($1).id)", "next": "e"},
    "e": {"kind": "end"}}}$$, '"$user", public', '{ord}'
  FROM procflow.process WHERE name = 'paid';
INSERT INTO procflow.instance (process_id, version, key, status, began, began_xid, began_cid)
SELECT id, 1, ARRAY[k::text], s, pg_current_snapshot(), pg_current_xact_id(), 0
  FROM procflow.process, (VALUES (1, 'active'), (2, 'suspended')) v(k, s) WHERE name = 'paid';
INSERT INTO procflow.activity (instance_id, name, kind, status, began, began_xid, began_cid, wait_entity, wait_key)
SELECT i.id, 'w', 'wait', 'waiting', pg_current_snapshot(), pg_current_xact_id(), 0, 'ord', i.key
  FROM procflow.instance i;
CREATE TRIGGER procflow_capture AFTER INSERT OR UPDATE OR DELETE ON ord
    FOR EACH ROW EXECUTE FUNCTION procflow.capture();
CREATE TRIGGER procflow_capture_flush AFTER INSERT OR UPDATE OR DELETE ON ord
    FOR EACH STATEMENT EXECUTE FUNCTION procflow.capture();
});
# the events: ord 1 paid (pending, for the flow), ord 2 paid (kept for its
# suspended instance), as 0.4 queued them
$node->safe_psql('old', q{
UPDATE ord SET state = 'paid';
INSERT INTO procflow.job (id, process_id, event, ord, row_hash, key, old_row, changed, run_at,
                          partition, owner, instance_id, xid, event_table, cid)
SELECT nextval('procflow.job_id_seq'), p.id, 'update', 0, o.id, ARRAY[o.id::text],
       json_build_object('id', o.id, 'state', 'new')::text, '{state}', now(), 0, p.owner,
       CASE o.id WHEN 2 THEN (SELECT i.id FROM procflow.instance i WHERE i.key = '{2}') END,
       pg_current_xact_id(), 'ord', 0
  FROM procflow.process p, ord o WHERE p.name = 'paid';
});
is($node->safe_psql('old', q{SELECT count(*) FROM procflow.jobs}), '2',
	'the 0.4 catalog has two events pending');
my ($ret, $out, $err) = $node->psql('old', q{SELECT procflow.launch('paid', '1')});
like($err, qr/older than its library/, 'flows wait for the update on the 0.4 catalog');
$node->safe_psql('old', 'ALTER EXTENSION procflow UPDATE');
is($node->safe_psql('old', "SELECT extversion FROM pg_extension WHERE extname = 'procflow'"),
	'0.5', 'updated from 0.4 to 0.5');
$node->safe_psql('postgres', "ALTER SYSTEM SET procflow.database = 'postgres, old'");
$node->reload;
$node->poll_query_until('old', q{SELECT count(*) = 1 FROM seen})
  or die 'the pending 0.4 event was not delivered';
is($node->safe_psql('old', q{SELECT note FROM seen}), 'paid 1',
	'the pending 0.4 event closed its wait after the update');
$node->safe_psql('old', q{SELECT procflow.resume(id) FROM procflow.instances WHERE status = 'suspended'});
$node->poll_query_until('old', q{SELECT count(*) = 2 FROM seen})
  or die 'the kept 0.4 event was not delivered';
is($node->safe_psql('old', q{SELECT string_agg(note, ',' ORDER BY note) FROM seen}), 'paid 1,paid 2',
	'and the kept one, once its instance resumed');
$node->safe_psql('old', q{
INSERT INTO ord VALUES (3);
SELECT procflow.launch('paid', '3');
UPDATE ord SET state = 'paid' WHERE id = 3;
});
$node->poll_query_until('old', q{SELECT count(*) = 3 FROM seen})
  or die 'a new instance did not take its event after the update';
pass('new instances take their events after the update');

engine_rows_hold($node, 'postgres', 'events');
$node->stop;
done_testing();
