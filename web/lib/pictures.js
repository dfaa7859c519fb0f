// Flow pictures for procflow's page, drawn from Graphviz text in a worker
// thread (picture_worker.js) so that no picture holds the server's thread.
//
// Copyright (c) 2026, procflow developers

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

const here = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

// The largest picture drawn (DOT text), and the longest a drawing may take.
const PICTURE_MAX_BYTES = 200000;
const PICTURE_MAX_MS = 5000;

/*
 * Flow pictures, drawn one after another in a worker thread
 * (picture_worker.js) with a size and a time limit: a picture too big or too
 * slow to draw is described instead, and the thread that took too long is
 * ended and replaced.  The server's own thread never draws.
 */
export class Pictures {
	constructor() {
		this.next = 1;
		this.waiting = new Map();
		this.queue = Promise.resolve();
		this.start();
	}

	start() {
		this.worker = new Worker(path.join(here, 'picture_worker.js'));
		this.worker.unref();
		this.worker.on('message', ({ id, svg, error }) => {
			const done = this.waiting.get(id);
			if (done)
				done(svg ? { svg } : { error });
		});
		this.worker.on('error', () => this.restart());
	}

	restart() {
		for (const done of this.waiting.values())
			done({ error: 'the drawing failed' });
		this.worker.terminate().catch(() => {});
		this.start();
	}

	// The picture as HTML: the SVG, or a sentence saying why there is none.
	draw(dot) {
		const missing = (why) => `<p class="muted" id="picture-missing">${why}</p>`;
		if (dot.length > PICTURE_MAX_BYTES)
			return Promise.resolve(missing(`This flow is too large to draw here (${dot.length} bytes of Graphviz; ` +
				`the page draws up to ${PICTURE_MAX_BYTES}). procflow.flow_graph() gives it for dot.`));
		const drawing = this.queue.then(() => new Promise((resolve) => {
			const id = this.next++;
			const timer = setTimeout(() => {
				this.waiting.delete(id);
				resolve(missing(`Drawing this flow took longer than ${PICTURE_MAX_MS / 1000} s; ` +
					'procflow.flow_graph() gives it for dot.'));
				this.restart();
			}, PICTURE_MAX_MS);
			this.waiting.set(id, (result) => {
				clearTimeout(timer);
				this.waiting.delete(id);
				resolve(result.svg || missing('The picture could not be drawn.'));
			});
			this.worker.postMessage({ id, dot });
		}));
		this.queue = drawing.catch(() => {});
		return drawing;
	}

	close() {
		return this.worker.terminate();
	}
}
