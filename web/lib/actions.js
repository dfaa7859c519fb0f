// What the page's buttons do: for each kind of row, each action's word (in
// the address or the form) mapped to the procflow function it calls, with
// the past tense its notice uses.  The routes call them through act() and
// actOnEach() (lib/bulk.js), and the routes' schemas (lib/schemas.js) take
// no other word.
//
// Copyright (c) 2026, procflow developers

import { query } from './requests.js';

// a process is enabled or disabled as its owner (routes/processes.js)
export const PROCESS_ACTIONS = { enable: ['enable_process', 'Enabled'], disable: ['disable_process', 'Disabled'] };
export const INSTANCE_ACTIONS = {
	suspend: ['suspend', 'Suspended'],
	resume: ['resume', 'Resumed'],
	terminate: ['terminate', 'Terminated'],
};
export const ACTIVITY_ACTIONS = { retry: ['retry_activity', 'Retried'], skip: ['skip_activity', 'Skipped'] };
export const JOB_ACTIONS = { retry: ['retry_job', 'Queued again'], cancel: ['cancel_job', 'Cancelled'] };
// a failed job of a light process is retried, never skipped
export const INCIDENT_JOB_ACTIONS = { retry: JOB_ACTIONS.retry };
// a task's own page: completing takes its form (routes/tasks.js)
export const TASK_ACTIONS = {
	claim: ['claim_task', 'Claimed'],
	release: ['release_task', 'Released'],
	skip: ['skip_activity', 'Skipped'],
};
// in bulk, a task is assigned (to a name the form gives), released or skipped
export const TASK_BULK_ACTIONS = { release: TASK_ACTIONS.release, skip: TASK_ACTIONS.skip };

/* The words of a table of actions, for a schema's enum. */
export const words = (...tables) => [...new Set(tables.flatMap((t) => Object.keys(t)))];

/* Call the function of an action of a table on one row; returns its past tense. */
export async function act(req, table, action, id) {
	const [fn, word] = table[action];
	await query(req, `SELECT procflow.${fn}($1)`, [id]);
	return word;
}
