package sfu

import (
	"sync/atomic"
	"testing"
	"time"
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
