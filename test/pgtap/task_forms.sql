-- Task forms: every definition error of a form with its SQLSTATE and
-- nothing written; the form with its defaults (literal, and computed as
-- the owner when the task is created) in the tasks view and the taskbox;
-- complete_task's vars checked against it (unknown field, wrong type,
-- missing required field), refused without writing anything.
BEGIN;
SELECT plan(46);

CREATE ROLE form_owner;
GRANT CREATE ON SCHEMA public TO form_owner;
SET ROLE form_owner;
CREATE TABLE claim (id int PRIMARY KEY, amount numeric, filed date);
INSERT INTO claim VALUES (1, 120.50, '2026-11-30'), (2, 80, '2026-12-01');
CREATE FUNCTION reviewer(c claim) RETURNS text LANGUAGE sql AS $$ SELECT 'rev-' || c.id $$;

CREATE TEMP TABLE good (doc jsonb);
INSERT INTO good VALUES ($${
  "start": "review",
  "activities": {
    "review": {"kind": "human", "group": "finance",
               "form": {"fields": {
                 "approved_amount": {"type": "number", "label": "Amount approved", "required": true,
                                     "default": {"sql": "($1).amount"}},
                 "items":    {"type": "integer", "label": "Items", "default": 1},
                 "urgent":   {"type": "boolean", "default": false},
                 "paid_on":  {"type": "date", "default": {"sql": "($1).filed + 30"}},
                 "call_at":  {"type": "timestamptz"},
                 "reviewer": {"type": "text", "default": {"sql": "reviewer($1)"}},
                 "note":     {"type": "text", "label": "Note"},
                 "channel":  {"type": "choice", "options": ["mail", "phone"], "default": "mail", "required": true}}},
               "next": {"approve": "done", "reject": "done"}},
    "done": {"kind": "end"}
  }}$$);
CREATE FUNCTION bad(path text[], value jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT CASE WHEN value IS NULL THEN (SELECT doc FROM good) #- path
                ELSE jsonb_set((SELECT doc FROM good), path, value) END $$;

-- definition errors
SELECT throws_ok($$SELECT procflow.create_flow('x', 'claim', bad('{activities,review,form}', '[]'))$$, '22023', NULL,
    'a form that is no object');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'claim', bad('{activities,review,form,layout}', '"grid"'))$$, '22023',
    'unknown key "layout" in the form of activity "review"', 'a form''s unknown key');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'claim', bad('{activities,review,form,fields}', '{}'))$$, '22023', NULL,
    'a form without fields');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'claim', bad('{activities,review,form,fields,note}', '"text"'))$$, '22023', NULL,
    'a field that is no object');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'claim', bad('{activities,review,form,fields,note,type}', '"money"'))$$, '22023',
    'field "note" of the form of activity "review" must have a "type"', 'an unknown type');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'claim', bad('{activities,review,form,fields,note,type}', NULL))$$, '22023', NULL,
    'a field without type');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'claim', bad('{activities,review,form,fields,note,width}', '3'))$$, '22023', NULL,
    'a field''s unknown key');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'claim', bad('{activities,review,form,fields,note,label}', '7'))$$, '22023', NULL,
    'a label that is no string');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'claim', bad('{activities,review,form,fields,note,required}', '"yes"'))$$, '22023', NULL,
    'required that is no boolean');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'claim', bad('{activities,review,form,fields,channel,options}', NULL))$$, '22023', NULL,
    'a choice without options');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'claim', bad('{activities,review,form,fields,channel,options}', '[]'))$$, '22023', NULL,
    'a choice with no options');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'claim', bad('{activities,review,form,fields,channel,options}', '["mail", "mail"]'))$$, '22023', NULL,
    'an option twice');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'claim', bad('{activities,review,form,fields,note,options}', '["a"]'))$$, '22023', NULL,
    'options on a field that is no choice');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'claim', bad('{activities,review,form,fields,items,default}', '1.5'))$$, '22023', NULL,
    'an integer default that is no integer');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'claim', bad('{activities,review,form,fields,urgent,default}', '"no"'))$$, '22023', NULL,
    'a boolean default that is no boolean');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'claim', bad('{activities,review,form,fields,call_at,default}', '"soon"'))$$, '22023', NULL,
    'a timestamptz default that is none');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'claim', bad('{activities,review,form,fields,channel,default}', '"fax"'))$$, '22023', NULL,
    'a choice default that is no option');
SET datestyle = 'SQL, DMY';
SELECT throws_ok($$SELECT procflow.create_flow('x', 'claim', bad('{activities,review,form,fields,paid_on,default}', '"31/12/2026"'))$$, '22023', NULL,
    'a date default not written year first, whatever the session''s DateStyle');
RESET datestyle;
SELECT throws_ok($$SELECT procflow.create_flow('x', 'claim', bad('{activities,review,form,fields,paid_on,default}', '"today"'))$$, '22023', NULL,
    'a date default that is a special word');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'claim', bad('{activities,review,form,fields,items,default}', '1e30'))$$, '22023', NULL,
    'an integer default that no bigint holds');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'claim', bad('{activities,review,form,fields,note,default}', '{"sql": "($1).nosuch"}'))$$, '42703', NULL,
    'a computed default whose SQL does not plan');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'claim', bad('{activities,review,form,fields,paid_on,default}', '{"sql": "true"}'))$$, '42804', NULL,
    'a computed default of another type');
SELECT throws_ok($$SELECT procflow.create_flow('x', 'claim', bad('{activities,review,form,fields,note,default}', '{"sql": ""}'))$$, '22023', NULL,
    'a computed default without SQL');
SELECT is((SELECT count(*) FROM procflow.processes WHERE name = 'x'), 0::bigint, 'no refused definition left anything');

-- the form with its defaults
SELECT procflow.create_flow('claims', 'claim', (SELECT doc FROM good)) AS version \gset
SELECT is(:version, 1, 'a definition with a form is accepted');
SELECT count(procflow.launch('claims', to_jsonb(id))) FROM claim;
SELECT procflow.run_jobs();
SELECT results_eq($$SELECT form FROM procflow.tasks WHERE key = '{"id": 1}'$$,
    $$VALUES ('{"fields": {
        "approved_amount": {"type": "number", "label": "Amount approved", "required": true, "default": 120.50},
        "items": {"type": "integer", "label": "Items", "default": 1},
        "urgent": {"type": "boolean", "default": false},
        "paid_on": {"type": "date", "default": "2026-12-30"},
        "call_at": {"type": "timestamptz"},
        "reviewer": {"type": "text", "default": "rev-1"},
        "note": {"type": "text", "label": "Note"},
        "channel": {"type": "choice", "options": ["mail", "phone"], "default": "mail", "required": true}}}'::jsonb)$$,
    'the tasks view gives the form, its defaults computed as the owner when the task was created');
SELECT results_eq($$SELECT form->'fields'->'approved_amount'->'default' FROM procflow.taskbox('dora', '{finance}') ORDER BY key->>'id'$$,
    $$VALUES ('120.50'::jsonb), ('80')$$, 'and so does the taskbox, for each row');
SELECT procflow.create_flow('plain', 'claim', bad('{activities,review,form}', NULL)) > 0 AS created;
SELECT procflow.launch('plain', '1') > 0 AS launched;
SELECT procflow.run_jobs();
SELECT is((SELECT form FROM procflow.tasks WHERE flow = 'plain'), NULL, 'a task without a form has none');

-- complete_task against the form
SELECT activity AS t1 FROM procflow.tasks WHERE flow = 'claims' AND key = '{"id": 1}' \gset
SELECT throws_ok('SELECT procflow.complete_task(' || :t1 || $$, 'approve', '{"approved_amount": 100, "channel": "mail", "colour": "red"}')$$,
    '22023', 'task ' || :t1 || ' has no field "colour"', 'an unknown field');
SELECT throws_ok('SELECT procflow.complete_task(' || :t1 || $$, 'approve', '{"approved_amount": "100", "channel": "mail"}')$$,
    '22P02', NULL, 'a number that is a string');
SELECT throws_ok('SELECT procflow.complete_task(' || :t1 || $$, 'approve', '{"approved_amount": 100, "items": 2.5, "channel": "mail"}')$$,
    '22P02', NULL, 'an integer with a fraction');
SELECT throws_ok('SELECT procflow.complete_task(' || :t1 || $$, 'approve', '{"approved_amount": 100, "urgent": "yes", "channel": "mail"}')$$,
    '22P02', NULL, 'a boolean that is a string');
SELECT throws_ok('SELECT procflow.complete_task(' || :t1 || $$, 'approve', '{"approved_amount": 100, "paid_on": "31/12/2026x", "channel": "mail"}')$$,
    '22P02', NULL, 'a date that is none');
SELECT throws_ok('SELECT procflow.complete_task(' || :t1 || $$, 'approve', '{"approved_amount": 100, "call_at": 5, "channel": "mail"}')$$,
    '22P02', NULL, 'a timestamptz that is a number');
SELECT throws_ok('SELECT procflow.complete_task(' || :t1 || $$, 'approve', '{"approved_amount": 100, "call_at": "now", "channel": "mail"}')$$,
    '22P02', NULL, 'a timestamptz that is a special word');
SELECT throws_ok('SELECT procflow.complete_task(' || :t1 || $$, 'approve', '{"approved_amount": 100, "call_at": "2026-01-02T10:00:00", "channel": "mail"}')$$,
    '22P02', NULL, 'a timestamptz without its offset from UTC (read in the completer''s TimeZone)');
SELECT throws_ok('SELECT procflow.complete_task(' || :t1 || $$, 'approve', '{"approved_amount": 100, "call_at": "2026-01-02 10:00 Pacific/Kiritimati", "channel": "mail"}')$$,
    '22P02', NULL, 'a timestamptz with a zone name instead of an offset');
SELECT throws_ok('SELECT procflow.complete_task(' || :t1 || $$, 'approve', '{"approved_amount": 100, "items": 1e30, "channel": "mail"}')$$,
    '22P02', NULL, 'an integer that no bigint holds');
SELECT throws_ok('SELECT procflow.complete_task(' || :t1 || $$, 'approve', '{"approved_amount": 100, "channel": "fax"}')$$,
    '22P02', NULL, 'a choice that is no option');
SELECT throws_ok('SELECT procflow.complete_task(' || :t1 || $$, 'approve', '{"channel": "mail"}')$$,
    '23502', 'task ' || :t1 || ' needs the field "approved_amount"', 'a required field left out');
SELECT throws_ok('SELECT procflow.complete_task(' || :t1 || $$, 'approve', '{"approved_amount": null, "channel": "mail"}')$$,
    '23502', NULL, 'a required field that is null');
SELECT throws_ok('SELECT procflow.complete_task(' || :t1 || $$, 'approve')$$,
    '23502', NULL, 'no vars at all');
SELECT results_eq('SELECT t.status, i.vars FROM procflow.tasks t JOIN procflow.instances i ON i.id = t.instance WHERE t.activity = ' || :t1,
    $$VALUES ('ready'::text, '{}'::jsonb)$$, 'a refused completion wrote nothing');
SELECT lives_ok('SELECT procflow.complete_task(' || :t1 || $$, 'approve', '{"approved_amount": 100.25, "items": 3, "urgent": true, "paid_on": "2027-01-15", "call_at": "2026-12-31T17:00:00Z", "note": null, "channel": "phone"}')$$,
    'vars that fit the form complete the task');
SELECT results_eq($$SELECT vars FROM procflow.instances WHERE flow = 'claims' AND key = '{"id": 1}'$$,
    $$VALUES ('{"approved_amount": 100.25, "items": 3, "urgent": true, "paid_on": "2027-01-15", "call_at": "2026-12-31T17:00:00Z", "note": null, "channel": "phone"}'::jsonb)$$,
    'and are merged into the instance''s vars');
SELECT lives_ok($$SELECT procflow.complete_task((SELECT activity FROM procflow.tasks WHERE flow = 'plain'), 'approve', '{"anything": [1, 2]}')$$,
    'without a form, vars are merged as they are');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
