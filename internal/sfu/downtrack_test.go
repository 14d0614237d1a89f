package sfu

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// recorder is the viewer's end of a down-track: it keeps what is written,
// and can be held to play a viewer whose writes block.
type recorder struct {
	mu   sync.Mutex
	got  []rtp.Packet
	hold chan struct{} // while open, writes wait
}

func (r *recorder) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	if r.hold != nil {
		<-r.hold
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, rtp.Packet{Header: *h, Payload: payload})
	return len(payload), nil
}

func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }

func (r *recorder) packets() []rtp.Packet {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]rtp.Packet(nil), r.got...)
}

// testDownTrack is a video down-track on l writing to rec, served by its
// own writer pool.
func testDownTrack(t *testing.T, l *Layer, rec *recorder, keyframes *atomic.Int32) *DownTrack {
	t.Helper()
	pool := newWriters()
	pool.resize(1)
	t.Cleanup(func() { pool.resize(0); pool.wait() })
	d := newDownTrack(webrtc.RTPCodecTypeVideo, l.codec, "test", pool, func() { keyframes.Add(1) }, &Counters{})
	d.ssrc, d.pt, d.out = 1234, 96, rec
	d.follow(l)
	return d
}

var vp8 = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}

// frames makes n one-packet VP8 frames from a source, keyframes where key
// says.
func frames(source uint32, seq uint16, n int, key func(i int) bool) []*packet {
	now := time.Now()
	var out []*packet
	for i := range n {
		out = append(out, &packet{source: source, seq: seq + uint16(i), ts: uint32(i) * 3000, marker: true, key: key(i),
			payload: []byte{byte(i >> 8), byte(i)}, at: now.Add(time.Duration(i) * 33 * time.Millisecond)})
	}
	return out
}

func frameOf(payload []byte) int { return int(payload[0])<<8 | int(payload[1]) }

func waitPackets(t *testing.T, rec *recorder, n int) []rtp.Packet {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(rec.packets()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d packets written, want %d", len(rec.packets()), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return rec.packets()
}

func checkNumbering(t *testing.T, got []rtp.Packet) {
	t.Helper()
	for i := 1; i < len(got); i++ {
		if got[i].SequenceNumber != got[i-1].SequenceNumber+1 {
			t.Fatalf("packet %d: sequence number %d after %d", i, got[i].SequenceNumber, got[i-1].SequenceNumber)
		}
		if int32(got[i].Timestamp-got[i-1].Timestamp) <= 0 {
			t.Fatalf("packet %d: timestamp %d after %d", i, got[i].Timestamp, got[i-1].Timestamp)
		}
	}
}

// A viewer whose writes block falls behind: its backlog is dropped, it
// waits for the next keyframe (asking for one), and what it gets has no
// gap in numbering. The layer never waits for it.
func TestDownTrackSlowViewerSkipsToKeyframe(t *testing.T) {
	l := newLayer("video/", vp8)
	rec := &recorder{hold: make(chan struct{})}
	var keyframes atomic.Int32
	testDownTrack(t, l, rec, &keyframes)

	pkts := frames(1, 100, 400, func(i int) bool { return i == 0 || i == 390 })
	for _, p := range pkts {
		l.forward(p) // never blocks, though the viewer's writes do
	}
	if keyframes.Load() == 0 {
		t.Fatal("no keyframe asked for after dropping the backlog")
	}
	close(rec.hold)
	time.Sleep(50 * time.Millisecond)
	got := rec.packets()
	if len(got) == 0 || len(got) > sendBatch+10 {
		t.Fatalf("%d packets reached the slow viewer, want its first batch and what followed the keyframe", len(got))
	}
	checkNumbering(t, got)
	resumed := got[len(got)-10]
	if frameOf(resumed.Payload) != 390 {
		t.Fatalf("resumed at frame %d, want the keyframe 390", frameOf(resumed.Payload))
	}
}

// A viewer starts at a keyframe; a new publisher session (another source)
// continues its numbering, and late packets of the old session are
// dropped, not sent out of place.
func TestDownTrackRenumbersAcrossSources(t *testing.T) {
	l := newLayer("video/", vp8)
	rec := &recorder{}
	var keyframes atomic.Int32
	testDownTrack(t, l, rec, &keyframes)
	if keyframes.Load() != 1 {
		t.Fatalf("a new viewer without a cached keyframe asked for %d keyframes, want 1", keyframes.Load())
	}
	first := frames(1, 60000, 20, func(i int) bool { return i == 5 })
	for _, p := range first {
		l.forward(p) // 0-4 dropped: the viewer waits for a keyframe
	}
	second := frames(2, 10, 20, func(i int) bool { return i == 0 })
	for i, p := range second {
		l.forward(p)
		if i == 3 {
			l.forward(first[19]) // the old session's last packet, late: dropped
		}
	}
	got := waitPackets(t, rec, 15+20)
	checkNumbering(t, got)
	if got[0].SequenceNumber != 60005 || len(got) != 35 {
		t.Fatalf("got %d packets from %d", len(got), got[0].SequenceNumber)
	}
}

// NACKs are answered from the shared packets, renumbered as first sent,
// and the same packet at most once per resendGap.
func TestDownTrackResend(t *testing.T) {
	l := newLayer("video/", vp8)
	rec := &recorder{}
	var keyframes atomic.Int32
	d := testDownTrack(t, l, rec, &keyframes)
	for _, p := range frames(1, 500, 10, func(i int) bool { return i == 0 }) {
		l.forward(p)
	}
	got := waitPackets(t, rec, 10)
	nack := &rtcp.TransportLayerNack{Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{503, 505, 9999})}
	d.resend(nack)
	d.resend(nack) // too soon: not again
	again := waitPackets(t, rec, 12)[10:]
	if len(rec.packets()) != 12 || again[0].SequenceNumber != 503 || again[1].SequenceNumber != 505 ||
		again[0].Timestamp != got[3].Timestamp || &again[1].Payload[0] != &got[5].Payload[0] {
		t.Fatalf("resent %+v", rec.packets()[10:])
	}
}

// A new viewer starts from the cached keyframe when it is fresh, without
// asking the publisher.
func TestLayerReplaysFreshKeyframe(t *testing.T) {
	l := newLayer("video/", vp8)
	for _, p := range frames(1, 0, 10, func(i int) bool { return i == 4 }) {
		p.at = time.Now()
		l.forward(p)
	}
	rec := &recorder{}
	var keyframes atomic.Int32
	testDownTrack(t, l, rec, &keyframes)
	got := waitPackets(t, rec, 6)
	if keyframes.Load() != 0 || frameOf(got[0].Payload) != 4 {
		t.Fatalf("started at frame %d, %d keyframe requests", frameOf(got[0].Payload), keyframes.Load())
	}
}

// The writer pool grows with the viewers and its writers all leave when
// the last viewer goes.
func TestWritersResize(t *testing.T) {
	w := newWriters()
	w.resize(100)
	w.mu.Lock()
	n := w.n
	w.mu.Unlock()
	if n != 10 {
		t.Fatalf("%d writers for 100 viewers, want 10", n)
	}
	w.resize(1)
	w.resize(0)
	w.wait()
}

// Viewers' receiver reports add up to the loss a relay tells its origin:
// the mean fraction lost of the reports since the last reading.
func TestReceiverReportsMakeTheLoss(t *testing.T) {
	c := &Counters{}
	d := newDownTrack(webrtc.RTPCodecTypeVideo, vp8, "test", newWriters(), func() {}, c)
	_, r, f := c.Loss(0, 0)
	d.Feedback([]rtcp.Packet{&rtcp.ReceiverReport{Reports: []rtcp.ReceptionReport{{FractionLost: 64}, {FractionLost: 0}}}})
	loss, r, f := c.Loss(r, f)
	if loss != 0.125 {
		t.Fatalf("loss %v, want 0.125 (64/256 and 0)", loss)
	}
	if loss, _, _ := c.Loss(r, f); loss != 0 {
		t.Fatalf("no report since: loss %v, want 0", loss)
	}
}
