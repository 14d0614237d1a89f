// FedWave chat client (CONTRACT §4): one WebSocket to /ws, the channel's
// history on join, live messages, and a resume after every reconnect from the
// last offset seen, so nothing is missed and nothing is shown twice.
//
// It starts when the page has an element #chat[data-channel] (the channel
// page and the pop-out /c/{name}/chat) and does nothing otherwise.
//
// Safety: names, handles, system texts and errors are set with textContent.
// The only HTML inserted is a message's `html` field, which the server has
// rendered from Markdown and sanitised; it is parsed in an inert <template>
// and scrubbed once more before it joins the page.

const LIMIT = 500; // characters per message, as the server counts them
const COUNTER_FROM = 450; // show the remaining characters from here on
const MAX_ITEMS = 500; // lines kept in the list
const MAX_RETRY_MS = 15000;
const HISTORY_SIZE = 50;
const GUEST_KEY = 'fedwave.guestToken';
const IGNORE_KEY = 'fedwave.chat.ignored';
const HISTORY_KEY = 'fedwave.chat.sent';
const COLOR = /^#[0-9a-f]{6}$/i;

const root = document.querySelector('#chat[data-channel]');
if (root) startChat(root);

function startChat(root) {
  const $ = (id) => document.getElementById(id);
  const log = $('chat-log');
  const more = $('chat-more');
  const form = $('chat-form');
  const input = $('chat-input');
  const sendButton = $('chat-send');
  const counter = $('chat-counter');
  const errorBox = $('chat-error');
  const status = $('chat-status');
  const viewers = $('chat-viewers');
  const usersToggle = $('chat-users-toggle');
  const usersPanel = $('chat-users');
  const chatters = $('chat-chatters');
  const join = $('chat-join');
  const guestButton = $('chat-guest');
  const loginLink = $('chat-login');
  const emoteButton = $('chat-emotes-button');
  const emotePanel = $('chat-emotes');
  const menu = $('chat-menu');
  const popout = $('chat-popout');
  const obsURL = $('chat-obs-url');

  const channel = root.dataset.channel;
  const moderator = root.dataset.moderator === 'true';
  const overlay = document.body.classList.contains('overlay');
  const cookieUser = Boolean(root.dataset.me); // the page was rendered for a logged-in user
  let me = root.dataset.me || '';
  let myColor = root.dataset.meColor || '';

  // Connection state.
  let ws = null;
  let attempt = 0; // failed connections in a row, for the backoff
  let retryTimer = 0;
  let authPending = false; // an auth frame is out, no welcome yet
  const lastOffset = new Map(); // channel -> highest offset seen
  const seen = new Set(); // offsets in the list
  let floor = -Infinity; // offsets at or below this were dropped from the list
  const pending = new Map(); // nonce -> {nonce, text, el, offset}: sent, not yet in the list
  const outbox = []; // commands typed while disconnected, sent once on reconnect
  const msgIds = new WeakMap(); // message element -> id exactly as the server sent it

  // ---- Connection -------------------------------------------------------

  function connect() {
    clearTimeout(retryTimer);
    delete root.dataset.joined;
    setStatus(attempt === 0 ? 'connecting' : 'reconnecting');
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const sock = new WebSocket(`${scheme}//${location.host}/ws`);
    ws = sock;
    sock.addEventListener('open', () => {
      if (ws !== sock) return;
      setStatus('open');
      const token = storageGet(sessionStorage, GUEST_KEY);
      if (!cookieUser && token) {
        authPending = true;
        send({ type: 'auth', token });
      }
      const after = lastOffset.get(channel);
      send(after === undefined ? { type: 'join', channel } : { type: 'join', channel, after });
      // Un-acknowledged messages go again with the same nonce, so the
      // server can tell a retry from a new message.
      for (const p of pending.values()) {
        if (p.offset === null) send({ type: 'send', channel, text: p.text, nonce: p.nonce });
      }
      while (outbox.length) send(outbox.shift());
    });
    sock.addEventListener('message', (ev) => {
      if (ws !== sock) return;
      let frame;
      try {
        frame = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (frame && typeof frame === 'object') dispatch(frame);
    });
    sock.addEventListener('close', () => {
      if (ws !== sock) return;
      ws = null;
      delete root.dataset.joined;
      const delay = Math.min(MAX_RETRY_MS, 1000 * 2 ** attempt);
      attempt++;
      setStatus('reconnecting');
      retryTimer = setTimeout(connect, delay);
    });
  }

  const isOpen = () => ws !== null && ws.readyState === WebSocket.OPEN;

  function send(frame) {
    if (!isOpen()) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  function sendOrQueue(frame) {
    if (!send(frame)) outbox.push(frame);
  }

  function setStatus(state) {
    const text = { connecting: 'Connecting…', open: 'Connected', reconnecting: 'Reconnecting…' }[state];
    status.textContent = text;
    status.dataset.state = state;
    root.dataset.state = state;
  }

  window.addEventListener('online', () => {
    if (ws === null) {
      attempt = 0;
      connect();
    }
  });

  // ---- Frames from the server ---------------------------------------------

  function dispatch(f) {
    // The server took us in: the next drop starts the backoff from 1 s.
    if (f.type === 'welcome' || f.type === 'presence' || f.type === 'message') attempt = 0;
    switch (f.type) {
      case 'welcome': return onWelcome(f.user || {});
      case 'message': return onMessage(f);
      case 'ack': return onAck(f);
      case 'whisper': return onWhisper(f);
      case 'presence': return onPresence(f);
      case 'live': return onLive(f.channel);
      case 'delete': return onDelete(f);
      case 'system':
        if (!f.channel || f.channel === channel) addLine(systemLine(String(f.text ?? '')));
        return;
      case 'error': return onError(f);
    }
  }

  function onWelcome(user) {
    authPending = false;
    if (typeof user.handle === 'string') me = user.handle;
    if (typeof user.color === 'string') myColor = user.color;
    root.dataset.me = me;
    showComposer(Boolean(me));
    if (document.activeElement === guestButton || document.activeElement === document.body) input.focus();
    // History may have arrived before we knew who we are.
    for (const li of log.querySelectorAll('.chat-msg')) markMention(li);
  }

  function onMessage(f) {
    if (f.channel !== channel) return;
    const off = Number(f.offset);
    if (!Number.isFinite(off) || seen.has(off) || off <= floor) return;
    seen.add(off);
    if (!(lastOffset.get(channel) >= off)) lastOffset.set(channel, off);
    for (const p of pending.values()) {
      if (p.offset === off) {
        p.el.remove();
        pending.delete(p.nonce);
      }
    }
    addLine(messageLine(f), off);
  }

  function onAck(f) {
    const p = pending.get(f.nonce);
    if (!p) return; // a command's ack
    const off = Number(f.offset);
    if (!Number.isFinite(off) || seen.has(off)) {
      p.el.remove(); // the message itself is already in the list
      pending.delete(p.nonce);
      return;
    }
    // Stored: show it as sent; the message frame replaces it when it comes.
    p.offset = off;
    p.el.classList.remove('chat-pending');
    p.el.title = new Date().toLocaleString();
    p.el.dataset.offset = String(off);
    p.el.dataset.id = String(f.id ?? '');
    msgIds.set(p.el, f.id);
  }

  function onWhisper(f) {
    const from = fullHandle(f.from);
    if (isIgnored(from)) return;
    const to = typeof f.to === 'string' ? f.to : fullHandle(f.to);
    const li = el('li', 'chat-whisper');
    li.dataset.handle = from;
    setTime(li, f.ts);
    const mine = sameHandle(from, me);
    li.append(
      el('span', 'chat-whisper-tag', mine ? 'whisper to' : 'whisper from'),
      ' ',
      mine ? nameButton(to, '') : nameButton(from, f.from?.color),
      mine ? '' : el('span', 'chat-whisper-to', ` → ${to}`),
      el('span', 'chat-sep', ': '),
      body(f.html),
    );
    addLine(li);
  }

  function onPresence(f) {
    if (f.channel !== channel) return;
    root.dataset.joined = 'true'; // the history is in; tests wait for this
    const n = Number(f.viewers);
    viewers.textContent = Number.isFinite(n) ? String(n) : '0';
    const list = Array.isArray(f.chatters) ? f.chatters.filter((h) => typeof h === 'string') : [];
    $('chat-chatters-count').textContent = String(list.length);
    chatters.replaceChildren(...list.map((h) => {
      const li = el('li');
      const b = nameButton(h, '');
      b.classList.replace('chat-name', 'chat-chatter');
      li.append(b);
      return li;
    }));
  }

  function onLive(ch) {
    if (!ch || ch.name !== channel) return;
    const title = document.getElementById('channel-title');
    if (title && typeof ch.title === 'string') title.textContent = ch.title || ch.name;
  }

  function onDelete(f) {
    if (f.channel !== channel) return;
    for (const li of log.querySelectorAll('.chat-msg')) {
      if (li.dataset.id === String(f.id)) li.remove();
    }
  }

  function onError(f) {
    const p = f.nonce ? pending.get(f.nonce) : undefined;
    if (p) {
      // Refused: take it out of the list and give the text back.
      p.el.remove();
      pending.delete(p.nonce);
      if (!input.value) setInput(p.text);
    }
    if (authPending && !f.nonce) {
      // The guest token is no longer good: start over.
      authPending = false;
      storageSet(sessionStorage, GUEST_KEY, null);
      showComposer(false);
    }
    if (f.code === 'auth_required') showComposer(false);
    showError(typeof f.message === 'string' && f.message ? f.message : errorText(f.code));
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
    }[code] || 'Something went wrong.';
  }

  // ---- Building lines ----------------------------------------------------

  function messageLine(f) {
    const from = f.from || {};
    const handle = fullHandle(from);
    const li = el('li', 'chat-msg');
    li.dataset.offset = String(f.offset);
    li.dataset.id = String(f.id ?? '');
    li.dataset.handle = handle;
    msgIds.set(li, f.id);
    setTime(li, f.ts);
    li.append(avatar(from.avatar), nameButton(handle, from.color), el('span', 'chat-sep', ': '), body(f.html));
    li.hidden = isIgnored(handle);
    markMention(li);
    return li;
  }

  function pendingLine(text) {
    const li = el('li', 'chat-msg chat-pending chat-local');
    li.dataset.handle = me;
    li.title = 'Sending…';
    li.append(nameButton(me, myColor), el('span', 'chat-sep', ': '), el('span', 'chat-body', text));
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
    if (typeof color === 'string' && COLOR.test(color)) b.style.color = readable(color);
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

  function markMention(li) {
    if (!me) return;
    const hit = [...li.querySelectorAll('.chat-body .mention[data-handle]')].some((m) => sameHandle(m.dataset.handle, me));
    li.classList.toggle('chat-mention-me', hit && !sameHandle(li.dataset.handle, me));
  }

  // ---- The list ------------------------------------------------------------

  let stick = true; // the list follows new lines (the user is at the bottom)

  const atBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
    stick = true;
    more.hidden = true;
  }

  log.addEventListener('scroll', () => {
    stick = atBottom();
    if (stick) more.hidden = true;
  }, { passive: true });
  log.addEventListener('load', () => { if (stick) scrollToEnd(); }, true); // emotes change heights
  new ResizeObserver(() => { if (stick) scrollToEnd(); }).observe(log);
  more.addEventListener('click', scrollToEnd);

  // addLine puts a line in the list: by offset for messages, before the
  // pending ones for everything else.
  function addLine(li, off) {
    let before = null;
    for (let n = log.lastElementChild; n; n = n.previousElementSibling) {
      const o = n.dataset.offset;
      const later = off !== undefined && o !== undefined && Number(o) > off;
      if (!n.classList.contains('chat-pending') && !later) break;
      before = n;
    }
    log.insertBefore(li, before);
    trim();
    if (stick) scrollToEnd();
    else if (!li.hidden) more.hidden = false;
  }

  function trim() {
    let extra = log.children.length - MAX_ITEMS;
    if (extra <= 0) return;
    const height = log.scrollHeight;
    while (extra-- > 0) {
      const first = log.firstElementChild;
      if (!first || first.classList.contains('chat-pending')) break;
      if (first.dataset.offset !== undefined) {
        const o = Number(first.dataset.offset);
        seen.delete(o);
        floor = Math.max(floor, o);
      }
      first.remove();
    }
    if (!stick) log.scrollTop -= height - log.scrollHeight; // keep what the reader looks at in place
  }

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
      sendOrQueue({ type: 'whisper', to: whisper[1], text: whisper[2], nonce: uuid() });
    } else if (/^[!/]/.test(text)) {
      // Commands are answered with system lines and are not retried: a
      // second !ban or !wipe after a lost ack is not what anyone meant.
      sendOrQueue({ type: 'send', channel, text, nonce: uuid() });
    } else {
      const nonce = uuid();
      const p = { nonce, text, el: pendingLine(text), offset: null };
      pending.set(nonce, p);
      log.append(p.el);
      scrollToEnd();
      send({ type: 'send', channel, text, nonce }); // or on reconnect
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
    } else if (ev.key === 'Escape' && !emotePanel.hidden) {
      closeEmotes();
    }
  });
  input.addEventListener('input', updateCounter);

  function setInput(text) {
    input.value = text;
    input.setSelectionRange(text.length, text.length);
    updateCounter();
  }

  function updateCounter() {
    const n = length(input.value);
    counter.hidden = n < COUNTER_FROM;
    counter.textContent = String(LIMIT - n);
    counter.classList.toggle('over', n > LIMIT);
    sendButton.disabled = n > LIMIT;
  }

  function showComposer(on) {
    if (overlay) return; // an OBS overlay only shows the chat
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
      authPending = true;
      send({ type: 'auth', token: data.token }); // else on the next connection
    } catch (err) {
      showError(err.message);
    } finally {
      guestButton.disabled = false;
    }
  });

  // ---- Name menu -------------------------------------------------------------

  let menuAnchor = null;

  log.addEventListener('click', (ev) => {
    const target = ev.target.closest('.chat-name, .mention[data-handle]');
    if (!target || !log.contains(target)) return;
    if (!menu.hidden && menuAnchor === target) return closeMenu(true); // a second click closes
    const line = target.closest('.chat-msg');
    const id = target.classList.contains('chat-name') && line && !line.classList.contains('chat-pending') ? msgIds.get(line) : undefined;
    openMenu(target, target.dataset.handle, id);
  });
  chatters.addEventListener('click', (ev) => {
    const b = ev.target.closest('.chat-chatter');
    if (!b) return;
    if (!menu.hidden && menuAnchor === b) closeMenu(true);
    else openMenu(b, b.dataset.handle);
  });

  function openMenu(anchor, handle, id) {
    if (!handle) return;
    const mine = sameHandle(handle, me);
    const items = [];
    if (!mine) {
      items.push(['Whisper', () => { setInput(`!w ${handle} `); input.focus(); }]);
      items.push([isIgnored(handle) ? 'Unignore' : 'Ignore', () => toggleIgnore(handle)]);
    }
    const mod = 'chat-menu-item chat-menu-mod';
    if (moderator && id !== undefined && id !== null && id !== '') {
      items.push(['Delete this message', () => sendOrQueue({ type: 'delete', channel, id }), mod]);
    }
    if (moderator && !mine) {
      items.push(['Timeout 10 min', () => command(`!timeout ${handle} 600`), mod]);
      items.push(['Ban', () => command(`!ban ${handle}`), `${mod} chat-menu-danger`]);
      items.push(['Unban', () => command(`!unban ${handle}`), mod]);
    }
    menu.replaceChildren(el('div', 'chat-menu-title', mine ? `${handle} (you)` : handle));
    for (const [label, act, cls = 'chat-menu-item'] of items) {
      const b = el('button', cls, label);
      b.type = 'button';
      b.setAttribute('role', 'menuitem');
      b.addEventListener('click', () => { closeMenu(false); act(); });
      menu.append(b);
    }
    menuAnchor = anchor;
    anchor.setAttribute('aria-expanded', 'true');
    menu.hidden = false;
    place(menu, anchor);
    (menu.querySelector('button') || menu).focus();
  }

  function closeMenu(refocus) {
    if (menu.hidden) return;
    menu.hidden = true;
    if (menuAnchor) {
      menuAnchor.removeAttribute('aria-expanded');
      if (refocus && menuAnchor.isConnected) menuAnchor.focus();
    }
    menuAnchor = null;
  }

  menu.addEventListener('keydown', (ev) => {
    const items = [...menu.querySelectorAll('button')];
    const i = items.indexOf(document.activeElement);
    if (ev.key === 'Escape') {
      ev.preventDefault();
      closeMenu(true);
    } else if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      ev.preventDefault();
      if (items.length) items[(i + (ev.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length].focus();
    } else if (ev.key === 'Tab') {
      closeMenu(false);
    }
  });
  document.addEventListener('pointerdown', (ev) => {
    if (!menu.hidden && !menu.contains(ev.target) && !menuAnchor?.contains(ev.target)) closeMenu(false);
    if (!emotePanel.hidden && !emotePanel.contains(ev.target) && !emoteButton.contains(ev.target)) closeEmotes();
  });
  // The menu follows its name when the list scrolls or the window changes.
  const follow = () => {
    if (menu.hidden || !menuAnchor) return;
    if (menuAnchor.isConnected) place(menu, menuAnchor);
    else closeMenu(false);
  };
  window.addEventListener('resize', follow);
  log.addEventListener('scroll', follow, { passive: true });

  function command(text) {
    sendOrQueue({ type: 'send', channel, text, nonce: uuid() });
  }

  // ---- Ignore list -------------------------------------------------------------

  const ignored = new Set(storageJSON(localStorage, IGNORE_KEY, []).filter((h) => typeof h === 'string'));

  function isIgnored(handle) {
    return ignored.has(String(handle).toLowerCase());
  }

  function toggleIgnore(handle) {
    const key = handle.toLowerCase();
    const now = !ignored.has(key);
    if (now) ignored.add(key);
    else ignored.delete(key);
    storageSet(localStorage, IGNORE_KEY, JSON.stringify([...ignored]));
    for (const li of log.querySelectorAll('.chat-msg[data-handle]')) {
      if (li.dataset.handle.toLowerCase() === key) li.hidden = now;
    }
    addLine(systemLine(now ? `You no longer see messages from ${handle}.` : `You see messages from ${handle} again.`));
  }

  // ---- Emotes --------------------------------------------------------------------

  async function loadEmotes() {
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
      b.addEventListener('click', () => insertText(`:${e.name}: `));
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
      closeEmotes();
    }
  });
  emotePanel.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') {
      closeEmotes();
      input.focus();
    }
  });
  function closeEmotes() {
    emotePanel.hidden = true;
    emoteButton.setAttribute('aria-expanded', 'false');
  }

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

  // ---- Header: chatters, pop-out, OBS ----------------------------------------------

  usersToggle.addEventListener('click', () => {
    usersPanel.hidden = !usersPanel.hidden;
    usersToggle.setAttribute('aria-expanded', String(!usersPanel.hidden));
  });

  popout?.addEventListener('click', (ev) => {
    const w = window.open(popout.href, `fedwave-chat-${channel}`, 'popup,width=420,height=720');
    if (w) ev.preventDefault(); // else let the link open a tab
  });
  if (obsURL) obsURL.textContent = location.origin + obsURL.textContent;

  // ---- Start -----------------------------------------------------------------------

  if (overlay) {
    form.hidden = join.hidden = true;
  } else {
    showComposer(cookieUser);
    // A guest of this tab gets the composer back after the auth frame.
    if (!cookieUser && storageGet(sessionStorage, GUEST_KEY)) join.hidden = true;
  }
  updateCounter();
  connect();
  if (!overlay) loadEmotes();

  // ---- Helpers -----------------------------------------------------------------------

  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function fullHandle(from) {
    if (!from) return '';
    if (typeof from === 'string') return from;
    const h = typeof from.handle === 'string' ? from.handle : '';
    return from.instance && !h.includes('@') ? `${h}@${from.instance}` : h;
  }

  function sameHandle(a, b) {
    return Boolean(a) && Boolean(b) && String(a).toLowerCase() === String(b).toLowerCase();
  }

  // readable returns the user's colour, darkened on a light background or
  // lightened on a dark one until it has about 3:1 contrast (WCAG's
  // minimum for bold text), so every name can be read.
  function readable(hex) {
    let rgb = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    const light = !overlay && matchMedia('(prefers-color-scheme: light)').matches;
    const lum = () => rgb.map((c) => {
      const v = c / 255;
      return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    }).reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
    for (let i = 0; i < 20 && (light ? lum() > 0.3 : lum() < 0.14); i++) {
      rgb = rgb.map((c) => (light ? c * 0.88 : c + (255 - c) * 0.15));
    }
    return `rgb(${rgb.map(Math.round).join(', ')})`;
  }

  function place(popup, anchor) {
    const r = anchor.getBoundingClientRect();
    const w = popup.offsetWidth;
    const h = popup.offsetHeight;
    const left = Math.max(4, Math.min(r.left, window.innerWidth - w - 4));
    const top = r.bottom + h + 4 <= window.innerHeight ? r.bottom + 2 : Math.max(4, r.top - h - 2);
    popup.style.left = `${left}px`;
    popup.style.top = `${top}px`;
  }
}

// length counts characters (code points), as the server does.
function length(s) {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function uuid() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  // randomUUID needs a secure context; plain-HTTP instances on a LAN have none.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// Storage can be missing or throw (private modes, disabled cookies).
function storageGet(store, key) {
  try {
    return store.getItem(key);
  } catch {
    return null;
  }
}

function storageSet(store, key, value) {
  try {
    if (value === null) store.removeItem(key);
    else store.setItem(key, value);
  } catch {
    // Not kept; the chat still works.
  }
}

function storageJSON(store, key, fallback) {
  try {
    const v = JSON.parse(storageGet(store, key) ?? 'null');
    return Array.isArray(v) ? v : fallback;
  } catch {
    return fallback;
  }
}
