// GET /metrics: procflow in Prometheus's text format, for a monitoring
// role to scrape with its log-in.  Each scrape reads procflow's views as
// that role, so it counts only what the role may see (the processes of
// the owners it has the privileges of); a role that sees no process (a
// task worker) is refused.  The figures are gauges, read when scraped:
// jobs pending, retrying, running and failed per process; runs, failures,
// durations and start lags over the last hour and day (process_stats);
// instances by flow and status; open tasks; executors by state.
//
// Copyright (c) 2026, procflow developers

import client from 'prom-client';

import { query, httpError } from '../lib/requests.js';

/* A gauge of the registry, set from rows: labels from columns, the value from "value". */
function gauge(registry, name, help, labelNames, rows) {
	const g = new client.Gauge({ name, help, labelNames, registers: [registry] });
	for (const row of rows) {
		const labels = Object.fromEntries(labelNames.map((l) => [l, String(row[l] ?? '')]));
		g.set(labels, Number(row.value));
	}
}

// What each gauge reads: one statement over procflow's views, its labels, its help.
const GAUGES = [
	['procflow_jobs', 'Jobs in the queue, by process and state (pending, retrying).', ['process', 'owner', 'state'],
		`SELECT process, owner, state, count(*) AS value FROM procflow.jobs GROUP BY 1, 2, 3`],
	['procflow_jobs_running', 'Jobs an executor runs now, by process.', ['process'],
		`SELECT process, count(*) AS value FROM procflow.executors
		  WHERE process IS NOT NULL GROUP BY 1`],
	['procflow_jobs_failed', 'Failed jobs not queued again, by process (the page\'s incidents).', ['process', 'owner'],
		`SELECT process, owner, count(*) AS value FROM procflow.job_history
		  WHERE status = 'failed' AND retried_as IS NULL GROUP BY 1, 2`],
	['procflow_runs', 'Runs that finished over the period (hour, day), by process.', ['process', 'owner', 'kind', 'period'],
		`SELECT process, owner, kind, period, runs AS value FROM procflow.process_stats`],
	['procflow_failures', 'Runs that failed over the period, by process.', ['process', 'owner', 'kind', 'period'],
		`SELECT process, owner, kind, period, failures AS value FROM procflow.process_stats`],
	['procflow_run_seconds', 'Run durations over the period: mean and 95th percentile.', ['process', 'owner', 'period', 'stat'],
		`SELECT process, owner, period, s.stat, s.ms / 1000.0 AS value
		   FROM procflow.process_stats,
		        LATERAL (VALUES ('mean', mean_ms), ('p95', p95_ms)) s(stat, ms)
		  WHERE s.ms IS NOT NULL`],
	['procflow_start_lag_seconds', 'From when runs were due to when they started: mean and 95th percentile.',
		['process', 'owner', 'period', 'stat'],
		`SELECT process, owner, period, s.stat, s.ms / 1000.0 AS value
		   FROM procflow.process_stats,
		        LATERAL (VALUES ('mean', mean_lag_ms), ('p95', p95_lag_ms)) s(stat, ms)
		  WHERE s.ms IS NOT NULL`],
	['procflow_instances', 'Instances of flows, by flow and status.', ['flow', 'owner', 'status'],
		`SELECT flow, owner, status, count(*) AS value FROM procflow.instances GROUP BY 1, 2, 3`],
	['procflow_tasks', 'Tasks not closed, by flow and status (scheduled, ready, open).', ['flow', 'status'],
		`SELECT flow, status, count(*) AS value FROM procflow.tasks GROUP BY 1, 2`],
	['procflow_executors', 'Executors serving this database, by state (idle, running).', ['state'],
		`SELECT state, count(*) AS value FROM procflow.executors GROUP BY 1`],
];

export default async function metricsRoutes(app, { isAdmin }) {
	app.get('/metrics', async (req, reply) => {
		if (!(await isAdmin(req)))
			throw httpError(403, 'The metrics are for roles that see processes.',
				'Scrape them with a role that owns the processes, or has their owners\' privileges.');
		const registry = new client.Registry();
		for (const [name, help, labels, sql] of GAUGES)
			gauge(registry, name, help, labels, (await query(req, sql)).rows);
		return reply.type(registry.contentType).send(await registry.metrics());
	});
}
