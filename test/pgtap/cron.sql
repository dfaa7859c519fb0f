-- Cron schedules: the grammar, the next times (hand-checked), refusals,
-- and cron triggers in add_trigger.
BEGIN;
SELECT plan(65);

CREATE FUNCTION pg_temp.next(schedule text, after text, tz text DEFAULT 'UTC') RETURNS text
LANGUAGE sql AS $$
    SELECT to_char(procflow.cron_next(schedule, after::timestamptz, tz) AT TIME ZONE 'UTC',
                   'YYYY-MM-DD HH24:MI:SS') || ' UTC'
$$;

-- five fields, six with seconds
SELECT is(pg_temp.next('*/15 * * * *', '2026-01-01 10:07:00+00'), '2026-01-01 10:15:00 UTC', 'step');
SELECT is(pg_temp.next('*/15 * * * *', '2026-01-01 10:15:00+00'), '2026-01-01 10:30:00 UTC', 'strictly after');
SELECT is(pg_temp.next('*/15 * * * *', '2026-01-01 10:14:59.5+00'), '2026-01-01 10:15:00 UTC', 'fractions of a second');
SELECT is(pg_temp.next('*/10 * * * * *', '2026-01-01 00:00:05+00'), '2026-01-01 00:00:10 UTC', 'seconds');
SELECT is(pg_temp.next('* * * * * *', '2026-01-01 23:59:59+00'), '2026-01-02 00:00:00 UTC', 'every second, over midnight');
SELECT is(pg_temp.next('1-10/3 * * * *', '2026-01-01 10:00:00+00'), '2026-01-01 10:01:00 UTC', 'range with step');
SELECT is(pg_temp.next('1-10/3 * * * *', '2026-01-01 10:01:00+00'), '2026-01-01 10:04:00 UTC', 'range with step, next');
SELECT is(pg_temp.next('1-10/3 * * * *', '2026-01-01 10:10:00+00'), '2026-01-01 11:01:00 UTC', 'range with step, next hour');
SELECT is(pg_temp.next('5/20 * * * *', '2026-01-01 10:30:00+00'), '2026-01-01 10:45:00 UTC', 'start with step');
SELECT is(pg_temp.next('0,30 8-9 * * *', '2026-01-01 09:31:00+00'), '2026-01-02 08:00:00 UTC', 'lists and ranges');
SELECT is(pg_temp.next('0 9 * * mon-fri', '2026-11-21 12:00:00+00'), '2026-11-23 09:00:00 UTC', 'weekdays by name, from a Saturday');
SELECT is(pg_temp.next('0 0 * * 7', '2026-06-03 00:00:00+00'), '2026-06-07 00:00:00 UTC', 'weekday 7 is Sunday');
SELECT is(pg_temp.next('0 0 1 jan,JUL *', '2026-02-01 00:00:00+00'), '2026-07-01 00:00:00 UTC', 'month names, any case');
-- month ends and leap days
SELECT is(pg_temp.next('0 0 31 * *', '2026-04-15 00:00:00+00'), '2026-05-31 00:00:00 UTC', 'the 31st skips short months');
SELECT is(pg_temp.next('0 12 29 2 *', '2026-03-01 00:00:00+00'), '2028-02-29 12:00:00 UTC', 'leap day');
-- day of month and day of week: either when both are restricted
SELECT is(pg_temp.next('0 0 13 * fri', '2026-01-01 00:00:00+00'), '2026-01-02 00:00:00 UTC', 'either day field');
SELECT is(pg_temp.next('0 0 */2 * fri', '2026-01-01 00:00:00+00'), '2026-01-09 00:00:00 UTC', 'both when one starts with *');
-- names
SELECT is(pg_temp.next('@yearly', '2026-06-01 00:00:00+00'), '2027-01-01 00:00:00 UTC', '@yearly');
SELECT is(pg_temp.next('@annually', '2026-06-01 00:00:00+00'), '2027-01-01 00:00:00 UTC', '@annually');
SELECT is(pg_temp.next('@monthly', '2026-01-31 00:00:00+00'), '2026-02-01 00:00:00 UTC', '@monthly');
SELECT is(pg_temp.next('@weekly', '2026-06-03 00:00:00+00'), '2026-06-07 00:00:00 UTC', '@weekly');
SELECT is(pg_temp.next('@daily', '2026-06-03 00:00:00+00'), '2026-06-04 00:00:00 UTC', '@daily');
SELECT is(pg_temp.next('@midnight', '2026-06-03 12:00:00+00'), '2026-06-04 00:00:00 UTC', '@midnight');
SELECT is(pg_temp.next('@hourly', '2026-06-03 12:00:00+00'), '2026-06-03 13:00:00 UTC', '@hourly');
-- time zones and daylight saving (America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT,
-- 2026-11-01 02:00 EDT -> 01:00 EST)
SELECT is(pg_temp.next('0 9 * * *', '2025-12-31 12:00:00+00', 'Asia/Tokyo'), '2026-01-01 00:00:00 UTC', '09:00 in Tokyo');
SELECT is(pg_temp.next('30 2 * * *', '2026-03-08 05:00:00+00', 'America/New_York'), '2026-03-08 07:00:00 UTC',
    'a skipped local time fires at the change');
SELECT is(pg_temp.next('30 2 * * *', '2026-03-08 07:00:00+00', 'America/New_York'), '2026-03-09 06:30:00 UTC',
    'then at the local time again');
SELECT is(pg_temp.next('30 1 * * *', '2026-11-01 04:00:00+00', 'America/New_York'), '2026-11-01 05:30:00 UTC',
    'a repeated local time fires at its first occurrence');
SELECT is(pg_temp.next('30 1 * * *', '2026-11-01 05:30:00+00', 'America/New_York'), '2026-11-02 06:30:00 UTC',
    'and once');
SELECT is(pg_temp.next('0 * * * *', '2026-11-01 05:00:00+00', 'America/New_York'), '2026-11-01 07:00:00 UTC',
    'hourly does not fire twice at 01:00');

-- refusals point at the field
CREATE FUNCTION pg_temp.detail(schedule text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    d text;
BEGIN
    PERFORM procflow.cron_next(schedule);
    RETURN 'accepted';
EXCEPTION WHEN invalid_parameter_value THEN
    GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
    RETURN d;
END $$;
SELECT is(pg_temp.detail('60 * * * *'), 'The minute field "60" has a value out of range 0-59.', 'minute 60, the field named');
SELECT is(pg_temp.detail('0 0 * * mon-fry'), 'The day of week field "mon-fry" has a range without an end.', 'a bad name, the field named');
SELECT is(pg_temp.detail('*/5 * * * * *'), 'accepted', 'six fields');
SELECT is(pg_temp.detail('*/0 * * * * *'), 'The second field "*/0" has a step that is not a number from 1 to 59.', 'the seconds field named');
SELECT is(pg_temp.detail('0 0 30 2 *'), 'No allowed month has any of the allowed days, so it never fires.', 'never fires, said so');
SELECT throws_ok($$SELECT procflow.cron_next('* * * *')$$, '22023', 'invalid cron schedule "* * * *"', 'four fields');
SELECT throws_ok($$SELECT procflow.cron_next('* * * * * * *')$$, '22023', NULL, 'seven fields');
SELECT throws_ok($$SELECT procflow.cron_next('')$$, '22023', NULL, 'empty');
SELECT throws_ok($$SELECT procflow.cron_next('* 24 * * *')$$, '22023', NULL, 'hour 24');
SELECT throws_ok($$SELECT procflow.cron_next('* * 0 * *')$$, '22023', NULL, 'day 0');
SELECT throws_ok($$SELECT procflow.cron_next('* * * 13 *')$$, '22023', NULL, 'month 13');
SELECT throws_ok($$SELECT procflow.cron_next('* * * * 8')$$, '22023', NULL, 'weekday 8');
SELECT throws_ok($$SELECT procflow.cron_next('*/0 * * * *')$$, '22023', NULL, 'step 0');
SELECT throws_ok($$SELECT procflow.cron_next('5-1 * * * *')$$, '22023', NULL, 'backward range');
SELECT throws_ok($$SELECT procflow.cron_next('1,,2 * * * *')$$, '22023', NULL, 'empty list item');
SELECT throws_ok($$SELECT procflow.cron_next('* * * foo *')$$, '22023', NULL, 'unknown month name');
SELECT throws_ok($$SELECT procflow.cron_next('@every')$$, '22023', NULL, 'unknown @ name');
SELECT throws_ok($$SELECT procflow.cron_next('0 0 30 2 *')$$, '22023', NULL, 'never fires: 30 February');
SELECT throws_ok($$SELECT procflow.cron_next('0 0 31 4,6,9,11 *')$$, '22023', NULL, 'never fires: 31 of short months');
SELECT throws_ok($$SELECT procflow.cron_next('* * * * *', now(), 'Mars/Olympus')$$, '22023', NULL, 'unknown time zone');
SELECT throws_ok($$SELECT procflow.cron_next('L * * * *')$$, '22023', NULL, 'no Quartz extensions');
SELECT is(procflow.cron_next(NULL), NULL, 'NULL schedule, NULL time');

-- cron triggers
CREATE TABLE job_src (id int PRIMARY KEY);
SELECT procflow.create_process('nightly', NULL, 'SELECT 1');
SELECT procflow.create_process('rowful', 'job_src', 'SELECT 1');
SELECT ok(procflow.add_trigger('nightly', cron => '0 3 * * *') > 0, 'a cron trigger on an entity-less process');
SELECT ok(procflow.add_trigger('rowful', cron => '@hourly', priority => 5) > 0, 'and on an entity process');
SELECT results_eq($$SELECT process, event, queued, cron, next_run_at = procflow.cron_next(cron, now())
                      FROM procflow.process_triggers ORDER BY id$$,
    $$VALUES ('nightly', NULL::text, true, '0 3 * * *', true), ('rowful', NULL, true, '@hourly', true)$$,
    'cron triggers are queued and show their next time');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'job_src'::regclass), 0,
    'a cron trigger installs no row trigger');
CREATE TEMP TABLE before AS SELECT count(*) AS n FROM procflow.process_triggers;
SELECT throws_ok($$SELECT procflow.add_trigger('rowful', 'create', cron => '@daily')$$, '22023',
    'a trigger has an event or a cron schedule, not both', 'event and cron');
SELECT throws_ok($$SELECT procflow.add_trigger('rowful', cron => '@daily', delay => '1 hour')$$, '22023',
    'a cron trigger takes no delay', 'cron and delay');
SELECT throws_ok($$SELECT procflow.add_trigger('rowful', cron => '@daily', fields => '{id}')$$, '22023',
    'fields apply only to update triggers', 'cron and fields');
SELECT throws_ok($$SELECT procflow.add_trigger('rowful', cron => '61 * * * *')$$, '22023',
    'invalid cron schedule "61 * * * *"', 'a bad schedule');
SELECT throws_ok($$SELECT procflow.add_trigger('rowful', cron => '')$$, '22023', NULL, 'an empty schedule');
SELECT throws_ok($$SELECT procflow.add_trigger('nosuch', cron => '@daily')$$, '42704', NULL, 'unknown process');
SELECT is((SELECT count(*) FROM procflow.process_triggers), (SELECT n FROM before), 'refusals added nothing');
-- disabled schedules show no next time; enabling resumes at the next one
SELECT procflow.disable_process('nightly');
SELECT is((SELECT next_run_at FROM procflow.process_triggers WHERE process = 'nightly'), NULL, 'disabled: no next time');
SELECT procflow.enable_process('nightly');
SELECT ok((SELECT next_run_at FROM procflow.process_triggers WHERE process = 'nightly') > now(), 'enabled: the next time');

SELECT * FROM finish();
ROLLBACK;
