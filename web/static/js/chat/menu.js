// The name menu (#chat-menu): a click on a name or a mention in the list,
// or on someone in the chatters list, offers Whisper and Ignore/Unignore;
// moderators also get Delete this message, Timeout, Ban and Unban. The menu
// is keyboard-driven (arrows, Escape, Tab) and follows its name on scroll.

import { el, place, sameHandle, uuid } from './util.js';

// createMenu wires the menu. Moderation goes out through conn; Whisper
// fills the box through compose; Ignore updates ignore and the lines in log.
export function createMenu(ui, state, { conn, log, lines, compose, ignore }) {
  const { menu, chatters, input } = ui;
  const { channel } = state;
  let menuAnchor = null;

  ui.log.addEventListener('click', (ev) => {
    const target = ev.target.closest('.chat-name, .mention[data-handle]');
    if (!target || !ui.log.contains(target)) return;
    if (!menu.hidden && menuAnchor === target) return closeMenu(true); // a second click closes
    const line = target.closest('.chat-msg');
    const id = target.classList.contains('chat-name') && line && !line.classList.contains('chat-pending') ? state.msgIds.get(line) : undefined;
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
    const mine = sameHandle(handle, state.me);
    const items = [];
    if (!mine) {
      items.push(['Whisper', () => { compose.setInput(`!w ${handle} `); input.focus(); }]);
      items.push([ignore.has(handle) ? 'Unignore' : 'Ignore', () => toggleIgnore(handle)]);
    }
    const mod = 'chat-menu-item chat-menu-mod';
    if (state.moderator && id !== undefined && id !== null && id !== '') {
      items.push(['Delete this message', () => conn.sendOrQueue({ type: 'delete', channel, id }), mod]);
    }
    if (state.moderator && !mine) {
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
  });
  // The menu follows its name when the list scrolls or the window changes.
  const follow = () => {
    if (menu.hidden || !menuAnchor) return;
    if (menuAnchor.isConnected) place(menu, menuAnchor);
    else closeMenu(false);
  };
  window.addEventListener('resize', follow);
  ui.log.addEventListener('scroll', follow, { passive: true });

  function command(text) {
    conn.sendOrQueue({ type: 'send', channel, text, nonce: uuid() });
  }

  function toggleIgnore(handle) {
    const now = ignore.toggle(handle);
    const key = handle.toLowerCase();
    for (const li of ui.log.querySelectorAll('.chat-msg[data-handle]')) {
      if (li.dataset.handle.toLowerCase() === key) li.hidden = now;
    }
    log.add(lines.systemLine(now ? `You no longer see messages from ${handle}.` : `You see messages from ${handle} again.`));
  }
}
