// The processes: the grid, as Oro's System > Processes (with each
// process's kind, version and owner), and a process's page: its settings,
// its definition, its triggers and, for a flow, its picture (with the
// count of live and failed activities at each step) and versions.
// Processes are named by owner and name: names are per owner.
//
// Copyright (c) 2026, procflow developers

import { query, asOwner, back } from '../lib/requests.js';
import { offsetPage, conditions } from '../lib/lists.js';
import { schemas } from '../lib/schemas.js';
import { PROCESS_ACTIONS } from '../lib/actions.js';

// The grid: what it reads, and the columns it may be sorted by.
const GRID = {
	from: 'procflow.processes',
	select: `name, label, related_entity::text AS related_entity, execution_order, enabled,
	         created_at, kind, version, owner_name`,
	columns: ['name', 'label', 'related_entity', 'execution_order', 'enabled', 'created_at', 'kind',
		'version', 'owner_name'],
	sort: 'execution_order',
	dir: 'asc',
	tie: ['name', 'owner_name'],
};

/* A DOT name, quoted as flow_graph() quotes it. */
const dotName = (name) => `"${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"')
	.replace(/\n/g, '\\n').replace(/\r/g, '\\r')}"`;

/*
 * A flow's picture with the number of live and failed activities at each
 * step written under it, as Cockpit draws them: the failed ones in red.
 */
function withCounts(dot, counts) {
	const lines = counts.map((c) => {
		const parts = [];
		if (Number(c.live))
			parts.push(`${c.live} live`);
		if (Number(c.failed))
			parts.push(`${c.failed} failed`);
		const colour = Number(c.failed) ? ', fontcolor="#cf222e", color="#cf222e", penwidth=2' : '';
		return `  ${dotName(c.name)} [xlabel=${dotName(parts.join(', '))}${colour}];`;
	});
	const end = dot.lastIndexOf('}');
	return lines.length ? `${dot.slice(0, end)}${lines.join('\n')}\n}\n` : dot;
}

export default async function processRoutes(app, { pictures, render }) {
	// The grid of processes, as Oro's System > Processes, plus kind and version.
	app.get('/processes', { schema: schemas.processes }, async (req, reply) => {
		const filter = typeof req.query.q === 'string' ? req.query.q : '';
		const conds = conditions();
		if (filter)
			conds.add("(name ILIKE '%' || $1 || '%' OR label ILIKE '%' || $1 || '%')", filter);
		const list = await offsetPage(req, GRID, conds.where, conds.params);
		return render(reply, 'processes.eta', req, { title: 'Processes', list, filter });
	});

	// Activate or deactivate, as the process's owner.
	app.post('/processes/:owner/:name/:action(^enable|disable$)', { schema: schemas.processAction }, async (req, reply) => {
		const [fn] = PROCESS_ACTIONS[req.params.action];
		await asOwner(req, req.params.owner, (client) =>
			client.query(`SELECT procflow.${fn}($1)`, [req.params.name]));
		return reply.redirect(back(req, '/processes'), 303);
	});

	// A process by name alone (an older link): its page, when one owner's.
	app.get('/processes/:name', { schema: schemas.processByName }, async (req, reply) => {
		const { rows } = await query(req,
			'SELECT owner_name FROM procflow.processes WHERE name = $1 ORDER BY owner_name', [req.params.name]);
		if (rows.length === 1)
			return reply.redirect(`/processes/${encodeURIComponent(rows[0].owner_name)}/${encodeURIComponent(req.params.name)}`);
		return reply.redirect(`/processes?q=${encodeURIComponent(req.params.name)}`);
	});

	// A process: its settings, triggers, and for a flow its picture and versions.
	app.get('/processes/:owner/:name', { schema: schemas.process }, async (req, reply) => {
		const { owner, name } = req.params;
		const { rows: [process] } = await query(req,
			`SELECT name, label, related_entity::text AS related_entity, execution_order, enabled,
			        created_at, updated_at, kind, version, action, condition, max_attempts,
			        timeout::text AS timeout, owner_name
			   FROM procflow.processes WHERE name = $1 AND owner_name = $2`, [name, owner]);
		if (!process)
			return reply.code(404).view('error.eta', { title: 'Not found', login: req.login,
				error: { message: `process "${name}" of "${owner}" does not exist`, detail: null, hint: null } });
		const { rows: triggers } = await query(req,
			`SELECT id, event, fields, queued, delay::text AS delay, priority, cron, next_run_at
			   FROM procflow.process_triggers WHERE process = $1 AND owner = $2 ORDER BY id`, [name, owner]);
		let picture = null;
		let versions = [];
		if (process.kind === 'flow') {
			const { rows: [g] } = await asOwner(req, owner, (client) =>
				client.query('SELECT procflow.flow_graph($1) AS dot', [name]));
			// how many of its activities are live, and failed, at each step
			const { rows: counts } = await query(req,
				`SELECT activity AS name, live, failed FROM procflow.activity_counts
				  WHERE flow = $1 AND owner = $2`, [name, owner]);
			picture = await pictures.draw(withCounts(g.dot, counts));
			({ rows: versions } = await query(req,
				`SELECT version, current, created_at, definition FROM procflow.flow_versions
				  WHERE flow = $1 AND owner = $2 ORDER BY version DESC`, [name, owner]));
		}
		return render(reply, 'process.eta', req, { title: name, process, triggers, picture, versions });
	});
}
