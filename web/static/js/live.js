// listenLive opens an anonymous WebSocket to /ws (CONTRACT §4) and calls
// onChannel with the channel object of every live frame (a channel went
// live, changed or ended; a federated one has its instance set and is named
// alice@host). It reconnects with a backoff and calls
// onReconnect after a reconnection, since frames may have been missed
// meanwhile. Losing it only makes its users rely on their polling.
export function listenLive(onChannel, onReconnect = () => {}) {
  const open = (attempt) => {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let ws;
    try {
      ws = new WebSocket(`${scheme}//${location.host}/ws`);
    } catch {
      return;
    }
    let opened = false;
    ws.addEventListener('open', () => {
      opened = true;
      if (attempt > 0) onReconnect();
    });
    ws.addEventListener('message', (ev) => {
      for (const f of parseFrames(ev.data)) {
        const ch = f.type === 'live' ? f.channel : null;
        if (ch && typeof ch === 'object' && typeof ch.name === 'string') onChannel(ch);
      }
    });
    ws.addEventListener('close', () => {
      const next = opened ? 1 : attempt + 1;
      setTimeout(() => open(next), Math.min(60000, 1000 * 2 ** Math.min(next, 6)));
    });
  };
  open(0);
}

// parseFrames returns the frames (JSON objects) of a /ws message, in
// order: the server puts several in one message, one per line, when they
// leave together (CONTRACT §4). A line that is not an object is skipped.
export function parseFrames(data) {
  const frames = [];
  if (typeof data !== 'string') return frames;
  for (const line of data.split('\n')) {
    let f;
    try {
      f = JSON.parse(line);
    } catch {
      continue;
    }
    if (f && typeof f === 'object') frames.push(f);
  }
  return frames;
}

// localName is a channel's name without the host of a federated channel:
// alice for alice@a.example.
export function localName(ch) {
  const at = ch.instance ? ch.name.lastIndexOf('@') : -1;
  return at > 0 ? ch.name.slice(0, at) : ch.name;
}
