// listenLive opens an anonymous WebSocket to /ws (CONTRACT §4) and calls
// onChannel with the channel object of every live frame about a local
// channel (went live, changed, ended). It reconnects with a backoff and calls
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
      let f;
      try {
        f = JSON.parse(ev.data);
      } catch {
        return;
      }
      const ch = f && f.type === 'live' ? f.channel : null;
      if (ch && typeof ch === 'object' && typeof ch.name === 'string' && !ch.instance) onChannel(ch);
    });
    ws.addEventListener('close', () => {
      const next = opened ? 1 : attempt + 1;
      setTimeout(() => open(next), Math.min(60000, 1000 * 2 ** Math.min(next, 6)));
    });
  };
  open(0);
}
