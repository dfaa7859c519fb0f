// Jobs: the pending and retrying ones and the history of finished ones
// (each paged, sorted either way, filtered by process, status, time and
// key), with run-now, retry and cancel, also in bulk.
//
// Copyright (c) 2026, procflow developers

import { query, back } from '../lib/requests.js';
import { listPage, conditions, day, addKeyMatch } from '../lib/lists.js';
import { selectedIds, actOnEach, summary, BULK_MAX } from '../lib/bulk.js';
import { tell, told, withNotice } from '../lib/notices.js';
import { schemas } from '../lib/schemas.js';
import { JOB_ACTIONS } from '../lib/actions.js';

const PENDING = {
	from: 'procflow.jobs',
	id: 'id',
	select: 'id, process, event, key::text AS key, run_at, attempts, state, last_error',
	columns: {
		id: 'bigint',
		process: 'text',
		event: 'text',
		run_at: 'timestamptz',
		attempts: 'int',
		state: 'text',
	},
	sort: 'run_at',
	dir: 'asc',
};

const HISTORY = {
	from: 'procflow.job_history',
	id: 'id',
	select: 'id, process, event, key::text AS key, attempts, finished_at, status, error, error_code, error_detail',
	columns: {
		id: 'bigint',
		process: 'text',
		event: 'text',
		attempts: 'int',
		finished_at: 'timestamptz',
		status: 'text',
	},
	sort: 'finished_at',
	dir: 'desc',
};

/*
 * Filters of the job lists: by process name, by when they are due (pending
 * jobs) or finished (the history), on or after "from" and before the day
 * after "to", by key, and the history by status.
 */
function jobFilters(q, which) {
	const conds = conditions();
	const statuses = which === 'history' ? HISTORY_STATUSES : [];
	const time = which === 'history' ? 'finished_at' : 'run_at';
	const f = { process: typeof q.process === 'string' ? q.process.trim() : '',
		status: statuses.includes(q.status) ? q.status : '', from: day(q.from), to: day(q.to),
		q: typeof q.q === 'string' ? q.q.trim() : '' };
	if (f.process)
		conds.add('process = $1', f.process);
	if (f.status)
		conds.add('status = $1', f.status);
	if (f.from)
		conds.add(`${time} >= $1::date`, f.from);
	if (f.to)
		conds.add(`${time} < $1::date + 1`, f.to);
	if (f.q)
		addKeyMatch(conds, 'key', f.q);
	return { where: conds.where, params: conds.params, f, statuses };
}

const HISTORY_STATUSES = ['succeeded', 'failed', 'cancelled', 'skipped'];

export default async function jobRoutes(app, { render }) {
	app.get('/jobs', { schema: schemas.jobs }, async (req, reply) => {
		const which = req.query.list === 'history' ? 'history' : 'pending';
		const { where, params, f, statuses } = jobFilters(req.query, which);
		const list = await listPage(req, which === 'history' ? HISTORY : PENDING, where, params);
		return render(reply, 'jobs.eta', req, { title: 'Jobs', which, list, f, statuses,
			notice: told(req.login, req.query.notice), here: req.url, bulkMax: BULK_MAX });
	});

	app.post('/jobs/:id(^\\d+$)/:action(^retry|cancel$)', { schema: schemas.jobAction }, async (req, reply) => {
		const [fn, word] = JOB_ACTIONS[req.params.action];
		const text = summary(await actOnEach(req, fn, [req.params.id]), word, 'job');
		return reply.redirect(withNotice(back(req, '/jobs'), tell(req.login, text)), 303);
	});

	app.post('/jobs/bulk', { schema: schemas.jobsBulk }, async (req, reply) => {
		const [fn, word] = JOB_ACTIONS[req.body.action];
		let ids = selectedIds(req.body);
		if (req.body.all === 'yes') {
			const which = req.body.list === 'history' ? 'history' : 'pending';
			const { where, params } = jobFilters(req.body, which);
			const { rows } = await query(req,
				`SELECT id FROM ${which === 'history' ? 'procflow.job_history' : 'procflow.jobs'}
				  ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
				  ORDER BY id LIMIT ${BULK_MAX}`, params);
			ids = rows.map((r) => r.id);
		}
		const text = summary(await actOnEach(req, fn, ids), word, 'job');
		return reply.redirect(withNotice(back(req, '/jobs'), tell(req.login, text)), 303);
	});
}
