// The taskbox: the login's tasks and those of its groups, each with what a
// person needs to work it (the flow's label, the instructions, the row's
// key and a link to it, the form), the buttons that act on it, and the
// live stream that keeps it up to date (lib/task_stream.js).
//
// Copyright (c) 2026, procflow developers

import { query, back } from '../lib/requests.js';
import { isTaskId } from '../lib/task_stream.js';
import { taskLink } from '../lib/task_links.js';
import { formVars } from '../lib/task_forms.js';

// The most tasks a taskbox page lists.
const PAGE_SIZE = 50;

export default async function taskRoutes(app, { stream, links, render }) {
	/*
	 * The login's taskbox (procflow.taskbox() for current_user: its tasks,
	 * those of its groups, and as a worker those of its roles), a page of
	 * it, or only the tasks of these ids.
	 */
	const taskbox = async (req, ids, offset) => {
		const { rows } = await query(req,
			`SELECT t.activity, t.instance, t.flow, coalesce(t.flow_label, t.flow) AS flow_label,
			        t.name, t.status, t.assignee, t."group", t.instructions, t.due_at,
			        t.due_at < now() AS overdue, t.key, t.form, t.outcomes, t.allow_skip,
			        t.assignee = current_user AS mine, count(*) OVER () AS total
			   FROM procflow.taskbox() t
			  WHERE $1::bigint[] IS NULL OR t.activity = ANY ($1)
			  LIMIT $2 OFFSET $3`, [ids, ids ? null : PAGE_SIZE, ids ? 0 : offset]);
		stream.shown(req.pool, rows.map((t) => t.activity));
		for (const t of rows)
			t.link = taskLink(links, t.flow, t.key);
		return rows;
	};

	app.get('/taskbox', async (req, reply) => {
		const offset = Math.max(0, Number.parseInt(req.query.offset, 10) || 0);
		if (req.query.part === 'tasks') {
			const ids = typeof req.query.ids === 'string' && req.query.ids !== ''
				? req.query.ids.split(',').filter(isTaskId) : null;
			const tasks = await taskbox(req, ids, offset);
			return render(reply, 'tasks.eta', req, { tasks, offset, pageSize: PAGE_SIZE, partial: ids !== null });
		}
		const tasks = await taskbox(req, null, offset);
		return render(reply, 'taskbox.eta', req, { title: 'Taskbox', tasks, offset, pageSize: PAGE_SIZE,
			partial: false });
	});

	app.post('/tasks/:id(^\\d+$)/:action(^claim|release|complete|skip$)', async (req, reply) => {
		const id = req.params.id;
		const body = req.body || {};
		switch (req.params.action) {
			case 'claim':
				await query(req, 'SELECT procflow.claim_task($1)', [id]);
				break;
			case 'release':
				await query(req, 'SELECT procflow.release_task($1)', [id]);
				break;
			case 'skip':
				await query(req, 'SELECT procflow.skip_activity($1)', [id]);
				break;
			default: {
				// the form as the task has it now: its fields give the types
				const { rows: [task] } = await query(req,
					'SELECT form FROM procflow.tasks WHERE activity = $1', [id]);
				const vars = task && task.form ? formVars(task.form, body) : {};
				await query(req, 'SELECT procflow.complete_task($1, $2, $3)',
					[id, typeof body.outcome === 'string' && body.outcome !== '' ? body.outcome : null,
						JSON.stringify(vars)]);
			}
		}
		return reply.redirect(back(req, '/taskbox'), 303);
	});

	// The owner's side: give a ready task to someone.
	app.post('/tasks/:id(^\\d+$)/assign', async (req, reply) => {
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
