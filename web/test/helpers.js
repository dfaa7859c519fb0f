// What the page's browser tests share: the addresses and logins, the
// browser, the database as its superuser, and waiting with a deadline.
//
// Copyright (c) 2026, procflow developers

import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';

import { chromium } from 'playwright-core';
import pg from 'pg';

export const url = process.env.WEB_URL;
export const shots = process.env.SCREENSHOTS;
export const admin = { username: 'web_admin', password: 'admin-pw' };
export const worker = { username: 'web_worker', password: 'worker-pw' };
export const stranger = { username: 'web_stranger', password: 'stranger-pw' };

// The database, as its superuser: to launch instances and check results.
export const db = new pg.Pool();
db.on('error', () => {});	// an idle connection a restart ended: the next query opens another
let browser;

/* Start the browser (each test file calls it once). */
export function useBrowser() {
before(async () => {
	browser = await chromium.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		args: ['--no-sandbox'],
	});
	fs.mkdirSync(shots, { recursive: true });
});

after(async () => {
	await browser.close();
	await db.end();
});
}

export async function pageAs(credentials, viewport = { width: 1280, height: 900 }, timezoneId = 'UTC') {
	const context = await browser.newContext({ httpCredentials: credentials, viewport, timezoneId });
	const page = await context.newPage();
	page.on('dialog', (dialog) => dialog.accept());	// every confirmation: yes
	return page;
}

export async function sql(text, params = []) {
	return (await db.query(text, params)).rows;
}

// Poll a query until it returns true, or fail after a deadline.
export async function until(text, params, what, seconds = 20) {
	const deadline = Date.now() + seconds * 1000;
	while (Date.now() < deadline) {
		const [row] = await sql(text, params);
		if (row && Object.values(row)[0] === true)
			return;
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
	assert.fail(`timed out: ${what}`);
}

// Run a statement as a role.
export async function asRole(role, text, params = []) {
	const client = await db.connect();
	try {
		await client.query('SELECT set_config($1, $2, false)', ['role', role]);
		return (await client.query(text, params)).rows;
	} finally {
		await client.query('RESET ROLE');
		client.release();
	}
}

// Run a statement as web_admin, the owner of the test's flows.
export const asAdmin = (text, params = []) => asRole('web_admin', text, params);

// Launch an instance of invoice_flow for an invoice, as its owner.
export async function launch(key) {
	const [{ id }] = await asAdmin("SELECT procflow.launch('invoice_flow', $1::jsonb) AS id", [String(key)]);
	return id;
}
