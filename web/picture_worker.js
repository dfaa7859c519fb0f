// procflow's page: draws flow pictures (Graphviz's DOT to SVG, with viz.js
// in WebAssembly) in a worker thread, so that a large picture never holds
// the server's requests; the server ends a drawing that takes too long by
// ending this thread.
//
// Copyright (c) 2026, procflow developers
import { parentPort } from 'node:worker_threads';
import { instance } from '@viz-js/viz';

const viz = await instance();

parentPort.on('message', ({ id, dot }) => {
	try {
		const text = viz.renderString(dot, { format: 'svg' });
		parentPort.postMessage({ id, svg: text.slice(text.indexOf('<svg')) });
	} catch (err) {
		parentPort.postMessage({ id, error: err.message });
	}
});
