// The fed side of "Help carry this stream": this viewer gets the stream's
// encoded frames from a fellow viewer (its parent, whom the origin chose)
// over an RTCDataChannel, checks each against the origin's digests and
// decodes it with WebCodecs into tracks the player shows.
//
// A frame is decoded only when the origin sent a frame with the same bytes
// (DigestBook.find) and it comes later in the origin's order than the last
// one taken, so a parent can neither make up a frame nor replay an old
// one. A video frame that fails the check leaves the decoder waiting for
// the next keyframe that passes; too long without a picture and the link
// is lost (onLost), and the player goes back to a server.

import { Reassembler, now } from './wire.js';

const WAIT_MS = 1000; // a frame waits this long at most for its digest (it usually comes first; on a loaded machine, later)
const START_MS = 6000; // the first picture must come within this
const STALL_MS = 1000; // then, no picture for this long: the parent is lost
const CHECK_MS = 100;
const MAX_QUEUE = 240; // frames of a kind waiting to be checked; beyond, the link is too slow
const MAX_LATENCIES = 4096;
const KEYFRAME_MS = 1000; // asks for a keyframe at most this often

// videoCodec maps a WebRTC codec (mimeType, fmtp line) to the WebCodecs
// codec string; '' when it cannot be decoded here.
export function videoCodec(mime, fmtp = '') {
  switch (String(mime).toLowerCase()) {
    case 'video/vp8':
      return 'vp8';
    case 'video/vp9':
      return 'vp09.00.10.08';
    case 'video/av1':
      return 'av01.0.04M.08';
    case 'video/h264': {
      const m = /profile-level-id=([0-9a-f]{6})/i.exec(fmtp);
      return `avc1.${m ? m[1].toLowerCase() : '42e01f'}`;
    }
    default:
      return '';
  }
}

// canReceive says whether this browser can be fed by a fellow viewer.
export function canReceive() {
  return typeof VideoDecoder === 'function' && typeof AudioDecoder === 'function' &&
    typeof MediaStreamTrackGenerator === 'function' && typeof RTCPeerConnection === 'function' &&
    Boolean(globalThis.crypto && crypto.subtle);
}

// FedLink is one parent→child link, on the child.
export class FedLink {
  constructor({ peer, book, codec, iceServers, send, onFrame, onFirst, onLost, onRefused }) {
    this.peer = peer;
    this.book = book;
    this.send = send; // a control message to the origin
    this.onFrame = onFrame; // a frame that passed, to pass on to our own children
    this.onFirst = onFirst; // (MediaStream): the first picture is decoded
    this.onLost = onLost; // (why)
    this.onRefused = onRefused; // a frame failed the check (counted even after the link ended)
    this.closed = false;
    this.started = false;
    this.n = { decoded: 0, passed: 0, rejected: 0, bytes: 0, audio: 0 };
    this.latencies = []; // ms from the parent getting a frame to its decoding here
    this.createdAt = performance.now();
    this.lastPicture = 0;
    this.last = { video: 0, audio: 0 }; // the place in the origin's order of the last frame taken
    this.needKey = true;
    this.askedAt = -KEYFRAME_MS;
    // Frames are checked in order, each kind on its own: a sound frame
    // waiting for its digest holds up no picture.
    this.queued = { video: 0, audio: 0 };
    this.work = { video: Promise.resolve(), audio: Promise.resolve() };
    this.signals = Promise.resolve();
    this.parts = new Reassembler();

    this.videoOut = new MediaStreamTrackGenerator({ kind: 'video' });
    this.audioOut = new MediaStreamTrackGenerator({ kind: 'audio' });
    this.stream = new MediaStream([this.videoOut, this.audioOut]);
    const videoWriter = this.videoOut.writable.getWriter();
    const audioWriter = this.audioOut.writable.getWriter();
    this.codec = codec;
    this.makeVideo = () => {
      const d = new VideoDecoder({
        output: (frame) => this.picture(frame, videoWriter),
        error: () => this.resetVideo(),
      });
      d.configure({ codec, optimizeForLatency: true });
      return d;
    };
    this.video = this.makeVideo();
    this.audio = new AudioDecoder({
      output: (data) => {
        this.n.audio++;
        audioWriter.write(data).catch(() => data.close());
      },
      error: () => this.lost('the sound could not be decoded'),
    });
    this.audio.configure({ codec: 'opus', sampleRate: 48000, numberOfChannels: 2 });

    this.pc = new RTCPeerConnection({ iceServers, bundlePolicy: 'max-bundle' });
    this.pc.addEventListener('icecandidate', (ev) => {
      if (ev.candidate && ev.candidate.candidate) this.send({ type: 'signal', peer, candidate: ev.candidate.toJSON() });
    });
    this.pc.addEventListener('connectionstatechange', () => {
      if (this.pc.connectionState === 'failed' || this.pc.connectionState === 'closed') this.lost('the connection to the viewer failed');
    });
    this.pc.addEventListener('datachannel', (ev) => {
      const dc = ev.channel;
      if (dc.label !== 'frames') return dc.close();
      dc.binaryType = 'arraybuffer';
      dc.addEventListener('message', (m) => this.message(m.data));
      // The keyframe asked for when we were placed may have gone by
      // before the channel opened: a browser publisher sends one only
      // when asked.
      dc.addEventListener('open', () => this.askKeyframe());
      dc.addEventListener('close', () => this.lost('the viewer stopped sending'));
    });
    this.timer = setInterval(() => this.check(), CHECK_MS);
  }

  // signal takes the parent's offer or ICE candidate, in order.
  signal(msg) {
    this.signals = this.signals.then(async () => {
      if (this.closed) return;
      if (msg.sdp && msg.sdp.type === 'offer' && typeof msg.sdp.sdp === 'string') {
        await this.pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp.sdp });
        await this.pc.setLocalDescription(await this.pc.createAnswer());
        this.send({ type: 'signal', peer: this.peer, sdp: { type: 'answer', sdp: this.pc.localDescription.sdp } });
      } else if (msg.candidate && this.pc.remoteDescription) {
        await this.pc.addIceCandidate(msg.candidate);
      }
    }).catch(() => this.lost('the viewer\'s connection offer was refused'));
  }

  message(data) {
    if (this.closed) return;
    if (data instanceof ArrayBuffer) this.n.bytes += data.byteLength;
    const frame = this.parts.push(data);
    if (!frame) return;
    const kind = frame.kind;
    if (this.queued[kind] >= MAX_QUEUE) {
      this.lost('the frames come in faster than they can be checked');
      return;
    }
    this.queued[kind]++;
    this.work[kind] = this.work[kind].then(() => this.take(frame)).finally(() => { this.queued[kind]--; });
  }

  // take checks one frame and decodes it if it passes.
  async take(frame) {
    const found = await this.book.find(frame.kind, frame.data, WAIT_MS, this.last[frame.kind]);
    if (!found) {
      this.n.rejected++;
      this.onRefused();
      if (frame.kind === 'video') this.waitKey();
      return;
    }
    if (this.closed) return;
    this.last[frame.kind] = found.n;
    this.n.passed++;
    const timestamp = Math.round(performance.now() * 1000);
    try {
      if (frame.kind === 'audio') {
        this.audio.decode(new EncodedAudioChunk({ type: 'key', timestamp, data: frame.data }));
      } else {
        if (this.needKey && !frame.key) {
          this.askKeyframe();
          return;
        }
        this.needKey = false;
        this.video.decode(new EncodedVideoChunk({ type: frame.key ? 'key' : 'delta', timestamp, data: frame.data }));
        if (this.latencies.length >= MAX_LATENCIES) this.latencies.shift();
        this.latencies.push(now() - frame.sentAt);
      }
    } catch {
      // A decoder that failed meanwhile: its error handler deals with it.
      return;
    }
    this.onFrame(frame);
  }

  picture(frame, writer) {
    if (this.closed) {
      frame.close();
      return;
    }
    this.n.decoded++;
    this.lastPicture = performance.now();
    writer.write(frame).catch(() => frame.close());
    if (!this.started) {
      this.started = true;
      this.onFirst(this.stream);
    }
  }

  // waitKey: a video frame is missing; the next ones cannot be decoded
  // until a keyframe comes.
  waitKey() {
    this.needKey = true;
    this.askKeyframe();
  }

  askKeyframe() {
    const t = performance.now();
    if (this.closed || t - this.askedAt < KEYFRAME_MS) return;
    this.askedAt = t;
    this.send({ type: 'keyframe' });
  }

  // resetVideo: the decoder failed (a frame that is not what its header
  // said): a new one waits for a keyframe.
  resetVideo() {
    if (this.closed) return;
    this.waitKey();
    try {
      this.video = this.makeVideo();
    } catch {
      this.lost('the picture could not be decoded');
    }
  }

  check() {
    const t = performance.now();
    if (!this.started ? t - this.createdAt > START_MS : t - this.lastPicture > STALL_MS) {
      this.lost(this.started ? 'the picture stopped' : 'no picture came');
    }
  }

  lost(why) {
    if (this.closed) return;
    this.close();
    this.onLost(why);
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.pc.close();
    for (const d of [this.video, this.audio]) {
      try {
        d.close();
      } catch {
        // already closed
      }
    }
    this.videoOut.stop();
    this.audioOut.stop();
  }
}
