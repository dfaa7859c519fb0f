// Jobs and incidents.  Jobs: the pending and retrying ones and the history
// of finished ones (each paged, sorted either way, filtered by process and
// status), with run-now, retry and cancel, also in bulk.  Incidents: what
// failed and waits for a person: failed activities of flows, and failed
// jobs of light processes that were not queued again, each with its error
// (and detail), the SQL that failed, attempts and when; what is retried or
// skipped leaves the list.
//
// Copyright (c) 2026, procflow developers

import { query, back } from '../lib/requests.js';
import { listPage, conditions, day, addKeyMatch } from '../lib/lists.js';
import { selectedIds, actOnEach, summary, BULK_MAX } from '../lib/bulk.js';
import { tell, told, withNotice } from '../lib/notices.js';

const PENDING = {
	from: 'procflow.jobs',
	id: 'id',
	select: 'id, process, event, key::text AS key, run_at, attempts, state, last_error',
	columns: {
		id: { sql: 'id', type: 'bigint' },
		process: { sql: 'process', type: 'text' },
		event: { sql: 'event', type: 'text' },
		run_at: { sql: 'run_at', type: 'timestamptz' },
		attempts: { sql: 'attempts', type: 'int' },
		state: { sql: 'state', type: 'text' },
	},
	sort: 'run_at',
	dir: 'asc',
};

const HISTORY = {
	from: 'procflow.job_history',
	id: 'id',
	select: 'id, process, event, key::text AS key, attempts, finished_at, status, error, error_code, error_detail',
	columns: {
		id: { sql: 'id', type: 'bigint' },
		process: { sql: 'process', type: 'text' },
		event: { sql: 'event', type: 'text' },
		attempts: { sql: 'attempts', type: 'int' },
		finished_at: { sql: 'finished_at', type: 'timestamptz' },
		status: { sql: 'status', type: 'text' },
	},
	sort: 'finished_at',
	dir: 'desc',
};

// Failed activities of flows.
const FAILED_ACTIVITIES = {
	// each instance read by its id (the views are security barriers: a join
	// would read every instance)
	from: `(SELECT a.id, a.instance, a.flow, a.name, a.kind, a.error, a.attempts, a.created_at,
	               (SELECT i.key::text FROM procflow.instances i WHERE i.id = a.instance) AS key,
	               (SELECT coalesce(d->>'action', d->'on'->>'condition', d->>'key')
	                  FROM procflow.instances i
	                  JOIN procflow.flow_versions v ON v.flow = i.flow AND v.owner = i.owner
	                                               AND v.version = i.version,
	                       LATERAL (SELECT v.definition->'activities'->a.name AS d) x
	                 WHERE i.id = a.instance) AS sql
	          FROM procflow.activities a
	         WHERE a.status = 'failed') f`,
	id: 'id',
	select: 'id, instance, flow, name, kind, error, attempts, created_at, key, sql',
	columns: {
		id: { sql: 'id', type: 'bigint' },
		flow: { sql: 'flow', type: 'text' },
		name: { sql: 'name', type: 'text' },
		attempts: { sql: 'attempts', type: 'int' },
		created_at: { sql: 'created_at', type: 'timestamptz' },
	},
	sort: 'id',
	dir: 'desc',
};

// Failed jobs of light processes that were not queued again (retry_job).
const FAILED_JOBS = {
	from: `(SELECT h.id, h.process, h.event, h.key::text AS key, h.attempts, h.finished_at,
	               h.error, h.error_code, h.error_detail
	          FROM procflow.job_history h
	         WHERE h.status = 'failed' AND h.event NOT IN ('step', 'timer')
	           AND h.retried_as IS NULL) f`,
	id: 'id',
	select: `id, process, event, key, attempts, finished_at, error, error_code, error_detail,
	         (SELECT p.action FROM procflow.processes p WHERE p.name = f.process
	           ORDER BY p.owner_name = current_user DESC LIMIT 1) AS sql`,
	columns: {
		id: { sql: 'id', type: 'bigint' },
		process: { sql: 'process', type: 'text' },
		attempts: { sql: 'attempts', type: 'int' },
		finished_at: { sql: 'finished_at', type: 'timestamptz' },
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
const JOB_ACTIONS = { retry: ['retry_job', 'Queued again'], cancel: ['cancel_job', 'Cancelled'] };
const ACTIVITY_ACTIONS = { retry: ['retry_activity', 'Retried'], skip: ['skip_activity', 'Skipped'] };

export default async function jobRoutes(app, { render }) {
	app.get('/jobs', async (req, reply) => {
		const which = req.query.list === 'history' ? 'history' : 'pending';
		const { where, params, f, statuses } = jobFilters(req.query, which);
		const list = await listPage(req, which === 'history' ? HISTORY : PENDING, where, params);
		return render(reply, 'jobs.eta', req, { title: 'Jobs', which, list, f, statuses,
			notice: told(req.login, req.query.notice), here: req.url, bulkMax: BULK_MAX });
	});

	app.post('/jobs/:id(^\\d+$)/:action(^retry|cancel$)', async (req, reply) => {
		const [fn, word] = JOB_ACTIONS[req.params.action];
		const text = summary(await actOnEach(req, fn, [req.params.id]), word, 'job');
		return reply.redirect(withNotice(back(req, '/jobs'), tell(req.login, text)), 303);
	});

	app.post('/jobs/bulk', async (req, reply) => {
		const action = Object.hasOwn(JOB_ACTIONS, req.body && req.body.action) ? req.body.action : null;
		if (!action)
			return reply.code(400).send('No such action.');
		const [fn, word] = JOB_ACTIONS[action];
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

	app.get('/incidents', async (req, reply) => {
		const which = req.query.list === 'jobs' ? 'jobs' : 'activities';
		const list = await listPage(req, which === 'jobs' ? FAILED_JOBS : FAILED_ACTIVITIES, [], []);
		return render(reply, 'incidents.eta', req, { title: 'Incidents', which, list,
			notice: told(req.login, req.query.notice), here: req.url });
	});

	app.post('/incidents/bulk', async (req, reply) => {
		const body = req.body || {};
		const actions = body.list === 'jobs' ? { retry: JOB_ACTIONS.retry } : ACTIVITY_ACTIONS;
		const action = Object.hasOwn(actions, body.action) ? body.action : null;
		if (!action)
			return reply.code(400).send('No such action.');
		const [fn, word] = actions[action];
		const text = summary(await actOnEach(req, fn, selectedIds(body)), word, body.list === 'jobs' ? 'job' : 'activity');
		return reply.redirect(withNotice(back(req, '/incidents'), tell(req.login, text)), 303);
	});
}
