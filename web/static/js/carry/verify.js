// Frame integrity for viewers fed by a fellow viewer ("Help carry this
// stream"). The origin digests every encoded frame of a stream once, as it
// receives it (internal/framedigest), and sends each viewer the digests
// over the viewer's own connection to the origin; a frame that comes from
// a fellow viewer is shown only when its digest is one the origin sent.
// A relaying viewer never sees another viewer's connection to the origin,
// so it cannot make a frame of its own pass.
//
// A digest is the first 16 bytes of SHA-256 over the frame's bytes as the
// encoded-frame API gives them (RTCEncodedVideoFrame.data,
// RTCEncodedAudioFrame.data), in hex, with the frame's kind and the RTP
// timestamp the origin received it with. A viewer's timestamps are the
// origin's until its session is renumbered (the publisher reconnected, the
// quality changed): check() compares at the timestamp, origin() finds a
// frame by its digest alone, whatever the renumbering.

const SUM_BYTES = 16;
const MAX_FRAMES = 4096; // digests kept: about 50 s of audio and video
const MAX_WAITERS = 512; // frames waiting for their digest at once; beyond, they count as unknown
const MAX_PER_FRAME = 4; // simulcast layers may share a timestamp
const MAX_REPEATS = 128; // times the same bytes are remembered (silence repeats 50 times a second)
export const WAIT_MS = 1000; // how long a frame waits for its digest by default

const SUM = /^[0-9a-f]{32}$/;

// frameDigest is the digest of a frame's bytes (an ArrayBuffer or a view).
export async function frameDigest(data) {
  const full = new Uint8Array(await crypto.subtle.digest('SHA-256', data));
  let hex = '';
  for (let i = 0; i < SUM_BYTES; i++) hex += full[i].toString(16).padStart(2, '0');
  return hex;
}

// rtpTimestamp is an encoded frame's RTP timestamp.
export function rtpTimestamp(frame) {
  const meta = frame.getMetadata ? frame.getMetadata() : {};
  return typeof meta.rtpTimestamp === 'number' ? meta.rtpTimestamp : frame.timestamp;
}

// DigestBook keeps the latest digests the origin sent, a bounded number,
// and answers whether a frame is one of them.
export class DigestBook {
  #sums = new Map(); // "kind/ts" → [sum], oldest first
  #bySum = new Map(); // sum → [{kind, ts, n}] (the times the origin sent those bytes), least recently sent first
  #n = 0; // digests added so far: the order the origin sent them in
  #waiters = new Map(); // "kind/ts" or "sum/" + sum → [resolve]
  #waiting = 0;

  constructor(max = MAX_FRAMES) {
    this.max = max;
  }

  // add takes one digest of the origin's feed ({kind, ts, sum}); anything
  // else is ignored.
  add(d) {
    if (!d || (d.kind !== 'audio' && d.kind !== 'video') || !Number.isInteger(d.ts) || d.ts < 0 || d.ts > 0xffffffff || !SUM.test(d.sum)) return;
    const key = `${d.kind}/${d.ts}`;
    const list = this.#sums.get(key);
    if (list) {
      if (!list.includes(d.sum) && list.length < MAX_PER_FRAME) list.push(d.sum);
    } else {
      this.#sums.set(key, [d.sum]);
      if (this.#sums.size > this.max) this.#sums.delete(this.#sums.keys().next().value);
    }
    const sent = this.#bySum.get(d.sum) || [];
    this.#bySum.delete(d.sum); // a frame sent again (silence) is the newest again
    sent.push({ kind: d.kind, ts: d.ts, n: ++this.#n });
    if (sent.length > MAX_REPEATS) sent.shift();
    this.#bySum.set(d.sum, sent);
    if (this.#bySum.size > this.max) this.#bySum.delete(this.#bySum.keys().next().value);
    this.#wake(key);
    this.#wake(`sum/${d.sum}`);
  }

  #wake(key) {
    const waiting = this.#waiters.get(key);
    if (waiting) {
      this.#waiters.delete(key);
      this.#waiting -= waiting.length;
      for (const resolve of waiting) resolve();
    }
  }

  // check digests a frame's bytes and answers 'ok' (the origin sent this
  // frame), 'mismatch' (the origin sent another frame at that timestamp:
  // drop it) or 'unknown' (no digest came within waitMs: drop it, and
  // wait for a keyframe that checks).
  async check(kind, ts, data, waitMs = WAIT_MS) {
    const sum = await frameDigest(data);
    const key = `${kind}/${ts}`;
    if (!this.#sums.has(key) && waitMs > 0) await this.#wait(key, waitMs);
    const list = this.#sums.get(key);
    if (!list) return 'unknown';
    return list.includes(sum) ? 'ok' : 'mismatch';
  }

  // origin finds a frame by its digest alone and returns the RTP
  // timestamp the origin last received it with, or null when the origin
  // sent no such frame of that kind (within waitMs).
  async origin(kind, data, waitMs = WAIT_MS) {
    const sum = await frameDigest(data);
    if (!this.#bySum.has(sum) && waitMs > 0) await this.#wait(`sum/${sum}`, waitMs);
    const sent = this.#bySum.get(sum);
    const o = sent && sent[sent.length - 1];
    return o && o.kind === kind ? o.ts : null;
  }

  // find gives a frame's place in the origin's feed: {ts, n}, n growing in
  // the order the origin sent the frames, whatever layer or renumbering.
  // A caller that wants frames in order (not an old one replayed) passes
  // the n of the last frame it took as after, and gets the first time the
  // origin sent these bytes after that one, waiting up to waitMs for it
  // (the same bytes come again for silence or a repeated sound); null when
  // there is none.
  async find(kind, data, waitMs = WAIT_MS, after = 0) {
    const sum = await frameDigest(data);
    const next = () => (this.#bySum.get(sum) || []).find((o) => o.n > after) || null;
    if (!next() && waitMs > 0) await this.#wait(`sum/${sum}`, waitMs);
    const o = next();
    return o && o.kind === kind ? { ts: o.ts, n: o.n } : null;
  }

  #wait(key, ms) {
    if (this.#waiting >= MAX_WAITERS) return Promise.resolve();
    return new Promise((resolve) => {
      let list = this.#waiters.get(key);
      if (!list) this.#waiters.set(key, (list = []));
      list.push(resolve);
      this.#waiting++;
      setTimeout(() => {
        const i = list.indexOf(resolve);
        if (i >= 0) {
          list.splice(i, 1);
          this.#waiting--;
          if (list.length === 0 && this.#waiters.get(key) === list) this.#waiters.delete(key);
        }
        resolve();
      }, ms);
    });
  }
}

// followFeed fills book from a channel's digest feed (server-sent events)
// until close; ready resolves once the feed is open. The browser-relay
// children get the same digests over their control socket (carry.js).
export function followFeed(channel, book) {
  const es = new EventSource(`/api/v1/channels/${encodeURIComponent(channel)}/digests`);
  es.addEventListener('message', (ev) => {
    try {
      book.add(JSON.parse(ev.data));
    } catch {
      // not a digest: ignored
    }
  });
  const ready = new Promise((resolve) => es.addEventListener('open', resolve, { once: true }));
  return { ready, close: () => es.close() };
}
