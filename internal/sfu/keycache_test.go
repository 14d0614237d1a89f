package sfu

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// joinAfter forwards pkts in the order given on a new video layer, then
// has a viewer join, and returns the frame numbers it was replayed, in
// the order it got them (the viewer asks for no keyframe: the cache is
// fresh).
func joinAfter(t *testing.T, pkts []*packet, want int) []int {
	t.Helper()
	l := newLayer("video/", vp8)
	for _, p := range pkts {
		l.forward(p)
	}
	rec := &recorder{}
	var keyframes atomic.Int32
	testDownTrack(t, l, rec, &keyframes)
	if keyframes.Load() != 0 {
		t.Fatal("the viewer asked for a keyframe: nothing replayed")
	}
	got := sentinelLast(t, l, rec, pkts[0], want)
	checkNumbering(t, got)
	var out []int
	for _, p := range got {
		out = append(out, frameOf(p.Payload))
	}
	return out
}

// sentinelLast forwards a last packet well after first, and returns what
// rec got before it once it came: the writer sends in order, so nothing
// of what came before is still on its way. It fails unless that is want
// packets.
func sentinelLast(t *testing.T, l *Layer, rec *recorder, first *packet, want int) []rtp.Packet {
	t.Helper()
	l.forward(&packet{source: first.source, seq: first.seq + 1000, ts: first.ts + 900000, marker: true, payload: []byte{0xff, 0xff}, at: time.Now()})
	got := waitPackets(t, rec, want+1)
	if len(got) != want+1 || frameOf(got[want].Payload) != 0xffff {
		t.Fatalf("%d packets before the last one, want %d", len(got)-1, want)
	}
	return got[:want]
}

// fresh makes frames that came just now.
func fresh(pkts []*packet) []*packet {
	for _, p := range pkts {
		p.at = time.Now()
	}
	return pkts
}

func seqOrder(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// A packet that overtakes its keyframe's first packet on the way is in
// the replay, in its place: a viewer joining then gets the whole run
// with no gap (old behaviour: the keyframe restarted the cache and the
// packet was gone, a hole no retransmission could fill).
func TestKeyCacheKeepsPacketsThatOvertookTheKeyframe(t *testing.T) {
	pkts := fresh(frames(1, 65530, 12, func(i int) bool { return i == 0 || i == 5 }))
	order := []*packet{pkts[0], pkts[1], pkts[2], pkts[3], pkts[4], pkts[6], pkts[7], pkts[5], pkts[8], pkts[9], pkts[10], pkts[11]}
	if got := joinAfter(t, order, 7); !slices.Equal(got, seqOrder(5, 11)) {
		t.Fatalf("replayed frames %v, want 5-11 in order", got)
	}
}

// Packets of the run that come late are replayed in sequence order, and
// duplicates (a retransmission of what came) once.
func TestKeyCacheOrdersLatePacketsAndDropsDuplicates(t *testing.T) {
	pkts := fresh(frames(1, 100, 10, func(i int) bool { return i == 2 }))
	p := pkts
	order := []*packet{p[0], p[2], p[4], p[3], p[2], p[5], p[1], p[7], p[6], p[6], p[8], p[9], p[4], p[0]}
	if got := joinAfter(t, order, 8); !slices.Equal(got, seqOrder(2, 9)) {
		t.Fatalf("replayed frames %v, want 2-9 in order, each once", got)
	}
}

// A viewer already watching does not get a duplicate twice either.
func TestLayerDropsDuplicatePackets(t *testing.T) {
	l := newLayer("video/", vp8)
	rec := &recorder{}
	var keyframes atomic.Int32
	testDownTrack(t, l, rec, &keyframes)
	p := frames(1, 7, 4, func(i int) bool { return i == 0 })
	for _, q := range []*packet{p[0], p[1], p[1], p[2], p[0], p[3], p[2]} {
		l.forward(q)
	}
	sentinelLast(t, l, rec, p[0], 4)
}

// The cache follows the newest keyframe; one that comes late (older than
// the run) does not restart it, and a new publisher session's keyframe
// replaces the old session's run.
func TestKeyCacheNewestKeyframeAndNewSession(t *testing.T) {
	var c keyCache
	a := fresh(frames(1, 10, 10, func(i int) bool { return i == 0 || i == 4 }))
	for _, p := range []*packet{a[0], a[1], a[2], a[4], a[5], a[3], a[6]} {
		c.add(p)
	}
	if got := c.replay(100, time.Second); len(got) != 3 || got[0] != a[4] {
		t.Fatalf("run of %d from seq %d, want the keyframe at 14 and 2 packets", len(got), got[0].seq)
	}
	b := fresh(frames(2, 500, 3, func(i int) bool { return i == 1 }))
	c.add(b[0]) // the new session before its keyframe: nothing to replay
	if c.replay(100, time.Second) != nil {
		t.Fatal("the old session's run is still replayed after a new session started")
	}
	c.add(a[7]) // a late packet of the old session is not kept
	c.add(b[2])
	c.add(b[1])
	if got := c.replay(100, time.Second); len(got) != 2 || got[0] != b[1] || got[1] != b[2] {
		t.Fatalf("run %v, want the new session's keyframe and its packet", got)
	}
}

// A run longer than the cache holds is not replayed, but the cache keeps
// what follows, so that the next keyframe finds its early packets.
func TestKeyCacheTooLong(t *testing.T) {
	var c keyCache
	pkts := fresh(frames(1, 0, maxGOP+10, func(i int) bool { return i == 0 }))
	for _, p := range pkts {
		c.add(p)
	}
	if c.replay(maxGOP*2, time.Second) != nil {
		t.Fatal("a run longer than the cache is replayed")
	}
	next := fresh(frames(1, maxGOP+10, 3, func(i int) bool { return i == 0 }))
	c.add(next[1])
	c.add(next[0])
	c.add(next[2])
	if got := c.replay(100, time.Second); len(got) != 3 || got[0] != next[0] || got[1] != next[1] {
		t.Fatalf("run of %d after the next keyframe, want 3 in order", len(got))
	}
}
