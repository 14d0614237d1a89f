// FedWave chat client (CONTRACT §4): one WebSocket to /ws, the channel's
// history on join, live messages, and a resume after every reconnect from the
// last offset seen, so nothing is missed and nothing is shown twice.
//
// It starts when the page has an element #chat[data-channel] (the channel
// page and the pop-out /c/{name}/chat) and does nothing otherwise. This entry
// module finds the elements, holds the state the parts share, and wires them:
//   chat/connection.js  the socket: reconnect, resume, re-send
//   chat/frames.js      what each server frame does to the page
//   chat/lines.js       building lines (the only place server HTML goes in)
//   chat/log.js         the list: order, scrolling, at most 500 lines
//   chat/compose.js     the message box, history, counter, errors, guests
//   chat/emotes.js      the emote picker
//   chat/menu.js        the name menu: whisper, ignore, moderation
//   chat/ignore.js      the ignore list
//   chat/util.js        small shared helpers

import { createComposer } from './chat/compose.js';
import { createConnection } from './chat/connection.js';
import { createFrames } from './chat/frames.js';
import { createGuestName } from './chat/guestname.js';
import { loadIgnoreList } from './chat/ignore.js';
import { createLines } from './chat/lines.js';
import { createLog } from './chat/log.js';
import { createMenu } from './chat/menu.js';
import { GUEST_KEY, storageGet } from './chat/util.js';

const root = document.querySelector('#chat[data-channel]');
if (root) startChat(root);

function startChat(root) {
  const $ = (id) => document.getElementById(id);
  const ui = {
    root,
    log: $('chat-log'),
    more: $('chat-more'),
    form: $('chat-form'),
    input: $('chat-input'),
    sendButton: $('chat-send'),
    counter: $('chat-counter'),
    errorBox: $('chat-error'),
    status: $('chat-status'),
    viewers: $('chat-viewers'),
    usersToggle: $('chat-users-toggle'),
    usersPanel: $('chat-users'),
    chatters: $('chat-chatters'),
    chattersCount: $('chat-chatters-count'),
    join: $('chat-join'),
    guestButton: $('chat-guest'),
    loginLink: $('chat-login'),
    emoteButton: $('chat-emotes-button'),
    emotePanel: $('chat-emotes'),
    menu: $('chat-menu'),
    popout: $('chat-popout'),
    obsURL: $('chat-obs-url'),
  };

  const cookieUser = Boolean(root.dataset.me); // the page was rendered for a logged-in user
  const state = {
    channel: root.dataset.channel,
    instance: root.dataset.instance || '', // the home site of a federated room
    moderator: root.dataset.moderator === 'true',
    overlay: document.body.classList.contains('overlay'),
    cookieUser,
    me: root.dataset.me || '',
    myColor: root.dataset.meColor || '',
    authPending: false, // an auth frame is out, no welcome yet
    focusOnWelcome: false, // the user asked to chat: focus the box once signed in
    lastOffset: new Map(), // channel -> highest offset seen
    seen: new Set(), // offsets in the list
    floor: -Infinity, // offsets at or below this were dropped from the list
    pending: new Map(), // nonce -> {nonce, text, el, offset}: sent, not yet in the list
    msgIds: new WeakMap(), // message element -> id exactly as the server sent it
  };

  const ignore = loadIgnoreList();
  const lines = createLines(state, ignore);
  const log = createLog(ui, state);
  const conn = createConnection(root, ui.status, state);
  const compose = createComposer(ui, state, conn, log, lines);
  createMenu(ui, state, { conn, log, lines, compose, ignore });
  const guestName = createGuestName(ui, state);
  const dispatch = createFrames(ui, state, { log, lines, compose, ignore, guestName });

  // The header: chatters list, pop-out, and the OBS address to copy.
  ui.usersToggle.addEventListener('click', () => {
    ui.usersPanel.hidden = !ui.usersPanel.hidden;
    ui.usersToggle.setAttribute('aria-expanded', String(!ui.usersPanel.hidden));
  });
  ui.popout?.addEventListener('click', (ev) => {
    const w = window.open(ui.popout.href, `fedwave-chat-${state.channel}`, 'popup,width=420,height=720');
    if (w) ev.preventDefault(); // else let the link open a tab
  });
  if (ui.obsURL) ui.obsURL.textContent = location.origin + ui.obsURL.textContent;

  if (state.overlay) {
    ui.form.hidden = ui.join.hidden = true;
  } else {
    compose.showComposer(cookieUser);
    // A guest of this tab gets the composer back after the auth frame.
    if (!cookieUser && storageGet(sessionStorage, GUEST_KEY)) ui.join.hidden = true;
  }
  compose.updateCounter();
  conn.start(dispatch);
  if (!state.overlay) compose.loadEmotes();
}
