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
 * What a person typed into a task's form stays when the task is read
 * again: its fields' values are carried into the fresh copy.
 */
function carry(shown, fresh) {
	if (!shown || shown.dataset.dirty !== 'yes')
		return fresh;
	for (const input of shown.querySelectorAll('input[name], select[name]')) {
		const twin = fresh.querySelector(`[name="${CSS.escape(input.name)}"]`);
		if (!twin)
			continue;
		if (input.type === 'checkbox')
			twin.checked = input.checked;
		else
			twin.value = input.value;
		twin.dataset.local = input.dataset.local || '';
	}
	fresh.dataset.dirty = 'yes';
	return fresh;
}

document.addEventListener('input', (event) => {
	const task = event.target.closest && event.target.closest('.task');
	if (task)
		task.dataset.dirty = 'yes';
});

async function readAll() {
	const fresh = await read(`after=${encodeURIComponent(list.dataset.after || '')}`);
	if (fresh) {
		for (const task of fresh.querySelectorAll('.task'))
			carry(list.querySelector(`.task[data-task="${task.dataset.task}"]`), task);
		list.replaceChildren(fresh);
		noteEmpty();
	}
}

async function readSome(ids) {
	const fresh = await read(`ids=${encodeURIComponent(ids.join(','))}`);
	if (!fresh)
		return;
	for (const id of ids) {
		const now = fresh.querySelector(`.task[data-task="${id}"]`);
		const shown = list.querySelector(`.task[data-task="${id}"]`);
		if (shown && now)
			shown.replaceWith(carry(shown, now));
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
