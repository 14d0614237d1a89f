// FedWave studio (CONTRACT §5, §8): go live from the browser over WHIP.
//
// The streamer picks a camera or a screen and a microphone, sees a muted
// preview, and goes live: the page asks the server for a bearer token of the
// signed-in user (POST /api/v1/token), sends its offer to /whip/{channel},
// and DELETEs the session on Stop. Video goes out as two simulcast layers
// (rids "h" and "l", the second at half size) so viewers can pick "low".
// While live it shows the connection, the bitrate and the viewers, uploads a
// thumbnail every 30 s, and starts again by itself when the connection fails,
// unless another source (a second studio, OBS) took the channel over: then it
// says so, with the time, and stays off, so that two sources never fight.
// A source can change while live (replaceTrack): viewers stay connected.
//
// It starts on #studio[data-channel]; #studio-state's data-state (offline,
// connecting, live, reconnecting, error) mirrors what the page says.

import { captureError, micConstraints, mix, stopStreams } from './capture.js';
import { errorOf, iceConfig, trickler } from './webrtc.js';

const STATS_MS = 2000;
const VIEWERS_MS = 5000;
const THUMB_MS = 30000;
const THUMB_FIRST_MS = 3000;
const RETRY_MS = 3000;
const DISCONNECT_GRACE_MS = 5000; // a 'disconnected' link often recovers
const VIDEO_BITRATE = 2_500_000; // the top layer; the low one gets a quarter of the pixels
const LOW_BITRATE = 500_000;
// SIMULCAST sends two layers (rids "h" and "l"); viewers pick one with
// ?quality=high|low.
const SIMULCAST = true;

const root = document.querySelector('#studio[data-channel]');
if (root) startStudio(root);

function startStudio(root) {
  const channel = root.dataset.channel;
  const $ = (id) => document.getElementById(id);
  const ui = {
    preview: $('studio-preview'),
    empty: $('studio-empty'),
    badge: $('studio-badge'),
    state: $('studio-state'),
    error: $('studio-error'),
    golive: $('studio-golive'),
    stop: $('studio-stop'),
    viewers: $('studio-viewers'),
    connection: $('studio-connection'),
    bitrate: $('studio-bitrate'),
    videoInfo: $('studio-video'),
    source: $('studio-source'),
    camera: $('studio-camera'),
    cameraLabel: $('studio-camera-label'),
    mic: $('studio-mic'),
    titleForm: $('studio-title-form'),
    title: $('studio-title'),
    titleStatus: $('studio-title-status'),
    thumb: $('studio-thumb'),
    thumbStatus: $('studio-thumb-status'),
    whipURL: $('studio-whip-url'),
    whipCopy: $('studio-whip-copy'),
    keyButton: $('studio-key-button'),
    key: $('studio-key'),
    keyStatus: $('studio-key-status'),
  };
  const apiBase = `/api/v1/channels/${encodeURIComponent(channel)}`;

  // The source: what the preview shows and the connection sends.
  let media = null; // MediaStream with at most one video and one audio track
  let captures = []; // the streams behind it, stopped when replaced
  let mixer = null; // AudioContext mixing screen sound and microphone
  let sourceGen = 0; // bumped per source change; a late getUserMedia is dropped

  // The connection.
  let pc = null;
  let resource = ''; // WHIP session URL
  let token = ''; // bearer token the session was made with
  let wantLive = false; // the streamer asked to be live
  let gen = 0; // bumped per publish and stop
  let statsTimer = 0;
  let thumbTimer = 0;
  let retryTimer = 0;
  let graceTimer = 0;
  let lastStats = null;
  let thumbURL = '';

  // --- state

  function setState(name, text) {
    ui.state.dataset.state = name;
    root.dataset.state = name;
    ui.state.textContent = text;
    ui.badge.hidden = name !== 'live';
    ui.golive.disabled = wantLive;
    ui.stop.disabled = !wantLive;
  }

  function showError(text) {
    ui.error.textContent = text;
  }

  // --- sources

  async function chooseSource(kind) {
    const my = ++sourceGen;
    showError('');
    ui.cameraLabel.hidden = kind === 'screen';
    if (!kind) return;
    let parts;
    try {
      parts = kind === 'screen' ? await captureScreen() : await captureCamera();
    } catch (err) {
      if (my === sourceGen) showError(captureError(err, kind));
      return;
    }
    if (my !== sourceGen) { // another choice came first
      stopStreams(parts.streams);
      return;
    }
    const old = { captures, mixer };
    captures = parts.streams;
    mixer = parts.mixer;
    media = new MediaStream([parts.video, parts.audio].filter(Boolean));
    ui.preview.srcObject = media;
    ui.preview.play().catch(() => {});
    ui.empty.hidden = Boolean(parts.video);
    if (!parts.video) ui.empty.textContent = 'No picture: sound only.';
    if (parts.video) {
      parts.video.addEventListener('ended', () => {
        if (media && media.getVideoTracks()[0] === parts.video) {
          showError(kind === 'screen' ? 'Screen sharing stopped. Choose a source again.' : 'The camera stopped. Choose a source again.');
          ui.empty.hidden = false;
        }
      });
    }
    await sendTracks(); // live: the viewers get the new source at once
    stopStreams(old.captures);
    if (old.mixer) old.mixer.close().catch(() => {});
    await listDevices();
  }

  async function captureCamera() {
    const cam = ui.camera.value;
    const mic = ui.mic.value;
    const stream = await navigator.mediaDevices.getUserMedia({
      video: {
        ...(cam ? { deviceId: { exact: cam } } : {}),
        width: { ideal: 1280 },
        height: { ideal: 720 },
        frameRate: { ideal: 30 },
      },
      audio: mic === 'none' ? false : micConstraints(mic),
    });
    return { streams: [stream], video: stream.getVideoTracks()[0] || null, audio: stream.getAudioTracks()[0] || null, mixer: null };
  }

  async function captureScreen() {
    if (!navigator.mediaDevices.getDisplayMedia) throw new Error('This browser cannot share its screen.');
    const screen = await navigator.mediaDevices.getDisplayMedia({
      video: { frameRate: { ideal: 30 } },
      audio: true, // the tab's or system's sound, when the browser offers it
    });
    const streams = [screen];
    const video = screen.getVideoTracks()[0] || null;
    if (video && 'contentHint' in video) video.contentHint = 'detail';
    const sounds = screen.getAudioTracks();
    if (ui.mic.value !== 'none') {
      try {
        const mic = await navigator.mediaDevices.getUserMedia({ audio: micConstraints(ui.mic.value) });
        streams.push(mic);
        sounds.push(...mic.getAudioTracks());
      } catch (err) {
        showError(`No microphone: ${captureError(err, 'microphone')}`);
      }
    }
    const { track, ctx } = mix(sounds);
    return { streams, video, audio: track, mixer: ctx };
  }

  // listDevices fills the camera and microphone lists; names are only known
  // once the browser was allowed to use a device.
  async function listDevices() {
    let devices;
    try {
      devices = await navigator.mediaDevices.enumerateDevices();
    } catch {
      return;
    }
    fill(ui.camera, devices.filter((d) => d.kind === 'videoinput'), 'Camera', [['', 'Default camera']]);
    fill(ui.mic, devices.filter((d) => d.kind === 'audioinput'), 'Microphone', [['', 'Default microphone'], ['none', 'No microphone']]);
  }

  function fill(select, devices, noun, fixed) {
    const keep = select.value;
    const options = fixed.map(([value, label]) => new Option(label, value));
    devices.forEach((d, i) => {
      if (d.deviceId && d.deviceId !== 'default') options.push(new Option(d.label || `${noun} ${i + 1}`, d.deviceId));
    });
    select.replaceChildren(...options);
    select.value = [...select.options].some((o) => o.value === keep) ? keep : '';
  }

  ui.source.addEventListener('change', () => chooseSource(ui.source.value));
  ui.camera.addEventListener('change', () => { if (ui.source.value === 'camera') chooseSource('camera'); });
  ui.mic.addEventListener('change', () => { if (ui.source.value) chooseSource(ui.source.value); });
  navigator.mediaDevices?.addEventListener?.('devicechange', listDevices);

  // --- going live

  async function goLive() {
    clearTimeout(retryTimer);
    ui.golive.disabled = true;
    if (!media) {
      if (!ui.source.value) ui.source.value = 'camera';
      await chooseSource(ui.source.value);
      if (!media) {
        ui.golive.disabled = false;
        return;
      }
    }
    wantLive = true;
    showError('');
    await publish(false);
  }

  // publish opens a WHIP session; again says it replaces a lost one. The
  // old session is not deleted then: the server hands the channel over to
  // the new one, and viewers keep watching without reconnecting.
  async function publish(again) {
    if (again && await takenOver()) return;
    if (again) resource = '';
    closeConnection(true);
    const my = ++gen;
    setState(again ? 'reconnecting' : 'connecting', again ? 'Reconnecting…' : 'Connecting…');
    try {
      const tok = await jsonFetch('POST', '/api/v1/token');
      const iceServers = await iceConfig();
      if (my !== gen) return;
      token = tok.token;
      const p = new RTCPeerConnection({ iceServers, bundlePolicy: 'max-bundle' });
      pc = p;
      const video = media.getVideoTracks()[0] || null;
      const audio = media.getAudioTracks()[0] || null;
      // Both kinds always, even without a track yet: a source change while
      // live can then add a picture or a sound with replaceTrack.
      p.addTransceiver(video || 'video', { direction: 'sendonly', streams: [media], sendEncodings: encodings() });
      p.addTransceiver(audio || 'audio', { direction: 'sendonly', streams: [media] });
      p.addEventListener('connectionstatechange', () => onConnection(p, my));
      const trickle = trickler(p);
      await p.setLocalDescription(await p.createOffer());
      await trickle.ready();
      if (my !== gen) return;
      const res = await fetch(`/whip/${encodeURIComponent(channel)}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` },
        body: trickle.offer(),
      });
      if (!res.ok) {
        const err = await errorOf(res);
        if (my !== gen) return;
        refused(err);
        return;
      }
      const answer = await res.text();
      const loc = res.headers.get('Location');
      const url = loc ? new URL(loc, location.href).href : '';
      if (my !== gen) {
        if (url) deleteSession(url, token);
        return;
      }
      resource = url;
      await p.setRemoteDescription({ type: 'answer', sdp: answer });
      trickle.start(url, { Authorization: `Bearer ${token}` });
      watchEnd(p, my);
      lastStats = null;
      statsTimer = setInterval(() => sample(p, my), STATS_MS);
    } catch (err) {
      if (my !== gen) return;
      if (err && err.status) {
        refused(err); // the token request was refused
        return;
      }
      closeConnection(true);
      showError(err instanceof Error ? err.message : String(err));
      retry();
    }
  }

  function encodings() {
    if (!SIMULCAST) return [{ maxBitrate: VIDEO_BITRATE }];
    // The server forwards the layer each viewer asks for.
    return [
      { rid: 'h', maxBitrate: VIDEO_BITRATE },
      { rid: 'l', scaleResolutionDownBy: 2, maxBitrate: LOW_BITRATE },
    ];
  }

  // refused handles a WHIP error: a refusal (4xx) is final, the rest
  // (server trouble, rate limits) are tried again.
  function refused(err) {
    closeConnection(true);
    if (err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429) {
      wantLive = false;
      setState('error', 'Not live');
      showError({
        already_live: 'Someone else is already streaming to this channel. Stop that stream first.',
        unsupported_codec: 'The server cannot take this browser’s video format (it needs H.264 or VP8 with Opus).',
      }[err.code] || (err.status === 401 ? 'You are signed out. Sign in again to go live.' : err.message));
      return;
    }
    showError(err.message);
    retry();
  }

  // takenOver asks, before the studio reconnects, whether another source
  // took the channel: the server says when it replaced this studio's
  // session (409 replaced); a lost session while the channel is live from
  // elsewhere means the same. A session stopped from the admin page (409
  // stopped) is not taken back either. Then the studio stops and says so.
  async function takenOver() {
    const url = resource;
    const tok = token;
    const my = gen;
    if (!url) return false;
    let res;
    try {
      // An empty trickle: it changes nothing on a session that lasts.
      res = await fetch(url, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/trickle-ice-sdpfrag', Authorization: `Bearer ${tok}` },
        body: 'a=end-of-candidates\r\n',
      });
    } catch {
      return false; // the server is unreachable: keep trying
    }
    if (my !== gen || !wantLive) return true; // stopped meanwhile
    if (res.ok) return false;
    const err = await errorOf(res);
    const stamp = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/.exec(err.message);
    if (err.code === 'replaced') {
      replaced(`Your stream was replaced by another source at ${timeOf(stamp ? stamp[0] : '')}.`);
      return true;
    }
    if (err.code === 'stopped') {
      replaced(`An admin or moderator stopped your stream at ${timeOf(stamp ? stamp[0] : '')}.`, 'You may go live again.');
      return true;
    }
    if (res.status !== 404) return false;
    let ch = {};
    try {
      ch = (await jsonFetch('GET', apiBase)).channel || {};
    } catch {
      return false;
    }
    if (my !== gen || !wantLive) return true;
    if (!ch.live) return false;
    replaced(`Another source is streaming to this channel (since ${timeOf(ch.startedAt)}).`);
    return true;
  }

  function replaced(text, next = 'Go live again to take the channel back.') {
    wantLive = false;
    resource = ''; // it is not ours to end any more
    closeConnection(false);
    setState('error', 'Not live');
    showError(`${text} ${next}`);
  }

  function timeOf(stamp) {
    const at = stamp ? new Date(stamp) : new Date();
    return (Number.isNaN(at.getTime()) ? new Date() : at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }

  function retry() {
    if (!wantLive) return;
    setState('reconnecting', 'Reconnecting…');
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => publish(true), RETRY_MS);
  }

  // watchEnd notices at once that the server closed the session (a DTLS
  // close alert), which ICE would show only seconds later: another source
  // took over, or the session was ended; then it asks which.
  function watchEnd(p, my) {
    const dtls = p.getSenders().map((s) => s.transport).find(Boolean);
    if (!dtls) return;
    dtls.addEventListener('statechange', async () => {
      if (my !== gen || (dtls.state !== 'closed' && dtls.state !== 'failed')) return;
      if (!(await takenOver()) && my === gen) retry();
    });
  }

  function onConnection(p, my) {
    if (my !== gen) return;
    clearTimeout(graceTimer);
    const state = p.connectionState;
    showConnection(p);
    switch (state) {
      case 'connected':
        setState('live', 'Live');
        showError('');
        clearInterval(thumbTimer);
        setTimeout(() => { if (my === gen) captureThumbnail(); }, THUMB_FIRST_MS);
        thumbTimer = setInterval(captureThumbnail, THUMB_MS);
        break;
      case 'disconnected':
        setState('reconnecting', 'Reconnecting…');
        graceTimer = setTimeout(() => { if (my === gen && p.connectionState !== 'connected') retry(); }, DISCONNECT_GRACE_MS);
        takenOver(); // a takeover shows at once, not after the grace
        break;
      case 'failed':
        retry();
        break;
    }
  }

  // closeConnection ends the current connection, and its WHIP session
  // unless resource was cleared first. keepWant keeps a pending retry.
  function closeConnection(keepWant) {
    gen++;
    clearInterval(statsTimer);
    clearInterval(thumbTimer);
    clearTimeout(graceTimer);
    if (!keepWant) clearTimeout(retryTimer);
    if (resource) deleteSession(resource, token);
    resource = '';
    if (pc) pc.close();
    pc = null;
    ui.connection.textContent = 'not connected';
    ui.bitrate.textContent = '–';
    ui.videoInfo.textContent = '–';
  }

  function deleteSession(url, tok, keepalive = false) {
    return fetch(url, { method: 'DELETE', keepalive, headers: { Authorization: `Bearer ${tok}` } }).catch(() => {});
  }

  async function stop() {
    wantLive = false;
    const url = resource;
    const tok = token;
    resource = '';
    closeConnection(false);
    setState('offline', 'Offline');
    if (url) {
      const res = await deleteSession(url, tok);
      if (res && res.status === 401) { // the token expired during a long stream
        try {
          await deleteSession(url, (await jsonFetch('POST', '/api/v1/token')).token);
        } catch {
          // Signed out: the server ends the session when its connection drops.
        }
      }
    }
    refreshChannel();
  }

  // sendTracks puts the current source on the live connection.
  async function sendTracks() {
    if (!pc || !media) return;
    const video = media.getVideoTracks()[0] || null;
    const audio = media.getAudioTracks()[0] || null;
    for (const t of pc.getTransceivers()) {
      const kind = t.receiver.track ? t.receiver.track.kind : '';
      try {
        if (kind === 'video') await t.sender.replaceTrack(video);
        if (kind === 'audio') await t.sender.replaceTrack(audio);
      } catch (err) {
        showError(`The new source could not be sent: ${err.message}`);
      }
    }
  }

  ui.golive.addEventListener('click', goLive);
  ui.stop.addEventListener('click', stop);

  // --- health

  async function sample(p, my) {
    let stats;
    try {
      stats = await p.getStats();
    } catch {
      return;
    }
    if (my !== gen) return;
    let bytes = 0;
    let best = null; // the largest video layer
    let layers = 0;
    let rtt = null;
    stats.forEach((s) => {
      if (s.type === 'outbound-rtp') {
        bytes += s.bytesSent || 0;
        if (s.kind === 'video' && s.frameWidth) {
          layers++;
          if (!best || s.frameWidth > best.frameWidth) best = s;
        }
      } else if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded' && typeof s.currentRoundTripTime === 'number') {
        rtt = s.currentRoundTripTime;
      }
    });
    const now = performance.now();
    if (lastStats && now > lastStats.at) {
      const kbps = Math.max(0, Math.round(((bytes - lastStats.bytes) * 8) / (now - lastStats.at)));
      ui.bitrate.textContent = `${kbps.toLocaleString()} kbps`;
    }
    lastStats = { bytes, at: now };
    if (best) {
      let text = `${best.frameWidth}×${best.frameHeight}`;
      if (best.framesPerSecond) text += ` · ${Math.round(best.framesPerSecond)} fps`;
      if (layers > 1) text += ` · ${layers} layers`;
      const why = best.qualityLimitationReason;
      if (why && why !== 'none') text += ` · limited by ${why === 'cpu' ? 'CPU' : why}`;
      ui.videoInfo.textContent = text;
    } else {
      ui.videoInfo.textContent = media && media.getVideoTracks().length ? 'starting…' : 'none';
    }
    showConnection(p, rtt);
  }

  function showConnection(p, rtt = null) {
    let text = p.connectionState;
    if (rtt !== null) text += ` · ${Math.round(rtt * 1000)} ms round trip`;
    ui.connection.textContent = text;
  }

  // refreshChannel shows the viewer count, and notices a stream from
  // elsewhere (OBS) while this page is not live.
  async function refreshChannel() {
    const my = gen;
    let ch;
    try {
      ch = (await jsonFetch('GET', apiBase)).channel || {};
    } catch {
      return;
    }
    if (my !== gen) return; // went live or stopped meanwhile: ask again later
    const n = Number(ch.viewers);
    ui.viewers.textContent = ch.live && Number.isFinite(n) ? String(n) : '0';
    if (!wantLive && ui.state.dataset.state !== 'error') {
      setState('offline', ch.live ? 'Live from another encoder (OBS?)' : 'Offline');
    }
  }
  setInterval(refreshChannel, VIEWERS_MS);
  refreshChannel();

  // --- thumbnail

  async function captureThumbnail() {
    const v = ui.preview;
    if (!pc || !v.videoWidth || !v.videoHeight) return;
    const canvas = document.createElement('canvas');
    canvas.width = 320;
    canvas.height = 180;
    const g = canvas.getContext('2d');
    // Cover: crop the picture to 16:9 around its middle.
    const scale = Math.max(canvas.width / v.videoWidth, canvas.height / v.videoHeight);
    const sw = canvas.width / scale;
    const sh = canvas.height / scale;
    g.drawImage(v, (v.videoWidth - sw) / 2, (v.videoHeight - sh) / 2, sw, sh, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.8));
    if (!blob) return;
    try {
      const res = await fetch(`${apiBase}/thumbnail`, {
        method: 'PUT',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'image/jpeg' },
        body: blob,
      });
      if (!res.ok) throw new Error((await errorOf(res)).message);
      if (thumbURL) URL.revokeObjectURL(thumbURL);
      thumbURL = URL.createObjectURL(blob);
      ui.thumb.src = thumbURL;
      ui.thumb.hidden = false;
      ui.thumbStatus.textContent = `Thumbnail updated at ${new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}.`;
    } catch (err) {
      ui.thumbStatus.textContent = `The thumbnail was not saved: ${err.message}`;
    }
  }

  // --- title and OBS

  ui.titleForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const button = ui.titleForm.querySelector('button');
    button.disabled = true;
    try {
      const { channel: ch } = await jsonFetch('PATCH', apiBase, { title: ui.title.value });
      ui.title.value = ch && typeof ch.title === 'string' ? ch.title : ui.title.value;
      status(ui.titleStatus, 'Saved.', true);
    } catch (err) {
      status(ui.titleStatus, err.message, false);
    } finally {
      button.disabled = false;
    }
  });

  ui.keyButton.addEventListener('click', async () => {
    ui.keyButton.disabled = true;
    try {
      const { streamKey } = await jsonFetch('POST', `${apiBase}/stream-key`);
      ui.key.value = streamKey;
      ui.key.hidden = false;
      ui.key.select();
      status(ui.keyStatus, 'Copy it now: it is shown only once. The previous key no longer works.', true);
    } catch (err) {
      status(ui.keyStatus, err.message, false);
    } finally {
      ui.keyButton.disabled = false;
    }
  });
  ui.key.addEventListener('focus', () => ui.key.select());

  ui.whipCopy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(ui.whipURL.textContent.trim());
      ui.whipCopy.textContent = 'Copied';
    } catch {
      // No clipboard (plain HTTP): select the text for a manual copy.
      getSelection().selectAllChildren(ui.whipURL);
      ui.whipCopy.textContent = 'Press Ctrl+C';
    }
    setTimeout(() => { ui.whipCopy.textContent = 'Copy'; }, 2000);
  });

  // --- page life

  window.addEventListener('beforeunload', (ev) => {
    if (wantLive) ev.preventDefault(); // leaving ends the stream: ask first
  });
  window.addEventListener('pagehide', () => {
    if (resource) deleteSession(resource, token, true);
    resource = '';
    wantLive = false;
    closeConnection(false);
  });

  setState('offline', 'Offline');
  ui.cameraLabel.hidden = false;
  if (!navigator.mediaDevices || !window.RTCPeerConnection) {
    showError('This browser cannot stream (no camera access or WebRTC). Use a current Firefox, Chrome or Safari over HTTPS, or OBS.');
    ui.golive.disabled = true;
    ui.source.disabled = true;
  }
}

function status(el, text, ok) {
  el.textContent = text;
  el.classList.toggle('ok', ok);
  el.classList.toggle('bad', !ok);
}

// jsonFetch calls the JSON API with the session cookie and returns the
// parsed body, or throws an Error with the server's message.
async function jsonFetch(method, path, body) {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) {
    const { code, message, status } = await errorOf(res);
    throw Object.assign(new Error(message), { code, status });
  }
  return res.status === 204 ? {} : res.json();
}
