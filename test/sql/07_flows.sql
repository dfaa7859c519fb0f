-- Flow definitions: what a user sees of a defined flow, its versions and its
-- pictures, and how the definition's mistakes are reported.
\set VERBOSITY default
CREATE TABLE invoice (id int PRIMARY KEY, number text, amount numeric, status text);
CREATE TABLE reminder (invoice_id int, at timestamptz DEFAULT now());

SELECT procflow.create_flow('invoice', 'invoice', $${
  "start": "number",
  "activities": {
    "number":    {"kind": "automatic", "action": "UPDATE invoice SET number = 'INV-' || ($1).id WHERE id = ($1).id",
                  "next": "size"},
    "size":      {"kind": "decision", "cases": [{"when": "($1).amount > 10000", "next": "check"}],
                  "else": "wait_paid"},
    "check":     {"kind": "automatic", "action": "SELECT 1", "next": ["audit", "hold"]},
    "audit":     {"kind": "automatic", "action": "SELECT 2", "next": "checked"},
    "hold":      {"kind": "wait", "timeout": "1 hour", "next": "checked"},
    "checked":   {"kind": "join", "next": "wait_paid"},
    "wait_paid": {"kind": "wait", "on": {"event": "update", "fields": ["status"], "condition": "($1).status = 'paid'"},
                  "timeout": "30 days", "next": {"event": "paid", "timeout": "remind"}},
    "remind":    {"kind": "automatic", "action": "INSERT INTO reminder (invoice_id) VALUES (($1).id)",
                  "next": "wait_paid"},
    "paid":      {"kind": "end"}
  }}$$, label => 'Invoices') AS version;

SELECT name, label, related_entity, kind, version, action IS NULL AS no_action
  FROM procflow.processes;
SELECT procflow.flow_graph('invoice');
SELECT procflow.flow_graph('invoice', 'mermaid');

-- a new version: new instances use it, the first one stays readable
SELECT procflow.alter_flow('invoice',
    jsonb_set(definition, '{activities,size,cases,0,when}', '"($1).amount > 5000"')) AS version
  FROM procflow.flow_versions WHERE flow = 'invoice' AND current;
SELECT flow, version, current, definition->'activities'->'size'->'cases'->0->>'when' AS size_case
  FROM procflow.flow_versions ORDER BY version;
SELECT procflow.flow_graph('invoice', version => 1) = procflow.flow_graph('invoice') AS same_picture;

-- mistakes, each named by its place in the document
SELECT procflow.create_flow('bad', 'invoice', '{"start": "a", "activities": {
    "a": {"kind": "automatic", "action": "SELECT ($1).total", "next": "z"}, "z": {"kind": "end"}}}');
SELECT procflow.create_flow('bad', 'invoice', '{"start": "a", "activities": {
    "a": {"kind": "wait", "on": {"event": "update", "fields": ["state"]}, "next": "z"}, "z": {"kind": "end"}}}');
SELECT procflow.create_flow('bad', 'invoice', '{"start": "a", "activities": {
    "a": {"kind": "automatic", "action": "SELECT 1", "next": "b"},
    "b": {"kind": "decision", "cases": [{"when": "true", "next": "a"}], "else": "z"},
    "z": {"kind": "end"}}}');
SELECT procflow.create_flow('bad', 'invoice', '{"start": "a", "activities": {
    "a": {"kind": "human", "group": "finance", "next": {"timeout": "z"}}, "z": {"kind": "end"}}}');
SELECT procflow.create_flow('bad', 'invoice', '{"start": "a", "activities": {
    "a": {"kind": "wait", "timeout": "1 day", "next": {"event": "z"}}, "z": {"kind": "end"}}}');
SELECT count(*) AS processes FROM procflow.processes;
