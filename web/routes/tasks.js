// The taskbox: the login's tasks and those of its groups, each with what a
// person needs to work it (the flow's label, the instructions, the row's
// key and a link to it, the form), the buttons that act on it, and the
// live stream that keeps it up to date (lib/task_stream.js).
//
// Copyright (c) 2026, procflow developers

import { query, back, isRowId, httpError } from '../lib/requests.js';
import { listPage, conditions, day, addKeyMatch, PAGE_SIZE } from '../lib/lists.js';
import { selectedIds, actOnEach, summary, BULK_MAX } from '../lib/bulk.js';
import { tell, told, withNotice } from '../lib/notices.js';
import { taskLink } from '../lib/task_links.js';
import { formVars } from '../lib/task_forms.js';
import { schemas } from '../lib/schemas.js';
import { TASK_ACTIONS, TASK_BULK_ACTIONS, act } from '../lib/actions.js';

// The most tasks a taskbox page counts (a page lists PAGE_SIZE, as the lists do).
const TOTAL_MAX = 1000;

// The list of every task the login may see (procflow.tasks), for admins.
const TASKS = {
	from: 'procflow.tasks',
	id: 'activity',
	select: `activity, instance, flow, name, status, assignee, "group", due_at, created_at,
	         key::text AS key, due_at < now() AS overdue`,
	columns: {
		activity: 'bigint',
		flow: 'text',
		name: 'text',
		status: 'text',
		assignee: { sql: "coalesce(assignee, '')", type: 'text' },
		group: { sql: 'coalesce("group", \'\')', type: 'text' },
		due_at: { sql: "coalesce(due_at, 'infinity')", type: 'timestamptz' },
		created_at: 'timestamptz',
	},
	sort: 'created_at',
	dir: 'desc',
};

/*
 * Filters of the tasks list: flow, status, assignee or group (a name, or
 * "-" for none), due on or after "from" and before the day after "to",
 * overdue, and a key.
 */
function taskFilters(q) {
	const conds = conditions();
	const text = (v) => (typeof v === 'string' ? v.trim() : '');
	const f = { flow: text(q.flow), status: ['ready', 'open'].includes(q.status) ? q.status : '',
		assignee: text(q.assignee), group: text(q.group), from: day(q.from), to: day(q.to),
		overdue: q.overdue === 'yes' ? 'yes' : '', q: text(q.q) };
	if (f.flow)
		conds.add('flow = $1', f.flow);
	if (f.status)
		conds.add('status = $1', f.status);
	for (const col of ['assignee', 'group']) {
		if (f[col] === '-')
			conds.add(`"${col}" IS NULL`);
		else if (f[col])
			conds.add(`"${col}" = $1`, f[col]);
	}
	if (f.from)
		conds.add('due_at >= $1::date', f.from);
	if (f.to)
		conds.add('due_at < $1::date + 1', f.to);
	if (f.overdue)
		conds.add('due_at < now()');
	if (f.q)
		addKeyMatch(conds, 'key', f.q);
	return { where: conds.where, params: conds.params, f };
}


export default async function taskRoutes(app, { stream, links, render }) {
	/*
	 * The login's taskbox (procflow.taskbox() for current_user: its tasks,
	 * those of its groups, and as a worker those of its roles), a page of
	 * it, or only the tasks of these ids.
	 */
	const columns = `t.activity, t.instance, t.flow, coalesce(t.flow_label, t.flow) AS flow_label,
	        t.name, t.status, t.assignee, t."group", t.instructions, t.due_at,
	        t.due_at < now() AS overdue, t.key, t.form, t.outcomes, t.allow_skip,
	        t.assignee = current_user AS mine`;

	/* The tasks as the page shows them: noted as shown, with their links. */
	const shown = (req, rows) => {
		stream.shown(req.pool, rows.map((t) => t.activity));
		for (const t of rows)
			t.link = taskLink(links, t.flow, t.key);
		return rows;
	};

	/*
	 * A page of the login's taskbox (procflow.taskbox() for current_user:
	 * its tasks, those of its groups, and as a worker those of its roles),
	 * after a task; and how many it holds, up to TOTAL_MAX.
	 */
	const taskboxPage = async (req, after) => {
		let rows;
		try {
			({ rows } = await query(req,
				`SELECT ${columns} FROM procflow.taskbox(page_size => $1, after => $2) t`,
				[PAGE_SIZE + 1, after]));
		} catch (err) {
			// a task that is no longer the login's to page after: the first page
			if (err.code !== '22023' || after === null)
				throw err;
			return taskboxPage(req, null);
		}
		const more = rows.length > PAGE_SIZE;
		if (more)
			rows.pop();
		let total = rows.length;
		if (more || after) {
			const { rows: [c] } = await query(req,
				'SELECT count(*)::int AS n FROM procflow.taskbox(page_size => $1) t', [TOTAL_MAX + 1]);
			total = c.n;
		}
		return { tasks: shown(req, rows), more, total: { n: Math.min(total, TOTAL_MAX), more: total > TOTAL_MAX } };
	};

	/*
	 * These tasks, where they are in the login's taskbox now: taskbox()'s
	 * rule for current_user (assigned to one of its roles, or ready,
	 * unassigned, and of one of its groups or of no group: tasks of no
	 * group are in procflow.tasks only for the flows' owners), read by id
	 * from the tasks view rather than by reading the whole taskbox.
	 */
	const taskboxTasks = async (req, ids) => {
		const { rows } = await query(req,
			`WITH mine AS (SELECT array_agg(r.rolname::text) AS names FROM pg_catalog.pg_roles r
			                WHERE pg_catalog.pg_has_role(r.oid, 'USAGE'))
			 SELECT ${columns} FROM procflow.tasks t, mine
			  WHERE t.activity = ANY ($1::bigint[])
			    AND (t.assignee = ANY (mine.names)
			         OR (t.assignee IS NULL AND t.status = 'ready'
			             AND (t."group" IS NULL OR t."group" = ANY (mine.names))))`, [ids]);
		return shown(req, rows);
	};

	app.get('/taskbox', { schema: schemas.taskbox }, async (req, reply) => {
		const after = typeof req.query.after === 'string' && isRowId(req.query.after) ? req.query.after : null;
		if (req.query.part === 'tasks' && typeof req.query.ids === 'string') {
			const ids = req.query.ids.split(',').filter(isRowId).slice(0, 1000);
			return render(reply, 'tasks.eta', req, { tasks: await taskboxTasks(req, ids), partial: true });
		}
		const page = await taskboxPage(req, after);
		const data = { ...page, after, partial: false, title: 'Taskbox' };
		return render(reply, req.query.part === 'tasks' ? 'tasks.eta' : 'taskbox.eta', req, data);
	});

	app.post('/tasks/:id(^\\d+$)/:action(^claim|release|complete|skip$)', { schema: schemas.taskAction }, async (req, reply) => {
		const id = req.params.id;
		const body = req.body || {};
		if (req.params.action !== 'complete')
			await act(req, TASK_ACTIONS, req.params.action, id);
		else {
			// the form as the task has it now: its fields give the types
			const { rows: [task] } = await query(req,
				'SELECT form FROM procflow.tasks WHERE activity = $1', [id]);
			if (task && !task.form && Object.keys(body).some((k) => k.startsWith('f.')))
				throw httpError(400, 'This task has no form.', 'It is completed without values.');
			const vars = formVars(task && task.form, body);
			await query(req, 'SELECT procflow.complete_task($1, $2, $3)',
				[id, typeof body.outcome === 'string' && body.outcome !== '' ? body.outcome : null,
					JSON.stringify(vars)]);
		}
		return reply.redirect(back(req, '/taskbox'), 303);
	});

	// Every task the login may see, as a list with filters, for admins.
	app.get('/tasks', { schema: schemas.tasks }, async (req, reply) => {
		const { where, params, f } = taskFilters(req.query);
		const list = await listPage(req, TASKS, where, params);
		return render(reply, 'task_list.eta', req, { title: 'Tasks', list, f,
			notice: told(req.login, req.query.notice), here: req.url, bulkMax: BULK_MAX });
	});

	// Assign, release or skip the selected tasks, or all that match the filters.
	app.post('/tasks/bulk', { schema: schemas.tasksBulk }, async (req, reply) => {
		const body = req.body || {};
		let ids = selectedIds(body);
		if (body.all === 'yes') {
			const { where, params } = taskFilters(body);
			const { rows } = await query(req,
				`SELECT activity FROM procflow.tasks ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
				  ORDER BY activity LIMIT ${BULK_MAX}`, params);
			ids = rows.map((r) => r.activity);
		}
		let text;
		if (body.action === 'assign') {
			const assignee = typeof body.assignee_to === 'string' ? body.assignee_to.trim() : '';
			text = summary(await actOnEach(req, 'assign_task', ids, [assignee || null]), 'Assigned', 'task',
				` to ${assignee}`);
		} else {
			const [fn, word] = TASK_BULK_ACTIONS[body.action];
			text = summary(await actOnEach(req, fn, ids), word, 'task');
		}
		return reply.redirect(withNotice(back(req, '/tasks'), tell(req.login, text)), 303);
	});

	// The owner's side: give a ready task to someone.
	app.post('/tasks/:id(^\\d+$)/assign', { schema: schemas.taskAssign }, async (req, reply) => {
		const assignee = req.body && typeof req.body.assignee === 'string' ? req.body.assignee.trim() : '';
		await query(req, 'SELECT procflow.assign_task($1, $2)', [req.params.id, assignee || null]);
		return reply.redirect(back(req, '/taskbox'), 303);
	});

	/*
	 * Server-sent events: "live" once the server listens (the browser then
	 * reads its list whole), then "tasks" with the ids of the tasks that
	 * changed.  A stream that ends is opened again by the browser.
	 */
	app.get('/events', async (req, reply) => {
		let closed = false;
		let keepalive = null;
		const pool = req.pool;
		const client = {
			send(ids) {
				if (!closed)
					reply.raw.write(`event: tasks\ndata: ${ids.join(',')}\n\n`);
			},
			end() {
				if (closed)
					return;
				closed = true;
				clearInterval(keepalive);
				stream.unsubscribe(pool, client);
				reply.raw.end();
			},
		};
		reply.hijack();
		reply.raw.writeHead(200, {
			'Content-Type': 'text/event-stream',
			'Cache-Control': 'no-store',
			Connection: 'keep-alive',
		});
		reply.raw.write('retry: 2000\n\n');
		req.raw.on('close', () => client.end());
		try {
			await stream.subscribe(pool, client);
		} catch {
			client.end();
			return;
		}
		if (closed)
			return;
		reply.raw.write('event: live\ndata: \n\n');
		keepalive = setInterval(() => reply.raw.write(': keepalive\n\n'), 25000);
	});
}
