// procflow's taskbox in the browser.  procflow sends NOTIFY procflow_task
// on every change of a task; the server passes each on as an event, and
// the list is read again.  Once listening, it is read once more: a change
// made between this page's rendering and the start of the listening is
// not missed.  A stream that ends (a dropped connection, a restart) opens
// again by itself; the page says whether it is live.
//
// Copyright (c) 2026, procflow developers
const events = new EventSource('/events');
const liveState = document.getElementById('live-state');

async function refresh() {
	const res = await fetch('/taskbox?part=tasks', { credentials: 'same-origin' });
	if (res.ok)
		document.getElementById('tasks').innerHTML = await res.text();
}

events.addEventListener('open', async () => {
	await refresh();
	document.body.dataset.live = 'yes';
	liveState.textContent = 'It updates by itself.';
});
events.addEventListener('error', () => {
	document.body.dataset.live = 'no';
	liveState.textContent = 'Not live: reconnecting…';
});
events.addEventListener('task', refresh);
