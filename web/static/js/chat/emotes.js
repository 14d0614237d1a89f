// The emote picker: #chat-emotes-button opens #chat-emotes, a grid of the
// instance's emotes from /api/v1/emotes; a click puts :name: into the box.
// The button stays hidden on an instance without emotes.

import { el } from './util.js';

// createEmotePicker wires the picker; insert puts text into the message box.
export function createEmotePicker(ui, insert) {
  const { emoteButton, emotePanel, input } = ui;

  async function load() {
    let list = [];
    try {
      const res = await fetch('/api/v1/emotes', { credentials: 'same-origin' });
      if (res.ok) list = (await res.json()).emotes;
    } catch {
      return;
    }
    if (!Array.isArray(list)) return;
    const buttons = [];
    for (const e of list) {
      if (!e || typeof e.name !== 'string' || !/^[\w-]+$/.test(e.name)) continue;
      if (typeof e.url !== 'string' || !e.url.startsWith('/') || e.url.startsWith('//')) continue;
      const b = el('button', 'chat-emote');
      b.type = 'button';
      b.title = `:${e.name}:`;
      const img = el('img');
      img.src = e.url;
      img.alt = `:${e.name}:`;
      img.loading = 'lazy';
      b.append(img);
      b.addEventListener('click', () => insert(`:${e.name}: `));
      buttons.push(b);
    }
    if (!buttons.length) return;
    emotePanel.replaceChildren(...buttons);
    emoteButton.hidden = false;
  }

  emoteButton.addEventListener('click', () => {
    if (emotePanel.hidden) {
      emotePanel.hidden = false;
      emoteButton.setAttribute('aria-expanded', 'true');
      emotePanel.querySelector('button')?.focus();
    } else {
      close();
    }
  });
  emotePanel.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') {
      close();
      input.focus();
    }
  });
  // A press anywhere else closes the picker.
  document.addEventListener('pointerdown', (ev) => {
    if (!emotePanel.hidden && !emotePanel.contains(ev.target) && !emoteButton.contains(ev.target)) close();
  });

  function close() {
    emotePanel.hidden = true;
    emoteButton.setAttribute('aria-expanded', 'false');
  }

  const isOpen = () => !emotePanel.hidden;

  return { load, close, isOpen };
}
