// GET /metrics, scraped as Prometheus would (an HTTP client with the
// monitoring role's log-in): the Prometheus text format, with what that
// role may see and nothing else; refused to a worker and to no log-in.
//
// Copyright (c) 2026, procflow developers

import { test, after } from 'node:test';
import assert from 'node:assert/strict';

import { url, admin, worker, db, sql, until } from './helpers.js';

after(() => db.end());

const scrape = (who) => fetch(`${url}/metrics`, {
	headers: who ? { Authorization: `Basic ${Buffer.from(`${who.username}:${who.password}`).toString('base64')}` } : {},
});

/* The value of a sample, by its name and labels as the text writes them. */
function sample(text, series) {
	const line = text.split('\n').find((l) => l.startsWith(`${series} `));
	return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('the metrics, in the Prometheus text format, of what the scraping role may see', async () => {
	// an invoice of its own, whose task is gone again at the end (other tests count the tasks)
	await sql('INSERT INTO invoice (id, amount) VALUES (907, 907)');
	const [{ id }] = await sql("SELECT procflow.launch('invoice_flow', '907') AS id");
	await until("SELECT count(*) = 1 FROM procflow.tasks WHERE instance = $1 AND status = 'ready'", [id],
		'the task of the new instance');
	const [{ before }] = await sql("SELECT count(*)::int AS before FROM procflow.job_history WHERE process = 'audit_invoice'");
	await sql("UPDATE invoice SET status = 'metrics' WHERE id = 907");
	await until("SELECT count(*) > $1 FROM procflow.job_history WHERE process = 'audit_invoice'", [before],
		'the audit job of the change');
	const response = await scrape(admin);
	assert.equal(response.status, 200);
	assert.match(response.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
	const text = await response.text();
	for (const name of ['procflow_jobs', 'procflow_jobs_running', 'procflow_jobs_failed', 'procflow_runs',
		'procflow_failures', 'procflow_run_seconds', 'procflow_start_lag_seconds', 'procflow_instances',
		'procflow_tasks', 'procflow_executors'])
		assert.match(text, new RegExp(`^# TYPE ${name} gauge$`, 'm'), name);
	const [{ active }] = await sql(`SELECT count(*)::int AS active FROM procflow.instances
	                                 WHERE flow = 'invoice_flow' AND status = 'active'`);
	assert.equal(sample(text, 'procflow_instances{flow="invoice_flow",owner="web_admin",status="active"}'), active);
	const [{ ready }] = await sql(`SELECT count(*)::int AS ready FROM procflow.tasks
	                                WHERE flow = 'invoice_flow' AND status = 'ready'`);
	assert.equal(sample(text, 'procflow_tasks{flow="invoice_flow",status="ready"}'), ready);
	const executors = ['idle', 'running'].map((s) => sample(text, `procflow_executors{state="${s}"}`) || 0);
	assert.equal(executors[0] + executors[1], 2, 'two executors serve the database');
	assert.ok(sample(text, 'procflow_runs{process="audit_invoice",owner="web_admin",kind="light",period="hour"}') >= 1,
		'the runs of the hour count the audit job');
	await sql('SELECT procflow.terminate($1)', [id]);
});

test('a role that sees no process is refused the metrics, and so is no log-in', async () => {
	const refused = await scrape(worker);
	assert.equal(refused.status, 403);
	assert.match(await refused.text(), /The metrics are for roles that see processes/);
	assert.equal((await scrape(null)).status, 401);
});
