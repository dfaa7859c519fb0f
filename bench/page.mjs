// The page at scale: how long each of its lists takes to answer with
// SIZE instances (a tenth of them active, each with an open task for one
// group), SIZE rows of job history, a failed activity per thousand
// instances, as an admin and as a worker.  The rows are written straight
// into procflow's tables (as a superuser) rather than run: the lists read
// them as they would read run ones.
//
//   node bench/page.mjs [size]     (PG* environment: a superuser on a
//                                   cluster with procflow installed)
//
// It creates the database page_bench (dropped first), starts the page's
// server in this process, asks each page REPEAT times, and prints the
// median and the slowest time per page, as a Markdown table.
//
// Copyright (c) 2026, procflow developers

import { createRequire } from 'node:module';

import { build } from '../web/server.js';

const require = createRequire(new URL('../web/package.json', import.meta.url));
const pg = require('pg');

const SIZE = Number(process.argv[2] || process.env.PAGE_BENCH_SIZE || 1000000);
const REPEAT = Number(process.env.PAGE_BENCH_REPEAT || 5);
const DB = 'page_bench';

async function setUp() {
	const admin = new pg.Client({ database: 'postgres' });
	await admin.connect();
	// the rows of an earlier run of this size are used again
	if ((await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [DB])).rows.length) {
		const old = new pg.Client({ database: DB });
		await old.connect();
		const { rows } = await old.query(`SELECT obj_description('public.pb_invoice'::regclass) = $1 AS same`,
			[`size ${SIZE}`]).catch(() => ({ rows: [] }));
		await old.end();
		if (rows.length && rows[0].same) {
			await admin.end();
			return 0;
		}
	}
	await admin.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
	await admin.query(`CREATE DATABASE ${DB}`);
	await admin.query(`DO $$ BEGIN
	  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pb_owner') THEN
	    CREATE ROLE pb_owner LOGIN PASSWORD 'owner-pw';
	    CREATE ROLE pb_clerks NOLOGIN;
	    CREATE ROLE pb_clerk LOGIN PASSWORD 'clerk-pw' IN ROLE pb_clerks;
	  END IF; END $$`);
	await admin.end();
	const db = new pg.Client({ database: DB });
	await db.connect();
	const t0 = Date.now();
	await db.query(`
	  CREATE EXTENSION procflow;
	  GRANT CREATE ON SCHEMA public TO pb_owner;
	  SET ROLE pb_owner;
	  CREATE TABLE pb_invoice (id int PRIMARY KEY, amount numeric);
	  INSERT INTO pb_invoice SELECT g, g FROM generate_series(1, ${SIZE}) g;
	  SELECT procflow.create_flow('pb_flow', 'pb_invoice', '{
	    "start": "review", "activities": {
	      "review": {"kind": "human", "group": "pb_clerks", "instructions": "Review it",
	                 "next": {"approve": "book", "reject": "done"}},
	      "book": {"kind": "automatic", "action": "SELECT 1", "next": "done"},
	      "done": {"kind": "end"}}}', label => 'Invoices');
	  SELECT procflow.create_process('pb_light', 'pb_invoice', 'SELECT 1');
	  RESET ROLE;`);
	const ids = (await db.query(`SELECT id FROM procflow.process WHERE name IN ('pb_flow', 'pb_light') ORDER BY name`)).rows;
	const [flow, light] = ids.map((r) => r.id);
	// instances: every tenth one active (with its open task), the rest completed
	await db.query(`
	  INSERT INTO procflow.instance (id, process_id, version, key, status, started_at, updated_at, finished_at)
	  SELECT g, ${flow}, 1, ARRAY[g::text],
	         CASE WHEN g % 10 = 0 THEN 'active' ELSE 'completed' END,
	         now() - (${SIZE} - g) * interval '1 second', now(),
	         CASE WHEN g % 10 = 0 THEN NULL ELSE now() - (${SIZE} - g) * interval '1 second' + interval '5 minutes' END
	    FROM generate_series(1, ${SIZE}) g;
	  SELECT setval('procflow.instance_id_seq', ${SIZE});
	  INSERT INTO procflow.activity (instance_id, process_id, name, kind, status, "group", instructions, created_at)
	  SELECT g, ${flow}, 'review', 'human', 'ready', 'pb_clerks', 'Review invoice ' || g,
	         now() - (${SIZE} - g) * interval '1 second'
	    FROM generate_series(10, ${SIZE}, 10) g;
	  INSERT INTO procflow.activity (instance_id, name, kind, status, error, attempts, created_at)
	  SELECT g, 'book', 'automatic', 'failed', 'division by zero', 3, now()
	    FROM generate_series(10, ${SIZE}, 1000) g;
	  INSERT INTO procflow.finished_job (id, process_id, event, ord, key, status, run_at, attempts,
	                                     created_at, started_at, finished_at, error_code, error_message)
	  SELECT g, ${light}, 'update', g, ARRAY[(1 + g % ${SIZE})::text],
	         CASE WHEN g % 1000 = 0 THEN 'failed' ELSE 'succeeded' END,
	         now() - (${SIZE} - g) * interval '1 second', 1,
	         now() - (${SIZE} - g) * interval '1 second', now() - (${SIZE} - g) * interval '1 second',
	         now() - (${SIZE} - g) * interval '1 second',
	         CASE WHEN g % 1000 = 0 THEN '22012' END, CASE WHEN g % 1000 = 0 THEN 'division by zero' END
	    FROM generate_series(1, ${SIZE}) g;`);
	await db.query('VACUUM ANALYZE procflow.instance, procflow.activity, procflow.finished_job');
	await db.query(`COMMENT ON TABLE pb_invoice IS 'size ${SIZE}'`);
	const loaded = (Date.now() - t0) / 1000;
	await db.end();
	return loaded;
}

/* Ask a page as a login; the time to its last byte, in ms. */
async function ask(base, who, where) {
	const t = process.hrtime.bigint();
	const response = await fetch(`${base}${where}`, {
		headers: { Authorization: `Basic ${Buffer.from(`${who.user}:${who.password}`).toString('base64')}` },
	});
	const text = await response.text();
	const ms = Number(process.hrtime.bigint() - t) / 1e6;
	if (response.status !== 200)
		throw new Error(`${where}: ${response.status} ${text.slice(0, 300)}`);
	return { ms, text };
}

const owner = { user: 'pb_owner', password: 'owner-pw' };
const clerk = { user: 'pb_clerk', password: 'clerk-pw' };

async function main() {
	const loaded = await setUp();
	const app = await build({ pg: { database: DB, host: process.env.PGHOST, port: process.env.PGPORT } });
	await app.listen({ host: '127.0.0.1', port: 0 });
	const base = `http://127.0.0.1:${app.server.address().port}`;
	const next = async (who, where) => {
		const { text } = await ask(base, who, where);
		const m = text.match(/href="([^"]*)" rel="next"/);
		if (!m)
			throw new Error(`${where} has no next page`);
		const href = m[1].replace(/&amp;/g, '&');
		return href.startsWith('/') ? href : where.split('?')[0] + href;
	};
	const pages = [
		['processes grid', owner, '/processes'],
		['instances, newest first', owner, '/instances'],
		['instances, next page', owner, await next(owner, '/instances')],
		['instances by flow, oldest first', owner, '/instances?flow=pb_owner/pb_flow&sort=id&dir=asc'],
		['instances, active', owner, '/instances?status=active'],
		['instances sorted by status', owner, '/instances?sort=status&dir=asc'],
		['instances sorted by start, oldest first', owner, '/instances?sort=started_at&dir=asc'],
		['instances sorted by end', owner, '/instances?sort=finished_at&dir=desc'],
		['instances sorted by key', owner, '/instances?sort=key&dir=asc'],
		['instances started on a day', owner, `/instances?from=${new Date().toISOString().slice(0, 10)}&to=${new Date().toISOString().slice(0, 10)}`],
		['instances, search by key', owner, `/instances?q=${Math.floor(SIZE / 2)}`],
		['job history, newest first', owner, '/jobs?list=history'],
		['job history, failed', owner, '/jobs?list=history&status=failed'],
		['job history sorted by finish', owner, '/jobs?list=history&sort=finished_at&dir=desc'],
		['pending jobs', owner, '/jobs'],
		['incidents: failed activities', owner, '/incidents'],
		['incidents: failed jobs', owner, '/incidents?list=jobs'],
		['a flow with its picture and counts', owner, '/processes/pb_owner/pb_flow'],
		['an instance', owner, `/instances/${SIZE}`],
		['taskbox of the owner (no tasks of its own)', owner, '/taskbox'],
		[`taskbox of a worker (${SIZE / 10} tasks of its group)`, clerk, '/taskbox'],
		['taskbox of a worker, its next page', clerk, await next(clerk, '/taskbox')],
	];
	const results = [];
	for (const [what, who, where] of pages) {
		await ask(base, who, where);	// warm: a login's pool, plans
		const times = [];
		for (let i = 0; i < REPEAT; i++)
			times.push((await ask(base, who, where)).ms);
		times.sort((a, b) => a - b);
		results.push([what, where, times[Math.floor(times.length / 2)], times[times.length - 1]]);
	}
	await app.close();
	console.log(`Page timings: ${SIZE.toLocaleString('en')} instances (${(SIZE / 10).toLocaleString('en')} active with an open task), ` +
		`${SIZE.toLocaleString('en')} job history rows, ${Math.ceil(SIZE / 1000)} failed activities; ` +
		`${loaded ? `rows loaded in ${loaded.toFixed(0)} s` : 'rows of an earlier run'}; each page asked ${REPEAT} times after one warm-up, on loopback.\n`);
	console.log('| page | address | median ms | slowest ms |');
	console.log('|---|---|---|---|');
	for (const [what, where, median, slowest] of results)
		console.log(`| ${what} | \`${where}\` | ${median.toFixed(1)} | ${slowest.toFixed(1)} |`);
}

await main();
