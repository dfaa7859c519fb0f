// What every route of procflow's page does with a request: run SQL as its
// login (again once when the connection was lost, or as a process's owner),
// tell PostgreSQL's errors from the server's, and send the browser back
// only to this site's own paths.
//
// Copyright (c) 2026, procflow developers

// Codes of a connection that went away: the statement is tried again once.
export const CONNECTION_LOST = new Set(['57P01', '57P02', '57P03', '08000', '08003', '08006',
	'ECONNRESET', 'ECONNREFUSED', 'EPIPE']);

/* Is the code of an error a SQLSTATE (not a Node.js code such as ECONNREFUSED)? */
export const isSqlState = (code) => typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code);

/* Did the connection under a statement go away? */
export const connectionLost = (err) =>
	CONNECTION_LOST.has(err.code) || /Connection terminated/.test(err.message);

/* Is a text the id of a row: a positive bigint in its plain decimal form? */
export const isRowId = (text) =>
	typeof text === 'string' && /^[1-9][0-9]{0,18}$/.test(text) && BigInt(text) <= 9223372036854775807n;

/* An error a person sees with an HTTP status of its own. */
export function httpError(status, message, hint) {
	const err = new Error(message);
	err.statusCode = status;
	err.hint = hint;
	return err;
}

/* Run a statement with the request's pool, once more if the connection was lost. */
export async function query(req, sql, params = []) {
	try {
		return await req.pool.query(sql, params);
	} catch (err) {
		if (!connectionLost(err))
			throw err;
		await new Promise((resolve) => setTimeout(resolve, 200));
		return req.pool.query(sql, params);
	}
}

/*
 * Run work(client) in a transaction as the role that owns a process
 * (SET LOCAL ROLE): procflow's functions take a process's name, and
 * resolve it among the current role's processes first.
 */
export async function asOwner(req, owner, work) {
	const client = await req.pool.connect();
	try {
		await client.query('BEGIN');
		await client.query("SELECT pg_catalog.set_config('role', $1, true)", [owner]);
		const result = await work(client);
		await client.query('COMMIT');
		return result;
	} catch (err) {
		await client.query('ROLLBACK').catch(() => {});
		throw err;
	} finally {
		client.release();
	}
}

/*
 * A path of this site, or null: a browser reads "//host", "/\\host" and
 * control characters as another site's address.  The path is checked
 * again once its dot segments are resolved ("/.//host" is "//host").
 */
const LOCAL_PATH = /^\/(?![\/\\])[^\\\s\x00-\x1f]*$/;

export function ownPath(to) {
	if (typeof to !== 'string' || !LOCAL_PATH.test(to))
		return null;
	const parsed = new URL(to, 'http://self.invalid');
	const path = parsed.pathname + parsed.search;
	return parsed.origin === 'http://self.invalid' && LOCAL_PATH.test(path) ? path : null;
}

/* Where a form sends the browser back to: a path of this site only. */
export function back(req, fallback) {
	return ownPath(req.body && req.body.back) || fallback;
}

/* The page an error page links back to: the referring page of this site. */
export function referrer(req) {
	try {
		const from = new URL(req.headers.referer);
		return from.host === req.headers.host ? ownPath(from.pathname + from.search) : null;
	} catch {
		return null;
	}
}
