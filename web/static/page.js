// procflow's page: what every page does in the browser (the page allows
// no inline script).  A form with data-confirm asks before it is sent,
// naming the button's choice where the question has {choice}.  Times are
// shown in the browser's time zone, labelled with it; a date and time a
// person enters is sent with the instant it means (its offset from UTC).
//
// Copyright (c) 2026, procflow developers
document.addEventListener('submit', (event) => {
	const form = event.target;
	const question = form.dataset.confirm;
	const choice = event.submitter && event.submitter.dataset.choice;
	// the last {choice} is the page's own (a task's text comes before it)
	const at = question ? question.lastIndexOf('{choice}') : -1;
	const asked = at < 0 ? question : question.slice(0, at) + (choice || 'done') + question.slice(at + 8);
	if (question && !window.confirm(asked)) {
		event.preventDefault();
		return;
	}
	for (const input of form.querySelectorAll('input[data-zoned]')) {
		const zoned = form.elements[input.dataset.zoned];
		if (zoned)
			zoned.value = input.value ? new Date(input.value).toISOString() : '';
	}
});

const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
const two = (n) => String(n).padStart(2, '0');

/* Times and date inputs as the browser's time zone shows them. */
function localTimes(root) {
	for (const time of root.querySelectorAll('time[datetime]:not([data-local])')) {
		const d = new Date(time.getAttribute('datetime'));
		if (Number.isNaN(d.getTime()))
			continue;
		const seconds = time.dataset.seconds ? `:${two(d.getSeconds())}` : '';
		time.textContent = `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ` +
			`${two(d.getHours())}:${two(d.getMinutes())}${seconds}`;
		time.title = `${zone} (UTC ${time.getAttribute('datetime')})`;
		time.dataset.local = zone;
	}
	for (const input of root.querySelectorAll('input[data-utc]:not([data-local])')) {
		const d = new Date(input.dataset.utc);
		if (!Number.isNaN(d.getTime()))
			input.value = `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}T` +
				`${two(d.getHours())}:${two(d.getMinutes())}`;
		input.dataset.local = zone;
	}
	for (const label of root.querySelectorAll('[data-zone-label]'))
		label.textContent = zone;
}

document.addEventListener('DOMContentLoaded', () => localTimes(document));
document.addEventListener('procflow:rendered', () => localTimes(document));
