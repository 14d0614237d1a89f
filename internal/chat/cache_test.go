package chat

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/bus"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/store"
)

// clock is a test's hand-moved time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// cacheHub is a hub on its own clock with a streamer (the channel's owner)
// and a chatter.
func cacheHub(t *testing.T) (*Hub, store.Store, *clock, *store.User, *store.User) {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "fw.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	owner := &store.User{Name: "alpha", Num: 1234, Role: "streamer"}
	chatter := &store.User{Name: "bob", Num: 4321, Role: "user"}
	if err := st.CreateUser(ctx, owner, true); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(ctx, chatter, false); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now()}
	h, err := New(Deps{Store: st, Auth: noAuth{}, Markup: plain{}, Bus: bus.NewLocal(), Now: clk.now,
		Settings: Settings{Burst: 1000, PerSecond: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(ctx) })
	return h, st, clk, owner, chatter
}

func wantRefused(t *testing.T, err error, code string) {
	t.Helper()
	if fe, ok := fail.As(err); !ok || fe.Code != code {
		t.Fatalf("got %v, want %s", err, code)
	}
}

// A ban written by someone else (the web API, another process) stops the
// user's messages once the cached answer is older than its bound; one the
// hub makes itself, at once.
func TestBanTakesEffectWithinTheCacheBound(t *testing.T) {
	ctx := context.Background()
	h, st, clk, owner, chatter := cacheHub(t)
	if _, err := h.Post(ctx, chatter, "alpha", "hello", ""); err != nil {
		t.Fatal(err)
	}
	if err := st.SetBan(ctx, store.Ban{Scope: "alpha", UserID: chatter.ID, Kind: "ban", CreatedAt: clk.now()}); err != nil {
		t.Fatal(err)
	}
	clk.add(readCacheTTL)
	_, err := h.Post(ctx, chatter, "alpha", "still here?", "")
	wantRefused(t, err, "banned")

	// The hub's own unban and timeout apply to the next message.
	s, _ := h.Connect(nil, "1.1.1.1", "", nil)
	defer s.End()
	if err := h.command(ctx, s, owner, "alpha", "!unban bob#4321"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Post(ctx, chatter, "alpha", "back", ""); err != nil {
		t.Fatal(err)
	}
	if err := h.command(ctx, s, owner, "alpha", "!timeout bob#4321 60"); err != nil {
		t.Fatal(err)
	}
	_, err = h.Post(ctx, chatter, "alpha", "again", "")
	wantRefused(t, err, "timed_out")
	// A timeout ends on time, cached or not.
	clk.add(time.Minute)
	if _, err := h.Post(ctx, chatter, "alpha", "free", ""); err != nil {
		t.Fatal(err)
	}
}

// Slow mode set with !slow applies to the very next message; set from
// elsewhere, within the cache bound.
func TestSlowModeTakesEffectWithinTheCacheBound(t *testing.T) {
	ctx := context.Background()
	h, st, clk, owner, chatter := cacheHub(t)
	s, _ := h.Connect(nil, "1.1.1.1", "", nil)
	defer s.End()
	s.Handle(ctx, []byte(`{"type":"join","channel":"alpha"}`)) // keeps the room, and its slow-mode record, open
	if err := h.command(ctx, s, owner, "alpha", "!slow 30"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Post(ctx, chatter, "alpha", "one", ""); err != nil {
		t.Fatal(err)
	}
	_, err := h.Post(ctx, chatter, "alpha", "two", "")
	wantRefused(t, err, "slow_mode")

	if err := st.SetSlowMode(ctx, "alpha", 0); err != nil {
		t.Fatal(err)
	}
	clk.add(readCacheTTL)
	if _, err := h.Post(ctx, chatter, "alpha", "three", ""); err != nil {
		t.Fatalf("slow mode turned off elsewhere still applies after the cache bound: %v", err)
	}
}
