package framedigest

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"testing"

	"github.com/pion/rtp/codecs"
)

// pkt is an RTP packet as the SFU hands it over.
type pkt struct {
	seq     uint16
	ts      uint32
	marker  bool
	payload []byte
}

// want is the digest a browser computes over a frame's bytes.
func want(frame []byte) Sum {
	full := sha256.Sum256(frame)
	var s Sum
	copy(s[:], full[:])
	return s
}

// collect feeds packets to a new assembler and returns what it yields.
func collect(c Codec, pkts []pkt) []Frame {
	var got []Frame
	a := New(c, func(f Frame) { got = append(got, f) })
	for _, p := range pkts {
		a.Push(1, p.seq, p.ts, p.marker, p.payload)
	}
	return got
}

// vp8Frame packetises a VP8 frame: each packet gets descriptor desc with
// S set on the first, and up to size bytes of the frame.
func vp8Frame(seq uint16, ts uint32, frame []byte, size int, desc []byte) []pkt {
	var out []pkt
	for i := 0; i < len(frame); i += size {
		d := bytes.Clone(desc)
		if i == 0 {
			d[0] |= 0x10
		}
		end := min(i+size, len(frame))
		out = append(out, pkt{seq: seq, ts: ts, marker: end == len(frame), payload: append(d, frame[i:end]...)})
		seq++
	}
	return out
}

// vp8Bytes is a frame of n bytes: a keyframe's first byte has the P bit
// clear.
func vp8Bytes(n int, key bool, fill byte) []byte {
	b := bytes.Repeat([]byte{fill}, n)
	b[0] = 0x01
	if key {
		b[0] = 0x00
	}
	return b
}

// TestVP8Descriptors: whatever the descriptor carries (picture ID of 7 or
// 15 bits, TL0PICIDX, TID/KEYIDX), the digest covers the frame's bytes
// only, and keyframes are marked.
func TestVP8Descriptors(t *testing.T) {
	for _, c := range []struct {
		name string
		desc []byte
	}{
		{"minimal", []byte{0x00}},
		{"7-bit picture id", []byte{0x80, 0x80, 0x05}},
		{"15-bit picture id", []byte{0x80, 0x80, 0x81, 0x05}},
		{"picture id, tl0picidx, tid and keyidx", []byte{0x80, 0xf0, 0x81, 0x05, 0x07, 0x20}},
		{"keyidx only", []byte{0x80, 0x10, 0x03}},
	} {
		t.Run(c.name, func(t *testing.T) {
			key, delta := vp8Bytes(3000, true, 7), vp8Bytes(700, false, 9)
			pkts := append(vp8Frame(100, 9000, key, 1100, c.desc), vp8Frame(103, 12000, delta, 1100, c.desc)...)
			got := collect(VP8, pkts)
			if len(got) != 2 {
				t.Fatalf("got %d frames, want 2", len(got))
			}
			if got[0].Timestamp != 9000 || !got[0].Key || got[0].Sum != want(key) {
				t.Errorf("keyframe: got %+v, want ts 9000, key, %s", got[0], want(key))
			}
			if got[1].Timestamp != 12000 || got[1].Key || got[1].Sum != want(delta) {
				t.Errorf("delta frame: got %+v, want ts 12000, not key, %s", got[1], want(delta))
			}
		})
	}
}

// stream makes n VP8 frames of several packets each.
func stream(n int) (pkts []pkt, frames map[uint32]Sum) {
	frames = map[uint32]Sum{}
	seq := uint16(65500) // crosses the wrap of sequence numbers
	for i := range n {
		ts := uint32(i) * 3000
		f := vp8Bytes(500+i*137%2500, i%10 == 0, byte(i))
		fp := vp8Frame(seq, ts, f, 600, []byte{0x80, 0x80, 0x81, byte(i)})
		seq += uint16(len(fp))
		pkts = append(pkts, fp...)
		frames[ts] = want(f)
	}
	return pkts, frames
}

func checkAll(t *testing.T, got []Frame, frames map[uint32]Sum) {
	t.Helper()
	seen := map[uint32]bool{}
	for _, f := range got {
		if seen[f.Timestamp] {
			t.Errorf("frame %d yielded twice", f.Timestamp)
		}
		seen[f.Timestamp] = true
		if w, ok := frames[f.Timestamp]; !ok || f.Sum != w {
			t.Errorf("frame %d: digest %s, want %s", f.Timestamp, f.Sum, w)
		}
	}
	if len(seen) != len(frames) {
		t.Errorf("%d frames yielded, want %d", len(seen), len(frames))
	}
}

// TestReordered: packets shuffled within a few frames, and sent twice
// (retransmissions), give each frame's digest once.
func TestReordered(t *testing.T) {
	pkts, frames := stream(60)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+8 <= len(pkts); i += 8 {
		r.Shuffle(8, func(a, b int) { pkts[i+a], pkts[i+b] = pkts[i+b], pkts[i+a] })
	}
	dup := append([]pkt(nil), pkts...)
	for i := 0; i < len(pkts); i += 5 {
		dup = append(dup, pkts[i])
	}
	checkAll(t, collect(VP8, dup), frames)
}

// TestLoss: a frame with a packet lost gets no digest; the others do; the
// packet retransmitted later completes it.
func TestLoss(t *testing.T) {
	pkts, frames := stream(20)
	lost := 17 // in the middle of some frame
	ts := pkts[lost].ts
	rest := append(append([]pkt(nil), pkts[:lost]...), pkts[lost+1:]...)
	got := collect(VP8, rest)
	for _, f := range got {
		if f.Timestamp == ts {
			t.Fatalf("frame %d has a packet missing but got a digest", ts)
		}
	}
	if len(got) != len(frames)-1 {
		t.Errorf("%d frames yielded, want %d", len(got), len(frames)-1)
	}
	checkAll(t, collect(VP8, append(rest, pkts[lost])), frames)
}

// TestMarker: a frame is yielded at its marker packet, not before; one
// whose first packet is lost is not yielded from the rest.
func TestMarker(t *testing.T) {
	f := vp8Bytes(1500, true, 3)
	pkts := vp8Frame(10, 90, f, 600, []byte{0x00})
	if got := collect(VP8, pkts[:2]); len(got) != 0 {
		t.Fatalf("yielded %d frames without the marker packet", len(got))
	}
	if got := collect(VP8, pkts[1:]); len(got) != 0 {
		t.Fatalf("yielded %d frames without the first packet", len(got))
	}
	if got := collect(VP8, pkts); len(got) != 1 || got[0].Sum != want(f) {
		t.Fatalf("got %+v, want one frame %s", got, want(f))
	}
}

// annexB joins NAL units with 4-byte start codes.
func annexB(nals ...[]byte) []byte {
	var b []byte
	for _, n := range nals {
		b = append(b, 0, 0, 0, 1)
		b = append(b, n...)
	}
	return b
}

// TestH264: frames packetised by pion's H.264 payloader (SPS and PPS in
// a STAP-A, big slices in FU-A, small ones single) give the digest of
// their Annex B bytes, in order or not; a lost fragment loses its frame.
func TestH264(t *testing.T) {
	sps := []byte{0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01}
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	idr := append([]byte{0x65, 0x88}, bytes.Repeat([]byte{0xab}, 4000)...)
	slice := append([]byte{0x41, 0x9a}, bytes.Repeat([]byte{0xcd}, 300)...)
	big := append([]byte{0x41, 0x9b}, bytes.Repeat([]byte{0xef}, 2500)...)
	frames := [][]byte{annexB(sps, pps, idr), annexB(slice), annexB(big), annexB(slice, slice)}
	var pl codecs.H264Payloader
	var pkts []pkt
	seq := uint16(7)
	for i, f := range frames {
		ps := pl.Payload(1200, f)
		for j, p := range ps {
			pkts = append(pkts, pkt{seq: seq, ts: uint32(i * 3000), marker: j == len(ps)-1, payload: p})
			seq++
		}
	}
	wantAll := map[uint32]Sum{}
	for i, f := range frames {
		wantAll[uint32(i*3000)] = want(f)
	}
	// The first frame is only known to start where it does by the packet
	// before it: one of another frame leads.
	lead := pkt{seq: 6, ts: 99999, marker: true, payload: []byte{0x41, 0x01}}
	got := without(collect(H264, append([]pkt{lead}, pkts...)), lead.ts)
	checkAll(t, got, wantAll)
	if !got[0].Key || got[1].Key {
		t.Errorf("keyframes: got %v, %v; want the IDR frame only", got[0].Key, got[1].Key)
	}

	rev := []pkt{lead}
	for i := len(pkts) - 1; i >= 0; i-- {
		rev = append(rev, pkts[i])
	}
	got = without(collect(H264, rev), lead.ts)
	checkAll(t, got, wantAll)

	// Without a packet before it, the first packet of a source starts
	// a frame if it looks like the start of one (here SPS and PPS).
	checkAll(t, collect(H264, pkts), wantAll)
	// A source seen first in the middle of a frame: no digest for it.
	got = collect(H264, pkts[2:])
	for _, f := range got {
		if f.Timestamp == 0 {
			t.Fatal("a frame seen from its middle got a digest")
		}
	}
	if len(got) != len(frames)-1 {
		t.Errorf("after a start in the middle of a frame, %d frames yielded, want %d", len(got), len(frames)-1)
	}

	// A fragment of the IDR lost: that frame has no digest.
	got = collect(H264, append([]pkt{lead}, append(append([]pkt(nil), pkts[:2]...), pkts[3:]...)...))
	for _, f := range got {
		if f.Timestamp == 0 {
			t.Fatal("the IDR frame with a fragment lost got a digest")
		}
	}
}

// without removes the frame of timestamp ts.
func without(got []Frame, ts uint32) []Frame {
	var out []Frame
	for _, f := range got {
		if f.Timestamp != ts {
			out = append(out, f)
		}
	}
	return out
}

// TestH264Refused: packet types browsers refuse, and lying sizes, give
// no digest.
func TestH264Refused(t *testing.T) {
	for name, p := range map[string][]byte{
		"stap-b":         {0x79, 0x00, 0x00, 0x00, 0x02, 0x41, 0x01},
		"fu-b":           {0x7d, 0x85, 0x00, 0x00, 0x01},
		"stap-a too big": {0x78, 0x00, 0x09, 0x41, 0x01},
		"fu-a too short": {0x7c, 0x85},
	} {
		got := collect(H264, []pkt{{seq: 1, ts: 1, marker: true, payload: []byte{0x41, 1}}, {seq: 2, ts: 2, marker: true, payload: p}})
		for _, f := range got {
			if f.Timestamp == 2 {
				t.Errorf("%s: got a digest", name)
			}
		}
	}
}

// TestOpus: every packet is a frame; empty ones (padding) are none.
func TestOpus(t *testing.T) {
	got := collect(Opus, []pkt{{seq: 1, ts: 960, payload: []byte{0xfc, 1, 2}}, {seq: 2, ts: 1920}, {seq: 3, ts: 2880, marker: true, payload: []byte{0xfc, 3}}})
	if len(got) != 2 || got[0].Sum != want([]byte{0xfc, 1, 2}) || got[1].Timestamp != 2880 || got[1].Sum != want([]byte{0xfc, 3}) {
		t.Fatalf("got %+v", got)
	}
}

// TestNewSource: a new publisher session (another SSRC) numbered from
// anywhere does not mix with the old one's packets.
func TestNewSource(t *testing.T) {
	var got []Frame
	a := New(VP8, func(f Frame) { got = append(got, f) })
	f1, f2 := vp8Bytes(900, true, 1), vp8Bytes(900, true, 2)
	p1, p2 := vp8Frame(40, 1000, f1, 600, []byte{0}), vp8Frame(40, 1000, f2, 600, []byte{0})
	a.Push(1, p1[0].seq, p1[0].ts, p1[0].marker, p1[0].payload)
	a.Push(2, p2[1].seq, p2[1].ts, p2[1].marker, p2[1].payload) // the new session's last packet
	if len(got) != 0 {
		t.Fatalf("a frame was made of two sessions' packets: %+v", got)
	}
	a.Push(2, p2[0].seq, p2[0].ts, p2[0].marker, p2[0].payload)
	if len(got) != 1 || got[0].Sum != want(f2) {
		t.Fatalf("got %+v, want the new session's frame", got)
	}
}

// BenchmarkPushVP8 is the per-packet cost at the origin: 1,200-byte
// packets, frames of five, in order.
func BenchmarkPushVP8(b *testing.B) {
	frame := vp8Bytes(5*1190, false, 5)
	tmpl := vp8Frame(0, 0, frame, 1190, []byte{0x80, 0xe0, 0x81, 0x05, 0x07})
	a := New(VP8, func(Frame) {})
	b.SetBytes(1200)
	b.ReportAllocs()
	seq, ts := uint16(0), uint32(0)
	for i := 0; b.Loop(); i++ {
		p := tmpl[i%len(tmpl)]
		if i%len(tmpl) == 0 {
			ts += 3000
		}
		a.Push(1, seq, ts, p.marker, p.payload)
		seq++
	}
}

// BenchmarkPushOpus: one packet, one frame.
func BenchmarkPushOpus(b *testing.B) {
	payload := bytes.Repeat([]byte{0x7c}, 120)
	a := New(Opus, func(Frame) {})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		a.Push(1, uint16(i), uint32(i*960), false, payload)
	}
}

// TestPadding: padding packets (no payload) between frames belong to no
// frame; an H.264 frame after one is known to start where it does.
func TestPadding(t *testing.T) {
	slice := annexB([]byte{0x41, 0x9a, 1, 2, 3})
	var pl codecs.H264Payloader
	p := pl.Payload(1200, slice)[0]
	for name, pkts := range map[string][]pkt{
		"in order":      {{seq: 1, ts: 10, marker: true, payload: []byte{0x41, 1}}, {seq: 2, ts: 10}, {seq: 3, ts: 20, marker: true, payload: p}},
		"padding late":  {{seq: 1, ts: 10, marker: true, payload: []byte{0x41, 1}}, {seq: 3, ts: 20, marker: true, payload: p}, {seq: 2, ts: 10}},
		"padding first": {{seq: 2, ts: 10}, {seq: 3, ts: 20, marker: true, payload: p}},
	} {
		got := without(collect(H264, pkts), 10)
		if len(got) != 1 || got[0].Timestamp != 20 || got[0].Sum != want(slice) {
			t.Errorf("%s: got %+v, want the frame of 20", name, got)
		}
	}
	f := vp8Bytes(1000, false, 4)
	pkts := vp8Frame(5, 30, f, 600, []byte{0})
	if got := collect(VP8, []pkt{{seq: 4, ts: 0}, pkts[0], pkts[1], {seq: 7, ts: 30}}); len(got) != 1 || got[0].Sum != want(f) {
		t.Errorf("a VP8 frame between padding: got %+v", got)
	}
}

// FuzzPush: packets from a publisher are outside input; none makes the
// assembler panic.
func FuzzPush(f *testing.F) {
	f.Add(uint8(1), []byte{0x10, 0x00, 0x9d}, []byte{0x00, 0x01}, true)
	f.Add(uint8(2), []byte{0x7c, 0x85, 0x88}, []byte{0x7c, 0x45, 0x01}, true)
	f.Add(uint8(2), []byte{0x78, 0x00, 0x02, 0x67, 0x42}, []byte{0x78, 0xff}, false)
	f.Fuzz(func(t *testing.T, codec uint8, a, b []byte, marker bool) {
		c := Codec(codec%3 + 1)
		asm := New(c, func(Frame) {})
		for i, p := range [][]byte{a, b, a, nil, b} {
			asm.Push(1, uint16(i*7), uint32(i/2), marker || i%2 == 1, p)
		}
	})
}

// BenchmarkPushH264: 1,200-byte FU-A fragments, frames of five.
func BenchmarkPushH264(b *testing.B) {
	var pl codecs.H264Payloader
	frags := pl.Payload(1200, annexB(append([]byte{0x41, 0x9a}, bytes.Repeat([]byte{7}, 5*1180)...)))
	a := New(H264, func(Frame) {})
	b.SetBytes(1200)
	b.ReportAllocs()
	seq, ts := uint16(0), uint32(0)
	for i := 0; b.Loop(); i++ {
		j := i % len(frags)
		if j == 0 {
			ts += 3000
		}
		a.Push(1, seq, ts, j == len(frags)-1, frags[j])
		seq++
	}
}

// TestAccessUnitStart: which H.264 packets can begin a frame.
func TestAccessUnitStart(t *testing.T) {
	for _, c := range []struct {
		name string
		p    []byte
		want bool
	}{
		{"access unit delimiter", []byte{0x09, 0xf0}, true},
		{"SEI", []byte{0x06, 0x05}, true},
		{"SPS", []byte{0x67, 0x42}, true},
		{"first slice of a picture", []byte{0x41, 0x9a}, true},
		{"a later slice", []byte{0x41, 0x1a}, false},
		{"IDR, first slice, in FU-A", []byte{0x7c, 0x85, 0x88}, true},
		{"IDR, a later slice, in FU-A", []byte{0x7c, 0x85, 0x08}, false},
		{"FU-A, not the start", []byte{0x7c, 0x05, 0x88}, false},
		{"STAP-A with SPS", []byte{0x78, 0x00, 0x02, 0x67, 0x42}, true},
		{"slice without a body", []byte{0x41}, false},
	} {
		if got := accessUnitStart(c.p); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
