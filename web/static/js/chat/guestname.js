// A guest of this tab may pick a name of their own (PUT
// /api/v1/account/name with the guest token); their next messages carry
// it. Registered users keep theirs, so the form shows for guests only.

import { GUEST_KEY, storageGet } from './util.js';

export function createGuestName(ui, state) {
  const box = document.getElementById('chat-guest-name');
  if (!box) return { show() {} };
  const form = box.querySelector('form');
  const input = box.querySelector('input');
  const status = box.querySelector('.form-status');

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const token = storageGet(sessionStorage, GUEST_KEY);
    if (!token) return;
    const button = form.querySelector('button');
    button.disabled = true;
    try {
      const res = await fetch('/api/v1/account/name', {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify({ name: input.value.trim() }),
      });
      const data = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(data.error?.message || `Could not change your name (${res.status}).`);
      state.me = data.user.handle;
      ui.root.dataset.me = state.me;
      status.textContent = `You are now ${state.me}.`;
      status.className = 'form-status ok';
    } catch (err) {
      status.textContent = err.message;
      status.className = 'form-status bad';
    } finally {
      button.disabled = false;
    }
  });

  // show offers the form when the welcome says we are a guest.
  return {
    show(user) {
      box.hidden = user.role !== 'guest' || state.cookieUser;
    },
  };
}
