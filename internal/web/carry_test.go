package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/config"
)

// startCarrySite starts a site with fast carry placement (steady after
// 1 s) and alpha live from a pion publisher.
func startCarrySite(t *testing.T, opts ...func(*config.Config)) *apptest.Server {
	t.Helper()
	s := apptest.Start(t, append([]func(*config.Config){func(c *config.Config) { c.CarrySteady = time.Second }}, opts...)...)
	s.CreateUser("alpha", videoPassword, auth.RoleStreamer)
	owner := s.Login("alpha", videoPassword)
	key := s.Do("POST", "/api/v1/channels/alpha/stream-key", nil, owner).Body["streamKey"].(string)
	if res := apptest.Publish(t, s.URL+"/whip/alpha", key); res.StatusCode != http.StatusCreated {
		t.Fatalf("WHIP: %d", res.StatusCode)
	}
	eventually(t, "alpha live", func() bool {
		ch, _ := s.Do("GET", "/api/v1/channels/alpha", nil, "").Body["channel"].(map[string]any)
		return ch["live"] == true
	})
	return s
}

// metric reads one figure of the site's /metrics.
func metric(t *testing.T, s *apptest.Server, name string) float64 {
	t.Helper()
	for line := range strings.Lines(string(s.Do("GET", "/metrics", nil, "").Raw)) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no %s on /metrics", name)
	return 0
}

// carryClient is a player's carry socket.
type carryClient struct {
	t     *testing.T
	conn  *websocket.Conn
	msgs  chan map[string]any
	ended chan struct{}
	err   error // why reading ended, once ended is closed
	stop  context.CancelFunc
}

// dialCarry opens the carry socket of channel; res is the answer when the
// upgrade failed.
func dialCarry(t *testing.T, s *apptest.Server, channel string) (*carryClient, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/api/v1/channels/"+channel+"/carry", nil)
	if err != nil {
		if res == nil {
			t.Fatalf("dial: %v", err)
		}
		return nil, res
	}
	c := &carryClient{t: t, conn: conn, msgs: make(chan map[string]any, 4096), ended: make(chan struct{}), stop: func() {}}
	go func() {
		defer close(c.ended)
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				c.err = err
				return
			}
			var m map[string]any
			json.Unmarshal(data, &m)
			select {
			case c.msgs <- m:
			default:
			}
		}
	}()
	t.Cleanup(c.close)
	return c, res
}

func (c *carryClient) close() {
	c.stop()
	c.conn.CloseNow()
	<-c.ended
}

func (c *carryClient) send(m any) {
	b, _ := json.Marshal(m)
	c.conn.Write(context.Background(), websocket.MessageText, b) // (an error shows as the socket ending)
}

func (c *carryClient) hello(carry, receive bool) string {
	c.t.Helper()
	c.send(map[string]any{"type": "hello", "carry": carry, "room": 2, "receive": receive})
	return c.expect("welcome")["id"].(string)
}

// stats sends stats every 200 ms from now on, as a player does.
func (c *carryClient) stats(playing, fed bool, down float64) {
	c.stop()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	c.stop = func() { cancel(); <-done }
	m := map[string]any{"type": "stats", "playing": playing, "down": down, "loss": 0.001, "fed": fed}
	c.send(m)
	go func() {
		defer close(done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				c.send(m)
			}
		}
	}()
}

// expect waits for a message of type typ, skipping others.
func (c *carryClient) expect(typ string) map[string]any {
	c.t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case m := <-c.msgs:
			if m["type"] == typ {
				return m
			}
		case <-c.ended:
			c.t.Fatalf("the socket ended (%v) before a %s message", c.err, typ)
		case <-deadline:
			c.t.Fatalf("no %s message", typ)
		}
	}
}

// quiet reports whether no message of type typ comes within d.
func (c *carryClient) quiet(typ string, d time.Duration) bool {
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

// closedWith waits until the server closes the socket and returns the
// close status.
func (c *carryClient) closedWith(within time.Duration) websocket.StatusCode {
	c.t.Helper()
	select {
	case <-c.ended:
	case <-time.After(within):
		c.t.Fatalf("the socket is still open after %s", within)
	}
	return websocket.CloseStatus(c.err)
}

// TestCarrySocketDigests: with a real publisher, a steady carrier is told
// to feed a playing viewer, which is told its parent and gets the digests
// of the stream's frames while fed; a third viewer, fed by the server,
// gets none; their signalling goes through only between the linked two.
func TestCarrySocketDigests(t *testing.T) {
	t.Parallel()
	s := startCarrySite(t)
	pli := metric(t, s, "fedwave_media_keyframe_requests_total")
	a, _ := dialCarry(t, s, "alpha")
	b, _ := dialCarry(t, s, "alpha")
	c, _ := dialCarry(t, s, "alpha")
	aid := a.hello(true, false)
	a.stats(true, false, 3e6)
	c.hello(false, false)
	c.stats(true, false, 2e6)
	bid := b.hello(false, true)
	if aid == bid || len(aid) != 16 || len(bid) != 16 {
		t.Fatalf("ids %q %q", aid, bid)
	}
	b.stats(true, false, 2e6)
	if f := a.expect("feed"); f["peer"] != bid {
		t.Fatalf("the carrier was told to feed %v, want %s", f["peer"], bid)
	}
	if p := b.expect("parent"); p["peer"] != aid {
		t.Fatalf("the viewer's parent is %v, want %s", p["peer"], aid)
	}
	b.stats(true, true, 2e6)
	eventually(t, "a keyframe asked of the publisher for the child", func() bool { return metric(t, s, "fedwave_media_keyframe_requests_total") > pli })
	d := b.expect("digests")
	list, _ := d["list"].([]any)
	first, _ := list[0].([]any)
	if len(first) != 3 || (first[0] != "video" && first[0] != "audio") || len(first[2].(string)) != 32 {
		t.Errorf("digests %v", d)
	}
	if !c.quiet("digests", 500*time.Millisecond) || !a.quiet("digests", 0) {
		t.Error("a socket fed by the server got digests")
	}

	a.send(map[string]any{"type": "signal", "peer": bid, "sdp": map[string]any{"type": "offer", "sdp": "v=0"}})
	if g := b.expect("signal"); g["peer"] != aid || g["sdp"].(map[string]any)["type"] != "offer" {
		t.Errorf("the child got %v", g)
	}
	c.send(map[string]any{"type": "signal", "peer": bid, "sdp": map[string]any{"type": "offer", "sdp": "evil"}})
	c.send(map[string]any{"type": "signal", "peer": aid, "sdp": map[string]any{"type": "answer", "sdp": "evil"}})
	if !b.quiet("signal", 500*time.Millisecond) || !a.quiet("signal", 0) {
		t.Error("a socket that is not linked signalled a linked one")
	}

	a.close() // the carrier's page closes: the child is unlinked at once
	if u := b.expect("unlink"); u["peer"] != aid || u["reason"] != "left" {
		t.Errorf("the child got %v", u)
	}
}

// TestCarrySocketLimits: one address keeps 4 sockets open and starts 20 a
// minute; a malformed message, one too big, a flood of messages, no hello
// or silence close the socket.
func TestCarrySocketLimits(t *testing.T) {
	t.Parallel()
	s := startCarrySite(t)
	var open []*carryClient
	for i := range 4 {
		c, res := dialCarry(t, s, "alpha")
		if c == nil {
			t.Fatalf("socket %d: %d", i+1, res.StatusCode)
		}
		open = append(open, c)
	}
	if c, res := dialCarry(t, s, "alpha"); c != nil || res.StatusCode != http.StatusTooManyRequests || errorCode(res) != "too_many_connections" {
		t.Fatalf("a fifth socket from one address: %v", res)
	}

	// Each closes for its own reason; the four slots come back.
	open[0].send(map[string]any{"type": "hello", "carry": false, "room": 0, "receive": true})
	open[0].expect("welcome")
	open[0].conn.Write(context.Background(), websocket.MessageText, []byte("{not json"))
	if st := open[0].closedWith(5 * time.Second); st != websocket.StatusPolicyViolation {
		t.Errorf("bad JSON: closed with %v", st)
	}
	open[1].conn.Write(context.Background(), websocket.MessageText, []byte(`{"type":"hello","pad":"`+strings.Repeat("x", 17<<10)+`"}`))
	if st := open[1].closedWith(5 * time.Second); st != websocket.StatusMessageTooBig {
		t.Errorf("a message over 16 KiB: closed with %v", st)
	}
	open[2].hello(false, true)
	for range 100 {
		open[2].send(map[string]any{"type": "stats", "playing": true, "down": 1, "loss": 0, "fed": false})
	}
	if st := open[2].closedWith(5 * time.Second); st != websocket.StatusPolicyViolation {
		t.Errorf("100 messages at once: closed with %v", st)
	}
	start := time.Now()
	if st := open[3].closedWith(15 * time.Second); st != websocket.StatusPolicyViolation || time.Since(start) < 8*time.Second {
		t.Errorf("no hello: closed with %v after %s, want 1008 after 10 s", st, time.Since(start))
	}
	eventually(t, "the slots are back", func() bool {
		c, _ := dialCarry(t, s, "alpha")
		if c == nil {
			return false
		}
		c.hello(false, true)
		start := time.Now()
		if st := c.closedWith(10 * time.Second); st != websocket.StatusPolicyViolation || time.Since(start) < 4*time.Second {
			t.Errorf("silent after hello: closed with %v after %s, want 1008 after 5 s", st, time.Since(start))
		}
		return true
	})
	// 7 started so far (one maybe refused); the rest of the minute's 20.
	status := 0
	for range 20 {
		c, res := dialCarry(t, s, "alpha")
		if c != nil {
			c.close()
			continue
		}
		if status = res.StatusCode; errorCode(res) == "rate_limited" {
			break
		}
	}
	if status != http.StatusTooManyRequests {
		t.Errorf("more than 20 sockets a minute from one address: last answer %d, want 429 rate_limited", status)
	}
}

// TestCarrySocketOff: with --carry=false the socket is not there and the
// player says so; a channel that does not exist has none either, and a
// page of another site cannot open one.
func TestCarrySocketOff(t *testing.T) {
	t.Parallel()
	on := startCarrySite(t)
	if c, res := dialCarry(t, on, "nobody"); c != nil || res.StatusCode != http.StatusNotFound {
		t.Errorf("the socket of a channel that does not exist: %v", res)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(on.URL, "http")+"/api/v1/channels/alpha/carry",
		&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://elsewhere.example"}}})
	if err == nil || res == nil || res.StatusCode != http.StatusForbidden {
		t.Errorf("a page of another site opened the carry socket: %v %v", res, err)
	}
	if !strings.Contains(string(on.Do("GET", "/c/alpha", nil, "").Raw), `data-carry="1"`) {
		t.Error(`the channel page's player lacks data-carry="1"`)
	}
	off := startCarrySite(t, func(c *config.Config) { c.Carry = false })
	if c, res := dialCarry(t, off, "alpha"); c != nil || res.StatusCode != http.StatusNotFound || errorCode(res) != "not_found" {
		t.Errorf("--carry=false: %v", res)
	}
	for _, page := range []string{"/c/alpha", "/c/alpha/embed"} {
		if body := string(off.Do("GET", page, nil, "").Raw); !strings.Contains(body, `data-carry=""`) {
			t.Errorf(`--carry=false: %s's player lacks data-carry=""`, page)
		}
	}
}

// carryPair is a carrier a feeding viewer b, on alpha of s.
func carryPair(t *testing.T, s *apptest.Server) (a, b *carryClient, aid, bid string) {
	t.Helper()
	a, _ = dialCarry(t, s, "alpha")
	b, _ = dialCarry(t, s, "alpha")
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

// TestCarrySocketHandBack: a carrier switching off unlinks its child on
// both sides within a round and does not get it back; a child saying it
// lost its parent unlinks them (the parent is told) and is not placed on
// that parent again.
func TestCarrySocketHandBack(t *testing.T) {
	t.Parallel()
	s := startCarrySite(t)
	a, b, aid, bid := carryPair(t, s)
	if n := a.expect("helping")["n"]; n != 1.0 {
		t.Errorf("helping %v, want 1", n)
	}
	start := time.Now()
	a.send(map[string]any{"type": "carry", "on": false, "room": 0})
	if u := a.expect("unlink"); u["peer"] != bid || u["reason"] != "switched off" {
		t.Errorf("the carrier got %v", u)
	}
	if u := b.expect("unlink"); u["peer"] != aid || u["reason"] != "switched off" {
		t.Errorf("the child got %v", u)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the hand-back took %s", d)
	}
	if n := a.expect("helping")["n"]; n != 0.0 {
		t.Errorf("helping %v after the switch-off, want 0", n)
	}
	b.stats(true, false, 2e6)
	if !b.quiet("parent", 1500*time.Millisecond) {
		t.Error("the child was placed again on a carrier that switched off")
	}
	a.close()
	b.close()

	c, d, cid, did := carryPair(t, s)
	d.send(map[string]any{"type": "lost", "peer": cid})
	if u := c.expect("unlink"); u["peer"] != did || u["reason"] != "lost" {
		t.Errorf("the carrier got %v", u)
	}
	d.stats(true, false, 2e6)
	if !d.quiet("parent", 1500*time.Millisecond) {
		t.Error("the child was placed again on the parent it lost")
	}
}

// TestCarrySocketLinkedChannel: a linked instance's channel has no carry
// socket here: its origin places its viewers.
func TestCarrySocketLinkedChannel(t *testing.T) {
	t.Parallel()
	a := startFedSite(t, map[string]auth.Role{"alice": auth.RoleStreamer})
	b := startFedSite(t, nil)
	link(t, a, b)
	remote := "alice@" + a.host
	eventually(t, "B knows "+remote, func() bool {
		return b.s.Do("GET", "/api/v1/channels/"+remote, nil, "").Status == http.StatusOK
	})
	if c, res := dialCarry(t, b.s, remote); c != nil || res.StatusCode != http.StatusNotFound || errorCode(res) != "not_found" {
		t.Errorf("the carry socket of %s on B: %v", remote, res)
	}
	if page := string(b.s.Do("GET", "/c/"+remote, nil, "").Raw); !strings.Contains(page, `data-carry=""`) {
		t.Errorf(`B's page of %s: its player lacks data-carry=""`, remote)
	}
	if c, _ := dialCarry(t, a.s, "alice"); c == nil {
		t.Error("no carry socket of alice on her own site")
	}
}
