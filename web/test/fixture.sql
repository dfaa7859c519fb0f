-- The page's tests: roles and processes of a small back office.
--   web_admin   owns the processes and flows (logs in as their admin)
--   web_worker  a member of the group role finance only: it works the
--               tasks of that group, with no right on web_admin's flows
--   web_stranger  a role of its own: sees nothing of web_admin's
CREATE EXTENSION procflow;
CREATE ROLE web_admin LOGIN PASSWORD 'admin-pw';
CREATE ROLE finance NOLOGIN;
CREATE ROLE web_worker LOGIN PASSWORD 'worker-pw' IN ROLE finance;
CREATE ROLE web_stranger LOGIN PASSWORD 'stranger-pw';
GRANT CREATE ON SCHEMA public TO web_admin;

SET ROLE web_admin;
CREATE TABLE invoice (id int PRIMARY KEY, amount numeric, status text DEFAULT 'open');
CREATE TABLE audit (invoice_id int, note text);
INSERT INTO invoice SELECT g, g * 100 FROM generate_series(1, 20) g;
SELECT procflow.create_process('audit_invoice', 'invoice',
    $$INSERT INTO audit VALUES (($1).id, 'changed')$$, label => 'Audit invoice changes');
SELECT procflow.add_trigger('audit_invoice', 'update', fields => '{status}', queued => true);
SELECT procflow.create_flow('invoice_flow', 'invoice', $${
  "start": "review",
  "activities": {
    "review":  {"kind": "human", "group": "finance",
                "instructions": {"sql": "'Review invoice ' || ($1).id || ' of ' || ($1).amount"},
                "due": "1 day", "next": {"approve": "book", "reject": "rejected"},
                "form": {"fields": {
                  "approved_amount": {"type": "number", "label": "Approved amount", "default": {"sql": "($1).amount"}},
                  "pay_on": {"type": "date", "label": "Pay on"},
                  "note": {"type": "text", "label": "Note"},
                  "urgent": {"type": "boolean", "label": "Urgent"},
                  "account": {"type": "choice", "label": "Account", "options": ["costs", "assets"], "default": "costs"}}}},
    "book":    {"kind": "automatic", "action": "UPDATE invoice SET status = 'booked' WHERE id = ($1).id",
                "next": "paid"},
    "paid":    {"kind": "wait", "on": {"event": "update", "fields": ["status"], "condition": "($1).status = 'paid'"},
                "timeout": "30 days", "next": {"event": "done", "timeout": "done"}},
    "rejected": {"kind": "end", "terminate": true},
    "done":    {"kind": "end"}
  }}$$, label => 'Invoice approval');
RESET ROLE;
