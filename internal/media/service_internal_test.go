package media

import (
	"errors"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// A viewer whose connection ends while it is being set up leaves nothing
// behind, whether it ends before or after it is registered.
func TestRegisterAfterEnd(t *testing.T) {
	s := New(nil, nil, nil, nil)
	for _, endFirst := range []bool{true, false} {
		pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		st := s.stream("alpha")
		ss := &session{id: newID(), pc: pc, st: st, viewer: true}
		add := func() error { st.viewers[ss] = true; return nil }
		if endFirst {
			s.end(ss)
			if err := s.register(ss, add); !errors.Is(err, errClosedEarly) {
				t.Fatalf("registering an ended session: %v", err)
			}
		} else {
			if err := s.register(ss, add); err != nil {
				t.Fatal(err)
			}
			s.end(ss)
		}
		if _, _, _, ok := s.Session(ss.id); ok || len(st.viewers) != 0 {
			t.Fatalf("end first %v: session known %v, %d viewers", endFirst, ok, len(st.viewers))
		}
	}
}

// Keyframe requests within the interval are not lost: one goes out when
// the interval ends, for all of them.
func TestKeyframeRequestsWithinIntervalSentAtItsEnd(t *testing.T) {
	var c Counters
	st := newStream("alpha", &c)
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	st.pub = &session{pc: pc}
	st.mediaSSRC["video/"] = 1
	for range 3 {
		st.requestKeyframe() // the first at once, the others within the interval
	}
	if n := c.KeyframeRequests.Load(); n != 1 {
		t.Fatalf("%d requests sent at once, want 1", n)
	}
	for deadline := time.Now().Add(10 * time.Second); c.KeyframeRequests.Load() < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the requests within the interval were dropped")
		}
	}
	time.Sleep(2 * keyframeInterval)
	if n := c.KeyframeRequests.Load(); n != 2 {
		t.Fatalf("%d requests sent when nobody asked again, want 2", n)
	}
}
