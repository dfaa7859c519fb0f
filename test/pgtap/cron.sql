-- Cron schedules: the grammar, the next times (hand-checked, and checked
-- against independent computations in SQL), daylight-saving changes, the
-- end of timestamptz, refusals and their messages, speed, and cron triggers
-- in add_trigger.
BEGIN;
SELECT plan(131);

-- a time as the tests show it
CREATE FUNCTION pg_temp.utc(t timestamptz) RETURNS text LANGUAGE sql AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC'
$$;
-- the next time, or the error (so that a search that fails fails its test, not the file)
CREATE FUNCTION pg_temp.next(schedule text, after text, tz text DEFAULT 'UTC') RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    RETURN pg_temp.utc(procflow.cron_next(schedule, after::timestamptz, tz));
EXCEPTION WHEN OTHERS THEN
    RETURN 'ERROR ' || SQLSTATE || ': ' || SQLERRM;
END $$;

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
-- rare schedules: the search goes as far as the 400-year Gregorian cycle
-- needs.  "*/7" in the day-of-week field is Sunday (0 and 7) and starts with
-- "*", so 29 February must be a Sunday: 2088, then 2128 (2100 is no leap year).
SELECT is(pg_temp.next('0 0 29 2 */7', '2088-03-01 00:00:00+00'), '2128-02-29 00:00:00 UTC',
    '29 February on a Sunday: 40 years after 2088, no 30-year limit');
SELECT is(pg_temp.next('0 0 29 2 */7', '2128-02-28 12:00:00+00'), '2128-02-29 00:00:00 UTC',
    '29 February on a Sunday, the day before');
-- against an independent computation over 600 years of dates
CREATE TEMP TABLE leap_sundays AS
    SELECT d::date AS d FROM generate_series(timestamp '2000-01-01', timestamp '2599-12-31', interval '1 day') d
     WHERE extract(month FROM d) = 2 AND extract(day FROM d) = 29 AND extract(dow FROM d) = 0;
SELECT results_eq(
    $$SELECT pg_temp.next('0 0 29 2 */7', to_char(d, 'YYYY-MM-DD') || ' 12:00+00')
        FROM leap_sundays WHERE d < (SELECT max(d) FROM leap_sundays) ORDER BY d$$,
    $$SELECT to_char(n, 'YYYY-MM-DD') || ' 00:00:00 UTC'
        FROM (SELECT d, lead(d) OVER (ORDER BY d) AS n FROM leap_sundays) l
       WHERE n IS NOT NULL ORDER BY d$$,
    'every Sunday 29 February from 2000 to 2599, independently computed');
-- both day fields restricted: either, so 29 February or any Monday in February;
-- the day-of-month field starting with "*" ("*/28": 1st and 29th): both
CREATE FUNCTION pg_temp.next_feb_day(after date, ok_day int[], ok_dow int[], either boolean) RETURNS text
LANGUAGE sql AS $$
    SELECT to_char(min(d), 'YYYY-MM-DD') || ' 00:00:00 UTC'
      FROM (SELECT make_date(y, 2, 1) + k AS d
              FROM generate_series(extract(year FROM after)::int, extract(year FROM after)::int + 50) y,
                   generate_series(0, 28) k) february
     WHERE d > after AND extract(month FROM d) = 2
       AND CASE WHEN either THEN extract(day FROM d) = ANY (ok_day) OR extract(dow FROM d) = ANY (ok_dow)
                ELSE extract(day FROM d) = ANY (ok_day) AND extract(dow FROM d) = ANY (ok_dow) END
$$;
SELECT results_eq(
    $$SELECT pg_temp.next('0 0 29 2 1', to_char(y, 'YYYY-MM-DD') || ' 12:00+00'),
             pg_temp.next('0 0 */28 2 mon', to_char(y, 'YYYY-MM-DD') || ' 12:00+00')
        FROM generate_series(2000, 2420, 7) g, make_date(g, 2, 20) y ORDER BY g$$,
    $$SELECT pg_temp.next_feb_day(y, '{29}', '{1}', true), pg_temp.next_feb_day(y, '{1,29}', '{1}', false)
        FROM generate_series(2000, 2420, 7) g, make_date(g, 2, 20) y ORDER BY g$$,
    'February schedules with both day fields, independently computed');
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

-- A repeated local time fires once, at its first occurrence, also when the
-- next time is searched from inside the repeated hour (its second pass):
-- a local time whose first occurrence is past does not fire again.
-- America/New_York 2026-11-01: 01:00-01:59 is 05:00-05:59 UTC (EDT), then
-- 06:00-06:59 UTC (EST).
SELECT is(pg_temp.next('30 1 * * *', '2026-11-01 06:10:00+00', 'America/New_York'), '2026-11-02 06:30:00 UTC',
    'repeated hour, New York: daily 01:30 from the second 01:10 fires the next day');
SELECT is(pg_temp.next('30 1 * * *', '2026-11-01 06:00:00+00', 'America/New_York'), '2026-11-02 06:30:00 UTC',
    'repeated hour, New York: daily 01:30 from the change itself fires the next day');
SELECT is(pg_temp.next('* * * * *', '2026-11-01 06:10:00+00', 'America/New_York'), '2026-11-01 07:00:00 UTC',
    'repeated hour, New York: every minute from inside fires at 02:00, no minute twice');
SELECT is(pg_temp.next('30 * * * *', '2026-11-01 06:10:00+00', 'America/New_York'), '2026-11-01 07:30:00 UTC',
    'repeated hour, New York: hourly at :30 from inside fires at 02:30');
SELECT is(pg_temp.next('*/10 * * * * *', '2026-11-01 06:10:00+00', 'America/New_York'), '2026-11-01 07:00:00 UTC',
    'repeated hour, New York: every 10 seconds from inside fires at 02:00:00');
SELECT is(pg_temp.next('* * * * *', '2026-11-01 05:10:00+00', 'America/New_York'), '2026-11-01 05:11:00 UTC',
    'repeated hour, New York: the first pass fires every minute');
-- Europe/Berlin 2026-10-25: 02:00-02:59 is 00:00-00:59 UTC (CEST), then 01:00-01:59 UTC (CET)
SELECT is(pg_temp.next('25 2 * * *', '2026-10-25 01:20:00+00', 'Europe/Berlin'), '2026-10-26 01:25:00 UTC',
    'repeated hour, Berlin: daily 02:25 from the second 02:20 fires the next day');
SELECT is(pg_temp.next('45 * * * *', '2026-10-25 01:20:00+00', 'Europe/Berlin'), '2026-10-25 02:45:00 UTC',
    'repeated hour, Berlin: hourly at :45 from inside fires at 03:45');
SELECT is(pg_temp.next('*/20 * * * * *', '2026-10-25 01:20:00+00', 'Europe/Berlin'), '2026-10-25 02:00:00 UTC',
    'repeated hour, Berlin: every 20 seconds from inside fires at 03:00:00');
-- Australia/Lord_Howe 2026-04-05, a 30-minute change: 01:30-01:59 is
-- 14:30-14:59 UTC (+11), then 15:00-15:29 UTC (+10:30)
SELECT is(pg_temp.next('*/15 * * * *', '2026-04-04 15:05:00+00', 'Australia/Lord_Howe'), '2026-04-04 15:30:00 UTC',
    'repeated half hour, Lord Howe: every 15 minutes from inside fires at 02:00');
SELECT is(pg_temp.next('45 * * * *', '2026-04-04 15:05:00+00', 'Australia/Lord_Howe'), '2026-04-04 16:15:00 UTC',
    'repeated half hour, Lord Howe: hourly at :45 from inside fires at 02:45');
SELECT is(pg_temp.next('45 1 * * *', '2026-04-04 15:05:00+00', 'Australia/Lord_Howe'), '2026-04-05 15:15:00 UTC',
    'repeated half hour, Lord Howe: daily 01:45 from inside fires the next day');
SELECT is(pg_temp.next('30 * * * * *', '2026-04-04 15:00:00+00', 'Australia/Lord_Howe'), '2026-04-04 15:30:30 UTC',
    'repeated half hour, Lord Howe: a seconds schedule from the change fires at 02:00:30');
-- Australia/Sydney 2026-04-05 (southern autumn): 02:00-02:59 is 15:00-15:59 UTC (+11), then 16:00-16:59 UTC (+10)
SELECT is(pg_temp.next('* * * * *', '2026-04-04 16:05:00+00', 'Australia/Sydney'), '2026-04-04 17:00:00 UTC',
    'repeated hour, Sydney: every minute from inside fires at 03:00');
SELECT is(pg_temp.next('30 2 * * *', '2026-04-04 16:05:00+00', 'Australia/Sydney'), '2026-04-05 16:30:00 UTC',
    'repeated hour, Sydney: daily 02:30 from inside fires the next day');
-- outside the repeated hours nothing changes: first occurrences, spring changes, the days after
SELECT is(pg_temp.next('30 1 * * *', '2026-10-31 12:00:00+00', 'America/New_York'), '2026-11-01 05:30:00 UTC',
    'New York: the day of the change fires at the first 01:30');
SELECT is(pg_temp.next('30 1 * * *', '2026-11-01 07:00:00+00', 'America/New_York'), '2026-11-02 06:30:00 UTC',
    'New York: after the change, the next day in standard time');
SELECT is(pg_temp.next('15 2 * * *', '2026-10-24 12:00:00+00', 'Europe/Berlin'), '2026-10-25 00:15:00 UTC',
    'Berlin: the day of the change fires at the first 02:15');
SELECT is(pg_temp.next('30 2 * * *', '2026-04-04 12:00:00+00', 'Australia/Sydney'), '2026-04-04 15:30:00 UTC',
    'Sydney: the day of the change fires at the first 02:30');
SELECT is(pg_temp.next('30 2 * * *', '2026-10-03 12:00:00+00', 'Australia/Sydney'), '2026-10-03 16:00:00 UTC',
    'Sydney: a local time skipped in spring fires at the change');
SELECT is(pg_temp.next('15 2 * * *', '2026-10-03 12:00:00+00', 'Australia/Lord_Howe'), '2026-10-03 15:30:00 UTC',
    'Lord Howe: a local time skipped by the 30-minute spring change fires at the change');
-- every minute around both changes of each zone, against an independent
-- computation: the next time is the first minute at which the clock shows a
-- local minute it has not shown before
CREATE FUNCTION pg_temp.minutely_misses(tz text, from_ timestamptz, to_ timestamptz) RETURNS bigint
LANGUAGE sql AS $$
    WITH grid AS (
        SELECT t, t AT TIME ZONE tz AS l
          FROM generate_series(from_, to_ + interval '3 hours', interval '1 minute') t),
    shown AS (
        SELECT t, l, max(l) OVER (ORDER BY t) AS seen FROM grid)
    SELECT count(*)
      FROM shown a
     WHERE a.t <= to_
       AND pg_temp.next('* * * * *', to_char(a.t AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:10+00'), tz) IS DISTINCT FROM
           (SELECT pg_temp.utc(min(b.t)) FROM shown b WHERE b.t > a.t AND b.l > a.seen)
$$;
SELECT is(pg_temp.minutely_misses('America/New_York', '2026-11-01 03:00+00', '2026-11-01 08:00+00')
        + pg_temp.minutely_misses('America/New_York', '2026-03-08 05:00+00', '2026-03-08 09:00+00'), 0::bigint,
    'every minute around the changes in New York, independently computed');
SELECT is(pg_temp.minutely_misses('Europe/Berlin', '2026-10-24 22:00+00', '2026-10-25 03:00+00')
        + pg_temp.minutely_misses('Europe/Berlin', '2026-03-28 23:00+00', '2026-03-29 03:00+00'), 0::bigint,
    'every minute around the changes in Berlin, independently computed');
SELECT is(pg_temp.minutely_misses('Australia/Lord_Howe', '2026-04-04 13:00+00', '2026-04-04 17:00+00')
        + pg_temp.minutely_misses('Australia/Lord_Howe', '2026-10-03 14:00+00', '2026-10-03 17:00+00'), 0::bigint,
    'every minute around the changes on Lord Howe Island, independently computed');
SELECT is(pg_temp.minutely_misses('Australia/Sydney', '2026-04-04 14:00+00', '2026-04-04 18:00+00')
        + pg_temp.minutely_misses('Australia/Sydney', '2026-10-03 15:00+00', '2026-10-03 18:00+00'), 0::bigint,
    'every minute around the changes in Sydney, independently computed');

-- the end of timestamptz (294276-12-31 23:59:59.999999 UTC): a next time past it is an error
SELECT is(pg_temp.next('* * * * *', '294276-12-31 23:58:00+00'), '294276-12-31 23:59:00 UTC',
    'the last minute of timestamptz');
SELECT is(pg_temp.next('0 * * * *', '294276-12-31 14:30:00+00', 'Asia/Tokyo'), '294276-12-31 15:00:00 UTC',
    'a local time in the year after the end, still in range');
SELECT throws_ok($$SELECT procflow.cron_next('* * * * *', '294276-12-31 23:59:00+00', 'UTC')$$, '22008',
    'timestamp out of range', 'the next minute past the end of timestamptz');
SELECT throws_ok($$SELECT procflow.cron_next('* * * * * *', '294276-12-31 23:59:59+00', 'UTC')$$, '22008',
    'timestamp out of range', 'the next second past the end');
SELECT throws_ok($$SELECT procflow.cron_next('* * * * *', '294276-12-31 23:59:00+00', 'America/New_York')$$, '22008',
    'timestamp out of range', 'past the end, in a zone behind UTC');
SELECT throws_ok($$SELECT procflow.cron_next('@yearly', '294276-06-01 00:00:00+00', 'UTC')$$, '22008',
    'timestamp out of range', 'the next year past the end');
SELECT throws_ok($$SELECT procflow.cron_next('0 0 29 2 */7', '294276-03-01 00:00:00+00', 'UTC')$$, '22008',
    'timestamp out of range', 'a search that runs past the end');

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
SELECT is(pg_temp.detail('*/0 * * * * *'), 'The second field "*/0" has a step that is not a number from 1 to 1000.', 'the seconds field named');
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
-- each problem has a whole sentence as its detail; the hint stays
SELECT is(pg_temp.detail('* * * *'), 'It has 4 fields, not five or six.', 'four fields, said so');
SELECT is(pg_temp.detail('*'), 'It has 1 field, not five or six.', 'one field, in the singular');
SELECT is(pg_temp.detail('* * * * * * *'), 'It has 7 fields, not five or six.', 'seven fields, said so');
SELECT is(pg_temp.detail(E' \t\r'), 'It has 0 fields, not five or six.', 'only blanks, no fields');
SELECT is(pg_temp.detail('5-1 * * * *'), 'The minute field "5-1" has a range whose start is after its end.',
    'a backward range, said so');
SELECT is(pg_temp.detail('1,,2 * * * *'), 'The minute field "1,,2" has something that is not a value, a range or "*".',
    'an empty list item, said so');
SELECT is(pg_temp.detail('@every'), 'This is not one of the @ names.', 'an unknown @ name, said so');
CREATE FUNCTION pg_temp.hint(schedule text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    h text;
BEGIN
    PERFORM procflow.cron_next(schedule);
    RETURN 'accepted';
EXCEPTION WHEN invalid_parameter_value THEN
    GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
    RETURN h;
END $$;
SELECT is(pg_temp.hint('* * *'), 'A schedule is five fields (minute hour day-of-month month day-of-week), '
    'six with seconds first, or one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly.',
    'the hint of a refused schedule');
-- steps are numbers, never names
SELECT is(pg_temp.detail('0 0 1 */feb *'), 'The month field "*/feb" has a step that is not a number from 1 to 1000.',
    'a month name as a step is refused');
SELECT is(pg_temp.detail('0 0 * * */mon'), 'The day of week field "*/mon" has a step that is not a number from 1 to 1000.',
    'a weekday name as a step is refused');
SELECT is(pg_temp.detail('0 0 * * 1-5/tue'), 'The day of week field "1-5/tue" has a step that is not a number from 1 to 1000.',
    'a weekday name as the step of a range is refused');
SELECT is(pg_temp.detail('*/1001 * * * *'), 'The minute field "*/1001" has a step that is not a number from 1 to 1000.',
    'an absurdly large step is refused');
-- steps larger than the range: the first value of the range only, as in Vixie cron
SELECT is(pg_temp.next('*/60 * * * *', '2026-01-01 10:07:00+00'), '2026-01-01 11:00:00 UTC', 'minute step 60: minute 0 only');
SELECT is(pg_temp.next('*/60 * * * * *', '2026-01-01 10:07:05+00'), '2026-01-01 10:08:00 UTC', 'second step 60: second 0 only');
SELECT is(pg_temp.next('0 */24 * * *', '2026-01-01 10:00:00+00'), '2026-01-02 00:00:00 UTC', 'hour step 24: midnight only');
SELECT is(pg_temp.next('0 0 1 */13 *', '2026-02-01 00:00:00+00'), '2027-01-01 00:00:00 UTC', 'month step 13: January only');
SELECT is(pg_temp.next('0 0 * * */8', '2026-06-03 00:00:00+00'), '2026-06-07 00:00:00 UTC', 'weekday step 8: Sunday only');
SELECT is(pg_temp.next('5/1000 * * * *', '2026-01-01 10:07:00+00'), '2026-01-01 11:05:00 UTC', 'a start with step 1000: the start only');
-- blanks around the schedule (a line of a Windows crontab) and between fields
SELECT is(pg_temp.next(E'0 9 * * *\r', '2026-01-01 10:00:00+00'), '2026-01-02 09:00:00 UTC', 'a trailing carriage return');
SELECT is(pg_temp.next(E'0 9 * * *\r\n', '2026-01-01 10:00:00+00'), '2026-01-02 09:00:00 UTC', 'a Windows line end');
SELECT is(pg_temp.next(' @daily ', '2026-06-03 12:00:00+00'), '2026-06-04 00:00:00 UTC', 'an @ name between spaces');
SELECT is(pg_temp.next(E'@daily\r', '2026-06-03 12:00:00+00'), '2026-06-04 00:00:00 UTC', 'an @ name with a carriage return');
SELECT is(pg_temp.next(E'\t0\t9\t*\t*\t*\t', '2026-01-01 10:00:00+00'), '2026-01-02 09:00:00 UTC', 'tabs');
SELECT is(pg_temp.next(E'\x0b0 9\f* *\r*', '2026-01-01 10:00:00+00'), '2026-01-02 09:00:00 UTC',
    'vertical tabs, form feeds and carriage returns are blanks');
SELECT is(pg_temp.detail(E'@daily x'), 'This is not one of the @ names.', 'an @ name with more after it is refused');
-- the time zone: NULL means procflow.timezone (empty: the server's TimeZone); '' is refused
SELECT throws_ok($$SELECT procflow.cron_next('* * * * *', now(), '')$$, '22023', 'time zone must not be empty',
    'an empty time zone is refused');
SELECT is(procflow.cron_next('0 9 * * *', '2026-01-01 00:00:00+00', NULL),
          procflow.cron_next('0 9 * * *', '2026-01-01 00:00:00+00',
                             coalesce(nullif(current_setting('procflow.timezone', true), ''),
                                      (SELECT reset_val FROM pg_settings WHERE name = 'TimeZone'))),
    'a NULL time zone is procflow.timezone or the server''s');

-- speed: the rarest schedules (40 years apart) and random ones stay fast
-- (about 0.03 ms and 0.004 ms each; the bounds leave a wide margin)
CREATE FUNCTION pg_temp.seconds_for(query text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    EXECUTE query;
    RETURN extract(epoch FROM clock_timestamp() - t0);
END $$;
SELECT cmp_ok(pg_temp.seconds_for($$
    SELECT count(procflow.cron_next(s, '2088-03-01 00:00:00+00', tz))
      FROM generate_series(1, 500) i,
           (VALUES ('0 0 29 2 */7', 'UTC'), ('59 59 23 29 2 */7', 'Australia/Lord_Howe')) v(s, tz)$$),
    '<', 3.0::float8, '1000 searches 40 years ahead take well under 3 seconds');
CREATE FUNCTION pg_temp.random_field(lo int, hi int) RETURNS text LANGUAGE sql AS $$
    SELECT CASE floor(random() * 6)::int
        WHEN 0 THEN '*'
        WHEN 1 THEN '*/' || (1 + floor(random() * (hi - lo + 2)))
        WHEN 2 THEN a::text
        WHEN 3 THEN least(a, b) || '-' || greatest(a, b)
        WHEN 4 THEN least(a, b) || '-' || greatest(a, b) || '/' || (1 + floor(random() * 10))
        ELSE a || ',' || b END
      FROM (SELECT lo + floor(random() * (hi - lo + 1))::int AS a, lo + floor(random() * (hi - lo + 1))::int AS b) r
$$;
SELECT setseed(0.5);
CREATE TEMP TABLE random_schedules AS
    SELECT i, pg_temp.random_field(0, 59) || ' ' || pg_temp.random_field(0, 23) || ' ' ||
              pg_temp.random_field(1, 28) || ' ' || pg_temp.random_field(1, 12) || ' ' ||
              pg_temp.random_field(0, 7) AS s,
           (ARRAY['UTC', 'America/New_York', 'Europe/Berlin', 'Australia/Lord_Howe'])[1 + i % 4] AS tz
      FROM generate_series(1, 2000) i;
SELECT cmp_ok(pg_temp.seconds_for($$
    CREATE TEMP TABLE random_next AS
        SELECT s, procflow.cron_next(s, now(), tz) AS n FROM random_schedules$$),
    '<', 3.0::float8, '2000 random schedules take well under 3 seconds');
SELECT is((SELECT count(*) FROM random_next WHERE n > now() AND n < now() + interval '41 years'), 2000::bigint,
    'every random schedule fires after now, within 41 years');

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
