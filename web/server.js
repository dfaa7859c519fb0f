// procflow's back-office and taskbox page.
//
// A client of procflow's SQL interface only: every page reads procflow's
// views and every button calls one of its functions, as the person who
// logged in.  HTTP basic authentication is checked by PostgreSQL itself:
// each login gets its own connection pool, opened with the login's name and
// password, so roles, row-level security and procflow's ownership rules
// apply unchanged.  The taskbox follows LISTEN procflow_task through
// server-sent events, so it updates without polling.
//
// Copyright (c) 2026, procflow developers

import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import crypto from 'node:crypto';
import fs from 'node:fs';

import Fastify from 'fastify';
import basicAuth from '@fastify/basic-auth';
import formbody from '@fastify/formbody';
import view from '@fastify/view';
import { Eta } from 'eta';
import pg from 'pg';
import { Worker } from 'node:worker_threads';

const here = path.dirname(fileURLToPath(import.meta.url));

// SQLSTATEs of a connection that went away: the statement is tried again once.
const CONNECTION_LOST = new Set(['57P01', '57P02', '57P03', '08000', '08003', '08006',
	'ECONNRESET', 'ECONNREFUSED', 'EPIPE']);

// Columns the processes grid may be sorted by.
const GRID_SORTS = ['name', 'label', 'related_entity', 'execution_order', 'enabled',
	'created_at', 'kind', 'version', 'owner_name'];

/* The settings: flags first, then the usual PG* environment variables. */
export function settings(argv = process.argv.slice(2), env = process.env) {
	const { values } = parseArgs({
		args: argv,
		options: {
			host: { type: 'string', default: env.PROCFLOW_WEB_HOST || '127.0.0.1' },
			port: { type: 'string', default: env.PROCFLOW_WEB_PORT || '8080' },
			database: { type: 'string', default: env.PGDATABASE },
			'pg-host': { type: 'string', default: env.PGHOST },
			'pg-port': { type: 'string', default: env.PGPORT },
		},
	});
	return {
		host: values.host,
		port: Number(values.port),
		pg: {
			database: values.database,
			host: values['pg-host'],
			port: values['pg-port'] ? Number(values['pg-port']) : undefined,
		},
	};
}

/* Is the code of an error a SQLSTATE (not a Node.js code such as ECONNREFUSED)? */
const isSqlState = (code) => typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code);

/* An error a person sees with an HTTP status of its own. */
function httpError(status, message, hint) {
	const err = new Error(message);
	err.statusCode = status;
	err.hint = hint;
	return err;
}

// How often PostgreSQL checks a login's name and password again: a changed
// password, NOLOGIN, VALID UNTIL or a dropped role takes effect within it.
const RECHECK_MS = 1000;
// Failed log-ins allowed per name and address, and per address, in a window.
const FAILURES_PER_NAME = 5;
const FAILURES_PER_ADDRESS = 20;
const FAILURE_WINDOW_MS = 60000;

/*
 * A pool per login, opened with the login's own name and password, and the
 * log-in attempts that failed.  PostgreSQL checks the name and password
 * when the pool opens and again at most RECHECK_MS later on use, so that
 * what PostgreSQL would refuse now is refused; a pool whose check fails,
 * and the user's pools of another password, are dropped.
 */
class Logins {
	constructor(pgSettings) {
		this.pgSettings = pgSettings;
		this.pools = new Map();
		this.failures = new Map();
	}

	key(user, password) {
		return crypto.createHash('sha256').update(`${user}\0${password}`).digest('hex');
	}

	// Throttled: too many failures for this name from this address, or from it.
	throttled(user, address) {
		const now = Date.now();
		for (const [k, f] of this.failures)
			if (now - f.first > FAILURE_WINDOW_MS)
				this.failures.delete(k);
		const byName = this.failures.get(`${user}\0${address}`);
		const byAddress = this.failures.get(`\0${address}`);
		if ((byName && byName.count >= FAILURES_PER_NAME) ||
			(byAddress && byAddress.count >= FAILURES_PER_ADDRESS))
			return Math.ceil((FAILURE_WINDOW_MS - (now - (byName || byAddress).first)) / 1000);
		return 0;
	}

	failed(user, address) {
		for (const k of [`${user}\0${address}`, `\0${address}`]) {
			const f = this.failures.get(k) || { count: 0, first: Date.now() };
			f.count++;
			this.failures.set(k, f);
		}
	}

	async drop(key) {
		const pool = this.pools.get(key);
		this.pools.delete(key);
		if (pool)
			await pool.end().catch(() => {});
	}

	// Does PostgreSQL accept the name and password now?  Throws when it cannot say.
	async check(user, password) {
		const client = new pg.Client({ ...this.pgSettings, user, password,
			application_name: 'procflow web' });
		try {
			await client.connect();
			return true;
		} catch (err) {
			if (err.code === '28P01' || err.code === '28000')
				return false;
			throw httpError(503, 'The database cannot be reached.',
				`Try again in a moment (${err.code || err.message}).`);
		} finally {
			await client.end().catch(() => {});
		}
	}

	// The login's pool once PostgreSQL accepted the name and password, else null.
	async open(user, password, address) {
		const wait = this.throttled(user, address);
		if (wait)
			throw httpError(429, 'Too many failed log-ins.', `Try again in ${wait} s.`);
		const key = this.key(user, password);
		let pool = this.pools.get(key);
		if (pool && Date.now() - pool.checkedAt < RECHECK_MS)
			return pool;
		if (!(await this.check(user, password))) {
			await this.drop(key);
			this.failed(user, address);
			return null;
		}
		this.failures.delete(`${user}\0${address}`);
		if (pool) {
			pool.checkedAt = Date.now();
			return pool;
		}
		// the user's pools of another password are no longer good
		for (const [k, other] of this.pools)
			if (other.user === user)
				await this.drop(k);
		pool = new pg.Pool({ ...this.pgSettings, user, password, max: 4,
			application_name: 'procflow web' });
		pool.on('error', () => {});	// a dropped idle connection: the next query reconnects
		pool.user = user;
		pool.checkedAt = Date.now();
		this.pools.set(key, pool);
		return pool;
	}

	async close() {
		await Promise.all([...this.pools.values()].map((p) => p.end().catch(() => {})));
	}
}

/* Run a statement with the request's pool, once more if the connection was lost. */
async function query(req, sql, params = []) {
	try {
		return await req.pool.query(sql, params);
	} catch (err) {
		if (!CONNECTION_LOST.has(err.code) && !/Connection terminated/.test(err.message))
			throw err;
		await new Promise((resolve) => setTimeout(resolve, 200));
		return req.pool.query(sql, params);
	}
}

// The largest picture drawn (DOT text), and the longest a drawing may take.
const PICTURE_MAX_BYTES = 200000;
const PICTURE_MAX_MS = 5000;

/*
 * Flow pictures, drawn one after another in a worker thread
 * (picture_worker.js) with a size and a time limit: a picture too big or too
 * slow to draw is described instead, and the thread that took too long is
 * ended and replaced.  The server's own thread never draws.
 */
class Pictures {
	constructor() {
		this.next = 1;
		this.waiting = new Map();
		this.queue = Promise.resolve();
		this.start();
	}

	start() {
		this.worker = new Worker(path.join(here, 'picture_worker.js'));
		this.worker.unref();
		this.worker.on('message', ({ id, svg, error }) => {
			const done = this.waiting.get(id);
			if (done)
				done(svg ? { svg } : { error });
		});
		this.worker.on('error', () => this.restart());
	}

	restart() {
		for (const done of this.waiting.values())
			done({ error: 'the drawing failed' });
		this.worker.terminate().catch(() => {});
		this.start();
	}

	// The picture as HTML: the SVG, or a sentence saying why there is none.
	draw(dot) {
		const missing = (why) => `<p class="muted" id="picture-missing">${why}</p>`;
		if (dot.length > PICTURE_MAX_BYTES)
			return Promise.resolve(missing(`This flow is too large to draw here (${dot.length} bytes of Graphviz; ` +
				`the page draws up to ${PICTURE_MAX_BYTES}). procflow.flow_graph() gives it for dot.`));
		const drawing = this.queue.then(() => new Promise((resolve) => {
			const id = this.next++;
			const timer = setTimeout(() => {
				this.waiting.delete(id);
				resolve(missing(`Drawing this flow took longer than ${PICTURE_MAX_MS / 1000} s; ` +
					'procflow.flow_graph() gives it for dot.'));
				this.restart();
			}, PICTURE_MAX_MS);
			this.waiting.set(id, (result) => {
				clearTimeout(timer);
				this.waiting.delete(id);
				resolve(result.svg || missing('The picture could not be drawn.'));
			});
			this.worker.postMessage({ id, dot });
		}));
		this.queue = drawing.catch(() => {});
		return drawing;
	}

	close() {
		return this.worker.terminate();
	}
}

/*
 * A path of this site, or null: a browser reads "//host", "/\\host" and
 * control characters as another site's address.
 */
function ownPath(to) {
	if (typeof to !== 'string' || !/^\/(?![\/\\])[^\\\s\x00-\x1f]*$/.test(to))
		return null;
	const parsed = new URL(to, 'http://self.invalid');
	return parsed.origin === 'http://self.invalid' ? parsed.pathname + parsed.search : null;
}

/*
 * Run work(client) in a transaction as the role that owns a process
 * (SET LOCAL ROLE): procflow's functions take a process's name, and
 * resolve it among the current role's processes first.
 */
async function asOwner(req, owner, work) {
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

/* Where a form sends the browser back to: a path of this site only. */
function back(req, fallback) {
	return ownPath(req.body && req.body.back) || fallback;
}

/* The page an error page links back to: the referring page of this site. */
function referrer(req) {
	try {
		const from = new URL(req.headers.referer);
		return from.host === req.headers.host ? ownPath(from.pathname + from.search) : null;
	} catch {
		return null;
	}
}

// What a browser may do with the pages: scripts of this site only (none
// inline), no framing; pages with data are not stored.
const SECURITY_HEADERS = {
	'Content-Security-Policy': "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
		"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
	'X-Frame-Options': 'DENY',
	'X-Content-Type-Options': 'nosniff',
	'Referrer-Policy': 'same-origin',
	'Cache-Control': 'no-store',
};

// The page's own scripts, served from web/static.
const STATIC = new Map(['page.js', 'taskbox.js'].map((name) =>
	[name, fs.readFileSync(path.join(here, 'static', name), 'utf8')]));

export async function build(options) {
	const app = Fastify({ logger: false });
	const logins = new Logins(options.pg);
	const pictures = new Pictures();
	const eta = new Eta({ views: path.join(here, 'views'), cache: true });

	app.register(formbody);
	app.register(view, { engine: { eta }, templates: path.join(here, 'views') });
	await app.register(basicAuth, {
		authenticate: { realm: 'procflow' },
		validate: async (user, password, req) => {
			const pool = await logins.open(user, password, req.ip);
			if (!pool)
				throw new Error('PostgreSQL refused this name and password.');
			req.pool = pool;
			req.login = user;
		},
	});
	app.addHook('onRequest', async (req, reply) => {
		for (const [name, value] of Object.entries(SECURITY_HEADERS))
			reply.header(name, value);
	});
	app.addHook('onRequest', app.basicAuth);
	// A form may only be posted from this site's own pages: a browser sends
	// another site's page's posts with the credentials it keeps for this one.
	app.addHook('preHandler', async (req, reply) => {
		if (req.method !== 'POST')
			return;
		const from = req.headers.origin || req.headers.referer;
		let host = null;
		try {
			host = from ? new URL(from).host : null;
		} catch {
			host = null;
		}
		if (host !== req.headers.host)
			reply.code(403).send('This form was posted from another site, or from no page at all.');
	});
	app.addHook('onClose', async () => {
		await logins.close();
		await pictures.close();
	});

	// Every error a person sees: PostgreSQL's message, detail and hint.
	app.setErrorHandler(async (err, req, reply) => {
		if (err.statusCode === 401) {
			reply.code(401).header('WWW-Authenticate', 'Basic realm="procflow"');
			return reply.view('error.eta', { title: 'Log in', login: null,
				error: { message: err.message, detail: null, hint: 'Log in with your PostgreSQL role and password.' } });
		}
		if (err.statusCode === 429 || err.statusCode === 503) {
			reply.code(err.statusCode);
			if (err.statusCode === 429)
				reply.header('Retry-After', String(FAILURE_WINDOW_MS / 1000));
			return reply.view('error.eta', { title: err.statusCode === 429 ? 'Log in later' : 'Database unavailable',
				login: null, error: { message: err.message, detail: null, hint: err.hint || null } });
		}
		if (!isSqlState(err.code) && (CONNECTION_LOST.has(err.code) || /Connection terminated/.test(err.message))) {
			reply.code(503);
			return reply.view('error.eta', { title: 'Database unavailable', login: req.login || null,
				error: { message: 'The database cannot be reached.', detail: null, hint: 'Try again in a moment.' } });
		}
		const status = err.code === '42501' ? 403 : isSqlState(err.code) ? 400 : 500;
		reply.code(status);
		return reply.view('error.eta', { title: 'Refused', login: req.login || null, back: referrer(req),
			error: { message: err.message, detail: err.detail || null, hint: err.hint || null,
				code: isSqlState(err.code) ? err.code : null } });
	});

	// A time as the pages show it: UTC, to the minute (or the second).
	const when = (d, seconds) =>
		d ? d.toISOString().slice(0, seconds ? 19 : 16).replace('T', ' ') : '';
	const render = (reply, template, req, data) =>
		reply.view(template, { login: req.login, when, ...data });

	app.get('/', async (req, reply) => reply.redirect('/processes'));
	app.get('/static/:name', async (req, reply) => {
		const text = STATIC.get(req.params.name);
		if (text === undefined)
			return reply.code(404).send('No such file.');
		return reply.type('text/javascript; charset=utf-8').header('Cache-Control', 'no-cache').send(text);
	});

	// The grid of processes, as Oro's System > Processes, plus kind and version.
	app.get('/processes', async (req, reply) => {
		const sort = GRID_SORTS.includes(req.query.sort) ? req.query.sort : 'execution_order';
		const filter = typeof req.query.q === 'string' ? req.query.q : '';
		const { rows } = await query(req,
			`SELECT name, label, related_entity::text AS related_entity, execution_order, enabled,
			        created_at, kind, version, owner_name
			   FROM procflow.processes
			  WHERE $1 = '' OR name ILIKE '%' || $1 || '%' OR label ILIKE '%' || $1 || '%'
			  ORDER BY ${sort}, name`, [filter]);
		return render(reply, 'processes.eta', req, { title: 'Processes', rows, sort, filter });
	});

	// A process is named by its owner and its name: names are per owner.
	app.post('/processes/:owner/:name/:action(^enable|disable$)', async (req, reply) => {
		const fn = req.params.action === 'enable' ? 'enable_process' : 'disable_process';
		await asOwner(req, req.params.owner, (client) =>
			client.query(`SELECT procflow.${fn}($1)`, [req.params.name]));
		return reply.redirect(back(req, '/processes'), 303);
	});

	// A process by name alone (an older link): its page, when one owner's.
	app.get('/processes/:name', async (req, reply) => {
		const { rows } = await query(req,
			'SELECT owner_name FROM procflow.processes WHERE name = $1 ORDER BY owner_name', [req.params.name]);
		if (rows.length === 1)
			return reply.redirect(`/processes/${encodeURIComponent(rows[0].owner_name)}/${encodeURIComponent(req.params.name)}`);
		return reply.redirect(`/processes?q=${encodeURIComponent(req.params.name)}`);
	});

	// A process: its settings, triggers, and for a flow its picture and versions.
	app.get('/processes/:owner/:name', async (req, reply) => {
		const { owner, name } = req.params;
		const { rows: [process] } = await query(req,
			`SELECT name, label, related_entity::text AS related_entity, execution_order, enabled,
			        created_at, updated_at, kind, version, action, condition, max_attempts,
			        timeout::text AS timeout, owner_name
			   FROM procflow.processes WHERE name = $1 AND owner_name = $2`, [name, owner]);
		if (!process)
			return reply.code(404).view('error.eta', { title: 'Not found', login: req.login,
				error: { message: `process "${name}" of "${owner}" does not exist`, detail: null, hint: null } });
		const { rows: triggers } = await query(req,
			`SELECT id, event, fields, queued, delay::text AS delay, priority, cron, next_run_at
			   FROM procflow.process_triggers WHERE process = $1 AND owner = $2 ORDER BY id`, [name, owner]);
		let picture = null;
		let versions = [];
		if (process.kind === 'flow') {
			const { rows: [g] } = await asOwner(req, owner, (client) =>
				client.query('SELECT procflow.flow_graph($1) AS dot', [name]));
			picture = await pictures.draw(g.dot);
			({ rows: versions } = await query(req,
				`SELECT version, current, created_at FROM procflow.flow_versions
				  WHERE flow = $1 AND owner = $2 ORDER BY version DESC`, [name, owner]));
		}
		return render(reply, 'process.eta', req, { title: name, process, triggers, picture, versions });
	});

	app.get('/instances', async (req, reply) => {
		const flow = typeof req.query.flow === 'string' ? req.query.flow : '';
		const status = typeof req.query.status === 'string' ? req.query.status : '';
		const { rows } = await query(req,
			`SELECT id, flow, version, key::text AS key, status, started_at, finished_at
			   FROM procflow.instances
			  WHERE ($1 = '' OR flow = $1) AND ($2 = '' OR status = $2)
			  ORDER BY id DESC LIMIT 200`, [flow, status]);
		const { rows: flows } = await query(req,
			`SELECT name FROM procflow.processes WHERE kind = 'flow' ORDER BY name`);
		return render(reply, 'instances.eta', req, { title: 'Instances', rows, flows, flow, status });
	});

	// An instance: its picture with where it went and where it is, activities, vars.
	app.get('/instances/:id(^\\d+$)', async (req, reply) => {
		const id = req.params.id;
		const { rows: [instance] } = await query(req,
			`SELECT id, flow, version, key::text AS key, status, vars, parent, started_at,
			        updated_at, finished_at, owner
			   FROM procflow.instances WHERE id = $1`, [id]);
		if (!instance)
			return reply.code(404).view('error.eta', { title: 'Not found', login: req.login,
				error: { message: `instance ${id} does not exist`, detail: null, hint: null } });
		const { rows: [g] } = await asOwner(req, instance.owner, (client) =>
			client.query('SELECT procflow.flow_graph($1, instance => $2) AS dot', [instance.flow, id]));
		// a task may be skipped only when its activity allows it
		const { rows: activities } = await query(req,
			`SELECT a.id, a.name, a.kind, a.status, a.outcome, a.assignee, a."group", a.due_at,
			        a.error, a.attempts,
			        a.kind <> 'human'
			        OR coalesce((v.definition->'activities'->a.name->>'allow_skip')::boolean, false)
			          AS skippable
			   FROM procflow.activities a
			   JOIN procflow.instances i ON i.id = a.instance
			   JOIN procflow.flow_versions v ON v.flow = i.flow AND v.owner = i.owner
			                                AND v.version = i.version
			  WHERE a.instance = $1 ORDER BY a.id`, [id]);
		return render(reply, 'instance.eta', req, { title: `Instance ${id}`, instance,
			picture: await pictures.draw(g.dot), activities });
	});

	app.post('/instances/:id(^\\d+$)/:action(^suspend|resume|terminate$)', async (req, reply) => {
		await query(req, `SELECT procflow.${req.params.action}($1)`, [req.params.id]);
		return reply.redirect(back(req, `/instances/${req.params.id}`), 303);
	});

	app.post('/activities/:id(^\\d+$)/:action(^retry|skip$)', async (req, reply) => {
		const fn = req.params.action === 'retry' ? 'retry_activity' : 'skip_activity';
		await query(req, `SELECT procflow.${fn}($1)`, [req.params.id]);
		return reply.redirect(back(req, '/instances'), 303);
	});

	// Jobs: pending and retrying ones, and those that failed.
	app.get('/jobs', async (req, reply) => {
		const { rows: pending } = await query(req,
			`SELECT id, process, event, key::text AS key, run_at, attempts, state, last_error
			   FROM procflow.jobs ORDER BY run_at, id LIMIT 200`);
		const { rows: failed } = await query(req,
			`SELECT id, process, event, key::text AS key, attempts, finished_at, error, error_code
			   FROM procflow.job_history WHERE status = 'failed'
			  ORDER BY finished_at DESC LIMIT 200`);
		return render(reply, 'jobs.eta', req, { title: 'Jobs', pending, failed });
	});

	app.post('/jobs/:id(^\\d+$)/:action(^retry|cancel$)', async (req, reply) => {
		const fn = req.params.action === 'retry' ? 'retry_job' : 'cancel_job';
		await query(req, `SELECT procflow.${fn}($1)`, [req.params.id]);
		return reply.redirect(back(req, '/jobs'), 303);
	});

	app.get('/stats', async (req, reply) => {
		const { rows } = await query(req,
			`SELECT process, kind, period, runs, failures, mean_ms, p95_ms, mean_lag_ms, p95_lag_ms
			   FROM procflow.process_stats ORDER BY process, period DESC`);
		return render(reply, 'stats.eta', req, { title: 'Statistics', rows });
	});

	// The taskbox: the login's tasks, its groups being the roles it is a member of.
	const taskbox = async (req) => {
		const { rows } = await query(req,
			`WITH g AS (SELECT coalesce(array_agg(rolname::text), '{}') AS groups
			              FROM pg_roles
			             WHERE rolname <> current_user
			               AND pg_has_role(current_user, oid, 'MEMBER'))
			 SELECT t.activity, t.instance, t.flow, t.name, t.status, t.assignee, t."group",
			        t.instructions, t.due_at, t.due_at < now() AS overdue, t.key::text AS key,
			        (SELECT coalesce(array_agg(o ORDER BY o), '{}')
			           FROM procflow.flow_versions v
			           JOIN procflow.instances i ON i.id = t.instance AND v.version = i.version,
			                jsonb_object_keys(CASE jsonb_typeof(v.definition->'activities'->t.name->'next')
			                                  WHEN 'object' THEN v.definition->'activities'->t.name->'next'
			                                  ELSE '{}' END) o
			          WHERE v.flow = t.flow AND v.owner = i.owner AND o NOT IN ('timeout', 'skipped')) AS outcomes,
			        (SELECT coalesce((v.definition->'activities'->t.name->>'allow_skip')::boolean, false)
			           FROM procflow.flow_versions v
			           JOIN procflow.instances i ON i.id = t.instance AND v.version = i.version
			          WHERE v.flow = t.flow AND v.owner = i.owner) AS allow_skip
			   FROM g, procflow.taskbox(current_user, g.groups) t`);
		return rows;
	};

	app.get('/taskbox', async (req, reply) => {
		const tasks = await taskbox(req);
		if (req.query.part === 'tasks')
			return render(reply, 'tasks.eta', req, { tasks });
		return render(reply, 'taskbox.eta', req, { title: 'Taskbox', tasks });
	});

	app.post('/tasks/:id(^\\d+$)/:action(^claim|release|complete|skip$)', async (req, reply) => {
		const id = req.params.id;
		switch (req.params.action) {
			case 'claim':
				await query(req, 'SELECT procflow.claim_task($1)', [id]);
				break;
			case 'release':
				await query(req, 'SELECT procflow.release_task($1)', [id]);
				break;
			case 'skip':
				await query(req, 'SELECT procflow.skip_activity($1)', [id]);
				break;
			default:
				await query(req, 'SELECT procflow.complete_task($1, $2)',
					[id, req.body && req.body.outcome ? req.body.outcome : null]);
		}
		return reply.redirect(back(req, '/taskbox'), 303);
	});

	// Server-sent events: one per procflow_task notification, from a
	// connection of the login's own that LISTENs.  Anyone may NOTIFY on the
	// channel, so a payload goes on only when it is a task id that the login
	// may see now (procflow.tasks, procflow.activities) or was shown before
	// (a task it saw that someone else closed or claimed).  A listening
	// connection that dies ends the stream; the browser's EventSource opens
	// it again, and the page says whether it is live.
	const TASK_ID = /^[1-9][0-9]{0,18}$/;
	app.get('/events', async (req, reply) => {
		let closed = false;
		let client = null;
		let keepalive = null;
		const shown = new Set();
		const finish = (err) => {
			if (closed)
				return;
			closed = true;
			clearInterval(keepalive);
			if (client) {
				client.removeAllListeners('notification');
				if (err)
					client.release(err);
				else
					client.query('UNLISTEN procflow_task').then(() => client.release(),
						(e) => client.release(e));
			}
			reply.raw.end();
		};
		const visible = async (id) => {
			if (shown.has(id))
				return true;
			const { rows } = await query(req,
				`SELECT EXISTS (SELECT 1 FROM procflow.tasks WHERE activity = $1)
				     OR EXISTS (SELECT 1 FROM procflow.activities WHERE id = $1) AS seen`, [id]);
			return rows[0].seen;
		};
		const onNotify = async (msg) => {
			if (closed || !TASK_ID.test(msg.payload))
				return;
			try {
				if (!(await visible(msg.payload)) || closed)
					return;
				shown.add(msg.payload);
				reply.raw.write(`event: task\ndata: ${msg.payload}\n\n`);
			} catch {
				finish();
			}
		};
		// the stream is this handler's: once it ends, the browser opens it again
		reply.hijack();
		reply.raw.writeHead(200, {
			'Content-Type': 'text/event-stream',
			'Cache-Control': 'no-store',
			Connection: 'keep-alive',
		});
		reply.raw.write('retry: 2000\n\n');
		req.raw.on('close', () => finish());
		try {
			client = await req.pool.connect();
		} catch {
			finish();
			return;
		}
		if (closed) {
			client.release();
			client = null;
			return;
		}
		client.on('error', (err) => finish(err));
		client.on('notification', onNotify);
		try {
			await client.query('LISTEN procflow_task');
			const { rows } = await client.query(
				`SELECT activity::text FROM procflow.taskbox(current_user,
				   ARRAY(SELECT rolname::text FROM pg_roles WHERE pg_has_role(current_user, oid, 'MEMBER')))`);
			for (const row of rows)
				shown.add(row.activity);
		} catch (err) {
			finish(err);
			return;
		}
		if (closed)
			return;
		reply.raw.write(': listening\n\n');
		keepalive = setInterval(() => reply.raw.write(': keepalive\n\n'), 25000);
	});

	return app;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
	const options = settings();
	const app = await build(options);
	await app.listen({ host: options.host, port: options.port });
	console.log(`procflow web on http://${options.host}:${options.port}/`);
	const stop = async () => {
		await app.close();
		process.exit(0);
	};
	process.on('SIGINT', stop);
	process.on('SIGTERM', stop);
}
