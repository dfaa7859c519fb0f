// The statistics of runs: per process and period, as procflow.process_stats
// gives them.
//
// Copyright (c) 2026, procflow developers

import { query } from '../lib/requests.js';

export default async function statsRoutes(app, { render }) {
	app.get('/stats', async (req, reply) => {
		const { rows } = await query(req,
			`SELECT process, kind, period, runs, failures, mean_ms, p95_ms, mean_lag_ms, p95_lag_ms
			   FROM procflow.process_stats ORDER BY process, period DESC`);
		return render(reply, 'stats.eta', req, { title: 'Statistics', rows });
	});
}
