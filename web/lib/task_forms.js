// A task's form in the page: the vars of complete_task from the fields a
// person filled in.  Each value is sent as the JSON of its field's type
// when the text reads as one, else as the text itself, so that procflow's
// own check of the form (complete_task) refuses it with its message.
//
// Copyright (c) 2026, procflow developers

/* The value of one field, as JSON, from the text of its input. */
function fieldValue(type, text, zoned) {
	switch (type) {
		case 'number':
		case 'integer': {
			const n = Number(text);
			return text.trim() !== '' && Number.isFinite(n) ? n : text;
		}
		case 'boolean':
			return text === 'true' || text === 'on';
		case 'timestamptz':
			// the browser's page.js gives the instant with its offset
			return zoned || text;
		default:
			return text;
	}
}

/*
 * The vars of a completion from a posted form: fields "f.<name>", and for
 * timestamptz fields the instant the browser read "z.<name>".  An empty
 * field is left out; a boolean not sent (an unticked box) is false.  A
 * field sent more than once, or one the form does not have, is passed on
 * as it came (a list, a text), for complete_task to refuse against the
 * form: nothing a person sent is dropped without a word.  (A task without
 * a form takes no fields from the page: see routes/tasks.js.)
 */
export function formVars(form, body) {
	const vars = Object.create(null);
	const fields = (form && form.fields) || {};
	for (const key of Object.keys(body))
		if (key.startsWith('f.') && !Object.hasOwn(fields, key.slice(2)))
			vars[key.slice(2)] = body[key];
	for (const [name, field] of Object.entries(fields)) {
		const text = body[`f.${name}`];
		if (Array.isArray(text)) {
			vars[name] = text;
			continue;
		}
		if (field.type === 'boolean') {
			vars[name] = text !== undefined && fieldValue('boolean', String(text));
			continue;
		}
		if (typeof text !== 'string' || text === '')
			continue;
		vars[name] = fieldValue(field.type, text, body[`z.${name}`]);
	}
	return vars;
}

/* A field's default as its input shows it. */
export function inputValue(field) {
	const value = field.default;
	if (value === undefined || value === null || typeof value === 'object')
		return '';
	if (field.type === 'timestamptz') {
		const d = new Date(value);
		return Number.isNaN(d.getTime()) ? '' : d.toISOString().slice(0, 16);
	}
	return String(value);
}
