// The chat's one WebSocket to /ws (CONTRACT §4): connect, authenticate a
// guest, join the channel after the last offset seen so a reconnect resumes
// without gaps or repeats, send again what was never acknowledged, and
// reconnect with a backoff when the socket drops.

import { parseFrames } from '../live.js';
import { GUEST_KEY, storageGet } from './util.js';

const MAX_RETRY_MS = 15000;

// createConnection returns the socket's controls. Frames from the server go
// to the handler given to start. state holds what outlives one socket: the
// last offset per channel, the messages still pending and authPending.
export function createConnection(root, status, state) {
  const { channel } = state;
  let ws = null;
  let attempt = 0; // failed connections in a row, for the backoff
  let retryTimer = 0;
  let onFrame = () => {};
  const outbox = []; // commands typed while disconnected, sent once on reconnect

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
      if (!state.cookieUser && token) {
        state.authPending = true;
        send({ type: 'auth', token });
      }
      const after = state.lastOffset.get(channel);
      send(after === undefined ? { type: 'join', channel } : { type: 'join', channel, after });
      // Un-acknowledged messages go again with the same nonce, so the
      // server can tell a retry from a new message.
      for (const p of state.pending.values()) {
        if (p.offset === null) send({ type: 'send', channel, text: p.text, nonce: p.nonce });
      }
      while (outbox.length) send(outbox.shift());
    });
    sock.addEventListener('message', (ev) => {
      for (const frame of parseFrames(ev.data)) {
        if (ws !== sock) return; // a frame handled just now may have replaced the socket
        // The server took us in: the next drop starts the backoff from 1 s.
        if (frame.type === 'welcome' || frame.type === 'presence' || frame.type === 'message') attempt = 0;
        onFrame(frame);
      }
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

  // send sends frame now, or reports false when there is no open socket.
  function send(frame) {
    if (!isOpen()) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  // sendOrQueue sends frame now or once on the next connection.
  function sendOrQueue(frame) {
    if (!send(frame)) outbox.push(frame);
  }

  function setStatus(name) {
    const text = { connecting: 'Connecting…', open: 'Connected', reconnecting: 'Reconnecting…' }[name];
    status.textContent = text;
    status.dataset.state = name;
    root.dataset.state = name;
  }

  window.addEventListener('online', () => {
    if (ws === null) {
      attempt = 0;
      connect();
    }
  });

  function start(handler) {
    onFrame = handler;
    connect();
  }

  return { start, send, sendOrQueue };
}
