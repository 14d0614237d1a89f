package sfu

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// source counts the keyframe requests it gets.
type source struct{ keyframes atomic.Int32 }

func (s *source) Sends(string) bool { return true }
func (s *source) Keyframe() bool    { s.keyframes.Add(1); return true }

// Keyframe requests within the interval are not lost: one goes out when
// the interval ends, for all of them.
func TestKeyframeRequestsWithinIntervalSentAtItsEnd(t *testing.T) {
	var c Counters
	st := New("alpha", &c)
	src := &source{}
	st.SetSource(nil, src)
	for range 3 {
		st.RequestKeyframe() // the first at once, the others within the interval
	}
	if n := src.keyframes.Load(); n != 1 {
		t.Fatalf("%d requests sent at once, want 1", n)
	}
	for deadline := time.Now().Add(10 * time.Second); src.keyframes.Load() < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the requests within the interval were dropped")
		}
	}
	time.Sleep(2 * keyframeInterval)
	if n := src.keyframes.Load(); n != 2 || c.KeyframeRequests.Load() != 2 {
		t.Fatalf("%d requests sent when nobody asked again (counted %d), want 2", n, c.KeyframeRequests.Load())
	}
}

// A simulcast layer that goes silent while another sends is skipped: its
// viewers get the layer still sending, and come back when it resumes. A
// stream whose layers are all silent pauses none.
func TestPausedLayerIsSkipped(t *testing.T) {
	st := New("alpha", &Counters{})
	st.SetSource(nil, &source{})
	vp8 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}
	h, l := st.Input("video/h", vp8), st.Input("video/l", vp8)
	now := time.Now()
	if st.CheckLayers(now) {
		t.Fatal("nothing sent yet, yet a layer was paused")
	}
	h.forward(&packet{seq: 1, at: now.Add(-2 * layerSilence), payload: []byte{0}})
	l.forward(&packet{seq: 1, at: now, payload: []byte{0}})
	if !st.CheckLayers(now) {
		t.Fatal("the silent top layer was not paused")
	}
	if _, v := st.pick("high"); v != l {
		t.Fatalf("high quality while h is silent: %v, want l", v.key)
	}
	h.forward(&packet{seq: 2, at: now, payload: []byte{0}})
	if !st.CheckLayers(now) {
		t.Fatal("h sends again but stays paused")
	}
	if _, v := st.pick("high"); v != h {
		t.Fatalf("high quality once h sends: %v, want h", v.key)
	}
	if st.CheckLayers(now.Add(2 * layerSilence)) {
		t.Fatal("all layers silent: expected no change")
	}
}
