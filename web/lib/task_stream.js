// The taskbox's live updates: one connection for the whole server LISTENs
// to procflow_task, and every open taskbox of every login is told, at most
// every DEBOUNCE_MS, of the task ids that changed and that its login may
// see.
//
// Anyone may NOTIFY on the channel, so a payload counts only when it is a
// task id (a bigint), and each login is told of an id only when it may see
// the task now (procflow.tasks, procflow.activities, read with the login's
// own pool) or was shown it before (a task of its that someone else
// claimed or closed).  The listening connection is opened with the
// credentials of a login that has a taskbox open, and closed when none is;
// when it dies, every taskbox's stream ends, and the browsers open them
// again and read their lists whole, since changes were missed meanwhile.
//
// Copyright (c) 2026, procflow developers

import pg from 'pg';

import { isRowId } from './requests.js';

// How long changes are gathered before the taskboxes are told of them.
const DEBOUNCE_MS = 100;
// How often the listening connection runs a statement.
const PING_MS = 20000;
// The most task ids remembered per login as shown to it.
const SHOWN_MAX = 100000;

export class TaskStream {
	constructor(pgSettings) {
		this.pgSettings = pgSettings;
		this.streams = new Map();	// pool -> Set of { send(ids), end() }
		this.shownTo = new WeakMap();	// pool -> Set of task ids shown to its login
		this.client = null;			// the listening connection, once it listens
		this.connecting = null;
		this.pending = new Set();
		this.timer = null;
	}

	/* Note task ids a login was shown (a list rendered for it). */
	shown(pool, ids) {
		let set = this.shownTo.get(pool);
		if (!set || set.size + ids.length > SHOWN_MAX) {
			set = new Set();
			this.shownTo.set(pool, set);
		}
		for (const id of ids)
			set.add(String(id));
	}

	/* Add a login's stream; resolves once the server listens. */
	async subscribe(pool, stream) {
		if (!this.streams.has(pool))
			this.streams.set(pool, new Set());
		this.streams.get(pool).add(stream);
		if (this.client)
			return;
		if (!this.connecting)
			this.connecting = this.connect(pool).finally(() => {
				this.connecting = null;
			});
		await this.connecting;
	}

	unsubscribe(pool, stream) {
		const set = this.streams.get(pool);
		if (!set)
			return;
		set.delete(stream);
		if (set.size === 0)
			this.streams.delete(pool);
		if (this.streams.size === 0 && this.client)
			this.close(this.client);
	}

	/* Open the listening connection as the login of this pool. */
	async connect(pool) {
		const client = new pg.Client({ ...this.pgSettings, user: pool.options.user,
			password: pool.options.password, application_name: 'procflow web listener' });
		client.on('error', () => this.lost(client));
		client.on('end', () => this.lost(client));
		client.on('notification', (msg) => this.notified(msg.payload));
		try {
			await client.connect();
			await client.query('LISTEN procflow_task');
		} catch (err) {
			client.end().catch(() => {});
			throw err;
		}
		client.user = pool.options.user;
		// a statement now and then: an idle_session_timeout of minutes
		// does not end the listening connection
		client.keepalive = setInterval(() => client.query('SELECT 1').catch(() => {}), PING_MS);
		this.client = client;
		// every stream that wanted it ended while it connected
		if (this.streams.size === 0)
			this.close(client);
	}

	close(client) {
		clearInterval(client.keepalive);
		if (this.client === client)
			this.client = null;
		client.removeAllListeners('notification');
		client.end().catch(() => {});
	}

	/* The listening connection died: every stream ends (browsers reopen them). */
	lost(client) {
		if (this.client !== client)
			return;
		this.close(client);
		for (const set of [...this.streams.values()])
			for (const stream of [...set])
				stream.end();
	}

	/*
	 * A login's pool was dropped (its password changed, it may no longer
	 * log in): its streams end, and the listening connection, if it was
	 * opened as that login, is opened again as another.
	 */
	dropped(pool) {
		for (const stream of [...(this.streams.get(pool) || [])])
			stream.end();
		if (this.client && this.client.user === pool.options.user)
			this.lost(this.client);
	}

	notified(payload) {
		if (!isRowId(payload))	// a task id, nothing else
			return;
		this.pending.add(payload);
		if (!this.timer)
			this.timer = setTimeout(() => this.flush(), DEBOUNCE_MS);
	}

	async flush() {
		this.timer = null;
		const ids = [...this.pending];
		this.pending.clear();
		await Promise.all([...this.streams.keys()].map((pool) => this.tell(pool, ids)));
	}

	/* Tell a login's streams of the ids among these that it may see. */
	async tell(pool, ids) {
		let rows;
		try {
			({ rows } = await pool.query(
				`SELECT u.id::text AS id FROM unnest($1::bigint[]) AS u(id)
				  WHERE EXISTS (SELECT 1 FROM procflow.tasks t WHERE t.activity = u.id)
				     OR EXISTS (SELECT 1 FROM procflow.activities a WHERE a.id = u.id)`, [ids]));
		} catch {
			for (const stream of [...(this.streams.get(pool) || [])])
				stream.end();
			return;
		}
		const shown = this.shownTo.get(pool) || new Set();
		const visible = new Set(rows.map((r) => r.id));
		const changed = ids.filter((id) => visible.has(id) || shown.has(id));
		this.shown(pool, [...visible]);
		if (changed.length)
			for (const stream of [...(this.streams.get(pool) || [])])
				stream.send(changed);
	}

	async closeAll() {
		if (this.client)
			this.close(this.client);
		clearTimeout(this.timer);
	}
}
