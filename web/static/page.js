// procflow's page: what every page does in the browser.  A form with
// data-confirm asks before it is sent (the page allows no inline script).
//
// Copyright (c) 2026, procflow developers
document.addEventListener('submit', (event) => {
	const question = event.target.dataset.confirm;
	if (question && !window.confirm(question))
		event.preventDefault();
});
