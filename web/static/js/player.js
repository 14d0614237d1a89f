// FedWave player (CONTRACT §5): plays a channel over WHEP, on the channel
// page and on /c/{name}/embed.
//
// It starts when the page has #player[data-channel]. The picture starts
// muted, since browsers only autoplay silent video; #player-unmute gives the
// sound. While the channel is offline the player says so and waits: a live
// frame on the WebSocket (or, as a fallback, the channel API polled every
// few seconds) starts it again, so nobody has to reload.
//
// The origin may send the player to a relay of its stream chain (a 307 on
// the WHEP POST, CONTRACT §5a): fetch follows it, and the session's URL is
// the relay's. When a relay is lost (no media for RELINK_MS, or the
// connection fails), the player keeps the last picture, says
// "Reconnecting…" and asks the origin again, naming the relay to avoid,
// until it plays again; no reload.
//
// #player carries its state for styles and tests: data-state (offline,
// connecting, reconnecting, paused, live, error), data-quality,
// data-frames-decoded (the video frames decoded by this session, updated
// every STATS_MS), data-via (the host of the relay serving this session,
// empty when the origin does; "viewer" while a fellow viewer carries the
// stream to us) and data-first-frame-ms (from the start of the session to
// its first frame).
//
// A viewer may help carry the stream, or be fed by one who does
// (carry/carry.js, README "Viewers who help"): then no WHEP session plays,
// the picture comes from a fellow viewer, and the player goes back to WHEP
// the moment that viewer leaves or stalls.

import { startCarry } from './carry/carry.js';
import { localGet, localSet } from './dom.js';
import { JitterMeter } from './jitter.js';
import { listenLive } from './live.js';
import { errorOf, iceConfig, trickler } from './webrtc.js';

const RETRY_MS = 5000; // offline or failed: ask again this often
const STATS_MS = 250; // often enough to notice a lost relay within RELINK_MS
const LIVE_POLL_MS = 15000; // while playing: refresh the viewer count
const STALL_MS = 6000; // no media from the origin for this long: ask again (the stream may have ended)
const RELINK_MS = 500; // no media from a relay for this long: it is lost, ask the origin for another
const RELINK_RETRY_MS = 1000; // reconnecting, and the origin could not place us: ask again this often
const HOLD_MS = 1500; // reconnecting: how long the last picture waits for the new one
const QUALITY_KEY = 'fedwave.quality';
const QUALITIES = ['high', 'low', 'audio'];

const root = document.querySelector('#player[data-channel]');
if (root) startPlayer(root);

function startPlayer(root) {
  const channel = root.dataset.channel;
  const $ = (id) => document.getElementById(id);
  const ui = {
    video: $('player-video'),
    state: $('player-state'),
    detail: $('player-detail'),
    play: $('player-play'),
    live: $('player-live'),
    latency: $('player-latency'),
    viewers: $('player-viewers'),
    unmute: $('player-unmute'),
    quality: $('player-quality'),
    fullscreen: $('player-fullscreen'),
  };

  let pc = null; // the current RTCPeerConnection
  let session = ''; // its WHEP resource URL, to DELETE (on the relay when one serves us)
  let via = ''; // the host of the relay serving the current session; '' for the origin
  let retired = null; // {pc, session}: a lost session whose last picture stays on screen while a new one starts
  let gen = 0; // bumped by every connect and teardown; late async work checks it
  let retryTimer = 0;
  let statsTimer = 0;
  let quality = QUALITIES.includes(localGet(QUALITY_KEY)) ? localGet(QUALITY_KEY) : 'high';
  let last = null; // the previous stats sample
  const jitter = new JitterMeter(); // the ~N ms buffer chip
  let stalledSince = 0;
  let undecodedSince = 0; // video arrives but no frame decodes since then
  let startedAt = 0; // when the current session began, until its first frame

  ui.quality.value = quality;
  root.dataset.quality = quality;
  root.dataset.framesDecoded = '0';
  root.dataset.via = '';

  const carry = startCarry(root, {
    restart: () => connect('', 'Helping carry the stream: starting again…'),
    encoded: () => !pc || Boolean(pc.encoded),
    fed,
    unfed: () => connect('', 'The fellow viewer left; back to the server…'),
    quality: () => quality,
  });

  // --- states

  function setState(name, text, detail = '') {
    root.dataset.state = name;
    showChannelBadge(name === 'offline' ? false : name === 'live' ? true : null);
    ui.state.textContent = text;
    ui.detail.textContent = detail;
    ui.live.hidden = name !== 'live';
    ui.latency.hidden = name !== 'live' || ui.latency.textContent === '';
    ui.play.hidden = name !== 'paused';
  }

  function offline() {
    teardown();
    carry.stop();
    setState('offline', 'Offline', `${channel} is not streaming right now. The video starts by itself when the stream begins.`);
    setViewers(null);
    schedule(RETRY_MS);
  }

  function failed(message) {
    teardown();
    setState('error', 'Cannot play the stream', `${message} Trying again…`);
    schedule(RETRY_MS);
  }

  function schedule(ms) {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(check, ms);
  }

  // check asks the API whether the channel is live, and plays it if so.
  // It polls: while offline to notice the start, while playing to keep the
  // viewer count fresh.
  async function check() {
    clearTimeout(retryTimer);
    const my = gen;
    let ch;
    try {
      ch = await channelInfo();
    } catch {
      if (my === gen) schedule(RETRY_MS);
      return;
    }
    if (my !== gen) return; // something else connected or stopped meanwhile
    onChannel(ch);
    if (my === gen) schedule(ch.live ? LIVE_POLL_MS : RETRY_MS); // else connect or offline took over
  }

  // onChannel applies a channel object from the API or a live frame.
  function onChannel(ch) {
    if (!ch || typeof ch !== 'object') return;
    const state = root.dataset.state;
    if (ch.live) {
      setViewers(ch.viewers);
      if (state === 'offline' || state === 'error') connect();
    } else if (state !== 'offline') {
      offline();
    }
  }

  // showChannelBadge keeps a page's own live badge (#channel-live, outside
  // the player) in step; null leaves it as it is.
  function showChannelBadge(live) {
    const badge = document.getElementById('channel-live');
    if (!badge || live === null) return;
    badge.className = live ? 'badge live' : 'badge offline';
    badge.textContent = live ? 'LIVE' : 'offline';
  }

  function setViewers(n) {
    if (!ui.viewers) return; // the page shows the number elsewhere (its chat)
    const v = Number(n);
    ui.viewers.hidden = n === null || !Number.isFinite(v);
    ui.viewers.textContent = `${v} watching`;
  }

  // --- WHEP

  // connect starts a session. With avoid (reconnecting), the stalled
  // session stays on screen until the new one shows a picture, and the
  // origin is told which relay was lost.
  async function connect(avoid = null, why = 'The connection was lost; the last picture stays meanwhile.') {
    const again = avoid !== null;
    if (again) retire();
    else teardown();
    carry.release();
    const my = ++gen;
    startedAt = performance.now();
    if (again) setState('reconnecting', 'Reconnecting…', why);
    else setState('connecting', 'Connecting…');
    try {
      const iceServers = await iceConfig();
      if (my !== gen) return;
      const options = carry.pcOptions();
      const p = new RTCPeerConnection({ iceServers, bundlePolicy: 'max-bundle', ...options });
      p.encoded = Boolean(options.encodedInsertableStreams); // its frames can be carried on
      pc = p;
      // Video too when listening only: switching back needs no new session.
      p.addTransceiver('video', { direction: 'recvonly' });
      p.addTransceiver('audio', { direction: 'recvonly' });
      const stream = new MediaStream();
      const show = () => {
        if (my !== gen) return;
        if (ui.video.srcObject !== stream) ui.video.srcObject = stream;
        dropRetired();
        startPlayback();
      };
      p.addEventListener('track', (ev) => {
        const track = ev.track;
        if (p.encoded) carry.tap(ev.receiver, track.kind);
        const attach = () => {
          if (my !== gen || stream.getTrackById(track.id)) return;
          stream.addTrack(track);
          // The last picture of a lost session gives way to the new
          // picture, not to its sound (or after HOLD_MS, for a stream
          // without one).
          if (retired && track.kind !== 'video' && quality !== 'audio') setTimeout(show, HOLD_MS);
          else show();
        };
        // A video track that never gets a frame (a stream without a
        // picture) would keep the element from playing the sound: it joins
        // with its first frame.
        if (track.kind === 'video' && track.muted) track.addEventListener('unmute', attach, { once: true });
        else attach();
      });
      p.addEventListener('connectionstatechange', () => onConnection(p, my));
      const trickle = trickler(p);
      await p.setLocalDescription(await p.createOffer());
      await trickle.ready();
      if (my !== gen) return;
      const avoiding = avoid ? `&avoid=${encodeURIComponent(avoid)}` : '';
      // A 307 to a relay is followed here, the offer sent again there.
      const res = await fetch(`/whep/${encodeURIComponent(channel)}?quality=${quality}${avoiding}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp' },
        body: trickle.offer(),
      });
      if (!res.ok) {
        const err = await errorOf(res);
        if (my !== gen) return;
        if (err.code === 'offline') offline();
        else if (again) retryReconnect(avoid);
        else failed(err.message);
        return;
      }
      const answer = await res.text();
      const loc = res.headers.get('Location');
      // The session lives where the answer came from: the relay after a redirect.
      const url = loc ? new URL(loc, res.url || location.href).href : '';
      if (my !== gen) {
        if (url) fetch(url, { method: 'DELETE' }).catch(() => {});
        return;
      }
      session = url;
      via = res.redirected ? new URL(res.url).host : '';
      root.dataset.via = via;
      await p.setRemoteDescription({ type: 'answer', sdp: answer });
      trickle.start(url, {});
      last = null;
      stalledSince = 0;
      undecodedSince = 0;
      statsTimer = setInterval(() => sample(p, my), STATS_MS);
      schedule(LIVE_POLL_MS); // keeps the viewer count fresh
    } catch (err) {
      if (my !== gen) return;
      if (again) retryReconnect(avoid);
      else failed(err instanceof Error ? err.message : String(err));
    }
  }

  // reconnect: this session is lost. Ask the origin again, avoiding the
  // relay that served it, keeping the last picture meanwhile.
  function reconnect() {
    connect(via);
  }

  // retryReconnect: the origin could not place us yet (it is full, or out
  // of reach); the picture stays and the player asks again soon.
  function retryReconnect(avoid) {
    setState('reconnecting', 'Reconnecting…', 'Looking for another way to the stream…');
    const my = gen;
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => { if (my === gen) connect(avoid); }, RELINK_RETRY_MS);
  }

  function onConnection(p, my) {
    if (my !== gen) return;
    switch (p.connectionState) {
      case 'failed':
        if (via) reconnect();
        else recover();
        break;
      case 'disconnected':
        // A relay that disconnects is gone more often than not: another
        // now. The origin often comes back by itself; the stall check
        // takes over if not.
        if (via) reconnect();
        else setState('reconnecting', 'Reconnecting…');
        break;
      case 'connected':
        if (!retired && ui.video.readyState >= 2 && !ui.video.paused) showLive();
        break;
    }
  }

  // teardown ends the current session, if any, and clears the picture.
  function teardown() {
    retire();
    dropRetired();
    ui.video.srcObject = null;
  }

  // retire stops using the current session but leaves its picture on
  // screen; dropRetired ends it. While a retired session is on screen,
  // the current one has shown nothing yet: it just ends.
  function retire() {
    gen++;
    clearInterval(statsTimer);
    clearTimeout(retryTimer);
    if (pc && !retired) {
      retired = { pc, session };
    } else {
      if (pc) pc.close();
      if (session) fetch(session, { method: 'DELETE' }).catch(() => {});
    }
    pc = null;
    session = '';
    via = '';
    root.dataset.via = '';
    ui.latency.textContent = '';
    root.dataset.framesDecoded = '0';
    last = null;
  }

  function dropRetired() {
    if (!retired) return;
    retired.pc.close();
    if (retired.session) fetch(retired.session, { method: 'DELETE' }).catch(() => {});
    retired = null;
  }

  function startPlayback() {
    ui.video.play().catch((err) => {
      // Autoplay refused (e.g. a power-saving mode): offer a button.
      if (err && err.name === 'NotAllowedError' && pc) setState('paused', 'Ready to play', 'Your browser wants a tap first.');
    });
  }

  // fed: a fellow viewer carries the stream to us (carry.js): it plays,
  // and the WHEP session ends.
  function fed(stream) {
    retire();
    dropRetired();
    ui.video.srcObject = stream;
    root.dataset.via = 'viewer';
    startPlayback();
    showLive();
    schedule(LIVE_POLL_MS);
  }

  function showLive() {
    const first = root.dataset.state !== 'live';
    carry.playing();
    setState('live', 'Live', quality === 'audio' ? 'Audio only' : '');
    if (first) schedule(1000); // the count now includes this viewer
  }
  ui.video.addEventListener('playing', () => {
    if (startedAt && ui.video.videoWidth > 0) {
      root.dataset.firstFrameMs = String(Math.round(performance.now() - startedAt));
      startedAt = 0;
    }
    if (pc && !retired && pc.connectionState !== 'failed') showLive();
  });
  ui.play.addEventListener('click', startPlayback);

  // sample reads the receiver's statistics: frames decoded (for tests and
  // the stall check) and the jitter buffer delay, the part of the latency
  // this browser adds on top of the network.
  async function sample(p, my) {
    let stats;
    try {
      stats = await p.getStats();
    } catch {
      return;
    }
    if (my !== gen) return;
    let frames = 0;
    let bytes = 0;
    let videoBytes = 0;
    let lost = 0;
    let received = 0;
    let codec = null;
    const buf = { video: { delay: 0, emitted: 0 }, audio: { delay: 0, emitted: 0 } };
    stats.forEach((s) => {
      if (s.type !== 'inbound-rtp' || !buf[s.kind]) return;
      bytes += s.bytesReceived || 0;
      lost += Math.max(s.packetsLost || 0, 0);
      received += s.packetsReceived || 0;
      if (s.kind === 'video') {
        frames += s.framesDecoded || 0;
        videoBytes += s.bytesReceived || 0;
        const c = s.codecId && stats.get(s.codecId);
        if (c) codec = { mime: c.mimeType, fmtp: c.sdpFmtpLine || '' };
      }
      buf[s.kind].delay += s.jitterBufferDelay || 0;
      buf[s.kind].emitted += s.jitterBufferEmittedCount || 0;
    });
    root.dataset.framesDecoded = String(frames);
    carry.report({ bytes, lost, received, frames, codec });
    const now = performance.now();
    if (!last) {
      last = { bytes, frames, videoBytes };
      jitter.reset();
      jitter.sample(buf, now);
      return;
    }
    const ms = jitter.sample(buf, now);
    if (ms !== null) {
      ui.latency.textContent = `~${ms} ms buffer` + (via ? ` · via relay ${via}` : '');
      ui.latency.hidden = root.dataset.state !== 'live';
    }
    // Video that keeps arriving without a frame decoding (the decoder
    // waits for a keyframe that was lost for good) would leave a black
    // picture with sound: a new session starts from a keyframe.
    if (frames > last.frames || videoBytes === last.videoBytes) {
      undecodedSince = 0;
    } else if (!undecodedSince) {
      undecodedSince = now;
    } else if (now - undecodedSince > STALL_MS) {
      undecodedSince = 0;
      recover();
    }
    last.frames = frames;
    last.videoBytes = videoBytes;
    if (bytes > last.bytes) {
      last.bytes = bytes;
      stalledSince = 0;
    } else if (!stalledSince) {
      stalledSince = now;
    } else if (via && bytes > 0 && now - stalledSince > RELINK_MS) {
      reconnect(); // the relay is lost (a session that never got media waits for ICE instead)
    } else if (now - stalledSince > STALL_MS) {
      stalledSince = now;
      recover();
    }
  }

  // recover: nothing arrives, or the connection failed. Either the stream
  // ended (offline) or this session is lost (play again).
  async function recover() {
    const my = gen;
    let ch;
    try {
      ch = await channelInfo();
    } catch {
      return;
    }
    if (my !== gen) return;
    if (ch.live) connect();
    else offline();
  }

  // --- controls

  function showMuted() {
    const muted = ui.video.muted;
    ui.unmute.dataset.muted = String(muted);
    ui.unmute.querySelector('.player-label').textContent = muted ? 'Unmute' : 'Mute';
    ui.unmute.title = muted ? 'Turn the sound on' : 'Turn the sound off';
  }
  ui.unmute.addEventListener('click', () => {
    ui.video.muted = !ui.video.muted;
    if (!ui.video.muted && ui.video.paused && pc) startPlayback();
  });
  ui.video.addEventListener('volumechange', showMuted);
  showMuted();

  ui.quality.addEventListener('change', () => {
    if (!QUALITIES.includes(ui.quality.value)) return;
    quality = ui.quality.value;
    root.dataset.quality = quality;
    localSet(QUALITY_KEY, quality);
    carry.qualityChanged();
    const state = root.dataset.state;
    if (state === 'live' || state === 'connecting' || state === 'paused') switchQuality();
  });

  // switchQuality asks the server for another layer on this connection
  // (it starts at the layer's next keyframe); a new session if it cannot.
  async function switchQuality() {
    const my = gen;
    if (!session || root.dataset.state !== 'live') {
      connect();
      return;
    }
    try {
      const res = await fetch(`${session}/layer`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ quality }),
      });
      if (my !== gen) return;
      if (!res.ok) throw new Error(`layer: ${res.status}`);
      showLive();
    } catch {
      if (my === gen) connect();
    }
  }

  const canFullscreen = Boolean(document.fullscreenEnabled || ui.video.webkitEnterFullscreen);
  ui.fullscreen.hidden = !canFullscreen;
  ui.fullscreen.addEventListener('click', () => {
    if (document.fullscreenElement) {
      document.exitFullscreen().catch(() => {});
    } else if (document.fullscreenEnabled) {
      root.requestFullscreen().catch(() => {});
    } else if (ui.video.webkitEnterFullscreen) {
      ui.video.webkitEnterFullscreen(); // iPhone: only the video element can go full screen
    }
  });
  document.addEventListener('fullscreenchange', () => {
    const on = document.fullscreenElement === root;
    ui.fullscreen.setAttribute('aria-pressed', String(on));
    ui.fullscreen.title = on ? 'Leave full screen' : 'Full screen';
  });

  // --- page life

  window.addEventListener('pagehide', () => {
    // keepalive lets the DELETE outlive the page, so the viewer count drops now.
    if (session) fetch(session, { method: 'DELETE', keepalive: true }).catch(() => {});
    session = '';
    dropRetired();
    if (pc) pc.close();
    pc = null;
    gen++;
    clearInterval(statsTimer);
    clearTimeout(retryTimer);
    carry.stop();
  });
  window.addEventListener('pageshow', (ev) => {
    if (ev.persisted) { // back from the back-forward cache
      setState('connecting', 'Connecting…');
      check();
    }
  });

  // A live frame is news: act on it at once (the polls are the fallback).
  listenLive((ch) => { if (ch.name.toLowerCase() === channel.toLowerCase()) onChannel(ch); });

  if (root.dataset.live === 'true') connect();
  else offline();

  async function channelInfo() {
    const res = await fetch(`/api/v1/channels/${encodeURIComponent(channel)}`, { credentials: 'same-origin' });
    if (!res.ok) throw new Error(`channel lookup failed (${res.status})`);
    const body = await res.json();
    return body.channel || {};
  }
}
