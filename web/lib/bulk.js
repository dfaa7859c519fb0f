// Bulk actions of the page's lists: one procflow function called for each
// selected row, each in a statement of its own, so that a row refused (an
// instance no longer active, a job already run) leaves the others done.
//
// Copyright (c) 2026, procflow developers

import { query, isSqlState, connectionLost, isRowId } from './requests.js';

// The most rows one bulk action acts on.
export const BULK_MAX = 10000;

/* The ids a bulk form selected: its checked rows. */
export function selectedIds(body) {
	const ids = body && body.id !== undefined ? [].concat(body.id) : [];
	return ids.filter(isRowId).slice(0, BULK_MAX);
}

/*
 * Call procflow.<fn>(id, ...extra) for each id: how many were done, how
 * many refused, and the first refusal's message.
 */
export async function actOnEach(req, fn, ids, extra = []) {
	const result = { done: 0, refused: 0, why: null };
	const args = extra.map((_, i) => `, $${i + 2}`).join('');
	for (const id of ids) {
		try {
			await query(req, `SELECT procflow.${fn}($1${args})`, [id, ...extra]);
			result.done++;
		} catch (err) {
			// a refusal is counted; a lost connection ends the action
			if (!isSqlState(err.code) || connectionLost(err))
				throw err;
			result.refused++;
			result.why = result.why || err.message;
		}
	}
	return result;
}

/* A sentence saying what a bulk action did: "Suspended 3 instances. 1 refused: ..." */
export function summary(result, doneWord, what, tail = '') {
	const plural = what.endsWith('y') ? `${what.slice(0, -1)}ies` : `${what}s`;
	let text = `${doneWord} ${result.done} ${result.done === 1 ? what : plural}${tail}.`;
	if (result.refused)
		text += ` ${result.refused} refused: ${result.why}${result.refused > 1 ? ' (the first of them)' : ''}.`;
	return text;
}
