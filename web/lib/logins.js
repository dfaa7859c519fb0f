// The logins of procflow's page: a connection pool per login, opened with
// the login's own name and password and checked by PostgreSQL again at
// most a second before use, and the throttling of failed log-ins.
//
// Copyright (c) 2026, procflow developers

import crypto from 'node:crypto';
import pg from 'pg';

import { httpError } from './requests.js';

// How often PostgreSQL checks a login's name and password again: a changed
// password, NOLOGIN, VALID UNTIL or a dropped role takes effect within it.
const RECHECK_MS = 1000;
// Failed log-ins allowed per name and address, and per address, in a window.
const FAILURES_PER_NAME = 5;
const FAILURES_PER_ADDRESS = 20;
export const FAILURE_WINDOW_MS = 60000;

/*
 * A pool per login, opened with the login's own name and password, and the
 * log-in attempts that failed.  PostgreSQL checks the name and password
 * when the pool opens and again at most RECHECK_MS later on use, so that
 * what PostgreSQL would refuse now is refused; a pool whose check fails,
 * and the user's pools of another password, are dropped.
 */
export class Logins {
	constructor(pgSettings) {
		this.pgSettings = pgSettings;
		this.pools = new Map();
		this.failures = new Map();
		this.onDrop = () => {};	// told of each pool dropped, before it ends
	}

	key(user, password) {
		return crypto.createHash('sha256').update(`${user}\0${password}`).digest('hex');
	}

	// Throttled: too many failures for this name from this address, or from it.
	throttled(user, address) {
		const now = Date.now();
		for (const [k, f] of this.failures)
			if (now - f.first > FAILURE_WINDOW_MS)
				this.failures.delete(k);
		const byName = this.failures.get(`${user}\0${address}`);
		const byAddress = this.failures.get(`\0${address}`);
		if ((byName && byName.count >= FAILURES_PER_NAME) ||
			(byAddress && byAddress.count >= FAILURES_PER_ADDRESS))
			return Math.ceil((FAILURE_WINDOW_MS - (now - (byName || byAddress).first)) / 1000);
		return 0;
	}

	failed(user, address) {
		for (const k of [`${user}\0${address}`, `\0${address}`]) {
			const f = this.failures.get(k) || { count: 0, first: Date.now() };
			f.count++;
			this.failures.set(k, f);
		}
	}

	async drop(key) {
		const pool = this.pools.get(key);
		this.pools.delete(key);
		if (pool) {
			this.onDrop(pool);
			await pool.end().catch(() => {});
		}
	}

	// Does PostgreSQL accept the name and password now?  Throws when it cannot say.
	async check(user, password) {
		const client = new pg.Client({ ...this.pgSettings, user, password,
			application_name: 'procflow web' });
		try {
			await client.connect();
			return true;
		} catch (err) {
			if (err.code === '28P01' || err.code === '28000')
				return false;
			throw httpError(503, 'The database cannot be reached.',
				`Try again in a moment (${err.code || err.message}).`);
		} finally {
			await client.end().catch(() => {});
		}
	}

	// The login's pool once PostgreSQL accepted the name and password, else null.
	async open(user, password, address) {
		const wait = this.throttled(user, address);
		if (wait)
			throw httpError(429, 'Too many failed log-ins.', `Try again in ${wait} s.`);
		// no role logs in with an empty password: a failed log-in, counted
		if (typeof password !== 'string' || password === '') {
			this.failed(user, address);
			return null;
		}
		const key = this.key(user, password);
		let pool = this.pools.get(key);
		if (pool && Date.now() - pool.checkedAt < RECHECK_MS)
			return pool;
		if (!(await this.check(user, password))) {
			await this.drop(key);
			this.failed(user, address);
			return null;
		}
		this.failures.delete(`${user}\0${address}`);
		if (pool) {
			pool.checkedAt = Date.now();
			return pool;
		}
		// the user's pools of another password are no longer good
		for (const [k, other] of this.pools)
			if (other.user === user)
				await this.drop(k);
		pool = new pg.Pool({ ...this.pgSettings, user, password, max: 4,
			application_name: 'procflow web' });
		pool.on('error', () => {});	// a dropped idle connection: the next query reconnects
		pool.user = user;
		pool.checkedAt = Date.now();
		this.pools.set(key, pool);
		return pool;
	}

	async close() {
		await Promise.all([...this.pools.values()].map((p) => p.end().catch(() => {})));
	}
}
