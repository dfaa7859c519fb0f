/*-------------------------------------------------------------------------
 *
 * value_text.c
 *	  Text forms of values that read back as the same values whatever the
 *	  session settings of the writer and of the reader.
 *
 * A job keeps the primary-key values of its row, and the columns of the
 * row before the change, as text (entity.c, stored_row.c).  The text form
 * of many types depends on settings: DateStyle and IntervalStyle for dates,
 * times and intervals, TimeZone for timestamps with time zone,
 * extra_float_digits for floats (and the geometric types built on them),
 * bytea_output, lc_monetary for money, search_path for the reg* types.  A
 * writer with "SET datestyle = 'SQL, DMY'" and an executor with the
 * defaults would read 2024-02-01 as 2 January.
 *
 * So values are written and read here under fixed settings, as pg_dump
 * writes them: DateStyle ISO (YMD order for reading), IntervalStyle
 * postgres, TimeZone UTC, extra_float_digits 1 (the shortest text that
 * reads back exactly), bytea_output hex, and for the types that need them
 * lc_monetary C and search_path pg_catalog.  The text of a value is then
 * also unique, so two keys are equal exactly when their texts are.
 *
 * Most types need no change of settings (integers, text, uuid, numeric,
 * ...), and the styles are plain variables that the date, time, float and
 * bytea functions read: setting them around one call costs next to
 * nothing.  Only money and the reg* types (and composites, arrays and
 * ranges holding them) go through the GUC machinery, per value.  A type
 * of an extension is treated as depending on the styles; if its text form
 * depends on other settings, those are not fixed.
 *
 * Whether a type's input or output runs code that is not PostgreSQL's own
 * (a type or domain of an extension or a user, a domain's CHECK) is noted,
 * so that callers run it with no more privileges than the table's owner.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/tupdesc.h"
#include "access/transam.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/bytea.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "value_text.h"

/* The styles a value is written and read in (see the header comment). */
#define CANONICAL_DATE_STYLE		USE_ISO_DATES
#define CANONICAL_DATE_ORDER		DATEORDER_YMD
#define CANONICAL_INTERVAL_STYLE	INTSTYLE_POSTGRES
#define CANONICAL_FLOAT_DIGITS		1
#define CANONICAL_BYTEA_OUTPUT		BYTEA_OUTPUT_HEX

/* The style variables of a session, saved while the canonical ones apply. */
typedef struct SavedStyles
{
	int			date_style;
	int			date_order;
	int			interval_style;
	int			float_digits;
	int			bytea_output;
	pg_tz	   *timezone;
} SavedStyles;

static pg_tz *utc_timezone = NULL;

static ValueTextMode type_mode(Oid typid, bool *user_code);

/* The time zone UTC, looked up once. */
static pg_tz *
utc(void)
{
	if (utc_timezone == NULL)
	{
		utc_timezone = pg_tzset("UTC");
		if (utc_timezone == NULL)
			elog(ERROR, "time zone \"UTC\" is not known");
	}
	return utc_timezone;
}

/* The stronger of two modes. */
static inline ValueTextMode
stronger(ValueTextMode a, ValueTextMode b)
{
	return a > b ? a : b;
}

/* Mode of a built-in base type. */
static ValueTextMode
builtin_base_mode(Oid typid)
{
	switch (typid)
	{
		case BOOLOID:
		case CHAROID:
		case NAMEOID:
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
		case TEXTOID:
		case BPCHAROID:
		case VARCHAROID:
		case NUMERICOID:
		case UUIDOID:
		case JSONOID:
		case JSONBOID:
		case XMLOID:
		case INETOID:
		case CIDROID:
		case MACADDROID:
		case MACADDR8OID:
		case BITOID:
		case VARBITOID:
		case XIDOID:
		case XID8OID:
		case CIDOID:
		case TIDOID:
		case PG_LSNOID:
		case TSVECTOROID:
		case TSQUERYOID:
			return VALUE_TEXT_PLAIN;
		case CASHOID:
		case REGCLASSOID:
		case REGPROCOID:
		case REGPROCEDUREOID:
		case REGOPEROID:
		case REGOPERATOROID:
		case REGTYPEOID:
		case REGCONFIGOID:
		case REGDICTIONARYOID:
		case REGNAMESPACEOID:
		case REGROLEOID:
		case REGCOLLATIONOID:
			return VALUE_TEXT_SETTINGS;
		default:
			/* dates, times, floats, bytea, geometric types, ... */
			return VALUE_TEXT_STYLE;
	}
}

/* Mode of a composite type: the strongest of its columns'. */
static ValueTextMode
composite_mode(Oid typid, bool *user_code)
{
	TupleDesc	desc = lookup_rowtype_tupdesc(typid, -1);
	ValueTextMode mode = VALUE_TEXT_PLAIN;

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped)
			mode = stronger(mode, type_mode(att->atttypid, user_code));
	}
	ReleaseTupleDesc(desc);
	return mode;
}

/*
 * How much of the settings the text form of a type depends on, looking
 * into domains, arrays, composites and ranges; sets *user_code when its
 * I/O runs code that is not PostgreSQL's own.
 */
static ValueTextMode
type_mode(Oid typid, bool *user_code)
{
	HeapTuple	tup;
	Form_pg_type typ;
	char		typtype;
	Oid			elem;
	Oid			basetype;

	check_stack_depth();
	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for type %u", typid);
	typ = (Form_pg_type) GETSTRUCT(tup);
	typtype = typ->typtype;
	elem = typ->typelem;
	basetype = typ->typbasetype;
	if (typ->typinput >= FirstNormalObjectId || typ->typoutput >= FirstNormalObjectId)
		*user_code = true;
	ReleaseSysCache(tup);

	switch (typtype)
	{
		case TYPTYPE_DOMAIN:
			if (DomainHasConstraints(typid))
				*user_code = true;
			return type_mode(basetype, user_code);
		case TYPTYPE_COMPOSITE:
			return composite_mode(typid, user_code);
		case TYPTYPE_RANGE:
			return type_mode(get_range_subtype(typid), user_code);
		case TYPTYPE_MULTIRANGE:
			return type_mode(get_multirange_range(typid), user_code);
		case TYPTYPE_ENUM:
			return VALUE_TEXT_PLAIN;
		default:
			break;
	}
	if (OidIsValid(get_element_type(typid)))
		return type_mode(elem, user_code);
	if (typid >= FirstNormalObjectId)
		return VALUE_TEXT_STYLE;
	return builtin_base_mode(typid);
}

/*
 * Prepare the I/O of a column of type typid (typmod for reading) for
 * value_text_out and value_text_in, with its function data in cxt.
 */
void
value_text_prepare(ValueText *vt, Oid typid, int32 typmod, MemoryContext cxt)
{
	Oid			outfunc;
	Oid			infunc;
	bool		isvarlena;
	bool		user_code = false;

	vt->typid = typid;
	vt->typmod = typmod;
	vt->mode = type_mode(typid, &user_code);
	vt->runs_user_code = user_code;
	getTypeOutputInfo(typid, &outfunc, &isvarlena);
	fmgr_info_cxt(outfunc, &vt->out, cxt);
	getTypeInputInfo(typid, &infunc, &vt->ioparam);
	fmgr_info_cxt(infunc, &vt->in, cxt);
}

/* Are the session's styles the canonical ones already? */
static inline bool
styles_canonical(void)
{
	return DateStyle == CANONICAL_DATE_STYLE &&
		DateOrder == CANONICAL_DATE_ORDER &&
		IntervalStyle == CANONICAL_INTERVAL_STYLE &&
		extra_float_digits == CANONICAL_FLOAT_DIGITS &&
		bytea_output == CANONICAL_BYTEA_OUTPUT &&
		session_timezone == utc();
}

/* Put the canonical styles in place, saving the session's. */
static void
enter_styles(SavedStyles *saved)
{
	saved->date_style = DateStyle;
	saved->date_order = DateOrder;
	saved->interval_style = IntervalStyle;
	saved->float_digits = extra_float_digits;
	saved->bytea_output = bytea_output;
	saved->timezone = session_timezone;
	DateStyle = CANONICAL_DATE_STYLE;
	DateOrder = CANONICAL_DATE_ORDER;
	IntervalStyle = CANONICAL_INTERVAL_STYLE;
	extra_float_digits = CANONICAL_FLOAT_DIGITS;
	bytea_output = CANONICAL_BYTEA_OUTPUT;
	session_timezone = utc();
}

/* Give the session its styles back. */
static void
leave_styles(const SavedStyles *saved)
{
	DateStyle = saved->date_style;
	DateOrder = saved->date_order;
	IntervalStyle = saved->interval_style;
	extra_float_digits = saved->float_digits;
	bytea_output = saved->bytea_output;
	session_timezone = saved->timezone;
}

/*
 * Set every setting of the canonical form through the GUC machinery, for
 * the types whose functions read more than the style variables; returns
 * the nesting level for AtEOXact_GUC.  An error in between is cleaned up
 * by the (sub)transaction's abort.
 */
static int
enter_settings(void)
{
	static const char *const settings[][2] = {
		{"DateStyle", "ISO, YMD"},
		{"IntervalStyle", "postgres"},
		{"TimeZone", "UTC"},
		{"extra_float_digits", "1"},
		{"bytea_output", "hex"},
		{"lc_monetary", "C"},
		{"search_path", "pg_catalog"},
	};
	int			nest_level = NewGUCNestLevel();

	for (size_t i = 0; i < lengthof(settings); i++)
		(void) set_config_option(settings[i][0], settings[i][1],
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	return nest_level;
}

/*
 * Call an output function (input when "text" is not NULL) under the
 * canonical styles.
 */
static Datum
call_with_styles(const ValueText *vt, Datum value, char *text)
{
	SavedStyles saved;
	Datum		result;

	enter_styles(&saved);
	PG_TRY();
	{
		if (text == NULL)
			result = CStringGetDatum(OutputFunctionCall((FmgrInfo *) &vt->out, value));
		else
			result = InputFunctionCall((FmgrInfo *) &vt->in, text, vt->ioparam,
									   vt->typmod);
	}
	PG_FINALLY();
	{
		leave_styles(&saved);
	}
	PG_END_TRY();
	return result;
}

/* The canonical text of a value (not NULL). */
char *
value_text_out(const ValueText *vt, Datum value)
{
	char	   *result;
	int			nest_level;

	switch (vt->mode)
	{
		case VALUE_TEXT_PLAIN:
			return OutputFunctionCall((FmgrInfo *) &vt->out, value);
		case VALUE_TEXT_STYLE:
			if (styles_canonical())
				return OutputFunctionCall((FmgrInfo *) &vt->out, value);
			return DatumGetCString(call_with_styles(vt, value, NULL));
		case VALUE_TEXT_SETTINGS:
			nest_level = enter_settings();
			result = OutputFunctionCall((FmgrInfo *) &vt->out, value);
			AtEOXact_GUC(false, nest_level);
			return result;
	}
	return NULL;				/* keep compiler quiet */
}

/* The value of a canonical text, as the column type reads it. */
Datum
value_text_in(const ValueText *vt, char *text)
{
	Datum		result;
	int			nest_level;

	switch (vt->mode)
	{
		case VALUE_TEXT_PLAIN:
			return InputFunctionCall((FmgrInfo *) &vt->in, text, vt->ioparam, vt->typmod);
		case VALUE_TEXT_STYLE:
			if (styles_canonical())
				return InputFunctionCall((FmgrInfo *) &vt->in, text, vt->ioparam,
										 vt->typmod);
			return call_with_styles(vt, (Datum) 0, text);
		case VALUE_TEXT_SETTINGS:
			nest_level = enter_settings();
			result = InputFunctionCall((FmgrInfo *) &vt->in, text, vt->ioparam,
									   vt->typmod);
			AtEOXact_GUC(false, nest_level);
			return result;
	}
	return (Datum) 0;			/* keep compiler quiet */
}
