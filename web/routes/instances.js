// Instances of flows: the list (paged, sorted either way by any column,
// filtered by flow, status, start date and key), bulk suspend, resume and
// terminate, and an instance's page: its picture, the history of its
// activities, and the actions on it and on its activities.
//
// Copyright (c) 2026, procflow developers

import { query, asOwner, back, httpError } from '../lib/requests.js';
import { listPage, conditions, day, addKeyMatch } from '../lib/lists.js';
import { selectedIds, actOnEach, summary, BULK_MAX } from '../lib/bulk.js';
import { tell, told, withNotice } from '../lib/notices.js';
import { schemas } from '../lib/schemas.js';
import { INSTANCE_ACTIONS, ACTIVITY_ACTIONS, act } from '../lib/actions.js';

const STATUSES = ['active', 'suspended', 'completed', 'terminated'];

// The instances list: what it reads, and the columns it sorts by.
const LIST = {
	from: 'procflow.instances',
	id: 'id',
	select: 'id, flow, owner, version, key::text AS key, status, started_at, finished_at',
	columns: {
		id: 'bigint',
		flow: 'text',
		version: 'int',
		// as procflow stores it: its columns' values as text, in byte order
		key: { sql: `coalesce(key_values, '{}') COLLATE "C"`, type: 'text[]' },
		status: 'text',
		started_at: 'timestamptz',
		finished_at: { sql: "coalesce(finished_at, 'infinity')", type: 'timestamptz' },
	},
	sort: 'id',
	dir: 'desc',
};

/*
 * The filters of the list as SQL conditions: flow ("owner/name", or a name
 * of any owner), status, started on or after "from" and before the day
 * after "to", and "q": a value of the key (any of its columns), or a key
 * as JSON.
 */
function filters(q) {
	const conds = conditions();
	const f = {
		flow: typeof q.flow === 'string' ? q.flow : '',
		status: STATUSES.includes(q.status) ? q.status : '',
		from: day(q.from),
		to: day(q.to),
		q: typeof q.q === 'string' ? q.q.trim() : '',
	};
	if (f.flow) {
		const slash = f.flow.indexOf('/');
		if (slash > 0)
			conds.add('owner = $1 AND flow = $2', f.flow.slice(0, slash), f.flow.slice(slash + 1));
		else
			conds.add('flow = $1', f.flow);
	}
	if (f.status)
		conds.add('status = $1', f.status);
	if (f.from)
		conds.add('started_at >= $1::date', f.from);
	if (f.to)
		conds.add('started_at < $1::date + 1', f.to);
	if (f.q)
		addKeyMatch(conds, 'key', f.q, 'key_values');
	return { where: conds.where, params: conds.params, f };
}


export default async function instanceRoutes(app, { pictures, render }) {
	app.get('/instances', { schema: schemas.instances }, async (req, reply) => {
		const { where, params, f } = filters(req.query);
		const list = await listPage(req, LIST, where, params);
		const { rows: flows } = await query(req,
			`SELECT owner_name, name FROM procflow.processes WHERE kind = 'flow' ORDER BY name, owner_name`);
		return render(reply, 'instances.eta', req, { title: 'Instances', list, flows, f, statuses: STATUSES,
			notice: told(req.login, req.query.notice), bulkMax: BULK_MAX, here: req.url });
	});

	// The selected instances, or all that match the list's filters (up to BULK_MAX).
	app.post('/instances/bulk', { schema: schemas.instancesBulk }, async (req, reply) => {
		const body = req.body;
		const [fn, word] = INSTANCE_ACTIONS[body.action];
		let ids = selectedIds(body);
		if (body.all === 'yes') {
			const { where, params } = filters(body);
			const { rows } = await query(req,
				`SELECT id FROM procflow.instances ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
				  ORDER BY id LIMIT ${BULK_MAX}`, params);
			ids = rows.map((r) => r.id);
		}
		const text = summary(await actOnEach(req, fn, ids), word, 'instance');
		return reply.redirect(withNotice(back(req, '/instances'), tell(req.login, text)), 303);
	});

	// An instance: its picture with where it went and where it is, its history, vars.
	app.get('/instances/:id(^\\d+$)', { schema: schemas.instance }, async (req, reply) => {
		const id = req.params.id;
		const { rows: [instance] } = await query(req,
			`SELECT id, flow, version, key::text AS key, status, vars, parent, started_at,
			        updated_at, finished_at, owner
			   FROM procflow.instances WHERE id = $1`, [id]);
		if (!instance)
			return reply.code(404).view('error.eta', { title: 'Not found', login: req.login, admin: Boolean(req.pool.admin),
				error: { message: `instance ${id} does not exist`, detail: null, hint: null } });
		const { rows: [g] } = await asOwner(req, instance.owner, (client) =>
			client.query('SELECT procflow.flow_graph($1, instance => $2) AS dot', [instance.flow, id]));
		// a task may be skipped only when its activity allows it (skippable)
		const { rows: activities } = await query(req,
			`SELECT a.id, a.name, a.kind, a.status, a.outcome, a.assignee, a."group", a.due_at,
			        a.error, a.error_code, a.error_detail, a.error_context,
			        a.attempts, a.created_at, a.closed_at, a.closed_by,
			        extract(epoch FROM a.closed_at - a.created_at) AS seconds, a.skippable
			   FROM procflow.activities a
			  WHERE a.instance = $1 ORDER BY a.id`, [id]);
		const { rows: changes } = await query(req,
			`SELECT changed_at, changed_by, vars::text AS vars, before::text AS before
			   FROM procflow.vars_changes WHERE instance = $1 ORDER BY id`, [id]);
		return render(reply, 'instance.eta', req, { title: `Instance ${id}`, instance,
			picture: await pictures.draw(g.dot), activities, changes,
			notice: told(req.login, req.query.notice) });
	});

	// Merge vars a person typed (a JSON object) into the instance's: kept in its history.
	app.post('/instances/:id(^\\d+$)/vars', { schema: schemas.instanceVars }, async (req, reply) => {
		const text = req.body && typeof req.body.vars === 'string' ? req.body.vars : '';
		let vars;
		try {
			vars = JSON.parse(text);
		} catch (err) {
			throw Object.assign(httpError(400, 'The vars are not JSON.', 'Write a JSON object, such as {"approved": true}.'),
				{ detail: err.message });
		}
		await query(req, 'SELECT procflow.update_vars($1, $2)', [req.params.id, JSON.stringify(vars)]);
		const text2 = `Changed the vars of instance ${req.params.id}.`;
		return reply.redirect(withNotice(`/instances/${req.params.id}`, tell(req.login, text2)), 303);
	});

	app.post('/instances/:id(^\\d+$)/:action(^suspend|resume|terminate$)', { schema: schemas.instanceAction }, async (req, reply) => {
		await act(req, INSTANCE_ACTIONS, req.params.action, req.params.id);
		return reply.redirect(back(req, `/instances/${req.params.id}`), 303);
	});

	app.post('/activities/:id(^\\d+$)/:action(^retry|skip$)', { schema: schemas.activityAction }, async (req, reply) => {
		const word = await act(req, ACTIVITY_ACTIONS, req.params.action, req.params.id);
		const text = `${word} activity ${req.params.id}.`;
		return reply.redirect(withNotice(back(req, '/instances'), tell(req.login, text)), 303);
	});
}
