// The statistics of runs: per process and period, as procflow.process_stats
// gives them, sorted either way by any column, a page at a time.
//
// Copyright (c) 2026, procflow developers

import { offsetPage } from '../lib/lists.js';
import { schemas } from '../lib/schemas.js';

const STATS = {
	from: 'procflow.process_stats',
	select: 'process, kind, period, runs, failures, mean_ms, p95_ms, mean_lag_ms, p95_lag_ms',
	columns: ['process', 'kind', 'period', 'runs', 'failures', 'mean_ms', 'p95_ms', 'mean_lag_ms', 'p95_lag_ms'],
	sort: 'process',
	dir: 'asc',
	tie: ['process', 'period'],
};

export default async function statsRoutes(app, { render }) {
	app.get('/stats', { schema: schemas.stats }, async (req, reply) => {
		const list = await offsetPage(req, STATS, [], []);
		return render(reply, 'stats.eta', req, { title: 'Statistics', list });
	});
}
