// End-to-end tests of procflow's page in headless Chromium, against a real
// cluster (see ./run): what an admin and a task worker do, what a stranger
// cannot, and the screenshots of the README.
//
// Copyright (c) 2026, procflow developers

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execSync } from 'node:child_process';
import http from 'node:http';

import { build } from '../server.js';
import { url, shots, admin, worker, stranger, db, useBrowser, pageAs, sql, until, launch, asRole, asAdmin } from './helpers.js';

useBrowser();

test('a bad password is refused, and the page asks to log in', async () => {
	const page = await pageAs({ username: 'web_admin', password: 'wrong' });
	const response = await page.goto(`${url}/processes`);
	assert.equal(response.status(), 401);
	assert.match(response.headers()['www-authenticate'], /Basic/);
	await page.context().close();
});

test('the admin deactivates and activates a process from the grid', async () => {
	const page = await pageAs(admin);
	await page.goto(`${url}/processes`);
	const row = page.locator('tr[data-process="audit_invoice"]');
	await row.getByRole('button', { name: 'Deactivate' }).click();
	await page.waitForURL(`${url}/processes`);
	assert.equal(await row.locator('.enabled').textContent(), 'no');
	assert.deepEqual(await sql("SELECT enabled FROM procflow.processes WHERE name = 'audit_invoice'"),
		[{ enabled: false }]);
	await row.getByRole('button', { name: 'Activate' }).click();
	await page.waitForURL(`${url}/processes`);
	assert.deepEqual(await sql("SELECT enabled FROM procflow.processes WHERE name = 'audit_invoice'"),
		[{ enabled: true }]);
	// sort and filter
	await page.goto(`${url}/processes?q=invoice&sort=name`);
	assert.deepEqual(await page.locator('tbody tr').evaluateAll(
		(rows) => rows.map((r) => r.dataset.process)), ['audit_invoice', 'invoice_flow']);
	await page.goto(`${url}/processes?q=approval`);
	assert.equal(await page.locator('tbody tr').count(), 1);
	await page.goto(`${url}/processes`);
	await page.screenshot({ path: path.join(shots, 'processes.png') });
	await page.context().close();
});

test("a flow's details show its triggers, versions and a picture naming every activity", async () => {
	const page = await pageAs(admin);
	await page.goto(`${url}/processes/web_admin/invoice_flow`);
	const names = (await sql(`SELECT jsonb_object_keys(definition->'activities') AS name
	                            FROM procflow.flow_versions WHERE flow = 'invoice_flow'`)).map((r) => r.name);
	const text = await page.locator('#picture svg').textContent();
	for (const name of names)
		assert.ok(text.includes(name), `the picture names ${name}`);
	assert.equal(await page.locator('#versions tbody tr').count(), 1);
	await page.goto(`${url}/processes/web_admin/audit_invoice`);
	assert.match(await page.locator('#triggers').textContent(), /update\s*status\s*yes/);
	await page.context().close();
});

test('a task appears in the taskbox without a reload; completing it moves the instance on', async () => {
	const page = await pageAs(worker);
	await page.goto(`${url}/taskbox`);
	await page.locator('#no-tasks').waitFor();
	await page.locator('body[data-live="yes"]').waitFor();
	const id = await launch(1);
	// the page did not reload: the notification brought the task
	const task = page.locator('.task');
	await task.waitFor({ timeout: 10000 });
	assert.match(await task.locator('.what').textContent(), /Review invoice 1 of 100/);
	await task.getByRole('button', { name: 'Claim' }).click();
	await page.waitForURL(`${url}/taskbox`);
	assert.equal(await page.locator('.task .status').textContent(), 'open');
	await page.locator('.task').getByRole('button', { name: 'Approve' }).click();
	await page.waitForURL(`${url}/taskbox`);
	await until(`SELECT status = 'booked' FROM invoice WHERE id = 1`, [], 'the automatic step after approval');
	assert.deepEqual(await sql(
		`SELECT name, status, outcome, closed_by FROM procflow.activities WHERE instance = $1 ORDER BY id`, [id]),
	[{ name: 'review', status: 'closed', outcome: 'approve', closed_by: 'web_worker' },
		{ name: 'book', status: 'closed', outcome: null, closed_by: null },
		{ name: 'paid', status: 'waiting', outcome: null, closed_by: null }]);
	await page.locator('#no-tasks').waitFor();
	await page.context().close();
});

test('the admin suspends, resumes and terminates an instance from its page', async () => {
	const id = await launch(2);
	const page = await pageAs(admin);
	await page.goto(`${url}/instances?flow=invoice_flow&status=active`);
	await page.getByRole('link', { name: String(id), exact: true }).click();
	await page.waitForURL(`${url}/instances/${id}`);
	assert.ok((await page.locator('#picture svg').textContent()).includes('review'));
	// its task does not allow skipping: no Skip button
	assert.equal(await page.locator('tr[data-activity="review"] button', { hasText: 'Skip' }).count(), 0);
	await page.screenshot({ path: path.join(shots, 'instance.png'), fullPage: true });
	await page.getByRole('button', { name: 'Suspend' }).click();
	await page.waitForURL(`${url}/instances/${id}`);
	assert.equal(await page.locator('#status').textContent(), 'suspended');
	assert.deepEqual(await sql('SELECT status FROM procflow.instances WHERE id = $1', [id]), [{ status: 'suspended' }]);
	await page.getByRole('button', { name: 'Resume' }).click();
	await page.waitForURL(`${url}/instances/${id}`);
	assert.equal(await page.locator('#status').textContent(), 'active');
	await page.getByRole('button', { name: 'Terminate' }).click();
	await page.waitForURL(`${url}/instances/${id}`);
	assert.equal(await page.locator('#status').textContent(), 'terminated');
	assert.deepEqual(await sql(`SELECT status FROM procflow.activities WHERE instance = $1`, [id]),
		[{ status: 'cancelled' }]);
	await page.context().close();
});

test('a stranger sees nothing, and a forged request gets a readable refusal', async () => {
	const id = await launch(3);
	const page = await pageAs(stranger);
	await page.goto(`${url}/processes`);
	assert.equal(await page.locator('tbody tr').count(), 0);
	await page.goto(`${url}/instances`);
	assert.equal(await page.locator('#instances tbody tr').count(), 0);
	await page.goto(`${url}/taskbox`);
	await page.locator('#no-tasks').waitFor();
	const response = await page.request.post(`${url}/instances/${id}/terminate`,
		{ form: { action: 'terminate' }, maxRedirects: 0, headers: { Origin: url } });
	assert.equal(response.status(), 403);
	const body = await response.text();
	assert.match(body, /permission denied for instance/);
	assert.match(body, /Only roles with the privileges of the flow&#39;s owner act on its instances/);
	assert.doesNotMatch(body, /at .*\.js:\d+/);
	assert.deepEqual(await sql('SELECT status FROM procflow.instances WHERE id = $1', [id]), [{ status: 'active' }]);
	// an address of no page is the error page, not a bare JSON answer
	const missing = await page.goto(`${url}/no-such-page?<b>x</b>`);
	assert.equal(missing.status(), 404);
	assert.match(await page.locator('h1').textContent(), /Not found/);
	await page.context().close();
});

test("a form posted from another site's page is refused", async () => {
	const page = await pageAs(admin);
	const response = await page.request.post(`${url}/processes/web_admin/audit_invoice/disable`,
		{ headers: { Origin: 'http://elsewhere.example' }, maxRedirects: 0 });
	assert.equal(response.status(), 403);
	assert.deepEqual(await sql("SELECT enabled FROM procflow.processes WHERE name = 'audit_invoice'"),
		[{ enabled: true }]);
	await page.context().close();
});

test('the pages fit a narrow window', async () => {
	const page = await pageAs(admin, { width: 380, height: 800 });
	for (const p of ['/processes', '/instances', '/jobs', '/stats', '/taskbox']) {
		await page.goto(`${url}${p}`);
		const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
		const wide = await page.evaluate(() => [...document.querySelectorAll('body *')]
			.filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('.scroll'))
			.map((e) => e.tagName + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : '')).slice(0, 5));
		assert.ok(overflow <= 1, `${p} fits: ${overflow}px too wide (${wide.join(' ')})`);
	}
	await page.context().close();
});

test('a dropped database connection is retried', async () => {
	const page = await pageAs(admin);
	assert.equal((await page.goto(`${url}/processes`)).status(), 200);
	await sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	            WHERE application_name = 'procflow web' AND usename = 'web_admin'`);
	assert.equal((await page.goto(`${url}/processes`)).status(), 200);
	assert.equal(await page.locator('tr[data-process="invoice_flow"]').count(), 1);
	await page.context().close();
});

test('a taskbox whose listening connection dies says so, listens again, and the server stays up', async () => {
	const page = await pageAs(worker);
	await page.goto(`${url}/taskbox`);
	await page.locator('body[data-live="yes"]').waitFor();
	const [{ count }] = await sql(
		`SELECT count(pg_terminate_backend(pid))::int AS count FROM pg_stat_activity
		  WHERE application_name = 'procflow web listener' AND query = 'LISTEN procflow_task'`);
	assert.equal(count, 1, 'the listening connection was found and terminated');
	await page.locator('body[data-live="no"]').waitFor();
	assert.match(await page.locator('#live-state').textContent(), /reconnecting/);
	await page.locator('body[data-live="yes"]').waitFor({ timeout: 15000 });
	const response = await page.request.get(`${url}/taskbox`);
	assert.equal(response.status(), 200, 'the server still answers');
	// live again: a new task arrives without a reload
	const before = await page.locator('.task').count();
	await launch(5);
	await page.waitForFunction((n) => document.querySelectorAll('.task').length > n, before);
	await page.context().close();
});

test('an event stream open while the listening connection is killed ends, read raw as curl reads it', async () => {
	const response = await fetch(`${url}/events`, { headers: {
		Authorization: `Basic ${Buffer.from(`${worker.username}:${worker.password}`).toString('base64')}` } });
	const reader = response.body.getReader();
	let text = '';
	while (!/event: live/.test(text))
		text += new TextDecoder().decode((await reader.read()).value);
	// found by its name: its last statement may be the ping's
	await until(`SELECT count(pg_terminate_backend(pid)) = 1 FROM pg_stat_activity
	              WHERE application_name = 'procflow web listener'`, [], 'the listener killed');
	const deadline = Date.now() + 10000;
	let ended = false;
	while (!ended && Date.now() < deadline) {
		const { done } = await Promise.race([reader.read(),
			new Promise((resolve) => setTimeout(() => resolve({ done: false }), 500))]);
		ended = done;
	}
	assert.ok(ended, 'the stream ended, so that its browser opens it again');
});

test('the event stream passes on only task ids the login may see', async () => {
	// the stranger owns a flow of its own, with a task for itself: it sees activities
	const asStranger = (text, params = []) => asRole('web_stranger', text, params);
	await asStranger(`SELECT procflow.create_flow('stranger_flow', NULL, $1::jsonb)`,
		[JSON.stringify({ start: 'look', activities: { look: { kind: 'human', assignee: 'web_stranger', next: 'done' },
			done: { kind: 'end' } } })]);
	const page = await pageAs(stranger);
	await page.goto(`${url}/taskbox`);
	await page.locator('body[data-live="yes"]').waitFor();
	await page.evaluate(() => {
		window.got = [];
		events.addEventListener('tasks', (e) => window.got.push(e.data));
	});
	// anyone may NOTIFY on the channel: none of these is a task id
	await sql(`SELECT pg_notify('procflow_task', $1)`, ['1\ndata: 2']);
	await sql(`SELECT pg_notify('procflow_task', $1)`, ['<img src=x onerror=alert(1)>']);
	await sql(`SELECT pg_notify('procflow_task', $1)`, ['99999999999999999999999']);
	await sql(`SELECT pg_notify('procflow_task', $1)`, ['9999999999999999999']);
	// a task of web_admin's the stranger may not see, then one of its own
	const id = await launch(6);
	const [{ task }] = await sql(
		`SELECT id::text AS task FROM procflow.activities WHERE instance = $1 AND name = 'review'`, [id]);
	const [{ own }] = await asStranger(`SELECT procflow.launch('stranger_flow') AS own`);
	const [{ mine }] = await sql(`SELECT id::text AS mine FROM procflow.activities WHERE instance = $1`, [own]);
	await page.waitForFunction((m) => window.got.some((ids) => ids.split(',').includes(m)), mine);
	assert.ok((await page.evaluate(() => window.got)).every((ids) => !ids.split(',').includes(task)),
		'another owner\'s task is not told of, though the stranger sees activities of its own');
	// once the admin's task is the stranger's, it is told of
	await asAdmin(`SELECT procflow.assign_task($1, 'web_stranger')`, [task]);
	await page.waitForFunction((t) => window.got.some((ids) => ids.split(',').includes(t)), task);
	for (const ids of await page.evaluate(() => window.got))
		assert.match(ids, /^[0-9]+(,[0-9]+)*$/, 'only task ids');
	await page.context().close();
	await asStranger(`SELECT procflow.terminate($1)`, [own]);
	await asStranger(`SELECT procflow.drop_process('stranger_flow')`);
});

// A request with these credentials; its status and text.
async function fetchAs(base, username, password, where = '/taskbox') {
	const response = await fetch(`${base}${where}`, {
		headers: { Authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` },
	});
	return { status: response.status, text: await response.text(), headers: response.headers };
}

// Ask until the answer's status is the one expected, or fail after a deadline.
async function untilStatus(status, ask, what, seconds = 20) {
	const deadline = Date.now() + seconds * 1000;
	let last;
	while (Date.now() < deadline) {
		last = await ask();
		if (last.status === status)
			return last;
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
	assert.fail(`timed out: ${what} (last status ${last && last.status})`);
}

test('a changed password, NOLOGIN and a dropped role take effect at once', async () => {
	await sql(`CREATE ROLE web_temp LOGIN PASSWORD 'first-pw'`);
	try {
		assert.equal((await fetchAs(url, 'web_temp', 'first-pw')).status, 200);
		await sql(`ALTER ROLE web_temp PASSWORD 'second-pw'`);
		await untilStatus(401, () => fetchAs(url, 'web_temp', 'first-pw'), 'the old password refused');
		assert.equal((await fetchAs(url, 'web_temp', 'second-pw')).status, 200, 'the new one works');
		await sql('ALTER ROLE web_temp NOLOGIN');
		await untilStatus(401, () => fetchAs(url, 'web_temp', 'second-pw'), 'NOLOGIN refused');
	} finally {
		await sql('DROP ROLE web_temp');
	}
	await untilStatus(401, () => fetchAs(url, 'web_temp', 'second-pw'), 'a dropped role refused');
});

test('log-in attempts are throttled per name and address', async () => {
	await sql(`CREATE ROLE web_guessed LOGIN PASSWORD 'right-pw'`);
	try {
		// an empty password is a wrong one (not "database down"), and counts
		assert.equal((await fetchAs(url, 'web_guessed', '')).status, 401);
		for (let i = 0; i < 4; i++)
			assert.equal((await fetchAs(url, 'web_guessed', `guess-${i}`)).status, 401);
		const refused = await fetchAs(url, 'web_guessed', 'right-pw');
		assert.equal(refused.status, 429, 'even the right password waits once the name was guessed at');
		assert.ok(Number(refused.headers.get('retry-after')) > 0);
		assert.match(refused.text, /Too many failed log-ins/);
		assert.equal((await fetchAs(url, worker.username, worker.password)).status, 200,
			'another name from the same address is not held back');
	} finally {
		await sql('DROP ROLE web_guessed');
	}
});

test('a database that cannot be reached says so, not "wrong password"', async () => {
	// a page server whose database port nobody listens on
	const app = await build({ pg: { host: '127.0.0.1', port: 1, database: 'procflow_web' } });
	await app.listen({ host: '127.0.0.1', port: 0 });
	try {
		const base = `http://127.0.0.1:${app.server.address().port}`;
		const answer = await fetchAs(base, worker.username, worker.password);
		assert.equal(answer.status, 503);
		assert.match(answer.text, /The database cannot be reached/);
		assert.doesNotMatch(answer.text, /refused this name and password|SQLSTATE|ECONNREFUSED<\/code>/);
	} finally {
		await app.close();
	}
});

test('pages allow no inline script, no framing, no storing; confirmations still ask', async () => {
	const page = await pageAs(worker);
	const response = await page.goto(`${url}/taskbox`);
	const headers = response.headers();
	assert.match(headers['content-security-policy'], /script-src 'self'(;|$)/);
	assert.match(headers['content-security-policy'], /frame-ancestors 'none'/);
	assert.equal(headers['cache-control'], 'no-store');
	assert.equal(await page.locator('script:not([src])').count(), 0, 'no inline script');
	await page.locator('body[data-live="yes"]').waitFor();	// its script runs under the policy
	await page.context().close();

	const adminPage = await pageAs(admin);
	await adminPage.goto(`${url}/processes`);
	adminPage.removeAllListeners('dialog');
	let asked = null;
	adminPage.once('dialog', (dialog) => {
		asked = dialog.message();
		dialog.dismiss();
	});
	await adminPage.getByRole('row', { name: /audit_invoice/ }).getByRole('button', { name: 'Deactivate' }).click();
	assert.equal(asked, 'Deactivate process audit_invoice of web_admin?');
	assert.deepEqual(await sql(`SELECT enabled FROM procflow.processes WHERE name = 'audit_invoice'`),
		[{ enabled: true }], 'declining the confirmation sends nothing');
	await adminPage.context().close();
});

/* A GET of the page with a Host header of our choosing, as a rebound name would send it. */
function getWithHost(host) {
	const target = new URL(url);
	return new Promise((resolve, reject) => {
		http.get({ hostname: target.hostname, port: target.port, path: '/processes', headers: { Host: host } },
			(res) => {
				let body = '';
				res.on('data', (c) => { body += c; });
				res.on('end', () => resolve({ status: res.statusCode, body }));
			}).on('error', reject);
	});
}

test('a name the page does not answer to is refused before the log-in (DNS rebinding)', async () => {
	const port = new URL(url).port;
	const rebound = await getWithHost(`evil.example:${port}`);
	assert.equal(rebound.status, 421);
	assert.match(rebound.body, /does not answer to that name/);
	assert.equal((await getWithHost(`localhost:${port}`)).status, 401, 'localhost, on the loopback address: asks to log in');
	assert.equal((await getWithHost(new URL(url).host)).status, 401, 'the address it listens on: asks to log in');
});

test('a form post from no page is refused, and a form sends back only to this site', async () => {
	const auth = `Basic ${Buffer.from(`${admin.username}:${admin.password}`).toString('base64')}`;
	const post = (headers, body) => fetch(`${url}/processes/web_admin/audit_invoice/enable`, {
		method: 'POST', redirect: 'manual', body,
		headers: { Authorization: auth, 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
	});
	assert.equal((await post({}, 'back=/processes')).status, 403, 'neither Origin nor Referer');
	for (const evil of ['/\\evil.example/', '//evil.example/', '/\t/evil.example/', 'https://evil.example/',
		'/.//evil.example', '/..//evil.example', '/a/..//evil.example/', '/%2e//evil.example'])
		assert.equal((await post({ Origin: url }, `back=${encodeURIComponent(evil)}`)).headers.get('location'),
			'/processes', `back=${JSON.stringify(evil)} goes to this site`);
	assert.equal((await post({ Origin: url }, 'back=%2Fprocesses%2Fweb_admin%2Faudit_invoice')).headers.get('location'),
		'/processes/web_admin/audit_invoice', 'a path of this site is followed');
});

test('processes are named by owner and name: two owners\' processes of one name', async () => {
	await sql(`CREATE ROLE web_other;
	           GRANT web_other TO web_admin;
	           GRANT CREATE ON SCHEMA public TO web_other`);
	const client = await db.connect();
	try {
		await client.query('SET ROLE web_other');
		await client.query('CREATE TABLE other_invoice (id int PRIMARY KEY)');
		await client.query(`SELECT procflow.create_process('audit_invoice', 'other_invoice', 'SELECT 1')`);
		await client.query(`SELECT procflow.create_flow('invoice_flow', 'other_invoice', $1::jsonb)`,
			[JSON.stringify({ start: 'e', activities: { e: { kind: 'end' } } })]);
		await client.query('RESET ROLE');
		const page = await pageAs(admin);
		await page.goto(`${url}/processes?q=audit_invoice`);
		const other = page.getByRole('row', { name: /audit_invoice.*web_other/ });
		await other.getByRole('button', { name: 'Deactivate' }).click();
		await page.waitForURL(/\/processes/);
		assert.deepEqual(await sql(`SELECT owner_name, enabled FROM procflow.processes
		                             WHERE name = 'audit_invoice' ORDER BY owner_name`),
		[{ owner_name: 'web_admin', enabled: true }, { owner_name: 'web_other', enabled: false }],
		'the other owner\'s process was deactivated, not the admin\'s');
		// both flows' pages draw their own picture; no "ambiguous"
		for (const [owner, activity] of [['web_admin', 'review'], ['web_other', 'e']]) {
			const response = await page.goto(`${url}/processes/${owner}/invoice_flow`);
			assert.equal(response.status(), 200);
			assert.ok((await page.locator('#picture svg').textContent()).includes(activity));
		}
		await page.context().close();
	} finally {
		await client.query('RESET ROLE');
		await client.query(`SET ROLE web_other`);
		await client.query(`SELECT procflow.drop_process(name) FROM procflow.processes WHERE owner_name = 'web_other'`);
		await client.query('DROP TABLE other_invoice');
		await client.query('RESET ROLE');
		client.release();
		await sql(`REVOKE CREATE ON SCHEMA public FROM web_other; DROP ROLE web_other`);
	}
});

test('a flow too large to draw is described, not drawn on the server\'s thread', async () => {
	const activities = {};
	const name = (i) => `step_${i}_${'x'.repeat(60)}`;
	for (let i = 0; i < 999; i++)
		activities[name(i)] = { kind: 'automatic', action: 'SELECT 1', next: i < 998 ? name(i + 1) : 'done' };
	activities.done = { kind: 'end' };
	const client = await db.connect();
	try {
		await client.query('SET ROLE web_admin');
		await client.query(`SELECT procflow.create_flow('huge_flow', 'invoice', $1::jsonb)`,
			[JSON.stringify({ start: name(0), activities })]);
		await client.query('RESET ROLE');
		const page = await pageAs(admin);
		const [picturePage, taskbox] = await Promise.all([
			page.request.get(`${url}/processes/web_admin/huge_flow`),
			page.request.get(`${url}/taskbox`),
		]);
		assert.equal(taskbox.status(), 200);
		assert.equal(picturePage.status(), 200);
		assert.match(await picturePage.text(), /id="picture-missing">This flow is too large to draw here/);
		// a flow of ordinary size is still drawn
		await page.goto(`${url}/processes/web_admin/invoice_flow`);
		assert.ok((await page.locator('#picture svg').textContent()).includes('review'));
		await page.context().close();
	} finally {
		await client.query('SET ROLE web_admin');
		await client.query(`SELECT procflow.drop_process('huge_flow')`);
		await client.query('RESET ROLE');
		client.release();
	}
});

test('a taskbox lives through a restart of the database, and so does every login', async () => {
	const page = await pageAs(worker);
	await page.goto(`${url}/taskbox`);
	await page.locator('body[data-live="yes"]').waitFor();
	const admins = await pageAs(admin);
	assert.equal((await admins.goto(`${url}/processes`)).status(), 200);
	execSync(process.env.PG_RESTART, { stdio: 'ignore' });
	await page.locator('body[data-live="no"]').waitFor();
	await page.locator('body[data-live="yes"]').waitFor({ timeout: 20000 });
	assert.equal((await admins.goto(`${url}/processes`)).status(), 200, 'the admin\'s pool reconnects');
	const before = await page.locator('.task').count();
	await launch(9);
	await page.waitForFunction((n) => document.querySelectorAll('.task').length > n, before);
	await admins.context().close();
	await page.context().close();
});

test('idle_session_timeout ends the listening connection: the taskbox says so and listens again', async () => {
	await sql(`ALTER ROLE web_worker SET idle_session_timeout = '1s'`);
	try {
		const page = await pageAs(worker);
		await page.goto(`${url}/taskbox`);
		await page.locator('body[data-live="yes"]').waitFor();
		await page.locator('body[data-live="no"]').waitFor({ timeout: 10000 });
		await page.locator('body[data-live="yes"]').waitFor({ timeout: 20000 });
		assert.equal((await page.request.get(`${url}/taskbox`)).status(), 200, 'the server still answers');
		await page.context().close();
	} finally {
		await sql('ALTER ROLE web_worker RESET idle_session_timeout');
	}
});
