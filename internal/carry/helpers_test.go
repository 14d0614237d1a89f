package carry

import (
	"context"
	"encoding/json"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/framedigest"
	"github.com/fedwave/fedwave/internal/sfu"
)

// fakeMedia is a live channel whose digests the test sends.
type fakeMedia struct {
	mu        sync.Mutex
	live      bool
	since     time.Time
	subs      []chan sfu.Digest // open subscriptions
	opened    int
	keyframes int
}

func newFakeMedia() *fakeMedia { return &fakeMedia{live: true, since: time.Now()} }

func (m *fakeMedia) Digests(ctx context.Context, channel string) (<-chan sfu.Digest, func(), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := make(chan sfu.Digest, 64)
	m.subs = append(m.subs, c)
	m.opened++
	var once sync.Once
	cancel := func() {
		once.Do(func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			for i, s := range m.subs {
				if s == c {
					m.subs = append(m.subs[:i], m.subs[i+1:]...)
				}
			}
			close(c)
		})
	}
	context.AfterFunc(ctx, cancel)
	return c, cancel, nil
}

func (m *fakeMedia) Keyframe(string) {
	m.mu.Lock()
	m.keyframes++
	m.mu.Unlock()
}

func (m *fakeMedia) Live(string) (bool, time.Time, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.live, m.since, 0
}

// digest sends one digest to every subscription; it reports how many.
func (m *fakeMedia) digest(ts uint32) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.subs {
		c <- sfu.Digest{Track: "video/h", Frame: framedigest.Frame{Timestamp: ts}}
	}
	return len(m.subs)
}

func (m *fakeMedia) counts() (subs, opened, keyframes int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.subs), m.opened, m.keyframes
}

// client is a fake browser: its socket and what the hub wrote to it.
type client struct {
	t     *testing.T
	s     *Socket
	msgs  chan map[string]any
	stall chan struct{} // under mu; writes wait until it is closed (nil: never)
	mu    sync.Mutex
	code  int
	gone  chan struct{}
	once  sync.Once
	pump  chan struct{}
}

func (c *client) Write(ctx context.Context, msg []byte) error {
	c.mu.Lock()
	stall := c.stall
	c.mu.Unlock()
	if stall != nil {
		select {
		case <-stall:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var m map[string]any
	if err := json.Unmarshal(msg, &m); err != nil {
		c.t.Errorf("the hub wrote %q: %v", msg, err)
	}
	select {
	case c.msgs <- m:
	default:
	}
	return nil
}

func (c *client) Close(code int, reason string) {
	c.once.Do(func() {
		c.mu.Lock()
		c.code = code
		c.mu.Unlock()
		close(c.gone)
	})
}

// join opens a socket of channel "alpha".
func join(t *testing.T, h *Hub) *client {
	t.Helper()
	c := &client{t: t, msgs: make(chan map[string]any, 1000), gone: make(chan struct{})}
	s, ok := h.Join("alpha", c)
	if !ok {
		t.Fatal("Join: the hub is closed")
	}
	c.s = s
	t.Cleanup(c.leave)
	return c
}

// leave is what the reader does when the connection ends.
func (c *client) leave() {
	c.stopStats()
	c.s.Leave()
}

func (c *client) send(m map[string]any) error {
	b, _ := json.Marshal(m)
	return c.s.Handle(b)
}

// hello says hello and waits for the welcome.
func (c *client) hello(carry, receive bool) string {
	c.t.Helper()
	if err := c.send(map[string]any{"type": "hello", "carry": carry, "room": 2, "receive": receive}); err != nil {
		c.t.Fatalf("hello: %v", err)
	}
	return c.expect("welcome")["id"].(string)
}

// stats sends stats every 100 ms until stopStats.
func (c *client) stats(playing, fed bool, down float64) {
	c.stopStats()
	c.pump = make(chan struct{})
	stop := c.pump
	m := map[string]any{"type": "stats", "playing": playing, "down": down, "loss": 0, "fed": fed}
	c.send(m)
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				c.send(m)
			}
		}
	}()
}

func (c *client) stopStats() {
	if c.pump != nil {
		close(c.pump)
		c.pump = nil
	}
}

// expect waits for a message of type typ, skipping others (digests and
// helping come at any time).
func (c *client) expect(typ string) map[string]any {
	c.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-c.msgs:
			if m["type"] == typ {
				return m
			}
		case <-deadline:
			c.t.Fatalf("no %s message", typ)
		}
	}
}

// none reports whether no message of type typ comes within d.
func (c *client) none(typ string, d time.Duration) bool {
	deadline := time.After(d)
	for {
		select {
		case m := <-c.msgs:
			if m["type"] == typ {
				return false
			}
		case <-deadline:
			return true
		}
	}
}

// closed waits until the hub closes the connection and returns the code.
func (c *client) closed() int {
	c.t.Helper()
	select {
	case <-c.gone:
	case <-time.After(10 * time.Second):
		c.t.Fatal("the socket was not closed")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.code
}

// startHub starts a hub with fast timings over m, changed by opts; at
// cleanup it is closed and must have left no goroutine behind.
func startHub(t *testing.T, m *fakeMedia, opts ...func(*Config)) *Hub {
	t.Helper()
	before := runtime.NumGoroutine()
	cfg := Config{Media: m, Steady: 300 * time.Millisecond, Round: 50 * time.Millisecond}
	for _, o := range opts {
		o(&cfg)
	}
	h := New(cfg)
	t.Cleanup(func() {
		h.Close()
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Errorf("%d goroutines after the hub closed, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	return h
}

// linked starts a carrier a and a viewer b placed on it.
func linked(t *testing.T, h *Hub) (a, b *client, aid, bid string) {
	t.Helper()
	a, b = join(t, h), join(t, h)
	aid = a.hello(true, false)
	a.stats(true, false, 3e6)
	bid = b.hello(false, true)
	b.stats(true, false, 2e6)
	if f := a.expect("feed"); f["peer"] != bid {
		t.Fatalf("the carrier was told to feed %v, want %s", f["peer"], bid)
	}
	if p := b.expect("parent"); p["peer"] != aid {
		t.Fatalf("the viewer's parent is %v, want %s", p["peer"], aid)
	}
	b.stats(true, true, 2e6)
	return a, b, aid, bid
}
