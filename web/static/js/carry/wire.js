// The frames a carrying viewer passes on to the viewers it feeds, over an
// ordered, reliable RTCDataChannel. Each encoded frame goes as it was
// received (never decoded, never re-encoded), in chunks of at most CHUNK
// bytes, each with a 16-byte header:
//
//	byte 0      flags: 1 = audio (else video), 2 = keyframe
//	byte 1      chunk index
//	byte 2      chunk count (1..255)
//	byte 3      version (1)
//	bytes 4-7   the frame's number on this link (uint32, big-endian)
//	bytes 8-15  when the carrier got the frame (float64 ms since the epoch),
//	            for the per-hop latency figure only
//
// Nothing in the header is trusted for what is shown: the child checks
// every frame's bytes against the origin's digests (verify.js).

export const HEADER = 16;
export const CHUNK = 16 * 1024;
export const MAX_FRAME = 4 * 1024 * 1024; // larger frames are not carried
const VERSION = 1;
const AUDIO = 1;
const KEY = 2;

// now is a wall-clock time in ms that two pages of one machine agree on.
export function now() {
  return performance.timeOrigin + performance.now();
}

// pack cuts a frame into the messages to send; none when it is too large.
export function pack(kind, key, seq, data, sentAt = now()) {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (bytes.length > MAX_FRAME) return [];
  const count = Math.max(1, Math.ceil(bytes.length / CHUNK));
  const out = [];
  for (let i = 0; i < count; i++) {
    const part = bytes.subarray(i * CHUNK, (i + 1) * CHUNK);
    const msg = new Uint8Array(HEADER + part.length);
    const h = new DataView(msg.buffer);
    h.setUint8(0, (kind === 'audio' ? AUDIO : 0) | (key ? KEY : 0));
    h.setUint8(1, i);
    h.setUint8(2, count);
    h.setUint8(3, VERSION);
    h.setUint32(4, seq >>> 0);
    h.setFloat64(8, sentAt);
    msg.set(part, HEADER);
    out.push(msg.buffer);
  }
  return out;
}

// Reassembler puts frames together from a link's messages. Messages that
// do not fit (malformed, out of order, too large) drop the frame they
// belong to; push returns a whole frame or null.
export class Reassembler {
  #parts = [];
  #size = 0;
  #head = null;

  push(buf) {
    if (!(buf instanceof ArrayBuffer) || buf.byteLength < HEADER) return this.#drop();
    const h = new DataView(buf);
    const flags = h.getUint8(0);
    const index = h.getUint8(1);
    const count = h.getUint8(2);
    const seq = h.getUint32(4);
    if (h.getUint8(3) !== VERSION || count === 0 || index >= count || flags > (AUDIO | KEY)) return this.#drop();
    if (index === 0) {
      this.#drop();
      this.#head = { kind: flags & AUDIO ? 'audio' : 'video', key: Boolean(flags & KEY), seq, count, sentAt: h.getFloat64(8) };
    } else if (!this.#head || this.#head.seq !== seq || this.#head.count !== count || this.#parts.length !== index) {
      return this.#drop();
    }
    const part = new Uint8Array(buf, HEADER);
    this.#size += part.length;
    if (this.#size > MAX_FRAME) return this.#drop();
    this.#parts.push(part);
    if (this.#parts.length < count) return null;
    const data = new Uint8Array(this.#size);
    let at = 0;
    for (const p of this.#parts) {
      data.set(p, at);
      at += p.length;
    }
    const frame = { ...this.#head, data };
    this.#drop();
    return frame;
  }

  #drop() {
    this.#parts = [];
    this.#size = 0;
    this.#head = null;
    return null;
  }
}
