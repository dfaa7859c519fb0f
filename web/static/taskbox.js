// procflow's taskbox in the browser.  The server sends "live" once it
// listens to procflow's task notifications: the list shown is then read
// whole (a change made before the listening began is not missed).  Then
// "tasks" names the tasks that changed: only those are read again, and
// each is replaced, added or, gone from the taskbox, removed.  A stream
// that ends (a dropped connection, a restart) opens again by itself; the
// page says whether it is live.
//
// Copyright (c) 2026, procflow developers
const events = new EventSource('/events');
const liveState = document.getElementById('live-state');
const list = document.getElementById('tasks');
let reading = Promise.resolve();

/* The tasks of an HTML fragment the server rendered. */
async function read(query) {
	const res = await fetch(`/taskbox?part=tasks&${query}`, { credentials: 'same-origin' });
	if (!res.ok)
		return null;
	const holder = document.createElement('template');
	holder.innerHTML = await res.text();
	return holder.content;
}

/* Say "No tasks." when the list has none, and nothing when it has some. */
function noteEmpty() {
	const empty = list.querySelector('#no-tasks');
	if (list.querySelector('.task')) {
		if (empty)
			empty.remove();
	} else if (!empty) {
		const p = document.createElement('p');
		p.className = 'muted';
		p.id = 'no-tasks';
		p.textContent = 'No tasks.';
		list.prepend(p);
	}
	document.dispatchEvent(new Event('procflow:rendered'));
}

/*
 * A task read again takes the place of the one shown; but while a person
 * works on its form (typed into it, or has a field focused), the form
 * itself moves into the fresh copy, with what they typed, and keeps the
 * focus: only the rest of the task (status, assignee, buttons) is new.
 */
function keepForm(shown, fresh) {
	const form = shown.querySelector('form.complete');
	const target = fresh.querySelector('form.complete');
	if (!form || !target || (shown.dataset.dirty !== 'yes' && !shown.contains(document.activeElement)))
		return null;
	const focused = form.contains(document.activeElement) ? document.activeElement : null;
	target.replaceWith(form);
	fresh.dataset.dirty = 'yes';
	return focused;
}

document.addEventListener('input', (event) => {
	const task = event.target.closest && event.target.closest('.task');
	if (task)
		task.dataset.dirty = 'yes';
});

async function readAll() {
	const fresh = await read(`after=${encodeURIComponent(list.dataset.after || '')}`);
	if (!fresh)
		return;
	let focused = null;
	for (const task of fresh.querySelectorAll('.task')) {
		const shown = list.querySelector(`.task[data-task="${task.dataset.task}"]`);
		focused = (shown && keepForm(shown, task)) || focused;
	}
	list.replaceChildren(fresh);
	focused?.focus();
	noteEmpty();
}

async function readSome(ids) {
	const fresh = await read(`ids=${encodeURIComponent(ids.join(','))}`);
	if (!fresh)
		return;
	for (const id of ids) {
		const now = fresh.querySelector(`.task[data-task="${id}"]`);
		const shown = list.querySelector(`.task[data-task="${id}"]`);
		if (shown && now) {
			const focused = keepForm(shown, now);
			shown.replaceWith(now);
			focused?.focus();
		}
		else if (shown)
			shown.remove();
		else if (now) {
			const pager = list.querySelector('.pager');
			list.insertBefore(now, pager);
		}
	}
	noteEmpty();
}

/* One reading at a time, in the order the changes came. */
const queue = (work) => {
	reading = reading.then(work, work).catch(() => {});
	return reading;
};

events.addEventListener('live', () => queue(async () => {
	await readAll();
	document.body.dataset.live = 'yes';
	liveState.textContent = 'It updates by itself.';
}));
events.addEventListener('error', () => {
	document.body.dataset.live = 'no';
	liveState.textContent = 'Not live: reconnecting…';
});
events.addEventListener('tasks', (event) => {
	const ids = event.data.split(',').filter((id) => /^[0-9]+$/.test(id));
	if (ids.length)
		queue(() => readSome(ids));
});
