/*-------------------------------------------------------------------------
 *
 * cron.c
 *	  Cron schedules: parsing, and the next time a schedule fires.
 *
 * A schedule has five fields (minute, hour, day of month, month, day of
 * week) or six with seconds first, or is one of the names @yearly
 * (@annually), @monthly, @weekly, @daily (@midnight) and @hourly.  A field
 * is a comma-separated list of "*", a value, or a range "a-b", each
 * optionally followed by a step "/n"; "a/n" means "a-max/n".  Months and
 * weekdays may be given by their English three-letter names; Sunday is 0
 * or 7.  As in Vixie cron, when both day fields are restricted (neither
 * starts with "*"), a day matches if either matches; otherwise both must.
 *
 * The next time is searched in local civil time in procflow.timezone
 * (default: the server's TimeZone), then turned into an instant: a local
 * time skipped by a daylight-saving change fires at the change, one that
 * occurs twice fires once, at its first occurrence.  Times are computed
 * from the schedule, never from the previous run, so they do not drift.
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
#include "procflow.h"

PG_FUNCTION_INFO_V1(procflow_cron_next);

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

/* Refuse a schedule, pointing at the field and what is wrong with it. */
static void
refuse(const char *expr, int fieldno, const char *field_text, const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid cron schedule \"%s\"", expr),
			 fieldno >= 0 ?
			 errdetail("The %s field \"%s\" %s.", fields[fieldno].name, field_text, problem) :
			 errdetail("%s.", problem),
			 errhint("A schedule is five fields (minute hour day-of-month month day-of-week), "
					 "six with seconds first, or one of @yearly, @annually, @monthly, @weekly, "
					 "@daily, @midnight, @hourly.")));
}

/*
 * Read a value (a number or a name) at *p, advancing *p; returns false
 * when there is none.
 */
static bool
read_value(const char **p, const CronField *f, int *value)
{
	const char *s = *p;

	if (isdigit((unsigned char) *s))
	{
		int			v = 0;

		while (isdigit((unsigned char) *s))
		{
			v = v * 10 + (*s - '0');
			if (v > 1000)
				return false;
			s++;
		}
		*value = v;
		*p = s;
		return true;
	}
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

/* Parse one field into a bit set of allowed values. */
static uint64
parse_field(const char *expr, int fieldno, const char *text)
{
	const CronField *f = &fields[fieldno];
	const char *p = text;
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
				refuse(expr, fieldno, text, "has something that is not a value, a range or \"*\"");
			hi = lo;
			if (*p == '-')
			{
				p++;
				if (!read_value(&p, f, &hi))
					refuse(expr, fieldno, text, "has a range without an end");
			}
			else if (*p == '/')
				hi = f->max;
			if (lo < f->min || hi > f->max || lo > f->max || hi < f->min)
				refuse(expr, fieldno, text,
					   psprintf("has a value out of range %d-%d", f->min, f->max));
			if (lo > hi)
				refuse(expr, fieldno, text, "has a range whose start is after its end");
		}
		if (*p == '/')
		{
			p++;
			if (!read_value(&p, f, &step) || step < 1 || step > f->max)
				refuse(expr, fieldno, text,
					   psprintf("has a step that is not a number from 1 to %d", f->max));
		}
		for (int v = lo; v <= hi; v += step)
			bits |= UINT64CONST(1) << v;
		if (*p == '\0')
			break;
		if (*p != ',')
			refuse(expr, fieldno, text, "has something that is not a value, a range or \"*\"");
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
 * fire (such as "0 0 30 2 *").
 */
void
cron_parse(const char *expr, CronSchedule *schedule)
{
	char	   *copy;
	char	   *texts[7];
	int			n = 0;
	int			first;
	char	   *tok;
	char	   *save;

	if (expr[0] == '@')
	{
		for (size_t i = 0; i < lengthof(macros); i++)
			if (pg_strcasecmp(expr, macros[i].name) == 0)
			{
				cron_parse(macros[i].schedule, schedule);
				return;
			}
		refuse(expr, -1, NULL, "This is not one of the @ names");
	}

	copy = pstrdup(expr);
	for (tok = strtok_r(copy, " \t\n", &save); tok != NULL; tok = strtok_r(NULL, " \t\n", &save))
	{
		if (n == 6)
			refuse(expr, -1, NULL, "It has more than six fields");
		texts[n++] = tok;
	}
	if (n != 5 && n != 6)
		refuse(expr, -1, NULL, psprintf("It has %d field%s, not five or six", n, n == 1 ? "" : "s"));

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
	 * has 29).
	 */
	if (schedule->weekdays_star && !schedule->days_star)
	{
		bool		fires = false;

		for (int m = 1; m <= 12 && !fires; m++)
			for (int d = 1; d <= days_in_month(2000, m) && !fires; d++)
				fires = (schedule->months & (1 << m)) && (schedule->days & (1 << d));
		if (!fires)
			refuse(expr, -1, NULL, "No allowed month has any of the allowed days, so it never fires");
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
 * The time zone schedules are computed in: the one named, else
 * procflow.timezone, else the server's TimeZone.
 */
static pg_tz *
schedule_timezone(const char *name)
{
	pg_tz	   *tz;

	if (name == NULL || name[0] == '\0')
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
 * The instant a local civil time stands for, if it is after "after": its
 * first occurrence when a daylight-saving change makes it occur twice, the
 * change itself when the change skips it.  Returns false when it is not
 * after "after".
 */
static bool
civil_instant(const CivilTime *c, pg_tz *tz, TimestampTz after, TimestampTz *result)
{
	pg_time_t	local = (pg_time_t) (date2j(c->year, c->month, c->day) - UNIX_EPOCH_JDATE) *
		SECS_PER_DAY + c->hour * SECS_PER_HOUR + c->minute * SECS_PER_MINUTE + c->second;
	pg_time_t	probe = local - 2 * SECS_PER_DAY;
	pg_time_t	boundary;
	long int	before_offset;
	long int	after_offset;
	int			before_isdst;
	int			after_isdst;
	pg_time_t	instant;

	if (pg_next_dst_boundary(&probe, &before_offset, &before_isdst, &boundary,
							 &after_offset, &after_isdst, tz) != 1 ||
		boundary > local + 2 * SECS_PER_DAY)
		instant = local - before_offset;
	else
	{
		/* a change near this time: which of the two offsets apply? */
		pg_time_t	with_before = local - before_offset;
		pg_time_t	with_after = local - after_offset;
		bool		before_valid = with_before < boundary;
		bool		after_valid = with_after >= boundary;

		if (before_valid && after_valid)
		{
			/* occurs twice: the first occurrence still to come */
			instant = Min(with_before, with_after);
			if (time_t_to_timestamptz(instant) <= after)
				instant = Max(with_before, with_after);
		}
		else if (before_valid)
			instant = with_before;
		else if (after_valid)
			instant = with_after;
		else
			instant = boundary; /* skipped: fire at the change */
	}
	*result = time_t_to_timestamptz(instant);
	return *result > after;
}

/*
 * The first time after "after" that the schedule fires, in the named time
 * zone (NULL: procflow.timezone).
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
	last_year = c.year + 30;	/* a schedule that fires fires within 28 years */

	while (c.year <= last_year)
	{
		TimestampTz result;

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
		else if (civil_instant(&c, tz, after, &result))
			return result;
		else
		{
			c.second++;
			normalize(&c);
		}
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("cron schedule does not fire within %d years", 30)));
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
 * procflow.timezone).
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
