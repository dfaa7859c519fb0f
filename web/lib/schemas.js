// The shapes of the page's requests, as Fastify route schemas: what each
// route takes in its path, its query and its form.  A request of another
// shape (an action no button sends, a value given twice, an id that is not
// a number) is refused with 400 before its handler runs, on the error page,
// which names the part that is wrong.  Filters are open text: a filter the
// handler does not understand (a day that is no date) is left out, as the
// lists have always done, rather than refused.
//
// Copyright (c) 2026, procflow developers

import { PROCESS_ACTIONS, INSTANCE_ACTIONS, ACTIVITY_ACTIONS, JOB_ACTIONS, INCIDENT_JOB_ACTIONS, TASK_ACTIONS,
	TASK_BULK_ACTIONS, words } from './actions.js';

const text = { type: 'string' };

/* One of these words, or nothing (a form's empty choice). */
const oneOf = (...words) => ({ type: 'string', enum: ['', ...words] });

/* A row's id (a bigint), as the lists and their bulk forms send it. */
export const rowId = { type: 'string', pattern: '^[0-9]{1,19}$' };

/* What a list page's links carry: its order, its cursor or offset, a notice. */
const listQuery = { sort: text, dir: oneOf('asc', 'desc'), after: text, before: text, offset: text, notice: text };

/* A form whose handler goes back to the page it came from. */
const backForm = { back: text };

/* The ids a bulk form selected (one, or several), or all that match its filters. */
const bulkForm = {
	...backForm,
	id: { anyOf: [rowId, { type: 'array', items: rowId, maxItems: 10000 }] },
	all: oneOf('yes'),
};

const object = (properties, required = []) => ({ type: 'object', properties, required });

/* A form; one with nothing required may be posted empty, without a body. */
const form = (properties, required = []) => (required.length ? object(properties, required)
	: { anyOf: [object(properties), { type: 'null' }] });

// The filters of each list (lib/lists.js reads listQuery's).
const instanceFilters = { flow: text, status: oneOf('active', 'suspended', 'completed', 'terminated'),
	from: text, to: text, q: text };
const jobFilters = { list: oneOf('pending', 'history'), process: text,
	status: oneOf('succeeded', 'failed', 'cancelled', 'skipped'), from: text, to: text, q: text };
const taskFilters = { flow: text, status: oneOf('ready', 'open'), assignee: text, group: text,
	from: text, to: text, overdue: oneOf('yes'), q: text };

const idParams = (actions) => object(actions
	? { id: rowId, action: { type: 'string', enum: actions } } : { id: rowId }, ['id']);

export const schemas = {
	processes: { querystring: object({ ...listQuery, q: text }) },
	processAction: { params: object({ owner: text, name: text, action: { enum: words(PROCESS_ACTIONS) } }),
		body: form(backForm) },
	processByName: { params: object({ name: text }) },
	process: { params: object({ owner: text, name: text }) },

	instances: { querystring: object({ ...listQuery, ...instanceFilters }) },
	instancesBulk: { body: form({ ...bulkForm, ...instanceFilters,
		action: { enum: words(INSTANCE_ACTIONS) } }, ['action']) },
	instance: { params: idParams(), querystring: object({ notice: text }) },
	instanceVars: { params: idParams(), body: form({ ...backForm, vars: text }, ['vars']) },
	instanceAction: { params: idParams(words(INSTANCE_ACTIONS)), body: form(backForm) },
	activityAction: { params: idParams(words(ACTIVITY_ACTIONS)), body: form(backForm) },

	jobs: { querystring: object({ ...listQuery, ...jobFilters }) },
	jobAction: { params: idParams(words(JOB_ACTIONS)), body: form(backForm) },
	jobsBulk: { body: form({ ...bulkForm, ...jobFilters, action: { enum: words(JOB_ACTIONS) } }, ['action']) },

	incidents: { querystring: object({ ...listQuery, list: oneOf('activities', 'jobs') }) },
	incidentsBulk: { body: form({ ...bulkForm, list: oneOf('activities', 'jobs'),
		action: { enum: words(ACTIVITY_ACTIONS, INCIDENT_JOB_ACTIONS) } }, ['action']) },

	stats: { querystring: object(listQuery) },

	taskbox: { querystring: object({ after: text, part: oneOf('tasks'), ids: text }) },
	// a completion's fields (f.<name>) are the task's form's to check (lib/task_forms.js)
	taskAction: { params: idParams([...words(TASK_ACTIONS), 'complete']),
		body: form({ ...backForm, outcome: text }) },
	tasks: { querystring: object({ ...listQuery, ...taskFilters }) },
	tasksBulk: { body: form({ ...bulkForm, ...taskFilters, assignee_to: text,
		action: { enum: ['assign', ...words(TASK_BULK_ACTIONS)] } }, ['action']) },
	taskAssign: { params: idParams(), body: form({ ...backForm, assignee: text }) },
};
