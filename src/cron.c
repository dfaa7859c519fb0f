/*-------------------------------------------------------------------------
 *
 * cron.c
 *	  Cron schedules: parsing, and the next time a schedule fires.
 *
 * A schedule has five fields (minute, hour, day of month, month, day of
 * week) or six with seconds first, or is one of the names @yearly
 * (@annually), @monthly, @weekly, @daily (@midnight) and @hourly.  Fields
 * are separated by blanks (space, tab, newline, carriage return, vertical
 * tab, form feed); blanks before and after the schedule are ignored, so a
 * line of a Windows crontab is accepted.  A field is a comma-separated list
 * of "*", a value, or a range "a-b", each optionally followed by a step
 * "/n"; "a/n" means "a-max/n".  A step is a number from 1 to 1000; as in
 * Vixie cron, one larger than the range leaves only the range's first
 * value (a minute field of "*" with step 60 is minute 0).  Months and
 * weekdays may be given by their English three-letter names (as values,
 * not as steps); Sunday is 0 or 7.  As in Vixie cron, when both day fields
 * are restricted (neither starts with "*"), a day matches if either
 * matches; otherwise both must.  A schedule that can never fire (such as
 * "0 0 30 2 *") is refused.
 *
 * The next time is searched in local civil time in procflow.timezone
 * (default: the server's TimeZone), then turned into an instant: a local
 * time skipped by a daylight-saving change fires at the change, one that
 * occurs twice fires once, at its first occurrence (so a time searched from
 * inside a repeated hour whose first occurrence is past does not fire
 * again).  The Gregorian calendar repeats every 400 years, so a schedule
 * that fires at all fires within 400 years of any time; the search goes that
 * far.  A next time past the end of timestamptz is an error.  Times are
 * computed from the schedule, never from the previous run, so they do not
 * drift.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "fmgr.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "cron.h"
#include "settings.h"

PG_FUNCTION_INFO_V1(procflow_cron_next);

/* The largest number a field may hold, as a value or as a step. */
#define MAX_NUMBER 1000

/* How far the search goes: the Gregorian calendar repeats every 400 years. */
#define SEARCH_YEARS 400

/* What one field allows, and how its values are named. */
typedef struct CronField
{
	const char *name;
	int			min;
	int			max;
	const char *const *names;	/* names of min, min + 1, ...; or NULL */
} CronField;

static const char *const month_names[] = {
	"jan", "feb", "mar", "apr", "may", "jun",
	"jul", "aug", "sep", "oct", "nov", "dec", NULL
};
static const char *const weekday_names[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL
};

static const CronField fields[6] = {
	{"second", 0, 59, NULL},
	{"minute", 0, 59, NULL},
	{"hour", 0, 23, NULL},
	{"day of month", 1, 31, NULL},
	{"month", 1, 12, month_names},
	{"day of week", 0, 7, weekday_names},
};

/* The names that stand for whole schedules. */
static const struct
{
	const char *name;
	const char *schedule;
}			macros[] = {
	{"@yearly", "0 0 1 1 *"},
	{"@annually", "0 0 1 1 *"},
	{"@monthly", "0 0 1 * *"},
	{"@weekly", "0 0 * * 0"},
	{"@daily", "0 0 * * *"},
	{"@midnight", "0 0 * * *"},
	{"@hourly", "0 * * * *"},
};

/* What can be wrong with one field; each has its own detail message. */
typedef enum FieldProblem
{
	FIELD_NOT_A_VALUE,			/* not a value, a range or "*" */
	FIELD_RANGE_WITHOUT_END,	/* "a-" without a value after it */
	FIELD_OUT_OF_RANGE,			/* a value outside the field's range */
	FIELD_BACKWARD_RANGE,		/* "a-b" with a after b */
	FIELD_BAD_STEP				/* a step that is not 1 to MAX_NUMBER */
} FieldProblem;

static void refuse_field(const char *expr, int fieldno, const char *field_text,
						 FieldProblem problem) pg_attribute_noreturn();
static void refuse_past_end(void) pg_attribute_noreturn();

/*
 * The hint of every refused schedule, in one place: called inside an
 * ereport, like errhint itself.
 */
static int
errhint_schedule(void)
{
	return errhint("A schedule is five fields (minute hour day-of-month month day-of-week), "
				   "six with seconds first, or one of @yearly, @annually, @monthly, @weekly, "
				   "@daily, @midnight, @hourly.");
}

/*
 * The detail of a refused field: one whole sentence per problem, so that
 * each can be translated as a whole.  Called inside an ereport.
 */
static int
errdetail_field(int fieldno, const char *field_text, FieldProblem problem)
{
	const CronField *f = &fields[fieldno];

	switch (problem)
	{
		case FIELD_NOT_A_VALUE:
			return errdetail("The %s field \"%s\" has something that is not a value, a range or \"*\".",
							 f->name, field_text);
		case FIELD_RANGE_WITHOUT_END:
			return errdetail("The %s field \"%s\" has a range without an end.",
							 f->name, field_text);
		case FIELD_OUT_OF_RANGE:
			return errdetail("The %s field \"%s\" has a value out of range %d-%d.",
							 f->name, field_text, f->min, f->max);
		case FIELD_BACKWARD_RANGE:
			return errdetail("The %s field \"%s\" has a range whose start is after its end.",
							 f->name, field_text);
		case FIELD_BAD_STEP:
			return errdetail("The %s field \"%s\" has a step that is not a number from 1 to %d.",
							 f->name, field_text, MAX_NUMBER);
	}
	return 0;					/* keep compiler quiet */
}

/* Refuse a schedule, pointing at the field and what is wrong with it. */
static void
refuse_field(const char *expr, int fieldno, const char *field_text, FieldProblem problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid cron schedule \"%s\"", expr),
			 errdetail_field(fieldno, field_text, problem),
			 errhint_schedule()));
}

/*
 * Is this a blank between fields?  The characters of isspace() in the C
 * locale, whatever the server's locale: a carriage return or a form feed
 * left over from another system's line ends must not make a field.
 */
static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * Read a number from 0 to MAX_NUMBER at *p, advancing *p; returns false
 * when there is none (or it is larger).
 */
static bool
read_number(const char **p, int *value)
{
	const char *s = *p;
	int			v = 0;

	if (!isdigit((unsigned char) *s))
		return false;
	while (isdigit((unsigned char) *s))
	{
		v = v * 10 + (*s - '0');
		if (v > MAX_NUMBER)
			return false;
		s++;
	}
	*value = v;
	*p = s;
	return true;
}

/*
 * Read a value (a number or, in fields that have them, a name) at *p,
 * advancing *p; returns false when there is none.
 */
static bool
read_value(const char **p, const CronField *f, int *value)
{
	const char *s = *p;

	if (read_number(p, value))
		return true;
	if (f->names != NULL && isalpha((unsigned char) s[0]) &&
		isalpha((unsigned char) s[1]) && isalpha((unsigned char) s[2]))
	{
		for (int i = 0; f->names[i] != NULL; i++)
			if (pg_strncasecmp(s, f->names[i], 3) == 0 && !isalpha((unsigned char) s[3]))
			{
				*value = f->min + i;
				*p = s + 3;
				return true;
			}
	}
	return false;
}

/*
 * Parse one field into a bit set of allowed values.  A step is a number
 * (never a name); one larger than the range allows the range's first
 * value only, as in Vixie cron.
 */
static uint64
parse_field(const char *expr, int fieldno, const char *field_text)
{
	const CronField *f = &fields[fieldno];
	const char *p = field_text;
	uint64		bits = 0;

	for (;;)
	{
		int			lo;
		int			hi;
		int			step = 1;

		if (*p == '*')
		{
			lo = f->min;
			hi = f->max;
			p++;
		}
		else
		{
			if (!read_value(&p, f, &lo))
				refuse_field(expr, fieldno, field_text, FIELD_NOT_A_VALUE);
			hi = lo;
			if (*p == '-')
			{
				p++;
				if (!read_value(&p, f, &hi))
					refuse_field(expr, fieldno, field_text, FIELD_RANGE_WITHOUT_END);
			}
			else if (*p == '/')
				hi = f->max;
			if (lo < f->min || hi > f->max || lo > f->max || hi < f->min)
				refuse_field(expr, fieldno, field_text, FIELD_OUT_OF_RANGE);
			if (lo > hi)
				refuse_field(expr, fieldno, field_text, FIELD_BACKWARD_RANGE);
		}
		if (*p == '/')
		{
			p++;
			if (!read_number(&p, &step) || step < 1)
				refuse_field(expr, fieldno, field_text, FIELD_BAD_STEP);
		}
		for (int v = lo; v <= hi; v += step)
			bits |= UINT64CONST(1) << v;
		if (*p == '\0')
			break;
		if (*p != ',')
			refuse_field(expr, fieldno, field_text, FIELD_NOT_A_VALUE);
		p++;
	}
	return bits;
}

/* Days in a month of a year. */
static int
days_in_month(int year, int month)
{
	return day_tab[isleap(year)][month - 1];
}

/*
 * Parse a schedule, refusing anything else and a schedule that can never
 * fire (such as "0 0 30 2 *").  Blanks around the schedule are ignored.
 */
void
cron_parse(const char *expr, CronSchedule *schedule)
{
	char	   *copy = pstrdup(expr);
	char	   *start = copy;
	char	   *end;
	char	   *texts[6];
	int			n = 0;
	int			first;

	/* without the blanks around it */
	while (is_blank(*start))
		start++;
	end = start + strlen(start);
	while (end > start && is_blank(end[-1]))
		*--end = '\0';

	if (start[0] == '@')
	{
		for (size_t i = 0; i < lengthof(macros); i++)
			if (pg_strcasecmp(start, macros[i].name) == 0)
			{
				cron_parse(macros[i].schedule, schedule);
				pfree(copy);
				return;
			}
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid cron schedule \"%s\"", expr),
				 errdetail("This is not one of the @ names."),
				 errhint_schedule()));
	}

	/* split into fields at runs of blanks, counting them all */
	for (char *p = start; *p != '\0';)
	{
		while (is_blank(*p))
			p++;
		if (*p == '\0')
			break;
		if (n < (int) lengthof(texts))
			texts[n] = p;
		n++;
		while (*p != '\0' && !is_blank(*p))
			p++;
		if (*p != '\0')
			*p++ = '\0';
	}
	if (n != 5 && n != 6)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid cron schedule \"%s\"", expr),
				 errdetail_plural("It has %d field, not five or six.",
								  "It has %d fields, not five or six.",
								  n, n),
				 errhint_schedule()));

	/* five fields: seconds are 0 */
	first = n == 6 ? 0 : 1;
	memset(schedule, 0, sizeof(CronSchedule));
	schedule->seconds = n == 6 ? parse_field(expr, 0, texts[0]) : UINT64CONST(1);
	schedule->minutes = parse_field(expr, 1, texts[1 - first]);
	schedule->hours = (uint32) parse_field(expr, 2, texts[2 - first]);
	schedule->days = (uint32) parse_field(expr, 3, texts[3 - first]);
	schedule->months = (uint32) parse_field(expr, 4, texts[4 - first]);
	schedule->weekdays = (uint32) parse_field(expr, 5, texts[5 - first]);
	if (schedule->weekdays & (1 << 7))
		schedule->weekdays = (schedule->weekdays | 1) & 0x7f;	/* 7 is Sunday */
	schedule->days_star = texts[3 - first][0] == '*';
	schedule->weekdays_star = texts[5 - first][0] == '*';

	/*
	 * With the weekday unrestricted, the days of month alone decide: some
	 * allowed day must exist in some allowed month (a leap year's February
	 * has 29).  Every other schedule fires: when the weekday is restricted,
	 * each day of each month falls on each weekday within 400 years (29
	 * February too), and a day-of-month field starting with "*" allows
	 * the 1st.
	 */
	if (schedule->weekdays_star && !schedule->days_star)
	{
		bool		fires = false;

		for (int m = 1; m <= 12 && !fires; m++)
			for (int d = 1; d <= days_in_month(2000, m) && !fires; d++)
				fires = (schedule->months & (1 << m)) && (schedule->days & (1 << d));
		if (!fires)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid cron schedule \"%s\"", expr),
					 errdetail("No allowed month has any of the allowed days, so it never fires."),
					 errhint_schedule()));
	}
	pfree(copy);
}

/* Local civil time. */
typedef struct CivilTime
{
	int			year;
	int			month;
	int			day;
	int			hour;
	int			minute;
	int			second;
} CivilTime;

/* Does the schedule allow this day? */
static bool
day_matches(const CronSchedule *s, const CivilTime *c)
{
	bool		dom = (s->days & (1 << c->day)) != 0;
	bool		dow = (s->weekdays & (1 << j2day(date2j(c->year, c->month, c->day)))) != 0;

	if (s->days_star || s->weekdays_star)
		return dom && dow;
	return dom || dow;
}

/* Carry overflowing fields of a civil time into the next ones up. */
static void
normalize(CivilTime *c)
{
	if (c->second > 59)
	{
		c->second = 0;
		c->minute++;
	}
	if (c->minute > 59)
	{
		c->minute = 0;
		c->hour++;
	}
	if (c->hour > 23)
	{
		c->hour = 0;
		c->day++;
	}
	if (c->day > days_in_month(c->year, c->month))
	{
		c->day = 1;
		c->month++;
	}
	if (c->month > 12)
	{
		c->month = 1;
		c->year++;
	}
}

/*
 * The time zone schedules are computed in: the one named, else (NULL)
 * procflow.timezone, else the server's TimeZone.  An empty name is refused
 * rather than taken to mean the default, which NULL asks for.
 */
static pg_tz *
schedule_timezone(const char *name)
{
	pg_tz	   *tz;

	if (name != NULL && name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone must not be empty"),
				 errhint("Pass NULL to use procflow.timezone.")));
	if (name == NULL)
		name = procflow_timezone;
	if (name == NULL || name[0] == '\0')
		name = GetConfigOptionResetString("TimeZone");
	tz = pg_tzset(name);
	if (tz == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" is not recognized", name)));
	return tz;
}

/*
 * A civil time as seconds since 1970-01-01 00:00:00 of the same calendar,
 * as if it were UTC.
 */
static pg_time_t
civil_seconds(const CivilTime *c)
{
	return (pg_time_t) (date2j(c->year, c->month, c->day) - UNIX_EPOCH_JDATE) * SECS_PER_DAY +
		c->hour * SECS_PER_HOUR + c->minute * SECS_PER_MINUTE + c->second;
}

/*
 * The instant a local civil time (civil_seconds) fires at: the first
 * instant at which the clock shows that time or a later one.  That is the
 * time itself as usual; its first occurrence when a daylight-saving change
 * makes it occur twice; the change itself when the change skips it.  As
 * local time goes on, so does this instant (never back), which lets
 * cron_next search in local time.
 *
 * The zone's segments of constant offset are walked from two days before
 * (no zone is that far from UTC), so that any number of changes close
 * together is handled.
 */
static pg_time_t
civil_instant(pg_time_t local, pg_tz *tz)
{
	pg_time_t	probe = local - 2 * SECS_PER_DAY;

	for (;;)
	{
		long int	offset;
		long int	next_offset;
		int			isdst;
		int			next_isdst;
		pg_time_t	boundary;
		int			found;

		found = pg_next_dst_boundary(&probe, &offset, &isdst, &boundary,
									 &next_offset, &next_isdst, tz);
		if (found < 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("timestamp out of range")));

		/*
		 * From probe until the boundary (or on, if none follows) the clock
		 * is "offset" ahead of UTC.  If it shows the time in that segment,
		 * it does first at local - offset, or at probe when the change at
		 * probe jumped over it.
		 */
		if (found == 0 || local - offset < boundary)
			return Max(probe, local - offset);
		probe = boundary;
	}
}

/* A search for the next time has left the range of timestamptz. */
static void
refuse_past_end(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
			 errmsg("timestamp out of range"),
			 errdetail("The cron schedule does not fire again before the end of the timestamp range.")));
}

/*
 * The first time after "after" that the schedule fires, in the named time
 * zone (NULL: procflow.timezone).  The search goes through local civil
 * times from the one of "after" on; the first that fires after "after"
 * wins (a local time whose first occurrence is not after "after" does not
 * fire again at its second).  A schedule that fires at all does within
 * 400 years; a time past the end of timestamptz is an error (22008).
 */
TimestampTz
cron_next(const CronSchedule *s, TimestampTz after, const char *timezone)
{
	pg_tz	   *tz = schedule_timezone(timezone);
	struct pg_tm tm;
	fsec_t		fsec;
	int			tzoff;
	CivilTime	c;
	int			last_year;
	int			end_year;
	int			end_month;
	int			end_day;

	/* no local time of a year after the one timestamptz ends in is in range */
	j2date(TIMESTAMP_END_JULIAN, &end_year, &end_month, &end_day);

	if (TIMESTAMP_NOT_FINITE(after) ||
		timestamp2tm(after, &tzoff, &tm, &fsec, NULL, tz) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	c.year = tm.tm_year;
	c.month = tm.tm_mon;
	c.day = tm.tm_mday;
	c.hour = tm.tm_hour;
	c.minute = tm.tm_min;
	c.second = tm.tm_sec + 1;
	normalize(&c);
	last_year = c.year + SEARCH_YEARS;

	while (c.year <= last_year)
	{
		if (c.year > end_year)
			refuse_past_end();
		if (!(s->months & (1 << c.month)))
		{
			c.month++;
			c.day = 1;
			c.hour = c.minute = c.second = 0;
			normalize(&c);
		}
		else if (!day_matches(s, &c))
		{
			c.day++;
			c.hour = c.minute = c.second = 0;
			normalize(&c);
		}
		else if (!(s->hours & (1 << c.hour)))
		{
			c.hour++;
			c.minute = c.second = 0;
			normalize(&c);
		}
		else if (!(s->minutes & (UINT64CONST(1) << c.minute)))
		{
			c.minute++;
			c.second = 0;
			normalize(&c);
		}
		else if (!(s->seconds & (UINT64CONST(1) << c.second)))
		{
			c.second++;
			normalize(&c);
		}
		else
		{
			pg_time_t	instant = civil_instant(civil_seconds(&c), tz);
			TimestampTz result;

			/* in seconds first: in microseconds it could overflow */
			if (instant - (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY >=
				END_TIMESTAMP / USECS_PER_SEC)
				refuse_past_end();
			result = time_t_to_timestamptz(instant);
			if (result > after)
				return result;

			/*
			 * It fired at or before "after" (at the first occurrence of a
			 * repeated local time): a later occurrence does not count.
			 */
			c.second++;
			normalize(&c);
		}
	}

	/* only a schedule that cannot fire at all (cron_parse refuses those) */
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("cron schedule does not fire within %d years", SEARCH_YEARS),
			 errdetail("The calendar repeats every %d years, so it never fires.", SEARCH_YEARS)));
	return 0;					/* keep compiler quiet */
}

/* Parse a schedule and return its first time after "after". */
TimestampTz
cron_next_of(const char *expr, TimestampTz after)
{
	CronSchedule schedule;

	cron_parse(expr, &schedule);
	return cron_next(&schedule, after, NULL);
}

/*
 * procflow.cron_next(schedule text, after timestamptz, timezone text): when
 * the schedule next fires after the given time, in the time zone (NULL:
 * procflow.timezone; empty: refused).
 */
Datum
procflow_cron_next(PG_FUNCTION_ARGS)
{
	CronSchedule schedule;
	char	   *timezone = NULL;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	if (!PG_ARGISNULL(2))
		timezone = text_to_cstring(PG_GETARG_TEXT_PP(2));
	cron_parse(text_to_cstring(PG_GETARG_TEXT_PP(0)), &schedule);
	PG_RETURN_TIMESTAMPTZ(cron_next(&schedule, PG_GETARG_TIMESTAMPTZ(1), timezone));
}
