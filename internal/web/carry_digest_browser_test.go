package web_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/browsertest"
)

// The feasibility of viewers who help (issue 13): a viewer fed by a fellow
// viewer checks each encoded frame against the digests the origin streams.
// These tests prove that the origin's digests, computed from the RTP
// packets it receives, are those of the frames Chromium's encoded-frame
// API gives a viewer, using the module the relaying viewers will use
// (web/static/js/carry/verify.js).

// publishJS publishes alpha from a Chromium page over WHIP with the fake
// camera and microphone, video in one codec only; %q are the stream key
// and the codec ("vp8" or "h264").
const publishJS = `(async (key, codec) => {
	const ms = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: true });
	const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
	const video = pc.addTransceiver(ms.getVideoTracks()[0], { direction: 'sendonly' });
	pc.addTransceiver(ms.getAudioTracks()[0], { direction: 'sendonly' });
	video.setCodecPreferences(RTCRtpSender.getCapabilities('video').codecs.filter((c) => c.mimeType.toLowerCase() === 'video/' + codec));
	await pc.setLocalDescription(await pc.createOffer());
	await gathered(pc);
	const res = await fetch('/whip/alpha', { method: 'POST', headers: { 'Content-Type': 'application/sdp', Authorization: 'Bearer ' + key }, body: pc.localDescription.sdp });
	if (!res.ok) throw new Error('WHIP: ' + res.status + ' ' + await res.text());
	await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
	window.publisher = pc;
})(%q, %q)`

// gatheredJS defines gathered(pc): ICE gathering is over (loopback only,
// it takes moments).
const gatheredJS = `window.gathered = (pc) => new Promise((resolve) => {
	if (pc.iceGatheringState === 'complete') return resolve();
	pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') resolve(); });
})`

// verifyJS plays alpha over WHEP with an encoded-frame transform on both
// receivers: every frame is checked with verify.js against window.book,
// which the origin's digest feed fills, and passed on to the decoder;
// every fifth frame that checks is checked again with one byte flipped.
const verifyJS = `(async () => {
	const v = await import('/static/js/carry/verify.js'); // cached: the same module as the feed's
	const book = window.book;
	const count = () => ({ ok: 0, mismatch: 0, unknown: 0 });
	const res = window.carry = { video: count(), audio: count(), tampered: count(), errors: [], unknown: [] };
	const pc = new RTCPeerConnection({ encodedInsertableStreams: true, bundlePolicy: 'max-bundle' });
	window.viewer = pc;
	pc.addTransceiver('video', { direction: 'recvonly' });
	pc.addTransceiver('audio', { direction: 'recvonly' });
	pc.addEventListener('track', (ev) => {
		const kind = ev.track.kind;
		const { readable, writable } = ev.receiver.createEncodedStreams();
		let n = 0;
		readable.pipeThrough(new TransformStream({
			async transform(frame, out) {
				const ts = v.rtpTimestamp(frame);
				const verdict = await book.check(kind, ts, frame.data);
				res[kind][verdict]++;
				if (verdict === 'unknown' && res.unknown.length < 20) res.unknown.push({ kind, ts, type: frame.type || '', nth: res[kind].ok + res[kind].unknown });
				if (verdict === 'ok' && n++ % 5 === 0) {
					const bad = new Uint8Array(frame.data.slice(0));
					bad[bad.length >> 1] ^= 0x01;
					res.tampered[await book.check(kind, ts, bad, 0)]++;
				}
				out.enqueue(frame);
			},
		})).pipeTo(writable).catch((err) => res.errors.push(String(err)));
		if (kind === 'video') {
			const el = document.createElement('video');
			el.muted = true;
			el.srcObject = new MediaStream([ev.track]);
			document.body.append(el);
			el.play().catch(() => {});
		}
	});
	await pc.setLocalDescription(await pc.createOffer());
	await gathered(pc);
	const answer = await fetch('/whep/alpha', { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
	if (!answer.ok) throw new Error('WHEP: ' + answer.status);
	await pc.setRemoteDescription({ type: 'answer', sdp: await answer.text() });
})()`

// statsJS: the frames the viewer decoded and the video codec it got.
const statsJS = `(async () => {
	let decoded = 0, codec = '';
	const stats = await window.viewer.getStats();
	stats.forEach((s) => {
		if (s.type === 'inbound-rtp' && s.kind === 'video') {
			decoded = s.framesDecoded || 0;
			if (stats.get(s.codecId)) codec = stats.get(s.codecId).mimeType;
		}
	});
	return { decoded, codec };
})()`

type verdicts struct {
	OK       int `json:"ok"`
	Mismatch int `json:"mismatch"`
	Unknown  int `json:"unknown"`
}

func (v verdicts) total() int { return v.OK + v.Mismatch + v.Unknown }

// TestCarryBrowserFrameDigests: for VP8 and H.264 video and Opus audio
// from a Chromium publisher, the digests the origin streams match at least
// 95 % of the frames a Chromium viewer's encoded-frame transform sees
// (SHA-256 of frame.data with crypto.subtle, by RTP timestamp), the frames
// still decode, and a frame with one byte changed never matches.
func TestCarryBrowserFrameDigests(t *testing.T) {
	for _, codec := range []string{"vp8", "h264"} {
		t.Run(codec, func(t *testing.T) {
			s := startVideoSite(t)
			tok := s.Login("alpha", videoPassword)
			key, _ := s.Do("POST", "/api/v1/channels/alpha/stream-key", nil, tok).Body["streamKey"].(string)
			b := browsertest.New(t)
			viewer, publisher := b.NewPage(t), b.NewPage(t)
			for _, p := range []*browsertest.Page{viewer, publisher} {
				p.Eval(`location.href = '`+s.URL+`/'`, nil)
				poll(t, p, `document.readyState === 'complete' && location.pathname === '/'`)
				p.Eval(gatheredJS, nil)
			}
			// The feed opens before the stream starts: every frame the
			// viewer gets has been digested.
			viewer.Eval(`(async () => {
				const v = await import('/static/js/carry/verify.js');
				window.book = new v.DigestBook();
				await v.followFeed('alpha', window.book).ready;
			})()`, nil)
			publisher.Eval(fmt.Sprintf(publishJS, key, codec), nil)
			poll(t, publisher, `window.publisher.connectionState === 'connected'`)
			for deadline := time.Now().Add(15 * time.Second); !channelLive(t, s, "alpha"); time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the channel did not go live")
				}
			}
			viewer.Eval(verifyJS, nil)
			poll(t, viewer, `window.carry.video.ok + window.carry.video.mismatch + window.carry.video.unknown >= 200 && window.carry.audio.ok + window.carry.audio.mismatch + window.carry.audio.unknown >= 300`)

			var res struct {
				Video, Audio, Tampered verdicts
				Errors                 []string
				Unknown                []map[string]any
			}
			viewer.Eval(`window.carry`, &res)
			var st struct {
				Decoded int    `json:"decoded"`
				Codec   string `json:"codec"`
			}
			viewer.Eval(statsJS, &st)
			t.Logf("%s (viewer got %s): video %d of %d frames match, %d mismatch, %d without a digest; audio %d of %d match, %d mismatch, %d without; %d tampered frames: %d rejected, %d passed; %d frames decoded",
				codec, st.Codec, res.Video.OK, res.Video.total(), res.Video.Mismatch, res.Video.Unknown,
				res.Audio.OK, res.Audio.total(), res.Audio.Mismatch, res.Audio.Unknown,
				res.Tampered.total(), res.Tampered.Mismatch, res.Tampered.OK, st.Decoded)
			if len(res.Unknown) > 0 {
				t.Logf("frames without a digest: %v", res.Unknown)
			}
			if st.Codec != "video/"+map[string]string{"vp8": "VP8", "h264": "H264"}[codec] {
				t.Errorf("the viewer got %q video, want %s", st.Codec, codec)
			}
			for kind, v := range map[string]verdicts{"video": res.Video, "audio": res.Audio} {
				if v.OK*100 < v.total()*95 {
					t.Errorf("%s: %d of %d frames match the origin's digests, want at least 95 %%", kind, v.OK, v.total())
				}
			}
			if res.Tampered.total() < 20 || res.Tampered.OK != 0 {
				t.Errorf("of %d frames with a byte flipped, %d passed the check, want none of at least 20", res.Tampered.total(), res.Tampered.OK)
			}
			if st.Decoded < 30 {
				t.Errorf("the viewer decoded %d frames through the transform", st.Decoded)
			}
			if len(res.Errors) > 0 {
				t.Errorf("the transform failed: %v", res.Errors)
			}
			noJSErrors(t, map[string]*browsertest.Page{"viewer": viewer, "publisher": publisher})
		})
	}
}
