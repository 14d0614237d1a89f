package web_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/app/apptest"
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
// and the codec ("vp8" or "h264"), %d the picture's width, height and
// frame rate.
const publishJS = `(async (key, codec, width, height, frameRate) => {
	const ms = await navigator.mediaDevices.getUserMedia({ video: { width, height, frameRate }, audio: true });
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
})(%q, %q, %d, %d, %d)`

// gatheredJS defines gathered(pc): ICE gathering is over (loopback only,
// it takes moments).
const gatheredJS = `window.gathered = (pc) => new Promise((resolve) => {
	if (pc.iceGatheringState === 'complete') return resolve();
	pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') resolve(); });
})`

// verifyJS plays alpha over WHEP with an encoded-frame transform on both
// receivers: every frame is checked with verify.js against window.book,
// which the origin's digest feed fills, both at its RTP timestamp
// (check) and by its digest alone (origin), and passed on to the decoder;
// every fifth frame that checks is checked again with one byte flipped.
// window.carry.n holds the counts (reset for each phase of a test).
const verifyJS = `(async () => {
	const v = await import('/static/js/carry/verify.js'); // cached: the same module as the feed's
	const book = window.book;
	const count = () => ({ ok: 0, mismatch: 0, unknown: 0 });
	const fresh = () => ({ video: count(), audio: count(), videoAny: count(), audioAny: count(), tampered: count(), tamperedAny: count(), unknown: [] });
	const res = window.carry = { n: fresh(), fresh, errors: [] };
	const pc = new RTCPeerConnection({ encodedInsertableStreams: true, bundlePolicy: 'max-bundle' });
	window.viewer = pc;
	pc.addTransceiver('video', { direction: 'recvonly' });
	pc.addTransceiver('audio', { direction: 'recvonly' });
	pc.addEventListener('track', (ev) => {
		const kind = ev.track.kind;
		const { readable, writable } = ev.receiver.createEncodedStreams();
		let i = 0;
		// The frames go on to the decoder at once and are checked beside
		// it: a check that waits for a digest holds up no other frame.
		const judge = async (n, ts, data) => {
			const [verdict, found] = await Promise.all([book.check(kind, ts, data), book.origin(kind, data)]);
			n[kind][verdict]++;
			n[kind + 'Any'][found === null ? 'unknown' : 'ok']++;
			if (verdict !== 'ok' && n.unknown.length < 10) n.unknown.push({ kind, ts, verdict, origin: found });
			if (found !== null && i++ % 5 === 0) {
				const bad = new Uint8Array(data);
				bad[bad.length >> 1] ^= 0x01;
				n.tampered[await book.check(kind, ts, bad, 0)]++;
				n.tamperedAny[(await book.origin(kind, bad, 0)) === null ? 'unknown' : 'ok']++;
			}
		};
		readable.pipeThrough(new TransformStream({
			transform(frame, out) {
				judge(res.n, v.rtpTimestamp(frame), frame.data.slice(0)).catch((err) => res.errors.push(String(err)));
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

func (v verdicts) String() string {
	return fmt.Sprintf("%d of %d match (%d mismatch, %d unknown)", v.OK, v.total(), v.Mismatch, v.Unknown)
}

// counts are the verdicts of a phase: by timestamp (check) and by digest
// alone (origin, "Any"), for real frames and tampered ones.
type counts struct {
	Video, Audio, VideoAny, AudioAny, Tampered, TamperedAny verdicts
	Unknown                                                 []map[string]any
}

// measure starts a phase: it counts the frames from now until there are
// 200 video and 300 audio frames.
func measure(t *testing.T, viewer *browsertest.Page) counts {
	t.Helper()
	viewer.Eval(`window.carry.n = window.carry.fresh()`, nil)
	poll(t, viewer, `(({ video: v, audio: a }) => v.ok + v.mismatch + v.unknown >= 200 && a.ok + a.mismatch + a.unknown >= 300)(window.carry.n)`)
	var c counts
	viewer.Eval(`window.carry.n`, &c)
	return c
}

// waitLive waits until the API says alpha is live (its media flows).
func waitLive(t *testing.T, s *apptest.Server) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !channelLive(t, s, "alpha"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the channel did not go live")
		}
	}
}

// atLeast95 fails the test unless 95 % of v's frames match.
func atLeast95(t *testing.T, what string, v verdicts) {
	t.Helper()
	if v.OK*100 < v.total()*95 {
		t.Errorf("%s: %s, want at least 95 %%", what, v)
	}
}

// noneTampered fails the test unless some tampered frames were checked
// and none passed.
func noneTampered(t *testing.T, what string, v verdicts) {
	t.Helper()
	if v.total() < 20 || v.OK != 0 {
		t.Errorf("%s: of %d frames with a byte flipped, %d passed, want none of at least 20", what, v.total(), v.OK)
	}
}

// TestCarryBrowserFrameDigests: for VP8 and H.264 video and Opus audio
// from a Chromium publisher, the digests the origin streams match at least
// 95 % of the frames a Chromium viewer's encoded-frame transform sees
// (SHA-256 of frame.data with crypto.subtle), at their RTP timestamps and
// by digest alone, the frames still decode, and a frame with one byte
// changed never matches. When the publisher reconnects, the viewer's
// timestamps are renumbered: the frames still match by digest.
func TestCarryBrowserFrameDigests(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	oneHeavyAtATime(t)
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
			publisher.Eval(fmt.Sprintf(publishJS, key, codec, 640, 360, 30), nil)
			poll(t, publisher, `window.publisher.connectionState === 'connected'`)
			waitLive(t, s)
			viewer.Eval(verifyJS, nil)

			c := measure(t, viewer)
			var st struct {
				Decoded int    `json:"decoded"`
				Codec   string `json:"codec"`
			}
			viewer.Eval(statsJS, &st)
			t.Logf("%s (viewer got %s, %d frames decoded): video by timestamp %v, by digest %v; audio by timestamp %v, by digest %v; tampered frames by timestamp %v, by digest %v",
				codec, st.Codec, st.Decoded, c.Video, c.VideoAny, c.Audio, c.AudioAny, c.Tampered, c.TamperedAny)
			if len(c.Unknown) > 0 {
				t.Logf("frames that did not match at their timestamp: %v", c.Unknown)
			}
			if st.Codec != "video/"+map[string]string{"vp8": "VP8", "h264": "H264"}[codec] {
				t.Errorf("the viewer got %q video, want %s", st.Codec, codec)
			}
			atLeast95(t, "video by timestamp", c.Video)
			atLeast95(t, "audio by timestamp", c.Audio)
			atLeast95(t, "video by digest", c.VideoAny)
			atLeast95(t, "audio by digest", c.AudioAny)
			noneTampered(t, "by timestamp", c.Tampered)
			noneTampered(t, "by digest", c.TamperedAny)
			if st.Decoded < 30 {
				t.Errorf("the viewer decoded %d frames through the transform", st.Decoded)
			}

			// The publisher reconnects: the viewer stays, its timestamps
			// renumbered to follow on from the old session's.
			publisher.Eval(fmt.Sprintf(publishJS, key, codec, 640, 360, 30), nil)
			poll(t, publisher, `window.publisher.connectionState === 'connected'`)
			// The old session ended when the new one was answered: what
			// the viewer gets from now on is the new session's.
			c = measure(t, viewer)
			t.Logf("%s after the publisher reconnected: video by timestamp %v, by digest %v; audio by timestamp %v, by digest %v; tampered by digest %v",
				codec, c.Video, c.VideoAny, c.Audio, c.AudioAny, c.TamperedAny)
			atLeast95(t, "video by digest after a reconnect", c.VideoAny)
			atLeast95(t, "audio by digest after a reconnect", c.AudioAny)
			noneTampered(t, "by digest after a reconnect", c.TamperedAny)

			var errs []string
			viewer.Eval(`window.carry.errors`, &errs)
			if len(errs) > 0 {
				t.Errorf("the transform failed: %v", errs)
			}
			noJSErrors(t, map[string]*browsertest.Page{"viewer": viewer, "publisher": publisher})
		})
	}
}

// TestCarryBrowserStudioDigests: with the studio as the publisher
// (Chromium's encoder, simulcast layers where it sends them, each layer
// digested on its own), the viewer's frames match the origin's digests.
func TestCarryBrowserStudioDigests(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	oneHeavyAtATime(t)
	s := startVideoSite(t)
	viewer := openPage(t, s, "", "/", "body")
	viewer.Eval(gatheredJS, nil)
	viewer.Eval(`(async () => {
		const v = await import('/static/js/carry/verify.js');
		window.book = new v.DigestBook();
		await v.followFeed('alpha', window.book).ready;
	})()`, nil)
	studio := openPage(t, s, "alpha", "/studio", "#studio")
	goLiveFromStudio(t, studio)
	waitLive(t, s) // the studio says live when answered; the channel, when media flows
	viewer.Eval(verifyJS, nil)
	c := measure(t, viewer)
	poll(t, studio, `/^\d+×\d+/.test(document.querySelector('#studio-video').textContent)`)
	t.Logf("studio (%s): video by timestamp %v, by digest %v; audio by timestamp %v, by digest %v; tampered by timestamp %v, by digest %v",
		studio.Text("#studio-video"), c.Video, c.VideoAny, c.Audio, c.AudioAny, c.Tampered, c.TamperedAny)
	// When Chromium pauses its top layer (its bandwidth estimate drops),
	// the origin moves the viewer to the other layer, which renumbers the
	// viewer's timestamps: by timestamp, frames may then be unknown, never
	// mismatched; by digest they still match.
	if c.Video.Mismatch != 0 || c.Video.OK == 0 {
		t.Errorf("video by timestamp: %s, want matches and no mismatch", c.Video)
	}
	// Under load a digest may come later than the book waits ("unknown"):
	// what must hold is that frames match and none is mismatched.
	for what, v := range map[string]verdicts{"audio by timestamp": c.Audio, "video by digest": c.VideoAny} {
		if v.Mismatch != 0 || v.OK*2 < v.total() {
			t.Errorf("%s: %s, want most to match and none mismatched", what, v)
		}
	}
	noneTampered(t, "by timestamp", c.Tampered)
	noneTampered(t, "by digest", c.TamperedAny)
	noJSErrors(t, map[string]*browsertest.Page{"viewer": viewer, "studio": studio})
}
