// Building the chat's lines: messages, the sender's pending copy, whispers
// and system texts, with names in readable colours, avatars and times.
//
// Safety: names, handles, system texts and errors are set with textContent.
// The only HTML inserted is a message's `html` field, which the server has
// rendered from Markdown and sanitised; it is parsed in an inert <template>
// and scrubbed once more before it joins the page.

import { el, fullHandle, sameHandle } from './util.js';
import { paintName } from '../legible.js';

// createLines returns the line builders. They read who we are from state
// (it changes on welcome) and hide the lines of ignored users.
export function createLines(state, ignore) {
  function messageLine(f) {
    const from = f.from || {};
    const handle = fullHandle(from);
    const li = el('li', 'chat-msg');
    li.dataset.offset = String(f.offset);
    li.dataset.id = String(f.id ?? '');
    li.dataset.handle = handle;
    state.msgIds.set(li, f.id);
    setTime(li, f.ts);
    li.append(avatar(from.avatar), nameButton(handle, from.color), el('span', 'chat-sep', ': '), body(f.html));
    li.hidden = ignore.has(handle);
    markMention(li);
    return li;
  }

  // pendingLine is the sender's own copy of a message until the server
  // has stored it: greyed, with a note that says how it is going.
  function pendingLine(text) {
    const li = el('li', 'chat-msg chat-pending chat-local');
    li.dataset.handle = state.me;
    li.append(nameButton(state.me, state.myColor), el('span', 'chat-sep', ': '), el('span', 'chat-body', text), el('span', 'chat-note'));
    setNote(li, 'sending…');
    return li;
  }

  // setNote says how a pending line is going ('' when it went through).
  function setNote(li, text) {
    li.querySelector('.chat-note').textContent = text;
    li.title = text ? text[0].toUpperCase() + text.slice(1) : '';
  }

  // failLine marks a line the server refused, with its reason.
  function failLine(li, reason) {
    li.classList.remove('chat-pending');
    li.classList.add('chat-failed');
    setNote(li, `not sent: ${reason}`);
  }

  function whisperLine(f) {
    const from = fullHandle(f.from);
    const to = typeof f.to === 'string' ? f.to : fullHandle(f.to);
    const li = el('li', 'chat-whisper');
    li.dataset.handle = from;
    setTime(li, f.ts);
    const mine = sameHandle(from, state.me);
    li.append(
      el('span', 'chat-whisper-tag', mine ? 'whisper to' : 'whisper from'),
      ' ',
      mine ? nameButton(to, '') : nameButton(from, f.from?.color),
      mine ? '' : el('span', 'chat-whisper-to', ` → ${to}`),
      el('span', 'chat-sep', ': '),
      body(f.html),
    );
    return li;
  }

  function systemLine(text) {
    return el('li', 'chat-system', text);
  }

  // nameButton is a user's name, in their colour; it opens the name menu.
  function nameButton(handle, color) {
    const b = el('button', 'chat-name');
    b.type = 'button';
    b.dataset.handle = handle;
    const hash = handle.indexOf('#');
    if (hash > 0) {
      b.append(handle.slice(0, hash), el('span', 'chat-num', handle.slice(hash)));
    } else {
      b.textContent = handle;
    }
    paintName(b, color);
    b.setAttribute('aria-haspopup', 'menu');
    return b;
  }

  function avatar(src) {
    // Only this site's own images: a remote one would leak viewers' addresses.
    if (typeof src !== 'string' || !src.startsWith('/') || src.startsWith('//')) return '';
    const img = el('img', 'chat-avatar');
    img.src = src;
    img.alt = '';
    img.loading = 'lazy';
    img.addEventListener('error', () => img.remove());
    return img;
  }

  // body turns the server's sanitised HTML into nodes. The parse happens in
  // an inert template; what is left of active content is removed anyway.
  function body(html) {
    const tpl = document.createElement('template');
    tpl.innerHTML = typeof html === 'string' ? html : '';
    for (const bad of tpl.content.querySelectorAll('script,style,iframe,object,embed,form,link,meta,base,svg,math')) bad.remove();
    for (const node of tpl.content.querySelectorAll('*')) {
      for (const attr of [...node.attributes]) {
        const v = attr.value.trim().toLowerCase();
        if (attr.name.startsWith('on') || attr.name === 'style' || v.startsWith('javascript:') || v.startsWith('data:')) node.removeAttribute(attr.name);
      }
      if (node.tagName === 'IMG') {
        const src = node.getAttribute('src') || '';
        if (!src.startsWith('/') || src.startsWith('//')) node.replaceWith(node.getAttribute('alt') || '');
      }
      if (node.tagName === 'A') {
        node.target = '_blank';
        node.rel = 'nofollow noopener noreferrer ugc';
      }
    }
    const span = el('span', 'chat-body');
    span.append(tpl.content);
    return span;
  }

  function setTime(li, ts) {
    const d = typeof ts === 'number' ? new Date(ts < 1e12 ? ts * 1000 : ts) : new Date(ts);
    if (Number.isNaN(d.getTime())) return;
    li.title = d.toLocaleString();
    const t = el('time', 'chat-time', d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
    t.dateTime = d.toISOString();
    li.prepend(t);
  }

  // markMention highlights a message that mentions us, unless we wrote it.
  function markMention(li) {
    if (!state.me) return;
    const hit = [...li.querySelectorAll('.chat-body .mention[data-handle]')].some((m) => sameHandle(m.dataset.handle, state.me));
    li.classList.toggle('chat-mention-me', hit && !sameHandle(li.dataset.handle, state.me));
  }

  return { messageLine, pendingLine, setNote, failLine, whisperLine, systemLine, nameButton, markMention };
}
