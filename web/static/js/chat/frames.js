// Frames from the server (CONTRACT §4) and what each does to the page:
// welcome says who we are, message and ack settle the list and the pending
// lines (each offset is shown once), whisper, presence, live, delete, system
// and error update the rest of the chat.

import { GUEST_KEY, LIMIT, el, fullHandle, storageSet } from './util.js';
import { localName } from '../live.js';

// createFrames returns dispatch, which handles one parsed frame.
export function createFrames(ui, state, { log, lines, compose, ignore, guestName }) {
  const { channel, pending } = state;

  function dispatch(f) {
    switch (f.type) {
      case 'welcome': return onWelcome(f.user || {});
      case 'message': return onMessage(f);
      case 'ack': return onAck(f);
      case 'whisper': return onWhisper(f);
      case 'presence': return onPresence(f);
      case 'live': return onLive(f.channel);
      case 'delete': return onDelete(f);
      case 'system':
        if (!f.channel || f.channel === channel) log.add(lines.systemLine(String(f.text ?? '')));
        return;
      case 'error': return onError(f);
    }
  }

  function onWelcome(user) {
    state.authPending = false;
    if (typeof user.handle === 'string') state.me = user.handle;
    if (typeof user.color === 'string') state.myColor = user.color;
    ui.root.dataset.me = state.me;
    compose.showComposer(Boolean(state.me));
    guestName?.show(user);
    // Only a gesture ("Chat as guest") moves focus: focusing on page load
    // would open the keyboard on phones.
    if (state.focusOnWelcome) ui.input.focus();
    state.focusOnWelcome = false;
    // History may have arrived before we knew who we are.
    for (const li of ui.log.querySelectorAll('.chat-msg')) lines.markMention(li);
  }

  function onMessage(f) {
    if (f.channel !== channel) return;
    const off = Number(f.offset);
    if (!Number.isFinite(off) || state.seen.has(off) || off <= state.floor) return;
    state.seen.add(off);
    if (!(state.lastOffset.get(channel) >= off)) state.lastOffset.set(channel, off);
    for (const p of pending.values()) {
      if (p.offset === off) {
        p.el.remove();
        pending.delete(p.nonce);
      }
    }
    log.add(lines.messageLine(f), off);
  }

  function onAck(f) {
    const p = pending.get(f.nonce);
    if (!p) return; // a command's ack
    const off = Number(f.offset);
    if (!Number.isFinite(off) || state.seen.has(off)) {
      p.el.remove(); // the message itself is already in the list
      pending.delete(p.nonce);
      return;
    }
    // Stored: show it as sent; the message frame replaces it when it comes.
    p.offset = off;
    p.el.classList.remove('chat-pending');
    lines.setNote(p.el, '');
    p.el.title = new Date().toLocaleString();
    p.el.dataset.offset = String(off);
    p.el.dataset.id = String(f.id ?? '');
    state.msgIds.set(p.el, f.id);
  }

  function onWhisper(f) {
    if (ignore.has(fullHandle(f.from))) return;
    log.add(lines.whisperLine(f));
  }

  function onPresence(f) {
    if (f.channel !== channel) return;
    ui.root.dataset.joined = 'true'; // the history is in; tests wait for this
    const n = Number(f.viewers);
    ui.viewers.textContent = Number.isFinite(n) ? String(n) : '0';
    const list = Array.isArray(f.chatters) ? f.chatters.filter((h) => typeof h === 'string') : [];
    ui.chattersCount.textContent = String(list.length);
    ui.chatters.replaceChildren(...list.map((h) => {
      const li = el('li');
      const b = lines.nameButton(h, '');
      b.classList.replace('chat-name', 'chat-chatter');
      li.append(b);
      return li;
    }));
  }

  function onLive(ch) {
    if (!ch || ch.name !== channel) return;
    const title = document.getElementById('channel-title');
    if (title && typeof ch.title === 'string') title.textContent = ch.title || localName(ch);
  }

  function onDelete(f) {
    if (f.channel !== channel) return;
    for (const li of ui.log.querySelectorAll('.chat-msg')) {
      if (li.dataset.id === String(f.id)) li.remove();
    }
  }

  function onError(f) {
    const p = f.nonce ? pending.get(f.nonce) : undefined;
    const text = typeof f.message === 'string' && f.message ? f.message : errorText(f.code);
    if (p) {
      // Refused: the line says so (it is not sent again) and the text
      // comes back to the box to edit or retry.
      lines.failLine(p.el, text);
      pending.delete(p.nonce);
      if (!ui.input.value) compose.setInput(p.text);
    }
    if (state.authPending && !f.nonce) {
      // The guest token is no longer good: start over.
      state.authPending = false;
      storageSet(sessionStorage, GUEST_KEY, null);
      compose.showComposer(false);
    }
    if (f.code === 'auth_required') compose.showComposer(false);
    compose.showError(text);
  }

  return dispatch;
}

function errorText(code) {
  return {
    auth_required: 'Log in or chat as a guest to send messages.',
    rate_limited: 'You are sending too fast; wait a moment.',
    slow_mode: 'Slow mode is on; wait a moment.',
    banned: 'You are banned from this chat.',
    timed_out: 'You are timed out for now.',
    too_long: `Messages can have at most ${LIMIT} characters.`,
    forbidden: 'You may not do that.',
    unknown_command: 'Unknown command; try !help.',
    user_not_found: 'No such user.',
    user_offline: 'That user is not online.',
    federation_not_linked: 'That site is not linked with this one.',
    federation_refused: 'That site does not take this from us.',
    peer_unreachable: 'That site cannot be reached right now.',
  }[code] || 'Something went wrong.';
}
