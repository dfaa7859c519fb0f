-- What an instance names stays true, and definitions that could never
-- finish are refused: keys stored as their row's own value, launches of a
-- key with no row or a null key, subflows of a key with no row, joins that
-- a branch bypasses, timeouts out of range, cycles that never rest, and
-- ALTER TABLE, TRUNCATE, alter_process and drop_process while live
-- instances need what they would change.
BEGIN;
SELECT plan(50);

CREATE TABLE acct (id numeric PRIMARY KEY, status text, note text, spare text);
CREATE TABLE pay (id int PRIMARY KEY, acct_id numeric, amount int);
CREATE TABLE other (code text PRIMARY KEY, acct_id numeric);
INSERT INTO acct VALUES (1.50, 'open', 'a', NULL), (2, 'open', 'b', NULL);

-- keys: a key is stored as its row's own value
SELECT procflow.create_flow('watch', 'acct', $${
  "start": "w",
  "activities": {
    "w": {"kind": "wait", "on": {"event": "update", "fields": ["status"], "condition": "($1).status = 'paid'"},
          "next": "e"},
    "e": {"kind": "end"}
  }}$$);
SELECT procflow.launch('watch', '1.5') AS numeric_instance \gset
SELECT is((SELECT key FROM procflow.instances WHERE id = :numeric_instance), '{"id": 1.50}',
          'a numeric key 1.5 is stored as its row has it, 1.50');
UPDATE acct SET status = 'paid' WHERE id = 1.5;
SELECT procflow.run_jobs();
SELECT is((SELECT status FROM procflow.instances WHERE id = :numeric_instance), 'completed',
          'and the row''s events reach its wait');

SELECT throws_ok($$SELECT procflow.launch('watch', 'null')$$, '22004', 'key is null',
                 'a JSON null key is refused as null');
SELECT throws_ok($$SELECT procflow.launch('watch', '{"id": null}')$$, '22004', NULL,
                 'a null key value too');
SELECT throws_ok($$SELECT procflow.launch('watch', '3')$$, '23503', NULL,
                 'a key with no row is refused');

-- a wait on another table, whose key expression gives 1.5: it reaches the
-- instance of row 1.50
SELECT procflow.create_flow('collect', 'acct', $${
  "start": "w",
  "activities": {
    "w": {"kind": "wait", "on": {"event": "create", "entity": "pay", "key": "($1).acct_id"}, "next": "e"},
    "e": {"kind": "end"}
  }}$$);
SELECT procflow.launch('collect', '1.50') AS collecting \gset
INSERT INTO pay VALUES (1, 1.5, 10);
SELECT procflow.run_jobs();
SELECT is((SELECT status FROM procflow.instances WHERE id = :collecting), 'completed',
          'a computed key 1.5 names the instance of row 1.50');

-- a subflow of a key with no row: the subflow activity fails with 23503,
-- and retry_activity launches it once the row is there
SELECT procflow.create_flow('child', 'other', '{"start": "e", "activities": {"e": {"kind": "end"}}}');
SELECT procflow.create_flow('parent', 'acct', $${
  "start": "s",
  "activities": {
    "s": {"kind": "subflow", "flow": "child", "key": "'c-' || ($1).note", "next": "e"},
    "e": {"kind": "end"}
  }}$$);
SELECT procflow.launch('parent', '2') AS parent \gset
SELECT is((SELECT status FROM procflow.activities WHERE instance = :parent AND name = 's'), 'failed',
          'a subflow whose key names no row fails');
SELECT matches((SELECT error FROM procflow.activities WHERE instance = :parent AND name = 's'),
               'has no row with key', 'saying so');
SELECT is((SELECT status FROM procflow.instances WHERE id = :parent), 'active', 'its instance stays active');
INSERT INTO other VALUES ('c-b', 2);
SELECT procflow.retry_activity(id) FROM procflow.activities WHERE instance = :parent AND name = 's';
SELECT procflow.run_jobs();
SELECT procflow.run_jobs();
SELECT is((SELECT status FROM procflow.instances WHERE id = :parent), 'completed',
          'retry_activity launches the child, and the parent goes on when it ends');

-- a subflow whose key is NULL fails the same way, not its launch
UPDATE acct SET note = NULL WHERE id = 1.5;
SELECT procflow.launch('parent', '1.5') AS nullkey \gset
SELECT is((SELECT status FROM procflow.activities WHERE instance = :nullkey AND name = 's'), 'failed',
          'a subflow whose key is NULL fails');
SELECT matches((SELECT error FROM procflow.activities WHERE instance = :nullkey AND name = 's'),
               'is NULL', 'saying so');
UPDATE acct SET note = 'a' WHERE id = 1.5;
SELECT procflow.terminate(:nullkey);

-- joins that can wait for ever are refused
SELECT throws_ok($$SELECT procflow.create_flow('bypass', 'acct', '{"start": "s", "activities": {
  "s": {"kind": "automatic", "action": "SELECT 1", "next": ["x", "y"]},
  "x": {"kind": "decision", "cases": [{"when": "($1).note = ''a''", "next": "j"}], "else": "e"},
  "y": {"kind": "automatic", "action": "SELECT 1", "next": "j"},
  "j": {"kind": "join", "next": "e"},
  "e": {"kind": "end"}}}')$$, '42P17', 'join "j" can wait for ever',
  'a decision''s else that bypasses a join is refused');
SELECT throws_ok($$SELECT procflow.create_flow('xorjoin', 'acct', '{"start": "w", "activities": {
  "w": {"kind": "wait", "on": {"event": "update"}, "timeout": "1 day", "next": {"event": "a", "timeout": "b"}},
  "a": {"kind": "automatic", "action": "SELECT 1", "next": "j"},
  "b": {"kind": "automatic", "action": "SELECT 1", "next": "j"},
  "j": {"kind": "join", "next": "e"},
  "e": {"kind": "end"}}}')$$, '42P17', 'join "j" can wait for ever',
  'a join after two exclusive outcomes is refused');
SELECT lives_ok($$SELECT procflow.create_flow('nested', 'acct', '{"start": "d", "activities": {
  "d": {"kind": "decision", "cases": [{"when": "($1).note = ''a''", "next": ["a", "b"]}], "else": "e"},
  "a": {"kind": "automatic", "action": "SELECT 1", "next": "j"},
  "b": {"kind": "wait", "timeout": "1 hour", "next": "j"},
  "j": {"kind": "join", "next": "e"},
  "e": {"kind": "end"}}}')$$, 'a split inside one case, joined there, is fine');
SELECT lives_ok($$SELECT procflow.create_flow('bail', 'acct', '{"start": "s", "activities": {
  "s": {"kind": "automatic", "action": "SELECT 1", "next": ["x", "y"]},
  "x": {"kind": "decision", "cases": [{"when": "($1).note = ''a''", "next": "j"}], "else": "t"},
  "y": {"kind": "automatic", "action": "SELECT 1", "next": "j"},
  "j": {"kind": "join", "next": "e"},
  "t": {"kind": "end", "terminate": true},
  "e": {"kind": "end"}}}')$$, 'a bypass that terminates the instance is fine');
SELECT lives_ok($$SELECT procflow.create_flow('remind', 'acct', '{"start": "s", "activities": {
  "s": {"kind": "automatic", "action": "SELECT 1", "next": ["w", "y"]},
  "w": {"kind": "wait", "on": {"event": "update"}, "timeout": "1 day", "next": {"event": "j", "timeout": "r"}},
  "r": {"kind": "automatic", "action": "SELECT 1", "next": "w"},
  "y": {"kind": "automatic", "action": "SELECT 1", "next": "j"},
  "j": {"kind": "join", "next": "e"},
  "e": {"kind": "end"}}}')$$, 'a reminder loop on one branch of a join is fine');

-- timeouts out of range
SELECT throws_ok($$SELECT procflow.create_flow('forever', 'acct', '{"start": "w", "activities": {
  "w": {"kind": "wait", "timeout": "300000 years", "next": "e"}, "e": {"kind": "end"}}}')$$,
  '22023', 'key "timeout" of activity "w" must be at most 1000 years', 'a timeout beyond the timestamps is refused');
SELECT throws_ok($$SELECT procflow.create_flow('late', 'acct', '{"start": "t", "activities": {
  "t": {"kind": "human", "due": "2000000 months", "next": "e"}, "e": {"kind": "end"}}}')$$,
  '22023', NULL, 'a task''s due too');
SELECT lives_ok($$SELECT procflow.create_flow('millennium', 'acct', '{"start": "w", "activities": {
  "w": {"kind": "wait", "timeout": "1000 years", "next": "e"}, "e": {"kind": "end"}}}')$$,
  'a thousand years is the longest');
SELECT ok(procflow.launch('millennium', '2') > 0, 'and launches');

-- a cycle that provably never rests
SELECT throws_ok($$SELECT procflow.create_flow('spinner', 'acct', '{"start": "w", "activities": {
  "w": {"kind": "wait", "on": {"event": "create"}, "next": "d"},
  "d": {"kind": "decision", "cases": [{"when": "($1).note = ''z''", "next": "e"}], "else": "w"},
  "e": {"kind": "end"}}}')$$, '42P17', NULL,
  'a cycle through a wait for the creation of the instance''s own row is refused');
SELECT lives_ok($$SELECT procflow.create_flow('rests', 'acct', '{"start": "w", "activities": {
  "w": {"kind": "wait", "on": {"event": "update"}, "next": "d"},
  "d": {"kind": "decision", "cases": [{"when": "($1).note = ''z''", "next": "e"}], "else": "w"},
  "e": {"kind": "end"}}}')$$, 'a cycle through a wait for an update rests');

-- ALTER TABLE while live instances need what it changes
SELECT procflow.launch('watch', '2') AS watching \gset
SELECT throws_ok($$ALTER TABLE acct RENAME COLUMN status TO state$$, '2BP01', NULL,
                 'renaming a column a live version''s wait watches is refused');
SELECT throws_ok($$ALTER TABLE acct DROP COLUMN status$$, '2BP01', NULL,
                 'dropping it too');
SELECT throws_ok($$ALTER TABLE pay RENAME TO payment$$, '2BP01', NULL,
                 'renaming a table a live version''s wait names too');
CREATE SCHEMA elsewhere;
SELECT throws_ok($$ALTER TABLE pay SET SCHEMA elsewhere$$, '2BP01', NULL,
                 'moving it to another schema too');
SELECT throws_ok($$ALTER TABLE pay RENAME COLUMN acct_id TO account$$, '2BP01', NULL,
                 'renaming a column its key uses too');
SELECT lives_ok($$ALTER TABLE acct RENAME COLUMN spare TO extra$$,
                'renaming a column no version uses is fine');
SELECT throws_ok($$ALTER TABLE acct RENAME COLUMN note TO remark$$, '2BP01', NULL,
                 'a column the current version of a flow without instances uses is not renamed either');
SELECT throws_ok($$ALTER TABLE acct DROP CONSTRAINT acct_pkey, ADD PRIMARY KEY (note)$$, '55006', NULL,
                 'changing the primary key of a table with live instances is refused');
SELECT throws_ok($$ALTER TABLE acct ALTER id TYPE text$$, '55006', NULL,
                 'changing the type of a key column too');

-- TRUNCATE: events already queued are delivered; a table whose deletion a
-- live wait waits for is not truncated
UPDATE acct SET status = 'paid' WHERE id = 2;
TRUNCATE pay;
SELECT procflow.run_jobs();
SELECT is((SELECT status FROM procflow.instances WHERE id = :watching), 'completed',
          'an event queued before a TRUNCATE of its table is delivered');
SELECT procflow.create_flow('gone', 'acct', $${
  "start": "w",
  "activities": {"w": {"kind": "wait", "on": {"event": "delete"}, "next": "e"}, "e": {"kind": "end"}}}$$);
SELECT procflow.launch('gone', '2') AS going \gset
SELECT throws_ok($$TRUNCATE acct CASCADE$$, '55006', NULL,
                 'truncating a table whose rows'' deletion a wait waits for is refused');
DELETE FROM acct WHERE id = 2;
SELECT procflow.run_jobs();
SELECT is((SELECT status FROM procflow.instances WHERE id = :going), 'completed', 'a DELETE closes it');
CREATE TABLE parted (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE parted_low PARTITION OF parted FOR VALUES FROM (0) TO (100);
INSERT INTO parted VALUES (1);
SELECT procflow.create_flow('parted_gone', 'parted', $${
  "start": "w",
  "activities": {"w": {"kind": "wait", "on": {"event": "delete"}, "next": "e"}, "e": {"kind": "end"}}}$$);
SELECT ok(procflow.launch('parted_gone', '1') > 0, 'a wait for the deletion of a partitioned row');
SELECT throws_ok($$ALTER TABLE parted DETACH PARTITION parted_low$$, '55006', NULL,
                 'detaching its partition is refused');
-- and so is dropping it with its schema, or with its owner's objects
CREATE SCHEMA parts;
CREATE ROLE pgtap_part_owner;
CREATE TABLE parts.parted_high PARTITION OF parted FOR VALUES FROM (100) TO (200);
ALTER TABLE parts.parted_high OWNER TO pgtap_part_owner;
INSERT INTO parted VALUES (150);
SELECT procflow.launch('parted_gone', '150');
SELECT throws_ok($$DROP SCHEMA parts CASCADE$$, '55006', NULL,
                 'DROP SCHEMA ... CASCADE of a partition whose rows'' deletion a wait waits for is refused');
SELECT throws_ok($$DROP OWNED BY pgtap_part_owner$$, '55006', NULL,
                 'so is DROP OWNED of its owner');

-- a flow that another launches as a subflow is neither moved nor dropped
SELECT throws_ok($$SELECT procflow.alter_process('child', 'pay', NULL)$$, '55006', NULL,
                 'moving a flow another launches is refused');
SELECT throws_ok($$SELECT procflow.drop_process('child')$$, '2BP01', NULL,
                 'dropping it too');
SELECT procflow.alter_flow('parent', '{"start": "e", "activities": {"e": {"kind": "end"}}}');
SELECT lives_ok($$SELECT procflow.drop_process('child')$$,
                'once no version that could still run launches it, it can go');

-- a conditional start fed by its own instance's writes does not spin for
-- ever: each branch its own step's event starts is a round without rest
CREATE TABLE selffed (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO selffed VALUES (1);
SELECT procflow.create_flow('selffed', 'selffed', $${"start": "w", "activities": {
  "w": {"kind": "wait", "timeout": "1 day", "next": "e"},
  "cs": {"kind": "conditional_start", "on": {"event": "update"}, "next": "u"},
  "u": {"kind": "automatic", "action": "UPDATE selffed SET n = n + 1 WHERE id = ($1).id", "next": "e2"},
  "e2": {"kind": "end"}, "e": {"kind": "end"}}}$$);
SELECT procflow.launch('selffed', '1');
UPDATE selffed SET n = 1000;
DO $$
BEGIN
  FOR i IN 1 .. 1000 LOOP
    EXIT WHEN procflow.run_jobs() = 0;
  END LOOP;
END $$;
SELECT is((SELECT count(*) FROM procflow.jobs WHERE process = 'selffed' AND run_at <= now()), 0::bigint,
          'the branches its own steps'' events start come to an end');
SELECT matches((SELECT error FROM procflow.activities WHERE flow = 'selffed' AND name = 'cs' AND status = 'failed'),
               'conditional start "cs" ended at once 100 times in a row without an event',
               'the conditional start fails, saying why, after 100 rounds without rest');

-- a cycle through a wait, or a task, that times out a microsecond after it
-- begins does not run for ever: a timeout under a second is a round
-- without rest; a cycle whose timeouts rest a second runs on
SELECT procflow.create_flow('ticker', 'selffed', $${"start": "w", "activities": {
  "w": {"kind": "wait", "timeout": "1 microsecond", "next": "d"},
  "d": {"kind": "decision", "cases": [{"when": "false", "next": "e"}], "else": "w"},
  "e": {"kind": "end"}}}$$);
SELECT procflow.create_flow('nagger', 'selffed', $${"start": "t", "activities": {
  "t": {"kind": "human", "timeout": "1 microsecond", "next": {"done": "e", "timeout": "t"}},
  "e": {"kind": "end"}}}$$);
SELECT procflow.create_flow('slow_ticker', 'selffed', $${"start": "w", "activities": {
  "w": {"kind": "wait", "timeout": "1 second", "next": "d"},
  "d": {"kind": "decision", "cases": [{"when": "false", "next": "e"}], "else": "w"},
  "e": {"kind": "end"}}}$$);
SELECT procflow.launch('ticker', '1');
SELECT procflow.launch('nagger', '1');
SELECT procflow.launch('slow_ticker', '1');
DO $$
BEGIN
  FOR i IN 1 .. 1000 LOOP
    EXIT WHEN procflow.run_jobs() = 0;
  END LOOP;
END $$;
SELECT matches((SELECT error FROM procflow.activities WHERE flow = 'ticker' AND status = 'failed'),
               'wait "w" ended at once 100 times in a row without an event',
               'a wait timing out a microsecond after it begins, in a cycle, fails after 100 rounds');
SELECT matches((SELECT error FROM procflow.activities WHERE flow = 'nagger' AND status = 'failed'),
               'task "t" ended at once 100 times in a row without an event',
               'so does a task timing out a microsecond after it begins');
SELECT is((SELECT count(*) FROM procflow.jobs WHERE process IN ('ticker', 'nagger')), 0::bigint,
          'neither has a job left');
SELECT is((SELECT status || '/' || count(*) FROM procflow.activities WHERE flow = 'slow_ticker'
            GROUP BY status ORDER BY status LIMIT 1), 'waiting/1',
          'a cycle whose wait rests a second waits for its timer');

-- a wait that fails again on its retried event parks the events kept after
-- it at once: none shows as due while it waits behind the failed one
CREATE TABLE parkme (id int PRIMARY KEY, s text, d int);
INSERT INTO parkme VALUES (3, 'x', 1);
SELECT procflow.create_flow('parkme', 'parkme', $${"start": "w", "activities": {
  "w": {"kind": "wait", "on": {"event": "update", "condition": "($1).s = 'go' AND 10 / ($1).d > 0"}, "next": "w2"},
  "w2": {"kind": "wait", "on": {"event": "update", "condition": "($1).s = 'go2'"}, "next": "e"},
  "e": {"kind": "end"}}}$$, max_attempts => 1);
SELECT procflow.launch('parkme', '3') AS parked \gset
UPDATE parkme SET d = 0;
UPDATE parkme SET s = 'go';
UPDATE parkme SET s = 'go2';
UPDATE parkme SET d = 1;
DO $$ BEGIN FOR i IN 1 .. 100 LOOP EXIT WHEN procflow.run_jobs() = 0; END LOOP; END $$;
SELECT procflow.retry_activity((SELECT id FROM procflow.activities WHERE instance = :parked AND name = 'w'));
DO $$ BEGIN FOR i IN 1 .. 100 LOOP EXIT WHEN procflow.run_jobs() = 0; END LOOP; END $$;
SELECT is((SELECT status FROM procflow.activities WHERE instance = :parked AND name = 'w'), 'failed',
          'the retried event fails the wait again');
SELECT is((SELECT count(*) FROM procflow.jobs WHERE instance = :parked AND run_at <> 'infinity'), 0::bigint,
          'every event kept after it is parked, none shows as due');

SELECT * FROM finish();
ROLLBACK;
