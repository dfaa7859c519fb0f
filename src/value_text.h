/*-------------------------------------------------------------------------
 *
 * value_text.h
 *	  Text forms of values that read back as the same values whatever the
 *	  session settings of the writer and of the reader.
 *
 * Copyright (c) 2026, procflow developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROCFLOW_VALUE_TEXT_H
#define PROCFLOW_VALUE_TEXT_H

#include "fmgr.h"

/* How much of the session's settings a type's text form depends on. */
typedef enum ValueTextMode
{
	VALUE_TEXT_PLAIN,			/* nothing: call the I/O functions as they are */
	VALUE_TEXT_STYLE,			/* date, time, interval, float and bytea
								 * styles, and the time zone */
	VALUE_TEXT_SETTINGS			/* also lc_monetary or search_path */
} ValueTextMode;

/* The I/O of one column type, prepared once. */
typedef struct ValueText
{
	Oid			typid;
	int32		typmod;
	ValueTextMode mode;
	bool		runs_user_code; /* I/O functions or domain checks that are
								 * not PostgreSQL's own */
	FmgrInfo	out;
	FmgrInfo	in;
	Oid			ioparam;
} ValueText;

extern void value_text_prepare(ValueText *vt, Oid typid, int32 typmod,
							   MemoryContext cxt);
extern char *value_text_out(const ValueText *vt, Datum value);
extern Datum value_text_in(const ValueText *vt, char *text);

#endif							/* PROCFLOW_VALUE_TEXT_H */
