// Incidents: what failed and waits for a person.  Failed activities of
// flows, and failed jobs of light processes that were not queued again
// (job_history.retried_as), each with its error (SQLSTATE, detail, and
// the context: the statement or PL/pgSQL line it failed at), the SQL of
// the action, attempts and when; retry or skip them, also in bulk, and
// they leave the list.
//
// Copyright (c) 2026, procflow developers

import { back, httpError } from '../lib/requests.js';
import { listPage } from '../lib/lists.js';
import { selectedIds, actOnEach, summary } from '../lib/bulk.js';
import { tell, told, withNotice } from '../lib/notices.js';
import { schemas } from '../lib/schemas.js';
import { ACTIVITY_ACTIONS, INCIDENT_JOB_ACTIONS } from '../lib/actions.js';

// Failed activities of flows.
const FAILED_ACTIVITIES = {
	// each instance read by its id (the views are security barriers: a join
	// would read every instance)
	from: `(SELECT a.id, a.instance, a.flow, a.name, a.kind, a.error, a.error_code,
	               a.error_detail, a.error_context, a.attempts, a.created_at,
	               (SELECT i.key::text FROM procflow.instances i WHERE i.id = a.instance) AS key,
	               a.sql
	          FROM procflow.activities a
	         WHERE a.status = 'failed') f`,
	id: 'id',
	select: `id, instance, flow, name, kind, error, error_code, error_detail, error_context,
	         attempts, created_at, key, sql`,
	columns: {
		id: 'bigint',
		flow: 'text',
		name: 'text',
		attempts: 'int',
		created_at: 'timestamptz',
	},
	sort: 'id',
	dir: 'desc',
};

// Failed jobs of light processes that were not queued again (retry_job).
const FAILED_JOBS = {
	from: `(SELECT h.id, h.process, h.event, h.key::text AS key, h.attempts, h.finished_at,
	               h.error, h.error_code, h.error_detail, h.error_context
	          FROM procflow.job_history h
	         WHERE h.status = 'failed' AND h.event NOT IN ('step', 'timer')
	           AND h.retried_as IS NULL) f`,
	id: 'id',
	select: `id, process, event, key, attempts, finished_at, error, error_code, error_detail,
	         error_context,
	         (SELECT p.action FROM procflow.processes p WHERE p.name = f.process
	           ORDER BY p.owner_name = current_user DESC LIMIT 1) AS sql`,
	columns: {
		id: 'bigint',
		process: 'text',
		attempts: 'int',
		finished_at: 'timestamptz',
	},
	sort: 'finished_at',
	dir: 'desc',
};


export default async function incidentRoutes(app, { render }) {
	app.get('/incidents', { schema: schemas.incidents }, async (req, reply) => {
		const which = req.query.list === 'jobs' ? 'jobs' : 'activities';
		const list = await listPage(req, which === 'jobs' ? FAILED_JOBS : FAILED_ACTIVITIES, [], []);
		return render(reply, 'incidents.eta', req, { title: 'Incidents', which, list,
			notice: told(req.login, req.query.notice), here: req.url });
	});

	app.post('/incidents/bulk', { schema: schemas.incidentsBulk }, async (req, reply) => {
		const body = req.body;
		const actions = body.list === 'jobs' ? INCIDENT_JOB_ACTIONS : ACTIVITY_ACTIONS;
		if (!Object.hasOwn(actions, body.action))
			throw httpError(400, 'A failed job cannot be skipped.',
				'Skip the failed activities of flows; retry failed jobs.');
		const [fn, word] = actions[body.action];
		const text = summary(await actOnEach(req, fn, selectedIds(body)), word, body.list === 'jobs' ? 'job' : 'activity');
		return reply.redirect(withNotice(back(req, '/incidents'), tell(req.login, text)), 303);
	});
}
