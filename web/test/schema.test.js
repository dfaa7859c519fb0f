// docs/flow.schema.json, the JSON Schema of flow documents that editors
// validate and complete with: every flow document in the README and in
// docs/ fits it, and the documents it refuses, procflow's create_flow
// refuses too (22023), naming the same place by the same JSON Pointer.
//
// Copyright (c) 2026, procflow developers

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Ajv2020 } from 'ajv/dist/2020.js';

import { db } from './helpers.js';

const top = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const schema = JSON.parse(fs.readFileSync(path.join(top, 'docs/flow.schema.json'), 'utf8'));
// strict, but for "required" in an anyOf (a wait needs on or timeout), which is plain JSON Schema
const validate = new Ajv2020({ allErrors: true, strict: true, strictRequired: false }).compile(schema);

after(() => db.end());

/* The flow documents a text shows: the $$-quoted JSON that create_flow and alter_flow take. */
function documents(file) {
	const text = fs.readFileSync(path.join(top, file), 'utf8');
	const found = [];
	for (const m of text.matchAll(/(?:create_flow|alter_flow)\([^$]*?\$\$(\{[\s\S]*?\})\$\$/g))
		found.push({ file, doc: JSON.parse(m[1]) });
	return found;
}

test('every flow document in the README and docs/ fits the schema', () => {
	const docs = ['README.md', ...fs.readdirSync(path.join(top, 'docs')).filter((f) => f.endsWith('.md'))
		.map((f) => `docs/${f}`)].flatMap(documents);
	assert.ok(docs.length >= 4, `found ${docs.length} documents`);
	for (const { file, doc } of docs)
		assert.ok(validate(doc), `${file}: ${JSON.stringify(validate.errors)}`);
});

// Documents the schema refuses, each for one reason.
const REFUSED = [
	['an unknown key at the top', { start: 'a', activities: { a: { kind: 'end' } }, version: 2 }],
	['an activity without kind', { start: 'a', activities: { a: { next: 'b' }, b: { kind: 'end' } } }],
	['an unknown kind', { start: 'a', activities: { a: { kind: 'sleep' } } }],
	['a key its kind does not take', { start: 'a', activities: { a: { kind: 'end', next: 'a' } } }],
	['a wait with neither on nor timeout', { start: 'a', activities: { a: { kind: 'wait', next: 'b' }, b: { kind: 'end' } } }],
	['fields of a create event', { start: 'a', activities: {
		a: { kind: 'wait', on: { event: 'create', fields: ['id'] }, next: 'b' }, b: { kind: 'end' } } }],
	['an unknown event', { start: 'a', activities: { a: { kind: 'wait', on: { event: 'touch' }, next: 'b' }, b: { kind: 'end' } } }],
	['a decision without else', { start: 'a', activities: {
		a: { kind: 'decision', cases: [{ when: 'true', next: 'b' }] }, b: { kind: 'end' } } }],
	['an empty action', { start: 'a', activities: { a: { kind: 'automatic', action: '', next: 'b' }, b: { kind: 'end' } } }],
	['a choice without options', { start: 'a', activities: {
		a: { kind: 'human', form: { fields: { x: { type: 'choice' } } }, next: 'b' }, b: { kind: 'end' } } }],
	['a number for a name', { start: 'a', activities: { a: { kind: 'automatic', action: 'SELECT 1', next: 7 } } }],
	['a subflow without flow', { start: 'a', activities: { a: { kind: 'subflow', next: 'b' }, b: { kind: 'end' } } }],
];

test('what the schema refuses, create_flow refuses, at the place the schema names', async () => {
	await db.query('CREATE TABLE IF NOT EXISTS schema_row (id int PRIMARY KEY)');
	for (const [what, doc] of REFUSED) {
		assert.equal(validate(doc), false, `the schema takes ${what}`);
		// the place in the document: the activity the first error is in, or the top
		const steps = validate.errors[0].instancePath.split('/');
		const at = steps[1] === 'activities' && steps.length > 2 ? `/activities/${steps[2]}` : null;
		const err = await db.query(`SELECT procflow.create_flow('schema_refused', 'schema_row', $1::jsonb)`,
			[JSON.stringify(doc)]).then(() => null, (e) => e);
		assert.ok(err, `create_flow took ${what}`);
		assert.equal(err.code, '22023', `${what}: ${err.message}`);
		if (at)
			assert.match(err.where || '', new RegExp(`, at ${at}(/|$|\\n)`), `${what}: ${err.where}`);
	}
});
