// Progressive niceties only; the page is complete without this file.
// 1. Times are rendered in UTC on the server; show them in the reader's own time zone.
// 2. The subscribe form's placeholder follows the chosen kind.
(() => {
  const fmt = new Intl.DateTimeFormat(undefined, {
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    timeZoneName: 'short',
  });
  for (const el of document.querySelectorAll('time[datetime]')) {
    const d = new Date(el.getAttribute('datetime'));
    if (Number.isNaN(d.getTime()) || el.closest('.table')) continue;
    el.title = `${el.textContent} (UTC)`;
    el.textContent = fmt.format(d);
  }
  for (const el of document.querySelectorAll('.tz-note')) {
    el.textContent = 'Times are in your time zone; hover one for UTC.';
  }

  const form = document.querySelector('form.subscribe');
  if (!form) return;
  const input = form.querySelector('input[name="target"]');
  const check = form.querySelector('input[name="component_updates"]');
  const hints = {
    email: 'you@example.com',
    webhook: 'https://example.com/hooks/status',
    slack: 'https://hooks.slack.com/services/…',
    discord: 'https://discord.com/api/webhooks/…',
  };
  const sync = () => {
    const kind = form.querySelector('input[name="kind"]:checked')?.value ?? 'webhook';
    input.placeholder = hints[kind] ?? '';
    input.type = kind === 'email' ? 'email' : 'url';
    input.autocomplete = kind === 'email' ? 'email' : 'off';
    if (check) check.closest('label').hidden = kind !== 'webhook';
  };
  form.addEventListener('change', sync);
  sync();
})();
