// The admin's lists in headless Chromium: paged with a total, sorted either
// way by a column (aria-sort says which), filtered; bulk actions on the
// selected rows with a confirmation and a notice of what they did;
// incidents that leave the list once skipped; times in the browser's time
// zone, labelled; buttons named with their row.
//
// Copyright (c) 2026, procflow developers

import { test, before } from 'node:test';
import assert from 'node:assert/strict';

import { url, admin, useBrowser, pageAs, sql, until, asAdmin } from './helpers.js';

useBrowser();

before(async () => {
	// a flow whose instances wait (and stay active), and one whose step fails
	await asAdmin(`SELECT procflow.create_flow('waiting_flow', NULL, $1::jsonb, label => 'Waiting')`,
		[JSON.stringify({ start: 'rest', activities: {
			rest: { kind: 'wait', timeout: '1 day', next: 'done' }, done: { kind: 'end' } } })]);
	await asAdmin(`SELECT procflow.create_flow('failing_flow', NULL, $1::jsonb, max_attempts => 1)`,
		[JSON.stringify({ start: 'divide', activities: {
			divide: { kind: 'automatic', action: 'SELECT 1 / 0', next: 'done' }, done: { kind: 'end' } } })]);
	await asAdmin(`SELECT count(procflow.launch('waiting_flow')) FROM generate_series(1, 120)`);
});

test('instances are paged with a total, sorted either way, and filtered', async () => {
	const page = await pageAs(admin);
	await page.goto(`${url}/instances?flow=web_admin/waiting_flow`);
	assert.match(await page.locator('.pager .total').first().textContent(), /^120 instances$/);
	const ids = async () => (await page.locator('#instances tbody tr').evaluateAll(
		(rows) => rows.map((r) => Number(r.dataset.instance))));
	const first = await ids();
	assert.equal(first.length, 50);
	assert.deepEqual(first, [...first].sort((a, b) => b - a), 'newest first');
	assert.equal(await page.locator('th[aria-sort]').getAttribute('aria-sort'), 'descending');
	await page.getByRole('link', { name: 'Next' }).first().click();
	const second = await ids();
	assert.equal(second.length, 50);
	assert.ok(Math.max(...second) < Math.min(...first), 'the next page goes on where the first ended');
	await page.getByRole('link', { name: 'Next' }).first().click();
	assert.equal((await ids()).length, 20);
	await page.getByRole('link', { name: 'Previous' }).first().click();
	assert.deepEqual(await ids(), second, 'and back');
	// sort by id the other way
	await page.getByRole('link', { name: /^Id/ }).click();
	assert.equal(await page.locator('th[aria-sort]').getAttribute('aria-sort'), 'ascending');
	const ascending = await ids();
	assert.deepEqual(ascending, [...ascending].sort((a, b) => a - b));
	assert.ok(ascending[0] < first[49]);
	// filters: status, and a key
	await page.goto(`${url}/instances?flow=web_admin/waiting_flow&status=completed`);
	assert.match(await page.locator('.pager .total').first().textContent(), /^0 instances$/);
	// a day that is not one of the calendar filters nothing (and is no error)
	for (const bad of ['to=2020-02-30', 'from=2020-13-45', 'from=notaday'])
		assert.equal((await page.goto(`${url}/instances?flow=web_admin/waiting_flow&${bad}`)).status(), 200, bad);
	assert.match(await page.locator('.pager .total').first().textContent(), /^120 instances$/);
	await page.goto(`${url}/instances?q=${encodeURIComponent('{"id": 3}')}`);
	for (const key of await page.locator('#instances tbody td:nth-child(5)').allTextContents())
		assert.equal(key, '{"id": 3}');
	await page.context().close();
});

test('instances sort by key in its text\'s byte order, page by page, and are found by a key value', async () => {
	await asAdmin(`CREATE TABLE ticket (code text PRIMARY KEY)`);
	await asAdmin(`INSERT INTO ticket SELECT 't' || g FROM generate_series(1, 60) g`);
	await asAdmin(`SELECT procflow.create_flow('ticket_flow', 'ticket', $1::jsonb)`,
		[JSON.stringify({ start: 'rest', activities: {
			rest: { kind: 'wait', timeout: '1 day', next: 'done' }, done: { kind: 'end' } } })]);
	await asAdmin(`SELECT count(procflow.launch('ticket_flow', jsonb_build_object('code', code))) FROM ticket`);
	const page = await pageAs(admin);
	const keys = async () => (await page.locator('#instances tbody td:nth-child(5)').allTextContents())
		.map((k) => JSON.parse(k).code);
	const codes = Array.from({ length: 60 }, (_, i) => `t${i + 1}`).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
	await page.goto(`${url}/instances?flow=web_admin/ticket_flow&sort=key&dir=asc`);
	assert.equal(await page.locator('th[aria-sort]').getAttribute('aria-sort'), 'ascending');
	assert.deepEqual(await keys(), codes.slice(0, 50), 't1, t10, t11, ...: byte order');
	await page.getByRole('link', { name: 'Next' }).first().click();
	assert.deepEqual(await keys(), codes.slice(50), 'the next page goes on after the last key');
	await page.goto(`${url}/instances?flow=web_admin/ticket_flow&sort=key&dir=desc`);
	assert.deepEqual(await keys(), [...codes].reverse().slice(0, 50), 'and the other way');
	// a value of the key, as its text
	await page.goto(`${url}/instances?q=t7`);
	assert.deepEqual(await keys(), ['t7']);
	assert.match(await page.locator('.pager .total').first().textContent(), /^1 instance$/);
	await page.context().close();
});

test('a bulk action asks first, acts on the selected rows, and says what it did', async () => {
	const page = await pageAs(admin);
	const questions = [];
	page.removeAllListeners('dialog');
	page.on('dialog', (dialog) => {
		questions.push(dialog.message());
		dialog.accept();
	});
	await page.goto(`${url}/instances?flow=web_admin/waiting_flow&status=active`);
	const rows = page.locator('#instances tbody tr');
	const chosen = [];
	for (let i = 0; i < 3; i++) {
		chosen.push(await rows.nth(i).getAttribute('data-instance'));
		await rows.nth(i).getByRole('checkbox').check();
	}
	await page.getByRole('button', { name: 'Suspend selected' }).click();
	await page.waitForURL(/notice=/);
	assert.match(questions[0], /^Suspend the selected instances/);
	assert.equal(await page.locator('.notice').textContent(), 'Suspended 3 instances.');
	assert.deepEqual(await sql(`SELECT DISTINCT status FROM procflow.instances WHERE id = ANY ($1)`, [chosen]),
		[{ status: 'suspended' }]);
	// every instance that matches a filter
	await page.goto(`${url}/instances?flow=web_admin/waiting_flow&status=suspended`);
	await page.getByLabel(/every instance that matches/).check();
	await page.getByRole('button', { name: 'Resume selected' }).click();
	await page.waitForURL(/notice=/);
	assert.equal(await page.locator('.notice').textContent(), 'Resumed 3 instances.');
	assert.deepEqual(await sql(`SELECT count(*)::int AS n FROM procflow.instances
	                             WHERE flow = 'waiting_flow' AND status = 'suspended'`), [{ n: 0 }]);
	// declining the confirmation sends nothing
	page.removeAllListeners('dialog');
	page.on('dialog', (dialog) => dialog.dismiss());
	await page.goto(`${url}/instances?flow=web_admin/waiting_flow&status=active`);
	await page.locator('#instances tbody tr').first().getByRole('checkbox').check();
	await page.getByRole('button', { name: 'Terminate selected' }).click();
	assert.deepEqual(await sql(`SELECT count(*)::int AS n FROM procflow.instances
	                             WHERE flow = 'waiting_flow' AND status = 'terminated'`), [{ n: 0 }]);
	await page.context().close();
});

test('an incident shows its error, and leaves the list once skipped', async () => {
	const [{ id }] = await asAdmin(`SELECT procflow.launch('failing_flow') AS id`);
	await until(`SELECT status = 'failed' FROM procflow.activities WHERE instance = $1`, [id], 'the step failed');
	const page = await pageAs(admin);
	await page.goto(`${url}/processes/web_admin/failing_flow`);
	assert.match(await page.locator('#picture svg').textContent(), /1 failed/, 'the picture counts the failed step');
	await page.goto(`${url}/processes/web_admin/waiting_flow`);
	assert.match(await page.locator('#picture svg').textContent(), /\d+ live/, 'and the live waits');
	await page.goto(`${url}/incidents`);
	const row = page.locator(`#incidents tr:has(a[href="/instances/${id}"])`);
	assert.match(await row.locator('.error-text').textContent(), /division by zero/);
	// the context PostgreSQL gave: the statement the action failed at
	await row.locator('.error-context summary').click();
	assert.match(await row.locator('.error-context pre').textContent(), /^SQL statement "/);
	// and the action that failed, as procflow.activities gives it
	await row.locator('details:not(.error-context) summary').click();
	assert.equal(await row.locator('details:not(.error-context) pre').textContent(), 'SELECT 1 / 0');
	await row.getByRole('checkbox').check();
	await page.getByRole('button', { name: 'Skip selected' }).click();
	await page.waitForURL(/notice=/);
	assert.equal(await page.locator('.notice').textContent(), 'Skipped 1 activity.');
	assert.equal(await page.locator(`#incidents a[href="/instances/${id}"]`).count(), 0);
	await until(`SELECT status = 'completed' FROM procflow.instances WHERE id = $1`, [id], 'the instance went on');
	await page.context().close();
});

test('times are shown in the browser\'s time zone and say which', async () => {
	const context = await (await pageAs(admin)).context();
	await context.close();
	const page = await pageAs(admin, undefined, 'America/Sao_Paulo');
	await page.goto(`${url}/instances?flow=web_admin/waiting_flow`);
	assert.equal(await page.locator('[data-zone-label]').textContent(), 'America/Sao_Paulo');
	const time = page.locator('#instances time').first();
	const utc = new Date(await time.getAttribute('datetime'));
	const local = new Date(utc.getTime() - 180 * 60000).toISOString().slice(0, 19).replace('T', ' ');
	assert.equal(await time.textContent(), local);
	await page.context().close();
});

test('the processes grid and the statistics sort either way, with their totals', async () => {
	const page = await pageAs(admin);
	await page.goto(`${url}/processes?sort=name&dir=desc`);
	const names = await page.locator('#processes tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.process));
	assert.deepEqual(names, [...names].sort().reverse());
	assert.equal(await page.locator('th[aria-sort]').getAttribute('aria-sort'), 'descending');
	assert.match(await page.locator('.pager .total').first().textContent(), new RegExp(`^${names.length} process`));
	await page.goto(`${url}/stats?sort=runs&dir=desc`);
	const runs = await page.locator('#stats tbody tr td:nth-child(4)').allTextContents();
	assert.deepEqual(runs.map(Number), runs.map(Number).sort((a, b) => b - a));
	assert.equal(await page.locator('#stats th[aria-sort]').getAttribute('aria-sort'), 'descending');
	await page.context().close();
});

test('buttons are named with their row, and the lists fit a narrow window', async () => {
	const page = await pageAs(admin, { width: 390, height: 800 });
	await page.goto(`${url}/processes`);
	assert.equal(await page.getByRole('button', { name: 'Deactivate audit_invoice of web_admin' }).count(), 1);
	for (const p of ['/instances', '/tasks', '/incidents', '/jobs', '/jobs?list=history', '/stats']) {
		await page.goto(`${url}${p}`);
		const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
		assert.ok(overflow <= 1, `${p} fits: ${overflow}px too wide`);
	}
	await page.context().close();
});

test('the owner changes an instance\'s vars from its page; the change is kept in its history', async () => {
	const [{ id }] = await asAdmin(`SELECT procflow.launch('waiting_flow', vars => '{"a": 1}') AS id`);
	const page = await pageAs(admin);
	await page.goto(`${url}/instances/${id}`);
	await page.getByLabel(/Change vars/).fill('{"b": "<i>two</i>"}');
	await page.getByRole('button', { name: 'Change vars' }).click();
	await page.waitForURL(/notice=/);
	assert.equal(await page.locator('.notice').textContent(), `Changed the vars of instance ${id}.`);
	assert.deepEqual(JSON.parse(await page.locator('#vars').textContent()), { a: 1, b: '<i>two</i>' });
	assert.deepEqual(await page.locator('#vars-changes tbody td:nth-child(2)').allTextContents(), ['web_admin']);
	assert.equal(await page.locator('#vars-changes i').count(), 0, 'what was typed is shown as text');
	const bad = await page.request.post(`${url}/instances/${id}/vars`, { form: { vars: '{oops' }, headers: { Origin: url } });
	assert.equal(bad.status(), 400);
	assert.match(await bad.text(), /The vars are not JSON/);
	await page.context().close();
});

test('the tasks list: filtered, sorted, and assigned in bulk', async () => {
	const ids = [];
	for (const key of [11, 12, 13])
		ids.push((await asAdmin("SELECT procflow.launch('invoice_flow', $1::jsonb) AS id", [String(key)]))[0].id);
	await until(`SELECT count(*) = 3 FROM procflow.activities WHERE instance = ANY ($1) AND status = 'ready'`, [ids],
		'three tasks');
	const page = await pageAs(admin);
	await page.goto(`${url}/tasks?flow=invoice_flow&sort=activity&dir=asc`);
	assert.match(await page.locator('.pager .total').first().textContent(), /^3 tasks$/);
	const shown = await page.locator('#task-list tbody tr').evaluateAll((rows) => rows.map((r) => Number(r.dataset.task)));
	assert.deepEqual(shown, [...shown].sort((a, b) => a - b));
	assert.equal(await page.locator('th[aria-sort]').getAttribute('aria-sort'), 'ascending');
	// every task that matches a key, assigned
	await page.goto(`${url}/tasks?flow=invoice_flow&q=12`);
	assert.match(await page.locator('.pager .total').first().textContent(), /^1 task$/);
	await page.getByLabel('Assign to').fill('web_worker');
	await page.getByLabel(/every task that matches/).check();
	await page.getByRole('button', { name: 'Assign selected' }).click();
	await page.waitForURL(/notice=/);
	assert.equal(await page.locator('.notice').textContent(), 'Assigned 1 task to web_worker.');
	assert.deepEqual(await sql(`SELECT (i.key->>'id')::int AS invoice, a.assignee FROM procflow.activities a
	                              JOIN procflow.instances i ON i.id = a.instance
	                             WHERE a.instance = ANY ($1) ORDER BY 1`, [ids]),
	[{ invoice: 11, assignee: null }, { invoice: 12, assignee: 'web_worker' }, { invoice: 13, assignee: null }]);
	await page.context().close();
	for (const id of ids)
		await asAdmin(`SELECT procflow.complete_task(a.id, 'reject') FROM procflow.activities a
		                WHERE a.instance = $1 AND a.status IN ('ready', 'open')`, [id]);
});

test('jobs are filtered by when they finished, and acted on in bulk', async () => {
	await asAdmin(`SELECT procflow.run_process('audit_invoice', '{"id": 1}', delay => '1 hour')`);
	await asAdmin(`SELECT procflow.run_process('audit_invoice', '{"id": 2}', delay => '1 hour')`);
	const page = await pageAs(admin);
	const today = new Date().toISOString().slice(0, 10);
	await page.goto(`${url}/jobs?process=audit_invoice&from=${today}`);
	assert.match(await page.locator('.pager .total').first().textContent(), /^2 jobs$/);
	await page.goto(`${url}/jobs?process=audit_invoice&q=2`);
	assert.match(await page.locator('.pager .total').first().textContent(), /^1 job$/, 'by key');
	await page.goto(`${url}/jobs?process=audit_invoice&from=2000-01-01&to=2000-01-02`);
	assert.match(await page.locator('.pager .total').first().textContent(), /^0 jobs$/);
	await page.goto(`${url}/jobs?process=audit_invoice`);
	await page.getByLabel(/every job that matches/).check();
	await page.getByRole('button', { name: 'Cancel selected' }).click();
	await page.waitForURL(/notice=/);
	assert.equal(await page.locator('.notice').textContent(), 'Cancelled 2 jobs.');
	assert.deepEqual(await sql(`SELECT count(*)::int AS n FROM procflow.jobs WHERE process = 'audit_invoice'`), [{ n: 0 }]);
	await page.goto(`${url}/jobs?list=history&process=audit_invoice&status=cancelled&from=${today}`);
	assert.match(await page.locator('.pager .total').first().textContent(), /^2 jobs$/);
	await page.context().close();
});

test('a request of a shape no page sends is refused on the error page, naming what is wrong', async () => {
	const page = await pageAs(admin);
	const post = (path, data) => page.request.post(`${url}${path}`, {
		data, headers: { Origin: url, 'Content-Type': 'application/x-www-form-urlencoded' }, maxRedirects: 0 });
	for (const [path, data, told] of [
		['/jobs/bulk', 'action=drop&id=1', /body\/action must be equal to one of the allowed values/],
		['/instances/bulk', 'action=terminate&id=12x', /body\/id must match/],
		['/tasks/bulk', 'id=1', /body must have required property &#39;action&#39;/],
	]) {
		const refused = await post(path, data);
		assert.equal(refused.status(), 400, path);
		const body = await refused.text();
		assert.match(body, /This request is not one the page sends/, path);
		assert.match(body, told, path);
		assert.match(body, /<h1>Refused<\/h1>/, path);
	}
	const skipJob = await post('/incidents/bulk', 'list=jobs&action=skip&id=1');
	assert.equal(skipJob.status(), 400);
	assert.match(await skipJob.text(), /A failed job cannot be skipped/);
	// a list's selector or filter given twice, or one that is not a choice
	const twice = await page.goto(`${url}/jobs?list=history&list=pending`);
	assert.equal(twice.status(), 400);
	assert.match(await page.locator('main, body').first().textContent(), /querystring\/list must be string/);
	const other = await page.goto(`${url}/instances?status=lost`);
	assert.equal(other.status(), 400);
	// and what the page's own links carry still works: an empty choice is none
	const empty = await page.goto(`${url}/instances?status=&flow=&q=`);
	assert.equal(empty.status(), 200);
	assert.equal(await page.locator('#instances tbody tr').count() > 0, true);
	await page.context().close();
});
