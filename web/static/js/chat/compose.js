// Writing in the chat: the message box and its form, whispers and commands,
// the pending copy of a message until the server has it (after a while it
// says it waits for the other site, in a federated room), Up/Down recall of
// what was sent, the countdown near the length limit, the error line, the
// emote picker, and "Chat as guest" / "Log in" for those who cannot write yet.

import { createEmotePicker } from './emotes.js';
import { GUEST_KEY, LIMIT, length, storageJSON, storageSet, uuid } from './util.js';

const COUNTER_FROM = 450; // show the remaining characters from here on
const HISTORY_SIZE = 50;
const HISTORY_KEY = 'fedwave.chat.sent';
// A federated room acknowledges once its home site has stored the message;
// past this, the pending line says that it waits for that site.
const WAITING_MS = 3000;

// createComposer wires the form. Messages go through conn; their pending
// lines, built by lines, wait in log and in state.pending for the server.
export function createComposer(ui, state, conn, log, lines) {
  const { form, input, sendButton, counter, errorBox, join, guestButton, loginLink } = ui;
  const { channel } = state;
  const emotes = createEmotePicker(ui, insertText);

  // ---- Sending ---------------------------------------------------------------

  const sent = storageJSON(sessionStorage, HISTORY_KEY, []).filter((s) => typeof s === 'string');
  let historyPos = sent.length;
  let draft = '';

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    if (length(text) > LIMIT) {
      showError(`Messages can have at most ${LIMIT} characters; this one has ${length(text)}.`);
      return;
    }
    remember(text);
    setInput('');
    clearError();
    const whisper = /^[!/]w\s+(\S+)\s+([\s\S]+)$/.exec(text);
    if (whisper) {
      conn.sendOrQueue({ type: 'whisper', to: whisper[1], text: whisper[2], nonce: uuid() });
    } else if (/^[!/]/.test(text)) {
      // Commands are answered with system lines and are not retried: a
      // second !ban or !wipe after a lost ack is not what anyone meant.
      conn.sendOrQueue({ type: 'send', channel, text, nonce: uuid() });
    } else {
      const nonce = uuid();
      const p = { nonce, text, el: lines.pendingLine(text), offset: null };
      state.pending.set(nonce, p);
      log.addPending(p.el);
      if (state.instance) {
        setTimeout(() => {
          if (p.el.classList.contains('chat-pending')) lines.setNote(p.el, `waiting for ${state.instance}`);
        }, WAITING_MS);
      }
      conn.send({ type: 'send', channel, text, nonce }); // or on reconnect
    }
    input.focus();
  });

  function remember(text) {
    if (sent[sent.length - 1] !== text) sent.push(text);
    if (sent.length > HISTORY_SIZE) sent.splice(0, sent.length - HISTORY_SIZE);
    historyPos = sent.length;
    draft = '';
    storageSet(sessionStorage, HISTORY_KEY, JSON.stringify(sent));
  }

  input.addEventListener('keydown', (ev) => {
    if (ev.altKey || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.isComposing) return;
    if (ev.key === 'ArrowUp' && historyPos > 0) {
      if (historyPos === sent.length) draft = input.value;
      historyPos--;
      setInput(sent[historyPos]);
      ev.preventDefault();
    } else if (ev.key === 'ArrowDown' && historyPos < sent.length) {
      historyPos++;
      setInput(historyPos === sent.length ? draft : sent[historyPos]);
      ev.preventDefault();
    } else if (ev.key === 'Escape' && emotes.isOpen()) {
      emotes.close();
    }
  });
  input.addEventListener('input', updateCounter);

  function setInput(text) {
    input.value = text;
    input.setSelectionRange(text.length, text.length);
    updateCounter();
  }

  // insertText puts text at the caret, with a space before it if needed.
  function insertText(text) {
    const start = input.selectionStart ?? input.value.length;
    const end = input.selectionEnd ?? start;
    const before = input.value.slice(0, start);
    const pad = before && !/\s$/.test(before) ? ' ' : '';
    input.value = before + pad + text + input.value.slice(end);
    const caret = start + pad.length + text.length;
    input.focus();
    input.setSelectionRange(caret, caret);
    updateCounter();
  }

  function updateCounter() {
    const n = length(input.value);
    counter.hidden = n < COUNTER_FROM;
    counter.textContent = String(LIMIT - n);
    counter.classList.toggle('over', n > LIMIT);
    sendButton.disabled = n > LIMIT;
  }

  // showComposer shows the message box (on) or the guest/log-in offer.
  function showComposer(on) {
    if (state.overlay) return; // an OBS overlay only shows the chat
    form.hidden = !on;
    join.hidden = on;
  }

  let errorTimer = 0;
  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
    clearTimeout(errorTimer);
    errorTimer = setTimeout(clearError, 12000);
  }
  function clearError() {
    errorBox.hidden = true;
    errorBox.textContent = '';
  }

  // ---- Guests and login --------------------------------------------------

  loginLink.href = `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
  guestButton?.addEventListener('click', async () => {
    guestButton.disabled = true;
    clearError();
    try {
      const res = await fetch('/api/v1/guest', { method: 'POST', credentials: 'same-origin' });
      const data = await res.json().catch(() => ({}));
      if (!res.ok || typeof data.token !== 'string') {
        throw new Error(data.error?.message || `Could not start a guest session (${res.status}).`);
      }
      storageSet(sessionStorage, GUEST_KEY, data.token);
      state.authPending = true;
      state.focusOnWelcome = true;
      conn.send({ type: 'auth', token: data.token }); // else on the next connection
    } catch (err) {
      showError(err.message);
    } finally {
      guestButton.disabled = false;
    }
  });

  return { setInput, updateCounter, showComposer, showError, loadEmotes: emotes.load };
}
