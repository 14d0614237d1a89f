// JitterMeter turns WebRTC's running jitter-buffer counters into the delay
// the buffer added over the last second or more: the part of the latency
// the viewer's browser adds on top of the network.
//
// It takes the video's counters when there are any, else the audio's. The
// two are in different units (video counts frames, audio counts samples,
// 48,000 a second), so the baseline starts again when the kind changes: the
// first sample is often taken before the first picture, and against the
// audio's count the video's would not grow past it for many minutes.
export class JitterMeter {
  constructor(spanMs = 1000) {
    this.spanMs = spanMs;
    this.last = null;
  }

  reset() {
    this.last = null;
  }

  // sample takes {video, audio}, each {delay (s), emitted}, summed over the
  // inbound streams, and the time in ms. It returns the buffer's delay in
  // whole ms when a new figure is ready, else null.
  sample(buf, now) {
    const kind = buf.video.emitted > 0 ? 'video' : 'audio';
    const { delay, emitted } = buf[kind];
    const last = this.last;
    if (!last || last.kind !== kind || emitted < last.emitted) {
      this.last = { kind, delay, emitted, at: now };
      return null;
    }
    const n = emitted - last.emitted;
    if (now - last.at < this.spanMs || n === 0) return null;
    this.last = { kind, delay, emitted, at: now };
    return Math.round(((delay - last.delay) / n) * 1000);
  }
}
