// procflow's back-office and taskbox page.
//
// A client of procflow's SQL interface only: every page reads procflow's
// views and every button calls one of its functions, as the person who
// logged in.  HTTP basic authentication is checked by PostgreSQL itself:
// each login gets its own connection pool, opened with the login's name and
// password (lib/logins.js), so roles, row-level security and procflow's
// ownership rules apply unchanged.  This file sets up the server: the
// headers every page gets, the log-in, the refusal of forms posted from
// elsewhere, the error pages, and the routes (routes/*.js), each a plugin
// whose routes declare the shape of what they take (lib/schemas.js).
//
// Copyright (c) 2026, procflow developers

import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';

import Fastify from 'fastify';
import basicAuth from '@fastify/basic-auth';
import formbody from '@fastify/formbody';
import view from '@fastify/view';
import { Eta } from 'eta';

import { Logins, FAILURE_WINDOW_MS } from './lib/logins.js';
import { Pictures } from './lib/pictures.js';
import { TaskStream } from './lib/task_stream.js';
import { readLinks } from './lib/task_links.js';
import { inputValue } from './lib/task_forms.js';
import { query, isSqlState, connectionLost, referrer } from './lib/requests.js';
import processRoutes from './routes/processes.js';
import instanceRoutes from './routes/instances.js';
import jobRoutes from './routes/jobs.js';
import incidentRoutes from './routes/incidents.js';
import statsRoutes from './routes/stats.js';
import taskRoutes from './routes/tasks.js';
import metricsRoutes from './routes/metrics.js';

const here = path.dirname(fileURLToPath(import.meta.url));

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
			links: { type: 'string', default: env.PROCFLOW_WEB_LINKS_FILE },
			'allowed-hosts': { type: 'string', default: env.PROCFLOW_WEB_HOSTS },
		},
	});
	return {
		host: values.host,
		port: Number(values.port),
		allowedHosts: allowedHosts(values['allowed-hosts'], values.host, Number(values.port)),
		pg: {
			database: values.database,
			host: values['pg-host'],
			port: values['pg-port'] ? Number(values['pg-port']) : undefined,
		},
		links: readLinks(values.links, env.PROCFLOW_WEB_LINKS),
	};
}

/*
 * The names the page answers to, as a browser sends them in Host: those
 * given (comma-separated, each "name:port" or a name for any port), or the
 * address it listens on (and "localhost" for a loopback one) with its
 * port.  A page that answers to any name could be reached from a hostile
 * site through a name of its own that resolves to this machine (DNS
 * rebinding).  null: any name (listening on every address, none given).
 */
export function allowedHosts(given, host, port) {
	if (given)
		return given.split(',').map((h) => h.trim().toLowerCase()).filter(Boolean);
	if (host === '0.0.0.0' || host === '::')
		return null;
	const names = [`${host}:${port}`];
	if (host === '127.0.0.1' || host === '::1' || host === 'localhost')
		names.push(`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`);
	return [...new Set(names)];
}

/* Does a Host header name one of the allowed names (a bare name allows any port)? */
function hostAllowed(allowed, header) {
	if (allowed === null)
		return true;
	const h = String(header || '').toLowerCase();
	const name = h.replace(/:\d+$/, '');
	return allowed.includes(h) || allowed.includes(name);
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

// How long what a login may see of the page (admin or worker) is kept.
const ROLE_CHECK_MS = 1000;

/*
 * Is the login an admin (it sees processes: it owns some, or has a
 * superuser's rights) or a worker, who only works tasks?  The page shows a
 * worker its taskbox alone, not buttons it cannot use.
 */
async function isAdmin(req) {
	const pool = req.pool;
	if (pool.admin !== undefined && Date.now() - pool.adminAt < ROLE_CHECK_MS)
		return pool.admin;
	const { rows: [r] } = await query(req,
		`SELECT EXISTS (SELECT 1 FROM procflow.processes)
		     OR (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) AS admin`);
	pool.admin = r.admin;
	pool.adminAt = Date.now();
	return r.admin;
}

/* A time as the pages show it: UTC in the HTML, the browser's zone once page.js runs. */
function when(d, seconds) {
	if (d === Infinity || d === -Infinity)
		return d > 0 ? 'infinity' : '-infinity';
	if (!(d instanceof Date) || Number.isNaN(d.getTime()))
		return '';
	const iso = d.toISOString();
	return `<time datetime="${iso}"${seconds ? ' data-seconds="1"' : ''}>` +
		`${iso.slice(0, seconds ? 19 : 16).replace('T', ' ')}</time>`;
}

export async function build(options) {
	const app = Fastify({ logger: false });
	const logins = new Logins(options.pg);
	const pictures = new Pictures();
	const stream = new TaskStream(options.pg);
	logins.onDrop = (pool) => stream.dropped(pool);
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
	// built without settings() (by a test, say): any name
	const allowed = options.allowedHosts !== undefined ? options.allowedHosts
		: options.host ? allowedHosts(null, options.host, options.port) : null;
	app.addHook('onRequest', async (req, reply) => {
		for (const [name, value] of Object.entries(SECURITY_HEADERS))
			reply.header(name, value);
		// before the log-in: a name this page does not answer to is refused
		if (!hostAllowed(allowed, req.headers.host))
			return reply.code(421).type('text/plain; charset=utf-8')
				.send('This server does not answer to that name (see --allowed-hosts).');
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
		await stream.closeAll();
		await logins.close();
		await pictures.close();
	});

	// Every error a person sees: PostgreSQL's message, detail and hint.
	app.setErrorHandler(async (err, req, reply) => {
		if (err.statusCode === 401) {
			reply.code(401).header('WWW-Authenticate', 'Basic realm="procflow"');
			return reply.view('error.eta', { title: 'Log in', login: null, admin: false, when,
				error: { message: err.message, detail: null, hint: 'Log in with your PostgreSQL role and password.' } });
		}
		if (err.statusCode === 429 || err.statusCode === 503) {
			reply.code(err.statusCode);
			if (err.statusCode === 429)
				reply.header('Retry-After', String(FAILURE_WINDOW_MS / 1000));
			return reply.view('error.eta', { title: err.statusCode === 429 ? 'Log in later' : 'Database unavailable',
				login: null, admin: false, when, error: { message: err.message, detail: null, hint: err.hint || null } });
		}
		if (!isSqlState(err.code) && connectionLost(err)) {
			reply.code(503);
			return reply.view('error.eta', { title: 'Database unavailable', login: req.login || null, admin: Boolean(req.pool && req.pool.admin), when,
				error: { message: 'The database cannot be reached.', detail: null, hint: 'Try again in a moment.' } });
		}
		const status = err.code === '42501' ? 403 : isSqlState(err.code) ? 400
			: err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
		reply.code(status);
		// a request of a shape the route's schema refuses (lib/schemas.js)
		if (err.validation)
			return reply.view('error.eta', { title: 'Refused', login: req.login || null, admin: Boolean(req.pool && req.pool.admin),
				when, back: referrer(req), error: { message: `This request is not one the page sends: ${err.message}.`,
					detail: null, hint: 'Use the page\'s links and buttons.' } });
		return reply.view('error.eta', { title: 'Refused', login: req.login || null, admin: Boolean(req.pool && req.pool.admin), when,
			back: referrer(req), error: { message: err.message, detail: err.detail || null, hint: err.hint || null,
				code: isSqlState(err.code) ? err.code : null } });
	});

	// An address of no page: the error page, as every other error shows.
	app.setNotFoundHandler(async (req, reply) => {
		reply.code(404);
		return reply.view('error.eta', { title: 'Not found', login: req.login || null,
			admin: Boolean(req.pool && req.pool.admin), when,
			error: { message: 'There is no such page.', detail: null, hint: null } });
	});

	const render = async (reply, template, req, data) =>
		reply.view(template, { login: req.login, admin: await isAdmin(req), when, inputValue, ...data });

	app.get('/', async (req, reply) => reply.redirect((await isAdmin(req)) ? '/processes' : '/taskbox'));
	app.get('/static/:name', async (req, reply) => {
		const text = STATIC.get(req.params.name);
		if (text === undefined)
			return reply.code(404).send('No such file.');
		return reply.type('text/javascript; charset=utf-8').header('Cache-Control', 'no-cache').send(text);
	});

	const shared = { pictures, stream, links: options.links || new Map(), render, isAdmin };
	await app.register(processRoutes, shared);
	await app.register(instanceRoutes, shared);
	await app.register(jobRoutes, shared);
	await app.register(incidentRoutes, shared);
	await app.register(statsRoutes, shared);
	await app.register(taskRoutes, shared);
	await app.register(metricsRoutes, shared);
	return app;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
	let options;
	try {
		options = settings();
	} catch (err) {
		console.error(`procflow web: ${err.message}`);
		process.exit(2);
	}
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
