// "Help carry this stream" (README "Viewers who help"): the player's side
// of the carry control socket (GET /api/v1/channels/{name}/carry). Every
// playing viewer keeps one open: it reports how well it receives, the
// origin decides who feeds whom, and the socket carries the signalling
// between a carrier and the viewers it feeds and, to a fed viewer, the
// digests that every frame it is given must match (verify.js).
//
// A viewer that turns the switch on passes on the encoded frames its own
// session receives (feeders.js); a viewer the origin places on a carrier
// plays from it (child.js) and goes back to the server when it leaves or
// stalls. The player (player.js) gives startCarry a few hooks:
//
//	restart()    a new WHEP session (to tap its frames: the switch came on)
//	encoded()    whether the current session's frames can be tapped
//	fed(stream)  play this stream from a fellow viewer; end the WHEP session
//	unfed()      the fellow viewer is lost: a WHEP session again, now
//	quality()    the viewer's quality choice
//
// #player carries the state for styles and tests: data-carrying (the
// switch), data-helping (viewers fed), data-fed ("true" while fed by a
// fellow viewer), data-carry-rejected (frames refused).

import { localGet, localSet } from '../dom.js';
import { iceConfig } from '../webrtc.js';
import { canReceive, FedLink, videoCodec } from './child.js';
import { DigestBook } from './verify.js';
import { Feeders } from './feeders.js';

const SWITCH_KEY = 'fedwave.carry';
const ROOM = 2; // children offered
const HEARTBEAT_MS = 500;
const HISTORY = 4; // heartbeats the figures sent span
const ICE_REFRESH_MS = 10 * 60 * 1000; // TURN credentials are short-lived
const RECONNECT_MS = 3000;
const MAX_RECONNECT_MS = 30000;
const NOTICE_MS = 8000;
const MAX_EVENTS = 50;

// canCarry says whether this browser can pass its frames on.
function canCarry() {
  return typeof RTCRtpReceiver === 'function' && typeof RTCRtpReceiver.prototype.createEncodedStreams === 'function' &&
    typeof RTCPeerConnection === 'function';
}

export function startCarry(root, player) {
  const off = { pcOptions: () => ({}), tap() {}, release() {}, qualityChanged() {}, report() {}, playing() {}, stop() {}, stats: () => null };
  if (root.dataset.carry !== '1' || typeof WebSocket !== 'function') return off;
  const channel = root.dataset.channel;
  const $ = (id) => document.getElementById(id);
  const ui = { wrap: $('player-carry'), toggle: $('player-carry-switch'), status: $('player-carry-status'), fellow: $('player-fellow') };
  const carrying = canCarry();
  const receiving = canReceive();
  let on = carrying && localGet(SWITCH_KEY) === '1';
  let ws = null;
  let wanted = false; // the player plays: keep a socket open
  let retryMs = RECONNECT_MS;
  let retryTimer = 0;
  let heartbeat = 0;
  let iceServers = [];
  let iceAt = 0;
  let child = null; // the FedLink feeding us
  let book = null; // its digests
  let whep = { bytes: 0, lost: 0, received: 0, frames: 0, codec: null }; // the player's last figures
  let history = []; // the figures at the last heartbeats, oldest first
  let rate = 0; // bits/s we receive lately: what each child costs our upload
  let rejected = 0; // frames refused by the check, all links
  let fromOrigin = 0; // bytes the origin sent us: media (WHEP) and this socket, for the benchmarks
  let noticeUntil = 0; // the switch just came on: the status says what it means
  const events = []; // the last links made and ended, and why, for tests and bug reports

  function note(what) {
    events.push(`${Math.round(performance.now())} ${what}`);
    if (events.length > MAX_EVENTS) events.shift();
  }

  // A carrier passes on what it receives: its own quality. So only a
  // viewer on "High" feeds others, and is fed by others (the origin places
  // no "Low" or "Audio only" viewer on a carrier).
  const carries = () => on && player.quality() === 'high';
  const takesFrames = () => receiving && player.quality() === 'high';

  const feeders = new Feeders({ send, onCount: showStatus });

  if (ui.wrap) ui.wrap.hidden = !carrying;
  if (ui.toggle) {
    ui.toggle.checked = on;
    ui.toggle.addEventListener('change', () => setSwitch(ui.toggle.checked));
  }
  showStatus();

  function setSwitch(value) {
    on = carrying && value;
    localSet(SWITCH_KEY, on ? '1' : '0');
    if (!on) feeders.clear(); // the origin hands them back when it hears us
    send({ type: 'carry', on: carries(), room: ROOM });
    if (on) noticeUntil = performance.now() + NOTICE_MS;
    if (on && !player.encoded()) player.restart();
    showStatus();
  }

  function showStatus() {
    root.dataset.carrying = String(on);
    root.dataset.helping = String(feeders.count);
    root.dataset.fed = String(Boolean(child && child.started));
    root.dataset.carryRejected = String(rejected);
    if (ui.fellow) ui.fellow.hidden = !(child && child.started);
    if (!ui.status) return;
    ui.status.hidden = !on;
    const mbps = rate > 0 ? ` · ~${((rate * Math.max(feeders.count, 1)) / 1e6).toFixed(1)} Mb/s up` : '';
    const n = feeders.count;
    if (!carries()) {
      ui.status.textContent = 'Helps on High quality only';
      return;
    }
    if (n === 0 && performance.now() < noticeUntil) {
      ui.status.textContent = 'Thank you! Viewers you help can see your IP address, and you theirs.';
      return;
    }
    ui.status.textContent = n > 0 ? `Helping ${n} ${n === 1 ? 'viewer' : 'viewers'}${mbps}` : `Ready to help${mbps}`;
  }

  // --- the control socket

  function open() {
    clearTimeout(retryTimer);
    if (ws || !wanted) return;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const sock = new WebSocket(`${proto}//${location.host}/api/v1/channels/${encodeURIComponent(channel)}/carry`);
    ws = sock;
    sock.addEventListener('open', () => {
      retryMs = RECONNECT_MS;
      send({ type: 'hello', carry: carries(), room: ROOM, receive: takesFrames() });
      history = [];
      heartbeat = setInterval(beat, HEARTBEAT_MS);
    });
    sock.addEventListener('message', (ev) => {
      if (typeof ev.data === 'string') fromOrigin += ev.data.length;
      let m;
      try {
        m = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (m && typeof m === 'object') onMessage(m);
    });
    sock.addEventListener('close', (ev) => {
      if (ws !== sock) return;
      note(`socket closed: ${ev.code} ${ev.reason}`);
      ws = null;
      clearInterval(heartbeat);
      feeders.clear();
      dropChild(wanted); // no digests without the socket
      if (wanted) {
        retryTimer = setTimeout(open, retryMs);
        retryMs = Math.min(retryMs * 2, MAX_RECONNECT_MS);
      }
    });
  }

  function send(m) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(m));
  }

  // refreshIce keeps ICE servers (fresh TURN credentials) at hand for
  // the links the origin asks for: they are made at once, so that no
  // signal comes before them.
  async function refreshIce() {
    if (iceAt && performance.now() - iceAt < ICE_REFRESH_MS) return;
    iceAt = performance.now();
    iceServers = await iceConfig();
  }

  function onMessage(m) {
    const peer = typeof m.peer === 'string' ? m.peer : '';
    switch (m.type) {
      case 'welcome':
        refreshIce();
        break;
      case 'feed':
        note(`feed ${peer}`);
        if (carries() && peer) feeders.add(peer, iceServers);
        else if (peer) send({ type: 'carry', on: false, room: 0 });
        break;
      case 'parent':
        if (peer) adopt(peer);
        break;
      case 'signal':
        if (child && child.peer === peer) child.signal(m);
        else feeders.signal(peer, m);
        break;
      case 'unlink':
        note(`unlink ${peer}: ${m.reason}`);
        if (child && child.peer === peer) dropChild();
        else feeders.remove(peer);
        break;
      case 'digests':
        if (book && Array.isArray(m.list)) for (const d of m.list) if (Array.isArray(d)) book.add({ kind: d[0], ts: d[1], sum: d[2] });
        break;
      case 'helping':
        showStatus();
        break;
    }
  }

  // adopt: the origin placed us on a carrier. The WHEP session plays on
  // until the carrier's first picture is decoded.
  function adopt(peer) {
    note(`parent ${peer}`);
    const codec = whep.codec ? videoCodec(whep.codec.mime, whep.codec.fmtp) : '';
    if (!takesFrames() || !codec) {
      send({ type: 'lost', peer });
      return;
    }
    dropChild();
    book = new DigestBook();
    try {
      child = new FedLink({
        peer,
        book,
        codec,
        iceServers,
        send,
        onFrame: (f) => feeders.forward(f.kind, f.key, f.data),
        onFirst: (stream) => {
          player.fed(stream);
          showStatus();
        },
        onRefused: () => {
          rejected++;
          showStatus();
        },
        onLost: (why) => {
          note(`lost ${peer}: ${why}`);
          send({ type: 'lost', peer });
          dropChild();
        },
      });
    } catch {
      child = null;
      send({ type: 'lost', peer });
    }
  }

  // dropChild ends the link that feeds us, if any; a viewer that played
  // from it goes back to a server at once (unless the player is already
  // on its way there: back = false).
  function dropChild(back = true) {
    if (!child) return;
    const was = child;
    child = null;
    book = null;
    was.close();
    if (was.started && back) player.unfed();
    showStatus();
  }

  // beat tells the origin how well we receive, twice a second.
  function beat() {
    refreshIce();
    const fed = Boolean(child && child.started);
    const cur = fed
      ? { at: performance.now(), bytes: child.n.bytes, lost: child.n.rejected, received: child.n.passed, frames: child.n.decoded + child.n.audio, fed }
      : { at: performance.now(), bytes: whep.bytes, lost: whep.lost, received: whep.received, frames: whep.frames, fed };
    if (fed) root.dataset.framesDecoded = String(child.n.decoded);
    if (history.length > 0 && history[0].fed !== fed) history = [];
    const prev = history[0]; // two seconds ago: one heartbeat's figure swings with each keyframe
    if (prev) {
      const dt = (cur.at - prev.at) / 1000;
      const down = dt > 0 ? ((cur.bytes - prev.bytes) * 8) / dt : 0;
      const got = cur.received - prev.received;
      const lost = cur.lost - prev.lost;
      const loss = got + lost > 0 ? lost / (got + lost) : 0;
      rate = down > 0 ? down : rate;
      const last = history[history.length - 1];
      send({ type: 'stats', playing: cur.frames > last.frames, down: Math.max(0, down), loss: Math.min(Math.max(loss, 0), 1), fed, receive: takesFrames() });
    }
    history.push(cur);
    if (history.length > HISTORY) history.shift();
    showStatus();
  }

  const stats = () => ({
    fed: Boolean(child && child.started),
    helping: feeders.count,
    sent: feeders.sent,
    decoded: child ? child.n.decoded : 0,
    passed: child ? child.n.passed : 0,
    rejected,
    latencies: child ? child.latencies.slice() : [],
    events: events.slice(),
  });
  root.carryStats = stats; // for tests and benchmarks
  root.carryBytes = () => fromOrigin;

  return {
    // pcOptions: what a WHEP session needs for its frames to be tapped.
    pcOptions: () => (on ? { encodedInsertableStreams: true } : {}),
    // tap passes a receiver's encoded frames on to our children; the
    // session must have been made with pcOptions.
    tap(receiver, kind) {
      const { readable, writable } = receiver.createEncodedStreams();
      readable.pipeThrough(new TransformStream({
        transform(frame, out) {
          if (feeders.count > 0 && !(child && child.started)) {
            feeders.forward(kind, kind === 'audio' || frame.type === 'key', frame.data);
          }
          out.enqueue(frame);
        },
      })).pipeTo(writable).catch(() => {});
    },
    // release: the player starts a WHEP session of its own (another
    // quality, a reload): the carrier feeding us, if any, is let go.
    release() {
      if (!child) return;
      send({ type: 'leave', peer: child.peer });
      dropChild(false);
    },
    // qualityChanged: the viewer chose another quality (the player starts
    // a session of its own for it, which lets go of a carrier feeding us).
    qualityChanged() {
      if (!on) return;
      send({ type: 'carry', on: carries(), room: ROOM });
      if (!carries()) feeders.clear(); // the origin hands them back when it hears us
    },
    // report takes the WHEP session's cumulative figures.
    report(figures) {
      // A new session starts from 0: all of its bytes are new.
      fromOrigin += figures.bytes >= whep.bytes ? figures.bytes - whep.bytes : figures.bytes;
      whep = figures;
    },
    // playing: the player plays; the socket opens if it is not.
    playing() {
      wanted = true;
      open();
    },
    // stop: the stream ended or the page goes.
    stop() {
      wanted = false;
      clearTimeout(retryTimer);
      if (ws) ws.close(1000);
    },
    stats,
  };
}
