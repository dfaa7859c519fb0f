// The page's long lists: a page at a time, in keyset order (the sort
// column and the row's id, both ways), with a total that is exact up to
// EXACT_UP_TO rows and PostgreSQL's estimate above.  Filters are SQL
// conditions with parameters; the sort column is one the list names, so
// no text of a request ever becomes SQL.
//
// Copyright (c) 2026, procflow developers

import { query, isRowId } from './requests.js';

export const PAGE_SIZE = 50;
const EXACT_UP_TO = 10000;

/* A cursor in a link: the sort value and id of a row, as URL-safe text. */
const encode = (value, id) => Buffer.from(JSON.stringify([value, id])).toString('base64url');

function decode(text) {
	try {
		const [value, id] = JSON.parse(Buffer.from(String(text), 'base64url').toString());
		return isRowId(String(id)) ? { value, id: String(id) } : null;
	} catch {
		return null;
	}
}

/*
 * One page of a list.  spec: { from (a view), id (its id column), columns
 * (name -> its type, for a column that is never null, or { sql: a
 * non-null expression to sort by, type }), select (the
 * select list), sort and dir (the default order) }; where and params: the
 * filters.  The request's query may give sort, dir, and after or before
 * (a cursor).
 */
export async function listPage(req, spec, where, params) {
	const q = req.query;
	const sort = Object.hasOwn(spec.columns, q.sort) ? q.sort : spec.sort;
	const dir = q.dir === 'asc' || q.dir === 'desc' ? q.dir : spec.dir;
	const named = spec.columns[sort];
	const col = typeof named === 'string' ? { sql: sort, type: named } : named;
	const after = q.after ? decode(q.after) : null;
	const before = !after && q.before ? decode(q.before) : null;
	const cursor = after || before;
	const backwards = before !== null;
	// read forwards in dir, or backwards from "before" and turn the page round
	const ascending = (dir === 'asc') !== backwards;
	const conds = [...where];
	const args = [...params];
	if (cursor) {
		args.push(cursor.value, cursor.id);
		conds.push(`(${col.sql}, ${spec.id}) ${ascending ? '>' : '<'} ($${args.length - 1}::${col.type}, $${args.length}::bigint)`);
	}
	const order = ascending ? 'ASC' : 'DESC';
	const whereSql = conds.length ? `WHERE ${conds.join(' AND ')}` : '';
	/*
	 * First the page's ids, reading only the columns the order and the
	 * filters need (a view's other columns, such as a key made from the
	 * row's text, are not computed for every row sorted); then its rows.
	 */
	const { rows: page } = await query(req,
		`SELECT ${spec.id} AS id_, (${col.sql})::text AS sort_value_
		   FROM ${spec.from} ${whereSql}
		  ORDER BY ${col.sql} ${order}, ${spec.id} ${order}
		  LIMIT ${PAGE_SIZE + 1}`, args);
	const { rows: full } = page.length ? await query(req,
		`SELECT ${spec.select}, ${spec.id} AS id_ FROM ${spec.from} WHERE ${spec.id} = ANY ($1::bigint[])`,
		[page.map((r) => r.id_)]) : { rows: [] };
	const more = page.length > PAGE_SIZE;
	if (more)
		page.pop();
	// a row gone between the two reads is left out
	const byId = new Map(full.map((r) => [String(r.id_), r]));
	const rows = page.filter((r) => byId.has(String(r.id_)))
		.map((r) => ({ ...byId.get(String(r.id_)), sort_value_: r.sort_value_ }));
	if (backwards)
		rows.reverse();
	const first = rows[0];
	const last = rows[rows.length - 1];
	const { link, sortLink, ariaSort } = ordering(q, sort, dir, ['after', 'before']);
	const hasNext = backwards ? cursor !== null : more;
	const hasPrev = backwards ? more : cursor !== null;
	return {
		rows,
		sort,
		dir,
		next: hasNext && last ? link({ after: encode(last.sort_value_, last.id_) }) : null,
		prev: hasPrev && first ? link({ before: encode(first.sort_value_, first.id_) }) : null,
		first: cursor ? link({}) : null,
		sortLink,
		ariaSort,
		// a first page that is not full is the whole list
		total: !cursor && !more ? { n: rows.length, exact: true } : await total(req, spec.from, where, params),
	};
}

/*
 * The links of a list in its order: link(extra) keeps the request's
 * filters and the order (not the keys in "position", which place a page,
 * nor a notice);
 * sortLink(name) sorts by a column, the other way when it is the sort
 * already; ariaSort(name) says how a column sorts the list, if it does.
 */
function ordering(q, sort, dir, position) {
	const link = (extra) => {
		const p = new URLSearchParams();
		for (const [k, v] of Object.entries(q))
			if (![...position, 'sort', 'dir', 'notice'].includes(k) && typeof v === 'string' && v !== '')
				p.set(k, v);
		p.set('sort', sort);
		p.set('dir', dir);
		for (const [k, v] of Object.entries(extra))
			p.set(k, v);
		return `?${p}`;
	};
	const sortLink = (name) => {
		const p = new URLSearchParams(link({}).slice(1));
		p.set('sort', name);
		p.set('dir', name === sort && dir === 'asc' ? 'desc' : 'asc');
		return `?${p}`;
	};
	const ariaSort = (name) => (name === sort ? (dir === 'asc' ? 'ascending' : 'descending') : null);
	return { link, sortLink, ariaSort };
}

/* How many rows the filters give: exact up to EXACT_UP_TO, else an estimate. */
async function total(req, from, where, params) {
	const whereSql = where.length ? `WHERE ${where.join(' AND ')}` : '';
	const { rows: [counted] } = await query(req,
		`SELECT count(*)::int AS n FROM (SELECT 1 FROM ${from} ${whereSql} LIMIT ${EXACT_UP_TO + 1}) s`, params);
	if (counted.n <= EXACT_UP_TO)
		return { n: counted.n, exact: true };
	const { rows: [plan] } = await query(req, `EXPLAIN (FORMAT JSON) SELECT 1 FROM ${from} ${whereSql}`, params);
	const estimate = plan['QUERY PLAN'][0].Plan['Plan Rows'];
	return { n: Math.max(estimate, EXACT_UP_TO + 1), exact: false };
}

/*
 * Filters as SQL conditions with their parameters: add(cond, ...values)
 * takes a condition whose $1, $2 ... are its own values.
 */
export function conditions() {
	const where = [];
	const params = [];
	return {
		where,
		params,
		add(cond, ...values) {
			const base = params.length;
			params.push(...values);
			where.push(cond.replace(/\$(\d)/g, (_, n) => `$${base + Number(n)}`));
		},
	};
}

/* A day as the filters take it (YYYY-MM-DD), or ''. */
export function day(v) {
	const m = typeof v === 'string' ? /^(\d{4})-(\d{2})-(\d{2})$/.exec(v) : null;
	if (!m)
		return '';
	// a day of the calendar: 2020-02-30 and 2020-13-45 are none
	const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
	return d.getUTCFullYear() === Number(m[1]) && d.getUTCMonth() === Number(m[2]) - 1 &&
		d.getUTCDate() === Number(m[3]) ? v : '';
}

/*
 * Add the condition that a jsonb key column matches what a person typed:
 * a key as JSON (contained in the key), or a value of any of its columns.
 * With "values", a text[] column of the key's values as procflow stores
 * them (instances.key_values, which has an index), a value is looked up
 * there, as its text.
 */
export function addKeyMatch(conds, column, text, values = null) {
	let asJson = null;
	try {
		asJson = JSON.parse(text);
	} catch {
		asJson = null;
	}
	if (asJson !== null && typeof asJson === 'object')
		conds.add(`${column} @> $1::jsonb`, JSON.stringify(asJson));
	else if (values)
		conds.add(`${values} @> ARRAY[$1::text]`, text);
	else {
		// the value as text, and as a number where it reads as one
		const n = Number(text);
		const vars = { s: text, n: text.trim() !== '' && Number.isFinite(n) ? n : text };
		conds.add(`jsonb_path_exists(${column}, '$.* ? (@ == $s || @ == $n)', $1::jsonb)`, JSON.stringify(vars));
	}
}

/*
 * One page of a short list (processes, statistics), by its offset, with
 * the exact total: spec { from, select, columns (names it may be sorted
 * by, each a column of "from"), sort, dir, tie (columns that make the
 * order total) }.
 */
export async function offsetPage(req, spec, where, params, size = 100) {
	const q = req.query;
	const sort = spec.columns.includes(q.sort) ? q.sort : spec.sort;
	const dir = q.dir === 'asc' || q.dir === 'desc' ? q.dir : spec.dir;
	const offset = Math.max(0, Number.parseInt(q.offset, 10) || 0);
	const order = dir === 'asc' ? 'ASC' : 'DESC';
	const { rows } = await query(req,
		`SELECT ${spec.select}, count(*) OVER () AS total_
		   FROM ${spec.from} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
		  ORDER BY ${sort} ${order} NULLS LAST, ${spec.tie.map((c) => `${c} ${order}`).join(', ')}
		  LIMIT ${size} OFFSET ${offset}`, params);
	const n = rows.length ? Number(rows[0].total_) : 0;
	const { link, sortLink, ariaSort } = ordering(q, sort, dir, ['offset']);
	return {
		rows,
		sort,
		dir,
		total: { n, exact: true },
		first: null,
		prev: offset > 0 ? link({ offset: String(Math.max(0, offset - size)) }) : null,
		next: offset + rows.length < n ? link({ offset: String(offset + size) }) : null,
		sortLink,
		ariaSort,
	};
}
