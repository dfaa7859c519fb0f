-- Events, precisely: an event is judged on the rows its statement wrote;
-- events held while a flow is disabled, or kept while an instance is
-- suspended, are delivered in order as if they had come live; delivery is
-- per instance, so one instance's failing condition or key keeps the event
-- from no other; a wait that would spin fails.  procflow.run_jobs() runs
-- what is due.
CREATE SCHEMA ev;
SET search_path = ev, public;
CREATE TABLE invoice (id int PRIMARY KEY, status text DEFAULT 'open', approved boolean DEFAULT false);
CREATE TABLE payment (id int PRIMARY KEY, invoice_id int, amount int);
CREATE TABLE switch (broken boolean);
INSERT INTO switch VALUES (true);

-- a wait for status 'paid', then the end
SELECT procflow.create_flow('ev_pay', 'invoice', $${
  "start": "wait_paid",
  "activities": {
    "wait_paid": {"kind": "wait", "on": {"event": "update", "fields": ["status"],
                                         "condition": "($1).status = 'paid' AND ($2).status <> 'paid'"},
                  "next": "done"},
    "done": {"kind": "end"}
  }}$$);

-- two updates of one row in one transaction are two events, each judged on
-- its own rows: the first closes the wait, though the row moved on
INSERT INTO invoice (id) VALUES (1), (2), (3), (4);
SELECT procflow.launch('ev_pay', '1') AS first \gset
BEGIN;
UPDATE invoice SET status = 'paid' WHERE id = 1;
UPDATE invoice SET status = 'archived' WHERE id = 1;
COMMIT;
SELECT procflow.run_jobs();
SELECT name, status, outcome FROM procflow.activities WHERE instance = :first ORDER BY id;

-- kept while suspended, and the row moved on meanwhile: the same
SELECT procflow.launch('ev_pay', '2') AS second \gset
SELECT procflow.suspend(:second);
UPDATE invoice SET status = 'paid' WHERE id = 2;
UPDATE invoice SET status = 'archived' WHERE id = 2;
SELECT procflow.run_jobs();
SELECT name, status FROM procflow.activities WHERE instance = :second ORDER BY id;
SELECT procflow.resume(:second);
SELECT procflow.run_jobs();
SELECT name, status, outcome FROM procflow.activities WHERE instance = :second ORDER BY id;

-- held while the flow is disabled, and the row deleted meanwhile: the same
SELECT procflow.launch('ev_pay', '3') AS third \gset
SELECT procflow.disable_process('ev_pay');
UPDATE invoice SET status = 'paid' WHERE id = 3;
DELETE FROM invoice WHERE id = 3;
SELECT procflow.run_jobs();
SELECT name, status FROM procflow.activities WHERE instance = :third ORDER BY id;
SELECT procflow.enable_process('ev_pay');
SELECT procflow.run_jobs();
SELECT name, status, outcome FROM procflow.activities WHERE instance = :third ORDER BY id;
SELECT status FROM procflow.instances WHERE id = :third;

-- approve closes the first wait and begins one for a payment row: held
-- events are delivered in order, as if live, so the payment that came
-- after the approval closes the second wait
SELECT procflow.create_flow('ev_collect', 'invoice', $${
  "start": "wait_approved",
  "activities": {
    "wait_approved": {"kind": "wait", "on": {"event": "update", "condition": "($1).approved"},
                      "next": "wait_payment"},
    "wait_payment": {"kind": "wait", "on": {"event": "create", "entity": "payment",
                                            "key": "($1).invoice_id"},
                     "next": "done"},
    "done": {"kind": "end"}
  }}$$);
SELECT procflow.launch('ev_collect', '4') AS fourth \gset
SELECT procflow.disable_process('ev_collect');
UPDATE invoice SET approved = true WHERE id = 4;
INSERT INTO payment VALUES (1, 4, 100);
SELECT procflow.run_jobs();
SELECT procflow.enable_process('ev_collect');
SELECT procflow.run_jobs();
SELECT name, status, outcome FROM procflow.activities WHERE instance = :fourth ORDER BY id;
SELECT status FROM procflow.instances WHERE id = :fourth;

-- the same across suspend and resume
INSERT INTO invoice (id) VALUES (5);
SELECT procflow.launch('ev_collect', '5') AS fifth \gset
SELECT procflow.suspend(:fifth);
UPDATE invoice SET approved = true WHERE id = 5;
INSERT INTO payment VALUES (2, 5, 100);
SELECT procflow.run_jobs();
SELECT procflow.resume(:fifth);
SELECT procflow.run_jobs();
SELECT name, status, outcome FROM procflow.activities WHERE instance = :fifth ORDER BY id;
SELECT status FROM procflow.instances WHERE id = :fifth;

-- a payment before the approval came before the second wait began: it is
-- not taken, live or held
INSERT INTO invoice (id) VALUES (6);
SELECT procflow.launch('ev_collect', '6') AS sixth \gset
SELECT procflow.suspend(:sixth);
INSERT INTO payment VALUES (3, 6, 100);
UPDATE invoice SET approved = true WHERE id = 6;
SELECT procflow.resume(:sixth);
SELECT procflow.run_jobs();
SELECT name, status, outcome FROM procflow.activities WHERE instance = :sixth ORDER BY id;

-- delivery is per instance: one instance whose condition fails keeps the
-- event from no other; its wait fails with the error after its attempts,
-- and retry_activity delivers the same event again
SELECT procflow.create_flow('ev_picky', 'invoice', $${
  "start": "wait_paid",
  "activities": {
    "wait_paid": {"kind": "wait", "on": {"event": "update",
                  "condition": "$2 IS NOT NULL AND CASE WHEN ($3->'vars'->>'fragile')::boolean AND (SELECT broken FROM switch) THEN 1 / (SELECT count(*)::int FROM switch WHERE NOT broken) = 1 ELSE ($1).status = 'paid' END"},
                  "next": "done"},
    "done": {"kind": "end"}
  }}$$, max_attempts => 2);
INSERT INTO invoice (id) VALUES (7);
SELECT procflow.launch('ev_picky', '7', '{"fragile": true}') AS fragile,
       procflow.launch('ev_picky', '7', '{"fragile": false}') AS healthy \gset
UPDATE invoice SET status = 'paid' WHERE id = 7;
SELECT procflow.run_jobs();
SELECT procflow.run_jobs();
SELECT instance = :fragile AS fragile, name, status, outcome, attempts, error
  FROM procflow.activities WHERE instance IN (:fragile, :healthy) ORDER BY id;
SELECT event, key, attempts, status, error FROM procflow.job_history
 WHERE process = 'ev_picky' ORDER BY id;
UPDATE switch SET broken = false;
SELECT procflow.retry_activity(id) FROM procflow.activities
 WHERE instance = :fragile AND status = 'failed';
SELECT procflow.run_jobs();
SELECT name, status, outcome FROM procflow.activities WHERE instance = :fragile ORDER BY id;
SELECT status FROM procflow.instances WHERE id IN (:fragile, :healthy) ORDER BY id;

-- a key that fails for one version keeps the event from no other version:
-- the failure is noted on the event's history
SELECT procflow.create_flow('ev_bykey', 'invoice', $${
  "start": "w",
  "activities": {
    "w": {"kind": "wait", "on": {"event": "create", "entity": "payment", "key": "($1).invoice_id"},
          "next": "done"},
    "done": {"kind": "end"}
  }}$$);
INSERT INTO invoice (id) VALUES (8);
SELECT procflow.launch('ev_bykey', '8') AS v1 \gset
SELECT procflow.alter_flow('ev_bykey', $${
  "start": "w",
  "activities": {
    "w": {"kind": "wait", "on": {"event": "create", "entity": "payment",
                                 "key": "($1).invoice_id / ($1).amount * ($1).amount"},
          "next": "done"},
    "done": {"kind": "end"}
  }}$$);
SELECT procflow.launch('ev_bykey', '8') AS v2 \gset
INSERT INTO payment VALUES (4, 8, 0);
SELECT procflow.run_jobs();
SELECT instance = :v1 AS v1, name, status, outcome FROM procflow.activities
 WHERE instance IN (:v1, :v2) ORDER BY id;
SELECT status, error FROM procflow.job_history WHERE process = 'ev_bykey' ORDER BY id;

-- an instance never spins: a wait whose condition already holds, in a
-- cycle, closes at once a bounded number of times, then fails saying why;
-- the instance stays active, and retry_activity makes it wait
SELECT procflow.create_flow('ev_spin', 'invoice', $${
  "start": "w",
  "activities": {
    "w": {"kind": "wait", "on": {"event": "update", "condition": "($1).status = 'paid'"},
          "next": "again"},
    "again": {"kind": "decision", "cases": [{"when": "($1).approved", "next": "done"}], "else": "w"},
    "done": {"kind": "end"}
  }}$$);
INSERT INTO invoice (id, status) VALUES (9, 'paid');
SELECT procflow.launch('ev_spin', '9') AS spinning \gset
SELECT status, count(*) FROM procflow.activities WHERE instance = :spinning
 GROUP BY status ORDER BY status;
SELECT name, status, error FROM procflow.activities
 WHERE instance = :spinning AND status = 'failed';
SELECT status FROM procflow.instances WHERE id = :spinning;
SELECT procflow.retry_activity(id) FROM procflow.activities
 WHERE instance = :spinning AND status = 'failed';
UPDATE invoice SET approved = true WHERE id = 9;
SELECT procflow.run_jobs();
SELECT status FROM procflow.instances WHERE id = :spinning;
-- a wait that failed as it began failed on no event: the instance's other
-- waits still take theirs
SELECT procflow.create_flow('ev_spin_branch', 'invoice', $${
  "start": "fork",
  "activities": {
    "fork": {"kind": "automatic", "action": "SELECT 1", "next": ["w", "w_approved"]},
    "w": {"kind": "wait", "on": {"event": "update", "condition": "($1).status = 'paid'"},
          "next": "again"},
    "again": {"kind": "decision", "cases": [{"when": "($1).status = 'never'", "next": "j"}], "else": "w"},
    "w_approved": {"kind": "wait", "on": {"event": "update", "fields": ["approved"]}, "next": "j"},
    "j": {"kind": "join", "next": "done"},
    "done": {"kind": "end"}
  }}$$);
INSERT INTO invoice (id, status) VALUES (15, 'paid');
SELECT procflow.launch('ev_spin_branch', '15') AS spin_branch \gset
SELECT procflow.run_jobs();
UPDATE invoice SET approved = true WHERE id = 15;
SELECT procflow.run_jobs();
SELECT name, status, outcome, count(*) FROM procflow.activities
 WHERE instance = :spin_branch GROUP BY name, status, outcome ORDER BY min(id), status;
SELECT count(*) AS parked FROM procflow.jobs WHERE process = 'ev_spin_branch';

-- a decision cannot terminate its own instance: the step fails with 55006
SELECT procflow.create_flow('ev_selfish', 'invoice', $${
  "start": "d",
  "activities": {
    "d": {"kind": "decision", "cases": [{"when": "procflow.terminate(($3->>'instance')::bigint) IS NULL", "next": "done"}],
          "else": "done"},
    "done": {"kind": "end"}
  }}$$);
SELECT procflow.launch('ev_selfish', '9');
SELECT count(*) FROM procflow.instances WHERE flow = 'ev_selfish';

-- as if every step ran at once: a chain of steps takes the events queued
-- after it started, whatever the executors' lag.  An approval and then a
-- payment, both committed before any delivery: the wait for the payment,
-- begun while delivering the approval, takes it.
INSERT INTO invoice (id) VALUES (10), (11);
SELECT procflow.launch('ev_collect', '10') AS lagging \gset
UPDATE invoice SET approved = true WHERE id = 10;
INSERT INTO payment VALUES (10, 10, 100);
SELECT procflow.run_jobs();
SELECT name, status, outcome FROM procflow.activities WHERE instance = :lagging ORDER BY id;
-- the same through an automatic step between the two waits
SELECT procflow.create_flow('ev_chain', 'invoice', $${
  "start": "wait_approved",
  "activities": {
    "wait_approved": {"kind": "wait", "on": {"event": "update", "condition": "($1).approved AND NOT ($2).approved"},
                      "next": "book"},
    "book": {"kind": "automatic", "action": "SELECT 1", "next": "wait_payment"},
    "wait_payment": {"kind": "wait", "on": {"event": "create", "entity": "payment", "key": "($1).invoice_id"},
                     "next": "done"},
    "done": {"kind": "end"}
  }}$$);
SELECT procflow.launch('ev_chain', '11') AS chained \gset
UPDATE invoice SET approved = true WHERE id = 11;
INSERT INTO payment VALUES (11, 11, 100);
SELECT procflow.run_jobs();
SELECT name, status, outcome FROM procflow.activities WHERE instance = :chained ORDER BY id;
-- but a chain's own writes come before the waits it begins after them: a
-- step that marks its row, then a wait for the next change of the row (in
-- the same step, and after another step), takes only a later update
INSERT INTO invoice (id) VALUES (13);
SELECT procflow.create_flow('ev_own', 'invoice', $${
  "start": "mark",
  "activities": {
    "mark": {"kind": "automatic", "action": "UPDATE invoice SET status = 'marked' WHERE id = ($1).id",
             "next": ["w_same", "pause"]},
    "w_same": {"kind": "wait", "on": {"event": "update", "fields": ["status"]}, "next": "j"},
    "pause": {"kind": "automatic", "action": "SELECT 1", "next": "w_later"},
    "w_later": {"kind": "wait", "on": {"event": "update", "fields": ["status"]}, "next": "j"},
    "j": {"kind": "join", "next": "done"},
    "done": {"kind": "end"}
  }}$$);
SELECT procflow.launch('ev_own', '13') AS own \gset
SELECT procflow.run_jobs();
SELECT name, status, outcome FROM procflow.activities WHERE instance = :own ORDER BY id;
UPDATE invoice SET status = 'paid' WHERE id = 13;
SELECT procflow.run_jobs();
SELECT name, status, outcome FROM procflow.activities WHERE instance = :own ORDER BY id;
-- a flow's events are delivered in the order they were queued, whatever
-- their rows: the update (queued behind the row's creation) closes the
-- first wait before the payment, queued later, is delivered to the second
CREATE TABLE parcel (id int PRIMARY KEY, status text, flag boolean);
SELECT procflow.create_flow('ev_in_order', 'parcel', $${
  "start": "w_update",
  "activities": {
    "w_update": {"kind": "wait", "on": {"event": "update"}, "next": "w_paid"},
    "w_paid": {"kind": "wait", "on": {"event": "create", "entity": "payment", "key": "($1).invoice_id"},
               "next": "e"},
    "e": {"kind": "end"}
  }}$$);
BEGIN;
INSERT INTO parcel VALUES (3, 'b', true);
SELECT procflow.launch('ev_in_order', '3') AS in_order \gset
UPDATE parcel SET status = 'c' WHERE id = 3;
COMMIT;
INSERT INTO payment VALUES (30, 3, 10);
SELECT procflow.run_jobs() > 0 AS ran;
SELECT status FROM procflow.instances WHERE id = :in_order;

-- another instance's step is no step of this chain: its write comes after
-- the chain's clock, even within the one transaction that runs both steps
SELECT procflow.create_flow('ev_flip', 'parcel', $${
  "start": "flip",
  "activities": {
    "flip": {"kind": "automatic", "action": "UPDATE parcel SET flag = NOT flag WHERE id = ($1).id", "next": "e"},
    "e": {"kind": "end"}
  }}$$);
SELECT procflow.add_trigger('ev_flip', 'create');
SELECT procflow.create_flow('ev_mark', 'parcel', $${
  "start": "mark",
  "activities": {
    "mark": {"kind": "automatic", "action": "UPDATE parcel SET status = 'c' WHERE id = ($1).id", "next": "w"},
    "w": {"kind": "wait", "on": {"event": "update"}, "next": "e"},
    "e": {"kind": "end"}
  }}$$);
SELECT procflow.add_trigger('ev_mark', 'create');
INSERT INTO parcel VALUES (1, 'b', true);
SELECT procflow.run_jobs();
SELECT flow, status FROM procflow.instances WHERE flow IN ('ev_flip', 'ev_mark') ORDER BY flow;
-- the creation that launched an instance came before its launch, though
-- its statement queued it after the launch's first step
SELECT procflow.create_flow('ev_born', 'parcel', $${
  "start": "note",
  "activities": {
    "note": {"kind": "automatic", "action": "SELECT 1", "next": "w"},
    "w": {"kind": "wait", "on": {"event": "create"}, "next": "e"},
    "e": {"kind": "end"}
  }}$$);
SELECT procflow.add_trigger('ev_born', 'create');
INSERT INTO parcel VALUES (2, 'b', true);
DELETE FROM parcel WHERE id = 2;
SELECT procflow.run_jobs() > 0 AS ran;
SELECT a.name, a.status FROM procflow.activities a JOIN procflow.instances i ON i.id = a.instance
 WHERE i.flow = 'ev_born' ORDER BY a.id;

-- a column of another type: the waits' SQL is prepared again for it
CREATE TABLE counter (id int PRIMARY KEY, n int DEFAULT 0);
INSERT INTO counter VALUES (1), (2);
SELECT procflow.create_flow('ev_count', 'counter', $${
  "start": "w",
  "activities": {
    "w": {"kind": "wait", "on": {"event": "update", "fields": ["n"], "condition": "($1).n > 0"}, "next": "e"},
    "e": {"kind": "end"}
  }}$$, max_attempts => 2);
SELECT procflow.launch('ev_count', '1') AS counted \gset
UPDATE counter SET n = 1 WHERE id = 2;
SELECT procflow.run_jobs();
ALTER TABLE counter ALTER n TYPE bigint;
UPDATE counter SET n = 1 WHERE id = 1;
SELECT procflow.run_jobs();
SELECT name, status, outcome, error FROM procflow.activities WHERE instance = :counted ORDER BY id;

-- a kept event that cannot be read back any more fails its own instance's
-- wait, not another's; the other instance takes its own event; after the
-- column takes the value again, retry_activity delivers it
CREATE TABLE bill (id int PRIMARY KEY);
CREATE TABLE deposit (id int PRIMARY KEY, bill_id int, amount numeric);
INSERT INTO bill VALUES (1), (2);
SELECT procflow.create_flow('ev_deposit', 'bill', $${
  "start": "w",
  "activities": {
    "w": {"kind": "wait", "on": {"event": "create", "entity": "deposit", "key": "($1).bill_id",
                                 "condition": "($1).amount > 0"}, "next": "e"},
    "e": {"kind": "end"}
  }}$$, max_attempts => 2);
SELECT procflow.launch('ev_deposit', '1') AS first_bill, procflow.launch('ev_deposit', '2') AS second_bill \gset
SELECT procflow.disable_process('ev_deposit');
INSERT INTO deposit VALUES (1, 1, 5.5), (2, 2, 7);
SELECT procflow.run_jobs();
ALTER TABLE deposit ALTER amount TYPE int USING amount::int;
SELECT procflow.enable_process('ev_deposit');
SELECT procflow.run_jobs();
SELECT procflow.run_jobs();
SELECT instance = :first_bill AS first, name, status, outcome, error FROM procflow.activities
 WHERE instance IN (:first_bill, :second_bill) ORDER BY id;
ALTER TABLE deposit ALTER amount TYPE numeric;
SELECT procflow.retry_activity(id) FROM procflow.activities WHERE instance = :first_bill AND status = 'failed';
SELECT procflow.run_jobs();
SELECT name, status, outcome FROM procflow.activities WHERE instance = :first_bill ORDER BY id;

-- while an instance has a failed wait, its events are kept for it (parked),
-- and taken in order once the wait is retried
UPDATE switch SET broken = true;
INSERT INTO invoice (id) VALUES (12);
SELECT procflow.create_flow('ev_stuck', 'invoice', $${
  "start": "approve",
  "activities": {
    "approve": {"kind": "wait", "on": {"event": "update", "fields": ["approved"],
                "condition": "$2 IS NOT NULL AND CASE WHEN (SELECT broken FROM switch) THEN 1 / (SELECT count(*)::int FROM switch WHERE NOT broken) = 1 ELSE ($1).approved END"},
                "next": "pay"},
    "pay": {"kind": "wait", "on": {"event": "update", "fields": ["status"], "condition": "($1).status = 'paid'"},
            "next": "e"},
    "e": {"kind": "end"}
  }}$$, max_attempts => 1);
SELECT procflow.launch('ev_stuck', '12') AS stuck \gset
UPDATE invoice SET approved = true WHERE id = 12;
SELECT procflow.run_jobs();
UPDATE invoice SET status = 'paid' WHERE id = 12;
UPDATE invoice SET status = 'shipped' WHERE id = 12;
SELECT procflow.run_jobs();
SELECT name, status FROM procflow.activities WHERE instance = :stuck ORDER BY id;
SELECT count(*) AS parked FROM procflow.jobs WHERE process = 'ev_stuck' AND run_at = 'infinity';
UPDATE switch SET broken = false;
SELECT procflow.retry_activity(id) FROM procflow.activities WHERE instance = :stuck AND status = 'failed';
SELECT procflow.run_jobs();
SELECT name, status, outcome FROM procflow.activities WHERE instance = :stuck ORDER BY id;
SELECT status FROM procflow.instances WHERE id = :stuck;

-- loops that rest nowhere through the queue are bounded too: a wait whose
-- timeout has passed when it begins, and a subflow whose child ends at once
SELECT procflow.create_flow('ev_past', 'invoice', $${
  "start": "w",
  "activities": {
    "w": {"kind": "wait", "timeout": {"sql": "now() - interval '1 day'"}, "next": "d"},
    "d": {"kind": "decision", "cases": [{"when": "($1).status = 'never'", "next": "e"}], "else": "w"},
    "e": {"kind": "end"}
  }}$$);
SELECT procflow.launch('ev_past', '12') AS past \gset
SELECT procflow.run_jobs(1000) < 1000 AS rested;
SELECT name, status, error FROM procflow.activities WHERE instance = :past AND status = 'failed';
SELECT procflow.create_flow('ev_quick', 'invoice', '{"start": "e", "activities": {"e": {"kind": "end"}}}');
SELECT procflow.create_flow('ev_again', 'invoice', $${
  "start": "s",
  "activities": {
    "s": {"kind": "subflow", "flow": "ev_quick", "next": "d"},
    "d": {"kind": "decision", "cases": [{"when": "($1).status = 'never'", "next": "e"}], "else": "s"},
    "e": {"kind": "end"}
  }}$$);
SELECT procflow.launch('ev_again', '12') AS again \gset
SELECT name, status, error FROM procflow.activities WHERE instance = :again AND status = 'failed';
SELECT count(*) AS children FROM procflow.instances WHERE parent = :again;

-- one event closes several waits of an instance in the order they began
-- (not in the order the definition keeps its activities), each one's
-- continuation first
CREATE TABLE closing (n serial, activity text);
INSERT INTO invoice (id) VALUES (16);
SELECT procflow.create_flow('ev_two_waits', 'invoice', $${
  "start": "fork",
  "activities": {
    "fork": {"kind": "automatic", "action": "SELECT 1", "next": ["w_zulu_first", "w_a"]},
    "w_zulu_first": {"kind": "wait", "on": {"event": "update", "fields": ["status"]}, "next": "zulu"},
    "w_a": {"kind": "wait", "on": {"event": "update", "fields": ["status"]}, "next": "alpha"},
    "zulu": {"kind": "automatic", "action": "INSERT INTO closing (activity) VALUES ('zulu')", "next": "j"},
    "alpha": {"kind": "automatic", "action": "INSERT INTO closing (activity) VALUES ('alpha')", "next": "j"},
    "j": {"kind": "join", "next": "done"},
    "done": {"kind": "end"}
  }}$$);
SELECT procflow.launch('ev_two_waits', '16') AS two_waits \gset
SELECT procflow.run_jobs() > 0 AS ran;
UPDATE invoice SET status = 'sent' WHERE id = 16;
SELECT procflow.run_jobs() > 0 AS ran;
SELECT activity FROM closing ORDER BY n;
SELECT status FROM procflow.instances WHERE id = :two_waits;

-- a statement timeout while run_jobs() runs a step stops the call and
-- leaves the session as any failed statement does; the step runs again
CREATE TABLE slow (id int PRIMARY KEY);
INSERT INTO slow VALUES (1);
SELECT procflow.create_flow('ev_slow', 'slow', $${
  "start": "a",
  "activities": {
    "a": {"kind": "automatic", "action": "SELECT 1", "next": "d"},
    "d": {"kind": "decision", "cases": [{"when": "pg_sleep(5) IS NULL", "next": "e"}], "else": "e"},
    "e": {"kind": "end"}
  }}$$);
SELECT procflow.launch('ev_slow', '1') AS slow_instance \gset
SET statement_timeout = '200ms';
SELECT procflow.run_jobs();
SELECT 1 AS after_timeout;
ROLLBACK;
BEGIN;
SELECT procflow.run_jobs();
ROLLBACK;
RESET statement_timeout;
SELECT name, status FROM procflow.activities WHERE instance = :slow_instance ORDER BY id;

-- a flow that launches on create and waits for creates and updates of its
-- table takes each row twice: a bulk insert writes each rule's jobs as one
-- batch (not a job row per job), and every row's jobs keep their order:
-- its create event, its launch, then (a later statement in the same
-- subtransaction) its update event
CREATE TABLE bulk_item (id int PRIMARY KEY, n int DEFAULT 0);
SELECT procflow.create_flow('ev_bulk', 'bulk_item', $${"start": "w", "activities": {
  "w": {"kind": "wait", "on": {"event": "create"}, "next": "u"},
  "u": {"kind": "wait", "on": {"event": "update"}, "next": "e"},
  "e": {"kind": "end"}}}$$) > 0 AS created;
SELECT procflow.add_trigger('ev_bulk', 'create', queued => true) > 0 AS added;
INSERT INTO bulk_item SELECT g FROM generate_series(1, 100) g;
SELECT b.trigger_id IS NOT NULL AS launches, cardinality(b.row_hashes) AS items
  FROM procflow.job_batch b JOIN procflow.process p ON p.id = b.process_id
 WHERE p.name = 'ev_bulk' ORDER BY b.first_id;
DO $$
BEGIN
  BEGIN
    INSERT INTO bulk_item SELECT g FROM generate_series(101, 150) g;
    UPDATE bulk_item SET n = 1 WHERE id > 100;
  EXCEPTION WHEN division_by_zero THEN NULL;
  END;
END $$;
SELECT procflow.run_jobs() > 0 AS ran;
WITH j AS (
  SELECT j.id, j.key, CASE WHEN j.xid IS NULL THEN 'launch' ELSE j.event END AS what
    FROM procflow.finished_job j JOIN procflow.process p ON p.id = j.process_id
   WHERE p.name = 'ev_bulk')
SELECT (SELECT count(DISTINCT key) FROM j) AS rows_,
       (SELECT count(*) FROM j WHERE what = 'create') AS creates,
       (SELECT count(*) FROM j WHERE what = 'launch') AS launches,
       (SELECT count(*) FROM j WHERE what = 'update') AS updates,
       (SELECT bool_and(c.id < l.id) FROM j c JOIN j l USING (key)
         WHERE c.what = 'create' AND l.what = 'launch') AS create_before_launch,
       (SELECT bool_and(l.id < u.id) FROM j l JOIN j u USING (key)
         WHERE l.what = 'launch' AND u.what = 'update') AS launch_before_update;
SELECT status, count(*) FROM procflow.instances WHERE flow = 'ev_bulk' GROUP BY status;

-- a wait for the deletion of a row: no partition of its table, at any
-- level, goes without deleting its rows (truncated, detached or dropped)
CREATE TABLE part_item (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE part_item_low PARTITION OF part_item FOR VALUES FROM (0) TO (100) PARTITION BY RANGE (id);
CREATE TABLE part_item_low_a PARTITION OF part_item_low FOR VALUES FROM (0) TO (50);
CREATE TABLE part_item_high PARTITION OF part_item FOR VALUES FROM (100) TO (200);
INSERT INTO part_item VALUES (1), (150);
SELECT procflow.create_flow('ev_gone', 'part_item', $${"start": "w", "activities": {
  "w": {"kind": "wait", "on": {"event": "delete"}, "next": "e"}, "e": {"kind": "end"}}}$$) > 0 AS created;
SELECT procflow.launch('ev_gone', '1') > 0 AS launched;
DROP TABLE part_item_low_a;
DROP TABLE part_item_high;
ALTER TABLE part_item_low DETACH PARTITION part_item_low_a;
-- refused before it runs: a concurrent detach commits its first step at once
ALTER TABLE part_item DETACH PARTITION part_item_high CONCURRENTLY;
SELECT count(*) AS still_attached FROM part_item WHERE id = 150;
TRUNCATE part_item_low_a;
DELETE FROM part_item WHERE id = 1;
SELECT procflow.run_jobs() > 0 AS ran;
SELECT status FROM procflow.instances WHERE flow = 'ev_gone';
DROP TABLE part_item_high;

RESET search_path;
