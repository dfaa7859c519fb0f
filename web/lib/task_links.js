// Links from a task to the row it is about, in the application that owns
// the row.  The page is told them per flow (--links FILE or
// PROCFLOW_WEB_LINKS, JSON such as {"invoice_flow":
// "https://erp.example/invoices/{id}"}): each {field} is the value of that
// field of the instance's key, escaped for a URL.  Only http and https
// addresses are taken, with fields in their path, query or fragment only:
// a key's value never names the host a link goes to.
//
// Copyright (c) 2026, procflow developers

import fs from 'node:fs';

/* Read the links: a file's JSON, or JSON text; none when neither is given. */
export function readLinks(file, text) {
	const source = file ? fs.readFileSync(file, 'utf8') : text;
	if (!source)
		return new Map();
	const parsed = JSON.parse(source);
	if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
		throw new Error('the links must be a JSON object from flow name to address');
	const links = new Map();
	for (const [flow, template] of Object.entries(parsed)) {
		if (typeof template !== 'string' || !/^https?:\/\/[^\s]+$/.test(template))
			throw new Error(`the link of flow "${flow}" must be an http or https address`);
		if (/^https?:\/\/[^/?#]*[{}]/.test(template))
			throw new Error(`the link of flow "${flow}" may have {fields} in its path, query or fragment only, not in its host`);
		links.set(flow, template);
	}
	return links;
}

/* The link of a task of this flow and key, or null. */
export function taskLink(links, flow, key) {
	const template = links.get(flow);
	if (!template || key === null || typeof key !== 'object')
		return null;
	let missing = false;
	const link = template.replace(/\{([^{}]+)\}/g, (_, field) => {
		const value = key[field];
		if (value === undefined || value === null)
			missing = true;
		return encodeURIComponent(String(value));
	});
	return missing ? null : link;
}
