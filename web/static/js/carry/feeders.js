// The carrying side of "Help carry this stream": this viewer passes the
// encoded frames it gets (from the origin's WHEP session, or from its own
// parent once checked) to the viewers the origin asked it to feed, each
// over an RTCDataChannel of its own (wire.js). Frames go as received:
// nothing is decoded or encoded again, so the picture loses nothing per
// hop.

import { pack } from './wire.js';

const MAX_BUFFERED = 2 * 1024 * 1024; // bytes queued for a child; beyond, it skips to the next keyframe

// Feeders keeps this viewer's links to the viewers it feeds.
export class Feeders {
  #links = new Map(); // peer id → {pc, dc, waitKey, signals}
  #seq = 0;
  #sent = 0; // bytes sent, all links

  constructor({ send, onCount }) {
    this.send = send; // a control message to the origin
    this.onCount = onCount; // (children fed)
  }

  get count() {
    return this.#links.size;
  }

  get sent() {
    return this.#sent;
  }

  // add starts feeding peer: a connection with one data channel, offered
  // through the origin.
  add(peer, iceServers) {
    this.remove(peer);
    const pc = new RTCPeerConnection({ iceServers, bundlePolicy: 'max-bundle' });
    const dc = pc.createDataChannel('frames', { ordered: true });
    dc.binaryType = 'arraybuffer';
    const link = { pc, dc, waitKey: true, signals: Promise.resolve() };
    this.#links.set(peer, link);
    pc.addEventListener('icecandidate', (ev) => {
      if (ev.candidate && ev.candidate.candidate) this.send({ type: 'signal', peer, candidate: ev.candidate.toJSON() });
    });
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'failed') this.remove(peer); // the child says "lost"; the origin unlinks us
    });
    link.signals = link.signals
      .then(async () => {
        await pc.setLocalDescription(await pc.createOffer());
        this.send({ type: 'signal', peer, sdp: { type: 'offer', sdp: pc.localDescription.sdp } });
      })
      .catch(() => this.remove(peer));
    this.onCount(this.count);
  }

  // signal takes the child's answer or ICE candidate, in order.
  signal(peer, msg) {
    const link = this.#links.get(peer);
    if (!link) return;
    link.signals = link.signals
      .then(async () => {
        if (msg.sdp && msg.sdp.type === 'answer' && typeof msg.sdp.sdp === 'string') {
          await link.pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp.sdp });
        } else if (msg.candidate && link.pc.remoteDescription) {
          await link.pc.addIceCandidate(msg.candidate);
        }
      })
      .catch(() => this.remove(peer));
  }

  remove(peer) {
    const link = this.#links.get(peer);
    if (!link) return;
    this.#links.delete(peer);
    link.pc.close();
    this.onCount(this.count);
  }

  clear() {
    for (const peer of [...this.#links.keys()]) this.remove(peer);
  }

  // forward passes one encoded frame to every child. A child whose
  // channel cannot keep up skips to the next keyframe; a new child starts
  // at one.
  forward(kind, key, data) {
    if (this.#links.size === 0) return;
    let msgs = null;
    const seq = this.#seq++;
    for (const link of this.#links.values()) {
      if (link.dc.readyState !== 'open') continue;
      if (link.dc.bufferedAmount > MAX_BUFFERED) {
        link.waitKey = true;
        continue;
      }
      if (link.waitKey && kind === 'video') {
        if (!key) continue;
        link.waitKey = false;
      }
      msgs ??= pack(kind, key, seq, data);
      try {
        for (const m of msgs) {
          link.dc.send(m);
          this.#sent += m.byteLength;
        }
      } catch {
        link.waitKey = true; // the channel closed meanwhile
      }
    }
  }
}
