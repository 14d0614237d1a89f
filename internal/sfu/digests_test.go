package sfu

import (
	"crypto/sha256"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

var opus = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}

// writeFrame writes a one-packet VP8 keyframe of ts and returns its
// digest as a browser computes it.
func writeFrame(l *Layer, seq uint16, ts uint32) [16]byte {
	frame := []byte{0x00, 0x9d, 0x01, 0x2a, byte(ts)}
	l.Write(1, &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts, Marker: true}, Payload: append([]byte{0x10}, frame...)})
	full := sha256.Sum256(frame)
	return [16]byte(full[:16])
}

// TestDigestsOnlyWhileSubscribed: a stream digests its frames while
// someone subscribes, on layers made before and after; every subscriber
// gets each digest; after the last cancel, nothing is digested.
func TestDigestsOnlyWhileSubscribed(t *testing.T) {
	st := New("alpha", &Counters{})
	video := st.Input("video/", vp8)
	writeFrame(video, 1, 3000)
	if video.digests.on.Load() {
		t.Fatal("a stream nobody subscribed to digests its frames")
	}
	a, cancelA := st.SubscribeDigests()
	b, cancelB := st.SubscribeDigests()
	if _, idle := st.Idle(); idle {
		t.Error("a stream with digest subscribers counts as idle: it would be forgotten under them")
	}
	sum := writeFrame(video, 2, 6000)
	for name, ch := range map[string]<-chan Digest{"first": a, "second": b} {
		d := <-ch
		if d.Track != "video/" || d.Kind() != "video" || d.Timestamp != 6000 || !d.Key || d.Sum != sum {
			t.Errorf("the %s subscriber got %+v, want the frame of 6000 with digest %x", name, d, sum)
		}
	}
	audio := st.Input("audio", opus) // a layer that came later
	audio.Write(1, &rtp.Packet{Header: rtp.Header{SequenceNumber: 9, Timestamp: 960}, Payload: []byte{0xfc, 0x01}})
	if d := <-a; d.Kind() != "audio" || d.Timestamp != 960 {
		t.Errorf("got %+v, want the audio frame of 960", d)
	}
	cancelA()
	if _, open := <-a; open {
		t.Error("the channel stays open after cancel")
	}
	<-b
	cancelB()
	if video.digests.on.Load() || audio.digests.on.Load() {
		t.Error("the layers still digest after the last subscriber left")
	}
	if _, idle := st.Idle(); !idle {
		t.Error("the stream is not idle after its last digest subscriber left")
	}
}

// TestDigestsSlowSubscriber: a subscriber that does not read loses
// digests beyond its queue; the writer never blocks.
func TestDigestsSlowSubscriber(t *testing.T) {
	st := New("alpha", &Counters{})
	video := st.Input("video/", vp8)
	_, cancel := st.SubscribeDigests()
	defer cancel()
	for i := range DigestQueue + 10 {
		writeFrame(video, uint16(i), uint32(i*3000))
	}
	if n := st.DigestsDropped(); n != 10 {
		t.Errorf("%d digests dropped, want 10", n)
	}
}

// BenchmarkWriteDigestsOff is the cost of Layer.Write when nobody asks
// for digests (no subscriber to forward to either).
func BenchmarkWriteDigestsOff(b *testing.B) { benchWrite(b, false) }

// BenchmarkWriteDigestsOn: the same with a digest subscriber.
func BenchmarkWriteDigestsOn(b *testing.B) { benchWrite(b, true) }

func benchWrite(b *testing.B, on bool) {
	st := New("alpha", &Counters{})
	l := st.Input("audio", opus) // audio: no keyframe cache in the way
	if on {
		ch, cancel := st.SubscribeDigests()
		defer cancel()
		go func() {
			for range ch {
			}
		}()
	}
	p := &rtp.Packet{Payload: make([]byte, 120)}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p.SequenceNumber, p.Timestamp = uint16(i), uint32(i*960)
		l.Write(1, p)
	}
}
