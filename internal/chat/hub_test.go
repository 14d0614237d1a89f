package chat

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/bus"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/store"
)

type plain struct{}

func (plain) Render(s string) string { return s }

type noAuth struct{}

func (noAuth) Authenticate(context.Context, string) (*auth.Session, error) {
	return nil, fail.New(fail.Unauthorized, "invalid_token", "no")
}

func newTestHub(t testing.TB, set Settings) (*Hub, *store.User) {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "fw.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	u := &store.User{Name: "alpha", Num: 1234, Color: "#123456", Role: "streamer"}
	if err := st.CreateUser(context.Background(), u, true); err != nil {
		t.Fatal(err)
	}
	h, err := New(Deps{Store: st, Auth: noAuth{}, Markup: plain{}, Bus: bus.NewLocal(), Settings: set})
	if err != nil {
		t.Fatal(err)
	}
	return h, u
}

// A reader that stops reading is disconnected; the others get everything.
func TestSlowReaderIsDisconnected(t *testing.T) {
	ctx := context.Background()
	h, u := newTestHub(t, Settings{QueueLength: 16, Burst: 1000, PerSecond: 1000})
	slow, _ := h.Connect(nil, "1.1.1.1", "", nil)
	fast, _ := h.Connect(nil, "2.2.2.2", "", nil)
	for _, s := range []*Session{slow, fast} {
		s.Handle(ctx, []byte(`{"type":"join","channel":"alpha"}`))
	}
	got := make(chan int)
	go func() {
		n := 0
		for frame := range fast.Out() {
			if string(frame[:18]) == `{"type":"message",` {
				n++
				if n == 200 {
					got <- n
					return
				}
			}
		}
	}()
	for i := range 200 {
		if _, err := h.Post(ctx, u, "alpha", fmt.Sprintf("m%d", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the fast reader did not get all 200 messages")
	}
	select {
	case <-slow.Done():
		if code, reason := slow.CloseStatus(); code != ClosePolicy || reason == "" {
			t.Fatalf("close status %d %q", code, reason)
		}
	default:
		t.Fatal("the slow reader is still connected")
	}
	slow.End()
	fast.End()
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if len(h.rooms) != 0 || len(h.sessions) != 0 {
		t.Fatalf("rooms %d, sessions %d left after everyone left", len(h.rooms), len(h.sessions))
	}
}

// Close tells every session to go away and waits for them to end.
func TestCloseWaitsForSessions(t *testing.T) {
	h, _ := newTestHub(t, Settings{})
	s, _ := h.Connect(nil, "1.1.1.1", "", nil)
	go func() {
		<-s.Done()
		s.End()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if code, _ := s.CloseStatus(); code != CloseGoingAway {
		t.Fatalf("close code %d", code)
	}
	if _, err := h.Connect(nil, "x", "", nil); err == nil {
		t.Fatal("connected after Close")
	}
}

func TestRetention(t *testing.T) {
	ctx := context.Background()
	h, u := newTestHub(t, Settings{Retention: time.Hour, Burst: 100, PerSecond: 100})
	h.Post(ctx, u, "alpha", "old", "")
	h.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	h.Post(ctx, u, "alpha", "new", "")
	if err := h.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	msgs, _ := h.History(ctx, "alpha", nil, 10)
	if len(msgs) != 1 || msgs[0].HTML != "new" || msgs[0].Offset != 2 {
		t.Fatalf("after retention: %+v", msgs)
	}
}

func FuzzHandle(f *testing.F) {
	for _, s := range []string{`{"type":"join","channel":"alpha","after":0}`, `{"type":"send","channel":"alpha","text":"hi","nonce":1}`,
		`{"type":"whisper","to":"alpha#1234","text":"x"}`, `{"type":"delete","channel":"alpha","id":"1"}`, `{"type":"auth"}`, `{`, `null`} {
		f.Add([]byte(s))
	}
	h, _ := newTestHub(f, Settings{})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := h.Connect(nil, "1.1.1.1", "", nil)
		if err != nil {
			t.Skip()
		}
		s.Handle(context.Background(), data)
		for len(s.out) > 0 {
			<-s.out
		}
		s.End()
	})
}

// A session's writer may hold frames back to send several at once: the
// queue tells it to stop waiting once half full, and a client whose queue
// still fills up is disconnected, its frames kept in order.
func TestQueueUrgentAtHalfThenSlowClose(t *testing.T) {
	h, _ := newTestHub(t, Settings{QueueLength: 8})
	s, _ := h.Connect(nil, "1.1.1.1", "", nil)
	defer s.End()
	urgent := func() bool {
		select {
		case <-s.Urgent():
			return true
		default:
			return false
		}
	}
	for i := range 3 {
		s.enqueue([]byte{byte(i)})
	}
	if urgent() {
		t.Fatal("urgent with the queue under half full")
	}
	s.enqueue([]byte{3})
	if !urgent() {
		t.Fatal("not urgent with the queue half full")
	}
	for i := 4; i < 9; i++ {
		s.enqueue([]byte{byte(i)})
	}
	select {
	case <-s.Done():
		if code, _ := s.CloseStatus(); code != ClosePolicy {
			t.Fatalf("close code %d", code)
		}
	default:
		t.Fatal("a client whose queue overflowed is still connected")
	}
	for i := range 8 {
		if f := <-s.Out(); f[0] != byte(i) {
			t.Fatalf("frame %d is %d", i, f[0])
		}
	}
}
