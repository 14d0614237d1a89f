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
	s := New(nil, nil, nil, nil, Federation{})
	for _, endFirst := range []bool{true, false} {
		pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		ch := s.hold("alpha")
		vw := &viewer{conn: newConn(ch, pc, 0), v: ch.st.NewViewer("high"), leave: func() {}}
		add := func() error { ch.st.Join(vw.v); return nil }
		if endFirst {
			s.end(vw)
			if err := s.register(vw, add); !errors.Is(err, errClosedEarly) {
				t.Fatalf("registering an ended session: %v", err)
			}
		} else {
			if err := s.register(vw, add); err != nil {
				t.Fatal(err)
			}
			s.end(vw)
		}
		s.release(ch)
		if _, _, _, ok := s.Session(vw.id); ok {
			t.Fatalf("end first %v: session still known", endFirst)
		}
		if _, _, n := ch.st.State(); n != 0 {
			t.Fatalf("end first %v: %d viewers", endFirst, n)
		}
	}
}

// A channel's stream and its layers go when it has had no source and no
// viewer for idleAfter, and not before; a stream being set up stays.
func TestIdleStreamForgotten(t *testing.T) {
	s := New(nil, nil, nil, nil, Federation{})
	known := func(name string) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.channels[name] != nil
	}
	ch := s.hold("alpha")
	s.sweep(time.Now().Add(2 * idleAfter))
	if !known("alpha") {
		t.Fatal("a stream being set up was forgotten")
	}
	s.release(ch)
	s.sweep(time.Now().Add(idleAfter / 2))
	if !known("alpha") {
		t.Fatal("a stream idle for less than idleAfter was forgotten")
	}
	vw := &viewer{v: ch.st.NewViewer("high")}
	ch.st.Join(vw.v)
	s.sweep(time.Now().Add(2 * idleAfter))
	if !known("alpha") {
		t.Fatal("a stream with a viewer was forgotten")
	}
	ch.st.Leave(vw.v)
	s.sweep(time.Now().Add(2 * idleAfter))
	if known("alpha") {
		t.Fatal("a stream idle for longer than idleAfter stayed")
	}
	if s.hold("alpha") == ch {
		t.Fatal("the forgotten stream came back")
	}
}
