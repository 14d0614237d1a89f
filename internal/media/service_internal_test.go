package media

import (
	"errors"
	"testing"

	"github.com/pion/webrtc/v4"
)

// A viewer whose connection ends while it is being set up leaves nothing
// behind, whether it ends before or after it is registered.
func TestRegisterAfterEnd(t *testing.T) {
	s := New(nil, nil, nil)
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
