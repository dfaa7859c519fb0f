// Bulk actions of the page's lists: one procflow function called for each
// selected row, each in a statement of its own, so that a row refused (an
// instance no longer active, a job already run) leaves the others done.
//
// Copyright (c) 2026, procflow developers

import { query, isSqlState, connectionLost } from './requests.js';

// The most rows one bulk action acts on.
export const BULK_MAX = 10000;

/* The ids a bulk form selected: its checked rows. */
export function selectedIds(body) {
	const ids = body && body.id !== undefined ? [].concat(body.id) : [];
	return ids.filter((id) => /^[1-9][0-9]{0,18}$/.test(id)).slice(0, BULK_MAX);
}

/*
 * Call procflow.<fn>(id) for each id; a sentence saying how many were
 * done, and how many refused and why (the first refusal's message).
 */
export async function actOnEach(req, fn, ids, doneWord, what) {
	let done = 0;
	let refused = 0;
	let why = null;
	for (const id of ids) {
		try {
			await query(req, `SELECT procflow.${fn}($1)`, [id]);
			done++;
		} catch (err) {
			// a refusal is counted; a lost connection ends the action
			if (!isSqlState(err.code) || connectionLost(err))
				throw err;
			refused++;
			why = why || err.message;
		}
	}
	const plural = what.endsWith('y') ? `${what.slice(0, -1)}ies` : `${what}s`;
	let text = `${doneWord} ${done} ${done === 1 ? what : plural}.`;
	if (refused)
		text += ` ${refused} refused: ${why}${refused > 1 ? ' (the first of them)' : ''}.`;
	return text;
}
