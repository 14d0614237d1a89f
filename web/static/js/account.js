// The account page: name colour, avatar, password and sessions, each
// through the account API with the session cookie.

import { api } from './site.js';
import { el, button, setStatus } from './dom.js';
import { paintName } from './legible.js';

const $ = (id) => document.getElementById(id);

// busy runs an action with its button disabled, reporting into status.
async function busy(btn, status, action) {
  btn.disabled = true;
  setStatus(status, 'Saving…');
  try {
    setStatus(status, await action(), 'ok');
  } catch (err) {
    setStatus(status, err.message, 'bad');
  } finally {
    btn.disabled = false;
  }
}

for (const chip of document.querySelectorAll('[data-swatch]')) {
  chip.style.backgroundColor = chip.dataset.swatch;
}

$('color-form')?.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const color = new FormData(ev.target).get('color');
  busy(ev.target.querySelector('button[type=submit]'), $('color-status'), async () => {
    const { user } = await api('PUT', '/api/v1/account/color', { color });
    const handle = $('account-handle');
    handle.dataset.color = user.color;
    paintName(handle, user.color);
    return 'Colour saved.';
  });
});

function showAvatar(src) {
  const img = $('avatar-preview');
  img.hidden = !src;
  if (src) img.src = src;
  $('avatar-remove').hidden = !src;
}

$('avatar-form')?.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const file = $('avatar-file').files[0];
  if (!file) return;
  busy(ev.target.querySelector('button[type=submit]'), $('avatar-status'), async () => {
    const res = await fetch('/api/v1/account/avatar', { method: 'PUT', credentials: 'same-origin', body: file });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data.error?.message || `upload failed (${res.status})`);
    showAvatar(data.user.avatar);
    ev.target.reset();
    return 'Avatar saved.';
  });
});

$('avatar-remove')?.addEventListener('click', (ev) => {
  busy(ev.target, $('avatar-status'), async () => {
    await api('DELETE', '/api/v1/account/avatar');
    showAvatar('');
    return 'Avatar removed.';
  });
});

$('password-form')?.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const form = new FormData(ev.target);
  busy(ev.target.querySelector('button[type=submit]'), $('password-status'), async () => {
    await api('PUT', '/api/v1/account/password', { current: form.get('current'), password: form.get('password') });
    ev.target.reset();
    loadSessions();
    return 'Password changed; your other sessions are signed out.';
  });
});

function when(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleString();
}

async function loadSessions() {
  const body = $('sessions-body');
  const status = $('sessions-status');
  try {
    const { sessions } = await api('GET', '/api/v1/account/sessions');
    body.replaceChildren(...sessions.map((s) => {
      const tr = el('tr');
      tr.dataset.sid = s.id;
      const client = el('td', '', s.client);
      if (s.current) client.append(' ', el('span', 'badge', 'this one'));
      const action = el('td');
      if (!s.current) {
        action.append(button('session-out', 'Sign out', (ev) => busy(ev.target, status, async () => {
          await api('DELETE', `/api/v1/account/sessions/${encodeURIComponent(s.id)}`);
          await loadSessions();
          return 'Signed out.';
        })));
      }
      tr.append(client, el('td', '', when(s.created)), el('td', '', when(s.lastSeen)), action);
      return tr;
    }));
    $('sessions-others').hidden = !sessions.some((s) => !s.current);
  } catch (err) {
    setStatus(status, err.message, 'bad');
  }
}

$('sessions-others')?.addEventListener('click', (ev) => {
  busy(ev.target, $('sessions-status'), async () => {
    const { signedOut } = await api('DELETE', '/api/v1/account/sessions');
    await loadSessions();
    return signedOut === 1 ? 'Signed out 1 other session.' : `Signed out ${signedOut} other sessions.`;
  });
});

loadSessions();
