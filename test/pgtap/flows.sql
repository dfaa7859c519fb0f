-- Flow definitions: create_flow, alter_flow, flow_graph, versions, every
-- rule of the definition document, and flows in the process functions.
BEGIN;
SELECT plan(129);

CREATE TABLE invoice (id int PRIMARY KEY, number text, amount numeric, status text);
CREATE TABLE payment (id int PRIMARY KEY, invoice_id int, paid numeric);
CREATE TABLE pair (a int, b int, PRIMARY KEY (a, b));
CREATE ROLE pgtap_flow_other;
CREATE TABLE others (id int PRIMARY KEY);
ALTER TABLE others OWNER TO pgtap_flow_other;

-- a definition that is right; the refusals below change one thing in it
CREATE TEMP TABLE good (doc jsonb);
INSERT INTO good VALUES ($${
  "start": "number",
  "activities": {
    "number":    {"kind": "automatic", "action": "UPDATE invoice SET number = 'INV-' || ($1).id WHERE id = ($1).id",
                  "next": "size"},
    "size":      {"kind": "decision", "cases": [{"when": "($1).amount > 10000", "next": "split"}],
                  "else": "wait_paid"},
    "split":     {"kind": "automatic", "action": "SELECT 1", "next": ["left", "right"]},
    "left":      {"kind": "automatic", "action": "SELECT 2", "next": "both"},
    "right":     {"kind": "wait", "timeout": "1 hour", "next": "both"},
    "both":      {"kind": "join", "next": "wait_paid"},
    "wait_paid": {"kind": "wait", "on": {"event": "update", "fields": ["status"], "condition": "($1).status = 'paid'"},
                  "timeout": "30 days", "next": {"event": "paid", "timeout": "remind"}},
    "remind":    {"kind": "automatic", "action": "SELECT ($1).number, $3->'vars'", "timeout": "10 s", "next": "wait_paid"},
    "paid":      {"kind": "end"},
    "rejected":  {"kind": "end", "terminate": true}
  }
}$$);
-- "rejected" is reached by nothing: the good document leaves it out
UPDATE good SET doc = doc #- '{activities,rejected}';

-- the good path
SELECT is(procflow.create_flow('invoice_flow', 'invoice', (SELECT doc FROM good), label => 'Invoices'), 1,
    'create_flow returns version 1');
SELECT results_eq($$SELECT kind, version, action, label, related_entity::text, enabled
    FROM procflow.processes WHERE name = 'invoice_flow'$$,
    $$VALUES ('flow'::text, 1, NULL::text, 'Invoices'::text, 'invoice'::text, true)$$,
    'a process of kind flow, version 1, no action');
SELECT results_eq($$SELECT version, current, definition = (SELECT doc FROM good) FROM procflow.flow_versions
    WHERE flow = 'invoice_flow'$$, $$VALUES (1, true, true)$$, 'its version 1 is the document');
SELECT is(procflow.alter_flow('invoice_flow', (SELECT doc FROM good)), 1,
    'the same definition makes no new version');
SELECT is(procflow.alter_flow('invoice_flow',
    jsonb_set((SELECT doc FROM good), '{activities,size,cases,0,when}', '"($1).amount > 5000"')), 2,
    'a changed definition is version 2');
SELECT results_eq($$SELECT version, current FROM procflow.flow_versions WHERE flow = 'invoice_flow' ORDER BY version$$,
    $$VALUES (1, false), (2, true)$$, 'both versions are kept, the second is current');
SELECT is((SELECT version FROM procflow.processes WHERE name = 'invoice_flow'), 2, 'the process names version 2');
SELECT lives_ok($$SELECT procflow.create_flow('timer', NULL, '{"start": "w", "activities": {
    "w": {"kind": "wait", "timeout": {"sql": "now() + interval ''1 day''"}, "next": "e"},
    "e": {"kind": "end"}}}')$$, 'an entity-less flow that waits for a computed time');
SELECT lives_ok($$SELECT procflow.create_flow('payments', 'invoice', '{"start": "w", "activities": {
    "w": {"kind": "wait", "on": {"event": "create", "entity": "payment", "key": "($1).invoice_id",
                                  "condition": "($1).paid > 0 AND $3 ? ''flow''"}, "next": "e"},
    "e": {"kind": "end"}}}')$$, 'a wait for rows of another table, with their key');
SELECT lives_ok($$SELECT procflow.create_flow('pairs', 'pair', '{"start": "w", "activities": {
    "w": {"kind": "wait", "on": {"event": "delete", "entity": "public.payment",
                                  "key": "jsonb_build_object(''a'', ($1).id, ''b'', 1)"}, "next": "e"},
    "e": {"kind": "end"}}}')$$, 'a two-column key is computed as jsonb');
SELECT lives_ok($$SELECT procflow.create_flow('skip', 'invoice', '{"start": "w", "activities": {
    "w": {"kind": "wait", "on": {"event": "delete"}, "timeout": "1 day",
          "next": {"event": "e", "timeout": "e", "skipped": "e"}},
    "e": {"kind": "end"}}}')$$, 'a wait with the outcome skipped');

-- flow_graph
SELECT matches(procflow.flow_graph('invoice_flow'), '^digraph "invoice_flow" \{', 'DOT by default');
SELECT matches(procflow.flow_graph('invoice_flow'), '"wait_paid" -> "paid" \[label="event"\];', 'outcomes label the arrows');
SELECT matches(procflow.flow_graph('invoice_flow', version => 1), '"size" -> "split" \[label="\(\$1\).amount > 10000"\];',
    'a case is labelled with its condition');
SELECT matches(procflow.flow_graph('invoice_flow'), '"" -> "number";', 'the start points at the first activity');
SELECT matches(procflow.flow_graph('invoice_flow', 'mermaid'), E'^flowchart LR\n', 'Mermaid');
SELECT matches(procflow.flow_graph('invoice_flow', 'mermaid'), '-->\|"else"\|', 'Mermaid labels the else');
SELECT isnt(procflow.flow_graph('invoice_flow', version => 1), procflow.flow_graph('invoice_flow'),
    'an earlier version draws');
SELECT lives_ok($$SELECT procflow.create_flow('odd "name"', NULL, '{"start": "a \"q\" \\ b", "activities": {
    "a \"q\" \\ b": {"kind": "wait", "timeout": "1 s", "next": "#end"}, "#end": {"kind": "end"}}}')$$,
    'any activity name');
SELECT matches(procflow.flow_graph('odd "name"'), '^digraph "odd \\"name\\"" \{.*"a \\"q\\" \\\\ b" -> "#end"',
    'is quoted in DOT');
SELECT matches(procflow.flow_graph('odd "name"', 'mermaid'), 'a\d\(\["a #quot;q#quot; \\ b"\]\)',
    'and in Mermaid');
SELECT throws_ok($$SELECT procflow.flow_graph('invoice_flow', 'svg')$$, '22023', 'unknown picture format "svg"', 'unknown format');
SELECT throws_ok($$SELECT procflow.flow_graph('invoice_flow', version => 3)$$, '42704', 'flow "invoice_flow" has no version 3', 'unknown version');
SELECT throws_ok($$SELECT procflow.flow_graph('invoice_flow', instance => -1)$$, '42704', 'instance -1 of flow "invoice_flow" does not exist', 'unknown instance');
SELECT throws_ok($$SELECT procflow.flow_graph('nosuch')$$, '42704', 'process "nosuch" does not exist', 'unknown flow');
SELECT throws_ok($$SELECT procflow.flow_graph(NULL)$$, '22004', NULL, 'NULL flow');

-- flows in the process functions
SELECT lives_ok($$SELECT procflow.alter_process('invoice_flow', 'invoice', NULL, execution_order => 3, label => 'Bills')$$,
    'alter_process changes a flow''s process settings');
SELECT results_eq($$SELECT execution_order, label, version FROM procflow.processes WHERE name = 'invoice_flow'$$,
    $$VALUES (3, 'Bills'::text, 2)$$, 'and keeps its version');
SELECT throws_ok($$SELECT procflow.alter_process('invoice_flow', 'invoice', 'SELECT 1')$$, '22023',
    'process "invoice_flow" is a flow, which has no action', 'a flow takes no action');
SELECT throws_ok($$SELECT procflow.alter_process('invoice_flow', 'payment', NULL)$$, '42703', NULL,
    'moving a flow to another table checks its definition there');
SELECT lives_ok($$SELECT procflow.disable_process('invoice_flow')$$, 'disable a flow');
SELECT is((SELECT enabled FROM procflow.processes WHERE name = 'invoice_flow'), false, 'disabled');
SELECT lives_ok($$SELECT procflow.enable_process('invoice_flow')$$, 'enable a flow');
SELECT cmp_ok(procflow.add_trigger('invoice_flow', 'create', queued => true), '>', 0::bigint,
    'an event trigger launches a flow');
SELECT cmp_ok(procflow.add_trigger('invoice_flow', cron => '0 3 * * *'), '>', 0::bigint,
    'so does a cron trigger');
SELECT throws_ok($$SELECT procflow.run_process('invoice_flow')$$, '42809', 'process "invoice_flow" is a flow', 'run_process runs light processes');
SELECT lives_ok($$SELECT procflow.create_process('light', 'invoice', 'SELECT 1')$$, 'a light process');
SELECT throws_ok($$SELECT procflow.alter_flow('light', (SELECT doc FROM good))$$, '42809', 'process "light" is not a flow', 'alter_flow of a light process');
SELECT throws_ok($$SELECT procflow.create_flow('light', 'invoice', (SELECT doc FROM good))$$, '42710', 'process "light" already exists', 'names are shared with light processes');
SELECT throws_ok($$SELECT procflow.alter_flow('nosuch', (SELECT doc FROM good))$$, '42704', NULL, 'alter_flow of no process');
SELECT throws_ok($$SELECT procflow.alter_flow('invoice_flow', NULL)$$, '22004', NULL, 'NULL definition to alter_flow');

-- processes as code
CREATE TEMP TABLE exported AS SELECT procflow.export_definitions('{invoice_flow}') AS doc;
SELECT is((SELECT doc->'processes'->'invoice_flow'->>'kind' FROM exported), 'flow', 'an export says it is a flow');
SELECT ok((SELECT NOT (doc->'processes'->'invoice_flow' ? 'action') FROM exported), 'without an action');
SELECT is((SELECT doc->'processes'->'invoice_flow'->'definition' FROM exported),
    (SELECT definition FROM procflow.flow_versions WHERE flow = 'invoice_flow' AND current), 'with its current definition');
SELECT lives_ok($$SELECT procflow.drop_process('invoice_flow')$$, 'drop a flow');
SELECT is((SELECT count(*)::int FROM procflow.flow_versions WHERE flow = 'invoice_flow'), 0, 'its versions went with it');
SELECT lives_ok($$SELECT procflow.load_definitions((SELECT doc FROM exported))$$, 'load it back');
SELECT results_eq($$SELECT kind, version, label, execution_order FROM procflow.processes WHERE name = 'invoice_flow'$$,
    $$VALUES ('flow'::text, 1, 'Bills'::text, 3)$$, 'as it was, as version 1 of the new flow');
SELECT lives_ok($$SELECT procflow.load_definitions((SELECT doc FROM exported))$$, 'loading it again');
SELECT is((SELECT version FROM procflow.processes WHERE name = 'invoice_flow'), 1, 'makes no version');
SELECT lives_ok($$SELECT procflow.load_definitions(jsonb_set((SELECT doc FROM exported),
    '{processes,invoice_flow,definition}', (SELECT doc FROM good)))$$, 'loading a changed definition');
SELECT is((SELECT version FROM procflow.processes WHERE name = 'invoice_flow'), 2, 'makes the next version');
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": {"light": {"kind": "flow", "definition": {}}}}')$$,
    '42809', NULL, 'a load does not turn a light process into a flow');
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": {"f": {"kind": "flow", "action": "SELECT 1", "definition": {}}}}')$$,
    '22023', 'process "f": a flow has no key "action"', 'a flow with an action in a document');
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": {"f": {"kind": "flow"}}}')$$,
    '22004', 'process "f": key "definition" must not be null', 'a flow without definition in a document');
SELECT throws_ok($$SELECT procflow.load_definitions('{"processes": {"f": {"kind": "heavy", "action": "SELECT 1"}}}')$$,
    '22023', 'process "f": unknown kind "heavy"', 'an unknown kind in a document');

-- refusals of definitions, each with its SQLSTATE; nothing is written
CREATE TEMP TABLE before AS SELECT (SELECT count(*) FROM procflow.processes) AS processes,
    (SELECT count(*) FROM procflow.flow_versions) AS versions;
CREATE FUNCTION bad(path text[], value jsonb) RETURNS jsonb LANGUAGE sql
    AS $$SELECT CASE WHEN value IS NULL THEN (SELECT doc FROM good) #- path
                     ELSE jsonb_set((SELECT doc FROM good), path, value) END$$;
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', NULL)$$, '22004', 'argument "definition" must not be null', 'NULL definition');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', '[]')$$, '22023', 'a flow definition must be a JSON object', 'not an object');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', '"flow"')$$, '22023', 'a flow definition must be a JSON object', 'a scalar');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{version}', '1'))$$, '22023', 'unknown key "version"', 'unknown key at the top');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities}', '{}'))$$, '22023', NULL, 'no activities');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{start}', NULL))$$, '22023', NULL, 'no start');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{start}', '"nosuch"'))$$, '22023',
    '"start" names "nosuch", which is no activity of the flow', 'start naming nothing');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,paid}', '"end"'))$$, '22023',
    'activity "paid" must be an object', 'an activity that is no object');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,paid,kind}', NULL))$$, '22023',
    'activity "paid" has no key "kind"', 'no kind');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,paid,kind}', '"finish"'))$$, '22023',
    'activity "paid" has an unknown kind "finish"', 'unknown kind');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,remind,kind}', '"human"'))$$, '22023',
    'unknown key "action"', 'a human activity has keys of its own');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,remind,kind}', '"subflow"'))$$, '22023', NULL, 'so does a subflow');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,remind,kind}', '"conditional_start"'))$$, '22023', NULL, 'and a conditional start');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,remind,retries}', '3'))$$, '22023', 'unknown key "retries"', 'unknown key of an activity');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,remind,action}', NULL))$$, '22023',
    'activity "remind" has no key "action"', 'automatic without action');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,remind,action}', '7'))$$, '22023',
    'key "action" of activity "remind" must be a string', 'an action that is no string');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,remind,action}', '"SELEC 1"'))$$, '42601', NULL, 'an action that does not parse');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,remind,action}', '"SELECT ($1).nosuch"'))$$, '42703', NULL, 'an action that does not plan against the row type');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,remind,action}', '"COMMIT"'))$$, '0A000', 'COMMIT cannot run in an action', 'an action that cannot run');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,remind,timeout}', '"5 parsecs"'))$$, '22007', NULL, 'a timeout that is no interval');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,remind,timeout}', '"-1 s"'))$$, '22023',
    'key "timeout" of activity "remind" must be a positive interval', 'a negative timeout');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,remind,next}', '"nosuch"'))$$, '22023',
    'key "next" of activity "remind" names "nosuch", which is no activity of the flow', 'next naming nothing');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,split,next}', '[]'))$$, '22023', NULL, 'an empty split');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,split,next}', '["left", "left"]'))$$, '22023',
    'key "next" of activity "split" names "left" twice', 'a split naming one activity twice');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,number,next}', '{"done": "size"}'))$$, '22023',
    'activity "number" of kind "automatic" has no outcomes', 'outcomes for an automatic activity');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,wait_paid,next}', '{"event": "paid", "late": "remind"}'))$$, '22023',
    'activity "wait_paid" cannot have the outcome "late"', 'an outcome a wait cannot produce');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,wait_paid,next}', '{"event": "paid"}'))$$, '22023',
    'key "next" of activity "wait_paid" has no activity for the outcome "timeout"', 'an outcome without a next');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,right}', '{"kind": "wait", "next": "both"}'))$$, '22023',
    'wait "right" has neither "on" nor "timeout"', 'a wait for nothing');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,wait_paid,on,event}', '"insert"'))$$, '22023',
    'activity "wait_paid" waits for an unknown event "insert"', 'an unknown event');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,wait_paid,on,event}', '"create"'))$$, '22023', NULL, 'fields of a create event');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,wait_paid,on,fields}', '["state"]'))$$, '42703',
    'column "state" of relation "invoice" does not exist', 'a field that is no column');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,wait_paid,on,condition}', '"($1).status"'))$$, '42804', NULL, 'a condition that is not boolean');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,wait_paid,timeout}', '{"sql": "42"}'))$$, '42804',
    'key "timeout" of activity "wait_paid" must be an expression of type timestamp with time zone', 'a computed timeout that is no time');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,wait_paid,timeout}', '{"sql": "now()", "x": 1}'))$$, '22023', 'unknown key "x"', 'a computed value with another key');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,wait_paid,on,entity}', '"payment"'))$$, '42P17',
    'wait "wait_paid" waits for events of another table but gives no "key"', 'another table without key');
SELECT throws_ok($$SELECT procflow.create_flow('x', NULL, '{"start": "w", "activities": {
    "w": {"kind": "wait", "on": {"event": "create"}, "next": "e"}, "e": {"kind": "end"}}}')$$, '42P17',
    'wait "w" waits for an event, but the flow has no entity table', 'an entity-less flow waiting for an event');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'pair', '{"start": "w", "activities": {
    "w": {"kind": "wait", "on": {"event": "create", "entity": "payment", "key": "($1).id"}, "next": "e"}, "e": {"kind": "end"}}}')$$, '42804', NULL,
    'a two-column key computed as a scalar');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,size,else}', NULL))$$, '22023', 'decision "size" has no "else"', 'a decision without else');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,size,cases}', '[]'))$$, '22023', NULL, 'a decision without cases');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,size,cases,0,when}', '"($1).amount"'))$$, '42804', NULL, 'a case that is not boolean');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,left,next}', '"wait_paid"'))$$, '42P17',
    'join "both" is reached by only one link', 'a join reached by one link');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,rejected}', '{"kind": "end"}'))$$, '42P17',
    'activity "rejected" is not reached from the start', 'an activity nothing reaches');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', '{"start": "w", "activities": {
    "w": {"kind": "wait", "timeout": "1 s", "next": "a"}, "a": {"kind": "automatic", "action": "SELECT 1", "next": "w"}}}')$$,
    '42P17', 'no end can be reached from activity "a"', 'a flow that never ends');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,left,next}', '["both", "number"]'))$$, '42P17',
    'activities "left" -> "number" -> "size" -> "split" -> "left" form a cycle that never waits', 'a cycle without a wait');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,paid,next}', '"remind"'))$$, '22023', 'unknown key "next"', 'an end has no next');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,paid,terminate}', '"yes"'))$$, '22023', NULL, 'terminate is a boolean');
GRANT SELECT ON good TO pgtap_flow_other;
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,split,next}', '["left", "right", "left"]'))$$, '22023',
    'key "next" of activity "split" names "left" twice', 'a split naming one activity twice, anywhere in it');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,size,cases,0,next}', '["split", "split"]'))$$, '22023',
    'key "cases" of activity "size" names "split" twice', 'a case naming one activity twice');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', '{"start": "d", "activities": {
    "d": {"kind": "decision", "cases": [{"when": "true", "next": "j"}], "else": "j"},
    "j": {"kind": "join", "next": "e"}, "e": {"kind": "end"}}}')$$, '42P17',
    'activity "d" leads to join "j" twice', 'a join reached by a case and the else of one decision');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', '{"start": "w", "activities": {
    "w": {"kind": "wait", "on": {"event": "delete"}, "timeout": "1 s", "next": {"event": "j", "timeout": "j"}},
    "j": {"kind": "join", "next": "e"}, "e": {"kind": "end"}}}')$$, '42P17',
    'activity "w" leads to join "j" twice', 'a join reached by two outcomes of one wait');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', '{"start": "j", "activities": {
    "j": {"kind": "join", "next": "e"}, "e": {"kind": "end"}}}')$$, '42P17', '"start" names join "j"', 'a flow starting with a join');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,wait_paid,timeout}', '{"sql": "now()) FROM invoice WHERE (true"}'))$$,
    '42601', NULL, 'an expression that goes on past its parenthesis');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', bad('{activities,size,cases,0,when}', '"true) UNION SELECT (false"'))$$,
    '42601', NULL, 'a case that is a union');
SELECT throws_ok($$SELECT procflow.create_flow('x', NULL, jsonb_build_object('start', 'a1', 'activities',
    (SELECT jsonb_object_agg('a' || g, jsonb_build_object('kind', 'wait', 'timeout', '1 s', 'next', 'a' || (g + 1)))
       FROM generate_series(1, 1000) g) || '{"a1001": {"kind": "end"}}'))$$,
    '54000', 'a flow has at most 1000 activities', 'too many activities');
SET ROLE pgtap_flow_other;
SELECT throws_ok($$SELECT procflow.create_flow('x', 'invoice', (SELECT doc FROM good))$$, '42501', 'must be owner of table invoice', 'a flow on another role''s table');
SELECT throws_ok($$SELECT procflow.flow_graph('invoice_flow')$$, '42704', NULL, 'another role''s flow does not exist');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'others', '{"start": "w", "activities": {
    "w": {"kind": "wait", "on": {"event": "create", "entity": "invoice", "key": "($1).id"}, "next": "e"}, "e": {"kind": "end"}}}')$$,
    '42501', 'must be owner of table invoice', 'waiting for a table of another role');
RESET ROLE;
SELECT is((SELECT count(*) FROM procflow.processes), (SELECT processes FROM before), 'refusals wrote no process');
SELECT is((SELECT count(*) FROM procflow.flow_versions), (SELECT versions FROM before), 'and no version');


-- a long chain is checked without deep recursion
SELECT lives_ok($$SELECT procflow.create_flow('chain', NULL, jsonb_build_object('start', 'a1', 'activities',
    (SELECT jsonb_object_agg('a' || g, jsonb_build_object('kind', 'wait', 'timeout', '1 s', 'next', 'a' || (g + 1)))
       FROM generate_series(1, 999) g) || '{"a1000": {"kind": "end"}}'))$$, '1000 activities in a chain');

-- a member of the owner changes the owner's flow as the owner
CREATE ROLE pgtap_flow_owner;
CREATE ROLE pgtap_flow_member IN ROLE pgtap_flow_owner;
CREATE TABLE owned (id int PRIMARY KEY);
ALTER TABLE owned OWNER TO pgtap_flow_owner;
CREATE SCHEMA members AUTHORIZATION pgtap_flow_member;
CREATE TABLE members.only_theirs (id int PRIMARY KEY);
ALTER TABLE members.only_theirs OWNER TO pgtap_flow_member;
SET ROLE pgtap_flow_owner;
SELECT is(procflow.create_flow('owned_flow', 'owned', '{"start": "e", "activities": {"e": {"kind": "end"}}}'), 1,
    'the owner''s flow');
SET ROLE pgtap_flow_member;
SELECT is(procflow.alter_flow('owned_flow', '{"start": "a", "activities": {
    "a": {"kind": "automatic", "action": "SELECT ($1).id", "next": "e"}, "e": {"kind": "end"}}}'), 2,
    'a member of the owner changes it');
SELECT throws_ok($$SELECT procflow.alter_flow('owned_flow', '{"start": "a", "activities": {
    "a": {"kind": "automatic", "action": "SELECT count(*) FROM members.only_theirs", "next": "e"}, "e": {"kind": "end"}}}')$$,
    '42501', 'permission denied for schema members', 'with the owner''s rights, not its own');
SELECT throws_ok($$SELECT procflow.alter_flow('owned_flow', '{"start": "w", "activities": {
    "w": {"kind": "wait", "on": {"event": "create", "entity": "members.only_theirs", "key": "($1).id"}, "next": "e"}, "e": {"kind": "end"}}}')$$,
    '42501', NULL, 'and waits only for the owner''s tables');
RESET ROLE;
SELECT results_eq($$SELECT owner::text, version FROM procflow.processes WHERE name = 'owned_flow'$$,
    $$VALUES ('pgtap_flow_owner'::text, 2)$$, 'the flow stays the owner''s');

-- a version keeps its search_path, and export and load carry it
CREATE SCHEMA flowschema;
CREATE TABLE flowschema.counted (id int);
SET search_path = flowschema, public;
SELECT is(procflow.create_flow('pathed', NULL, '{"start": "a", "activities": {
    "a": {"kind": "automatic", "action": "SELECT count(*) FROM counted", "next": "e"}, "e": {"kind": "end"}}}'), 1,
    'a flow whose SQL needs its search_path');
RESET search_path;
SELECT is((SELECT search_path FROM procflow.flow_versions WHERE flow = 'pathed'), 'flowschema, public', 'the version keeps it');
SELECT lives_ok($$SELECT procflow.load_definitions(procflow.export_definitions('{pathed}'))$$,
    'its export loads under another search_path');
SELECT is((SELECT version FROM procflow.processes WHERE name = 'pathed'), 1, 'and makes no version');
SELECT lives_ok($$SELECT procflow.load_definitions(jsonb_set(procflow.export_definitions('{pathed}'),
    '{processes,pathed,action}', 'null'))$$, 'an "action": null in a flow is no action');

-- pictures keep names apart and labels whole
SELECT lives_ok($$SELECT procflow.create_flow('crlf', 'invoice', jsonb_build_object('start', 'a', 'activities',
    jsonb_build_object('a', jsonb_build_object('kind', 'decision', 'cases',
                            jsonb_build_array(jsonb_build_object('when', '($1).amount < 5 AND true', 'next', E'a\r')),
                            'else', 'e'),
                       E'a\r', jsonb_build_object('kind', 'wait', 'timeout', '1 s', 'next', 'e'),
                       'e', jsonb_build_object('kind', 'end'))))$$, 'names that differ by a carriage return');
SELECT matches(procflow.flow_graph('crlf'), '"a" -> "a\\r"', 'stay two nodes in DOT');
SELECT matches(procflow.flow_graph('crlf', 'mermaid'), '\(\$1\).amount #lt; 5 AND true', 'Mermaid labels escape markup');

SELECT * FROM finish();
ROLLBACK;
