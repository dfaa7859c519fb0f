// The worker's page in headless Chromium: a role that only works tasks
// (web_worker, a member of the group role finance and of nothing of
// web_admin's) sees its taskbox, fills a task's form and completes it
// after a confirmation; open taskboxes share one listening connection and
// read only the tasks that changed; and a hostile worker gets nothing of
// the owner's.
//
// Copyright (c) 2026, procflow developers

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';

import { url, shots, admin, worker, useBrowser, pageAs, sql, until, launch, asAdmin } from './helpers.js';
import { readLinks, taskLink } from '../lib/task_links.js';

useBrowser();

// The open review tasks of invoice_flow, as web_admin sees them.
const openTasks = () => asAdmin(
	`SELECT t.activity::text AS id, (t.key->>'id')::int AS invoice FROM procflow.tasks t
	  WHERE t.flow = 'invoice_flow' ORDER BY t.activity`);

// Close every open task of invoice_flow (as its owner), so a test starts from none.
async function clearTasks() {
	for (const t of await openTasks())
		await asAdmin("SELECT procflow.complete_task($1, 'reject')", [t.id]);
}

test("the worker's view: its taskbox only, a task with its form, completed after a confirmation", async () => {
	await clearTasks();
	const page = await pageAs(worker);
	const questions = [];
	page.removeAllListeners('dialog');
	page.on('dialog', (dialog) => {
		questions.push(dialog.message());
		dialog.accept();
	});
	await page.goto(`${url}/`);
	await page.waitForURL(`${url}/taskbox`);
	assert.deepEqual(await page.locator('header nav a').allTextContents(), ['Taskbox'],
		'a worker is shown its taskbox, not the admin\'s pages');
	await page.locator('body[data-live="yes"]').waitFor();
	const id = await launch(7);
	const task = page.locator('.task');
	await task.waitFor({ timeout: 10000 });
	assert.equal(await task.locator('.flow').textContent(), 'Invoice approval', 'the flow\'s label');
	// the tasks list shows the key, with no link to an instance page the worker may not see
	const list = await page.context().newPage();
	await list.goto(`${url}/tasks`);
	assert.ok(await list.locator('#task-list tbody tr').count() > 0, 'the tasks list shows the task');
	assert.equal(await list.locator('a[href^="/instances/"]').count(), 0);
	await list.close();
	assert.equal(await task.locator('.key').textContent(), 'id 7', 'the row\'s key');
	assert.equal(await task.locator('a.row-link').getAttribute('href'), 'https://erp.example/invoices/7',
		'a link to the row in the application');
	assert.equal(await task.getByLabel('Approved amount').inputValue(), '700', 'the form, with its default');
	await task.getByRole('button', { name: 'Claim' }).click();
	await page.waitForURL(`${url}/taskbox`);
	await page.locator('body[data-live="yes"]').waitFor();
	await page.getByLabel('Approved amount').fill('650.5');
	await page.getByLabel('Pay on').fill('2027-01-15');
	await page.getByLabel('Note').fill('<b>ok</b> "quoted"');
	await page.getByLabel('Urgent').check();
	await page.getByLabel('Account').selectOption('assets');
	await page.screenshot({ path: path.join(shots, 'taskbox.png') });
	await page.locator('.task').getByRole('button', { name: /^Approve/ }).click();
	await page.waitForURL(`${url}/taskbox`);
	assert.deepEqual(questions, ['Complete the task “Review invoice 7 of 700” as Approve?']);
	await until(`SELECT vars = '{"approved_amount": 650.5, "pay_on": "2027-01-15", "note": "<b>ok</b> \\"quoted\\"", "urgent": true, "account": "assets"}'
	               FROM procflow.instances WHERE id = $1`, [id], 'the form\'s values in the instance\'s vars');
	assert.deepEqual(await sql(`SELECT outcome, closed_by FROM procflow.activities WHERE instance = $1 AND name = 'review'`, [id]),
		[{ outcome: 'approve', closed_by: 'web_worker' }]);
	await page.locator('#no-tasks').waitFor();
	await page.context().close();
});

test('a value the form refuses is told, and nothing is written', async () => {
	await clearTasks();
	const id = await launch(8);
	const page = await pageAs(worker);
	await page.goto(`${url}/taskbox`);
	const [{ id: task }] = await openTasks();
	const response = await page.request.post(`${url}/tasks/${task}/complete`, {
		form: { outcome: 'approve', 'f.approved_amount': 'lots' }, headers: { Origin: url }, maxRedirects: 0 });
	assert.equal(response.status(), 400);
	assert.match(await response.text(), /approved_amount/);
	// a field sent twice, or one the form does not have, is refused too
	for (const [body, told] of [['outcome=approve&f.note=a&f.note=b', /note/], ['outcome=approve&f.evil=x', /evil/]]) {
		const refused = await page.request.post(`${url}/tasks/${task}/complete`, {
			data: body, headers: { Origin: url, 'Content-Type': 'application/x-www-form-urlencoded' },
			maxRedirects: 0 });
		assert.equal(refused.status(), 400, body);
		assert.match(await refused.text(), told, body);
	}
	assert.deepEqual(await sql('SELECT vars FROM procflow.instances WHERE id = $1', [id]), [{ vars: {} }]);
	await page.context().close();
});

test('a task without a form takes no fields from the page', async () => {
	await asAdmin(`SELECT procflow.create_flow('plain_task_flow', NULL, $1::jsonb)`,
		[JSON.stringify({ start: 'look', activities: { look: { kind: 'human', assignee: 'web_worker', next: 'done' },
			done: { kind: 'end' } } })]);
	const [{ id }] = await asAdmin(`SELECT procflow.launch('plain_task_flow') AS id`);
	const [{ task }] = await sql(`SELECT activity AS task FROM procflow.tasks WHERE instance = $1`, [id]);
	const page = await pageAs(worker);
	const post = (data) => page.request.post(`${url}/tasks/${task}/complete`, {
		data, headers: { Origin: url, 'Content-Type': 'application/x-www-form-urlencoded' }, maxRedirects: 0 });
	const refused = await post('f.approved=true');
	assert.equal(refused.status(), 400);
	assert.match(await refused.text(), /This task has no form/);
	assert.equal((await post('back=%2Ftaskbox')).status(), 303, 'completed without fields');
	assert.deepEqual(await sql('SELECT status, vars FROM procflow.instances WHERE id = $1', [id]),
		[{ status: 'completed', vars: {} }]);
	await page.context().close();
});

test('taskboxes share one listening connection, and read only the tasks that changed', async () => {
	await clearTasks();
	const pages = [];
	for (let i = 0; i < 5; i++) {
		const page = await pageAs(worker);
		await page.goto(`${url}/taskbox`);
		await page.locator('body[data-live="yes"]').waitFor();
		pages.push(page);
	}
	const [{ n }] = await sql(`SELECT count(*)::int AS n FROM pg_stat_activity
	                            WHERE application_name = 'procflow web listener'`);
	assert.equal(n, 1, 'one listening connection for five taskboxes');
	assert.equal((await pages[0].request.get(`${url}/instances`)).status(), 200,
		'and the login still gets its pages');
	const reads = [];
	pages[0].on('request', (r) => {
		if (r.url().includes('part=tasks'))
			reads.push(new URL(r.url()).searchParams.get('ids'));
	});
	for (let key = 9; key <= 18; key++)
		await launch(key);
	await pages[0].waitForFunction(() => document.querySelectorAll('.task').length === 10);
	const tasks = await openTasks();
	for (const t of tasks)
		await asAdmin("SELECT procflow.complete_task($1, 'reject')", [t.id]);
	await pages[0].locator('#no-tasks').waitFor();
	assert.ok(reads.length > 0 && reads.every((ids) => ids !== null),
		'every read names the tasks that changed: the list is never read whole');
	assert.ok(reads.length < 20, `changes were gathered: ${reads.length} reads for 20 changes`);
	for (const page of pages)
		await page.context().close();
	await until(`SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'procflow web listener'`, [],
		'the listening connection is closed once no taskbox is open');
});

test('a hostile worker reaches nothing of the owner\'s', async () => {
	await clearTasks();
	const id = await launch(19);
	const page = await pageAs(worker);
	const post = (where, form) => page.request.post(`${url}${where}`, { form, headers: { Origin: url }, maxRedirects: 0 });
	await page.goto(`${url}/instances`);
	assert.equal(await page.locator('#instances tbody tr').count(), 0, 'no instances listed');
	assert.equal((await page.request.get(`${url}/instances/${id}`)).status(), 404, 'nor shown');
	assert.equal(await (await page.request.get(`${url}/processes/web_admin/invoice_flow`)).status(), 404,
		'nor the flow\'s definition');
	const bulk = await post('/instances/bulk', { action: 'terminate', id: String(id), back: '/instances' });
	assert.equal(bulk.status(), 303);
	const [{ id: task }] = await openTasks();
	assert.equal((await post(`/tasks/${task}/assign`, { assignee: 'web_worker' })).status(), 403, 'assign is the owner\'s');
	assert.equal((await post(`/instances/${id}/terminate`, {})).status(), 403);
	assert.equal((await post('/processes/web_admin/invoice_flow/disable', {})).status(), 403);
	assert.deepEqual(await sql('SELECT status FROM procflow.instances WHERE id = $1', [id]), [{ status: 'active' }],
		'the instance went on');
	await page.goto(`${url}/instances`);
	// the bulk action's notice, kept for the login, says it was refused
	await post('/instances/bulk', { action: 'suspend', id: String(id), back: '/instances' }).then(async (r) => {
		await page.goto(`${url}${r.headers().location}`);
		assert.match(await page.locator('.notice').textContent(), /Suspended 0 instances\. 1 refused: permission denied/);
	});
	// a notice is only ever the login's own
	const admins = await pageAs(admin);
	const r = await post('/instances/bulk', { action: 'suspend', id: String(id), back: '/instances' });
	await admins.goto(`${url}${r.headers().location}`);
	assert.equal(await admins.locator('.notice').count(), 0);
	await admins.context().close();
	await page.context().close();
});

test('streams dropped before the server listens leave no connection behind', async () => {
	const auth = `Basic ${Buffer.from(`${worker.username}:${worker.password}`).toString('base64')}`;
	await Promise.all(Array.from({ length: 10 }, async () => {
		const stop = new AbortController();
		const response = await fetch(`${url}/events`, { headers: { Authorization: auth }, signal: stop.signal });
		assert.equal(response.status, 200);
		stop.abort();
	}));
	await until(`SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'procflow web listener'`, [],
		'no listening connection once every stream ended');
	const [{ n }] = await sql(`SELECT count(*)::int AS n FROM pg_stat_activity
	                            WHERE application_name = 'procflow web' AND usename = 'web_worker'`);
	assert.ok(n <= 4, `the login's pool holds at most its 4 connections (${n})`);
	const page = await pageAs(worker);
	assert.equal((await page.goto(`${url}/taskbox`)).status(), 200, 'and the login gets its pages');
	await page.context().close();
});

test('a taskbox of many tasks is paged, with its total', async () => {
	await clearTasks();
	await asAdmin(`SELECT count(procflow.launch('invoice_flow', to_jsonb(g))) FROM generate_series(1, 20) g, generate_series(1, 3) r WHERE (g - 1) * 3 + r <= 55`);
	await until(`SELECT count(*) = 55 FROM procflow.tasks WHERE flow = 'invoice_flow'`, [], '55 tasks');
	const page = await pageAs(worker);
	await page.goto(`${url}/taskbox`);
	await page.locator('body[data-live="yes"]').waitFor();
	assert.equal(await page.locator('.task').count(), 50);
	assert.equal(await page.locator('.pager .total').textContent(), '55 tasks');
	const first = await page.locator('.task').evaluateAll((tasks) => tasks.map((t) => t.dataset.task));
	await page.getByRole('link', { name: 'Next' }).click();
	await page.locator('body[data-live="yes"]').waitFor();
	const second = await page.locator('.task').evaluateAll((tasks) => tasks.map((t) => t.dataset.task));
	assert.equal(second.length, 5);
	assert.ok(second.every((id) => !first.includes(id)), 'the next page goes on where the first ended');
	await page.context().close();
	await clearTasks();
});

test('what a person types stays, and keeps its focus, when the task changes under it', async () => {
	await clearTasks();
	await launch(3);
	const page = await pageAs(worker);
	await page.goto(`${url}/taskbox`);
	await page.locator('body[data-live="yes"]').waitFor();
	await page.getByLabel('Note').fill('halfway through a sentence');
	const [{ id: task }] = await openTasks();
	await asAdmin(`SELECT procflow.assign_task($1, 'web_worker')`, [task]);
	// the task is read again: its assignee shows, the form is as the person left it
	await page.locator('.task .muted', { hasText: 'web_worker' }).waitFor();
	assert.equal(await page.getByLabel('Note').inputValue(), 'halfway through a sentence');
	assert.equal(await page.evaluate(() => document.activeElement && document.activeElement.name), 'f.note');
	await page.context().close();
	await clearTasks();
});

test('a link to the row names it in its path only: a template with a field in its host is refused', () => {
	for (const template of ['https://erp.example{code}/', 'https://{code}.erp.example/', 'http://erp.example:{port}/'])
		assert.throws(() => readLinks(null, JSON.stringify({ f: template })), /not in its host/, template);
	assert.throws(() => readLinks(null, JSON.stringify({ f: 'javascript:alert(1)//{code}' })), /http or https/);
	const links = readLinks(null, JSON.stringify({ f: 'https://erp.example/t/{code}?from=procflow#{code}' }));
	assert.equal(taskLink(links, 'f', { code: '../.evil.example/x?y#z' }),
		'https://erp.example/t/..%2F.evil.example%2Fx%3Fy%23z?from=procflow#..%2F.evil.example%2Fx%3Fy%23z');
	assert.equal(taskLink(links, 'f', { other: 1 }), null, 'a key without the field gives no link');
});
