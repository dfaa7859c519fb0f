// What a bulk action did, told on the page the browser is sent back to:
// kept on the server under a random token for a minute, so that no link
// can make the page say something it did not.
//
// Copyright (c) 2026, procflow developers

import crypto from 'node:crypto';

const KEEP_MS = 60000;
const notices = new Map();

/* Keep a notice for a login; the token that shows it. */
export function tell(login, text) {
	const now = Date.now();
	for (const [k, n] of notices)
		if (now - n.at > KEEP_MS)
			notices.delete(k);
	const token = crypto.randomBytes(12).toString('base64url');
	notices.set(token, { login, text, at: now });
	return token;
}

/* The notice of a token, for the login it was kept for. */
export function told(login, token) {
	const n = typeof token === 'string' ? notices.get(token) : undefined;
	return n && n.login === login ? n.text : null;
}

/* Add a token to a path of this site. */
export function withNotice(to, token) {
	const url = new URL(to, 'http://self.invalid');
	url.searchParams.set('notice', token);
	return url.pathname + url.search;
}
