package carry

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestPlaceSignalDigests: a steady carrier is told to feed a playing
// viewer, which is told its parent; they signal each other through the
// hub, a third socket cannot signal either; the fed viewer gets the
// stream's digests from one subscription, the others none; a keyframe is
// asked for.
func TestPlaceSignalDigests(t *testing.T) {
	m := newFakeMedia()
	h := startHub(t, m)
	a, b, aid, bid := linked(t, h)
	if n := a.expect("helping")["n"]; n != 1.0 {
		t.Errorf("helping %v, want 1", n)
	}
	c := join(t, h)
	cid := c.hello(false, false)

	offer := map[string]any{"type": "signal", "peer": bid, "sdp": map[string]any{"type": "offer", "sdp": "v=0 a"}}
	if err := a.send(offer); err != nil {
		t.Fatal(err)
	}
	got := b.expect("signal")
	if got["peer"] != aid || got["sdp"].(map[string]any)["sdp"] != "v=0 a" {
		t.Errorf("the child got %v", got)
	}
	cand := map[string]any{"type": "signal", "peer": aid, "candidate": map[string]any{"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "x"}}
	b.send(cand)
	got = a.expect("signal")
	if want := `map[candidate:candidate:1 1 udp 1 127.0.0.1 9 typ host sdpMLineIndex:0 sdpMid:0]`; got["peer"] != bid || fmtMap(got["candidate"]) != want {
		t.Errorf("the carrier got %v, want from %s %s", got, bid, want)
	}
	c.send(map[string]any{"type": "signal", "peer": aid, "sdp": map[string]any{"type": "offer", "sdp": "evil"}})
	c.send(map[string]any{"type": "signal", "peer": bid, "sdp": map[string]any{"type": "answer", "sdp": "evil"}})
	a.send(map[string]any{"type": "signal", "peer": cid, "sdp": map[string]any{"type": "offer", "sdp": "x"}})
	if !a.none("signal", 300*time.Millisecond) || !b.none("signal", 0) || !c.none("signal", 0) {
		t.Error("a signal between sockets the hub did not link was relayed")
	}

	deadline := time.Now().Add(5 * time.Second)
	for m.digest(42) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no digest subscription")
		}
		time.Sleep(10 * time.Millisecond)
	}
	d := b.expect("digests")
	if list := d["list"].([]any); len(list) != 1 || fmtMap(list[0]) != "[video 42 00000000000000000000000000000000]" {
		t.Errorf("digests %v", d)
	}
	if !a.none("digests", 200*time.Millisecond) || !c.none("digests", 0) {
		t.Error("a socket fed by a server got digests")
	}
	if subs, opened, kf := m.counts(); subs != 1 || opened != 1 || kf < 1 {
		t.Errorf("%d digest subscriptions (%d opened), %d keyframe requests; want 1, 1, 1+", subs, opened, kf)
	}
	b.leave()
	deadline = time.Now().Add(5 * time.Second)
	for subs, _, _ := m.counts(); subs != 0; subs, _, _ = m.counts() {
		if time.Now().After(deadline) {
			t.Fatal("the digest subscription stayed after the last fed socket left")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func fmtMap(v any) string { return fmt.Sprint(v) } // (maps print sorted by key)

// TestSwitchOff: a carrier turning the switch off unlinks its child on
// both sides at once, and the child is not placed on it again.
func TestSwitchOff(t *testing.T) {
	h := startHub(t, newFakeMedia())
	a, b, aid, bid := linked(t, h)
	a.send(map[string]any{"type": "carry", "on": false, "room": 0})
	if u := a.expect("unlink"); u["peer"] != bid || u["reason"] != "switched off" {
		t.Errorf("the carrier got %v", u)
	}
	if u := b.expect("unlink"); u["peer"] != aid || u["reason"] != "switched off" {
		t.Errorf("the child got %v", u)
	}
	b.stats(true, false, 2e6)
	if !b.none("parent", time.Second) {
		t.Error("the child was placed again on a carrier that switched off")
	}
	// On again: once steady, it may feed the same child (a switch-off is
	// no failure of the link).
	a.send(map[string]any{"type": "carry", "on": true, "room": 2})
	if f := a.expect("feed"); f["peer"] != bid {
		t.Errorf("the carrier switched on again was told to feed %v, want %s", f["peer"], bid)
	}
}

// TestKeyframeRequests: a fed child may ask for a keyframe (its link
// opened after the one asked for at placement went by), at most once a
// second; a viewer fed by a server may not.
func TestKeyframeRequests(t *testing.T) {
	m := newFakeMedia()
	h := startHub(t, m)
	a, b, _, _ := linked(t, h)
	_, _, before := m.counts()
	b.send(map[string]any{"type": "keyframe"})
	b.send(map[string]any{"type": "keyframe"}) // within the second: not again
	a.send(map[string]any{"type": "keyframe"}) // fed by the server
	if _, _, n := m.counts(); n != before+1 {  // (Handle acts before it returns)
		t.Errorf("%d keyframe requests after a fed child asked twice within a second and its carrier once, want 1", n-before)
	}
}

// TestCarrierLeaves: a carrier's socket closing unlinks its child at once.
func TestCarrierLeaves(t *testing.T) {
	h := startHub(t, newFakeMedia())
	a, b, aid, _ := linked(t, h)
	a.leave()
	if u := b.expect("unlink"); u["peer"] != aid || u["reason"] != "left" {
		t.Errorf("the child got %v", u)
	}
}

// TestDepth: a fed viewer that carries too takes a child only while that
// child stays within the configured browser hops below the server.
func TestDepth(t *testing.T) {
	for _, depth := range []int{1, 2} {
		t.Run(fmt.Sprint(depth), func(t *testing.T) {
			h := startHub(t, newFakeMedia(), func(c *Config) { c.Children, c.Depth = 1, depth })
			_, b, _, bid := linked(t, h)
			b.send(map[string]any{"type": "carry", "on": true, "room": 1})
			c := join(t, h)
			cid := c.hello(false, true)
			c.stats(true, false, 2e6)
			if depth == 1 {
				if !c.none("parent", 1500*time.Millisecond) || !b.none("feed", 0) {
					t.Error("a viewer was placed two browser hops below the server with --carry-depth 1")
				}
				return
			}
			if p := c.expect("parent"); p["peer"] != bid {
				t.Errorf("the third viewer's parent is %v, want the fed carrier %s", p["peer"], bid)
			}
			if f := b.expect("feed"); f["peer"] != cid {
				t.Errorf("the fed carrier was told to feed %v, want %s", f["peer"], cid)
			}
		})
	}
}

// TestLost: a child saying it lost its parent unlinks them (the parent is
// told) and is not placed on that parent again.
func TestLost(t *testing.T) {
	h := startHub(t, newFakeMedia())
	a, b, aid, bid := linked(t, h)
	b.send(map[string]any{"type": "lost", "peer": aid})
	if u := a.expect("unlink"); u["peer"] != bid || u["reason"] != "lost" {
		t.Errorf("the carrier got %v", u)
	}
	b.stats(true, false, 2e6)
	if !b.none("parent", time.Second) {
		t.Error("the child was placed again on the parent it lost")
	}
}

// TestSilentCarrierExpires: a carrier that stops sending stats is dropped
// after 2 s: both ends are unlinked ("stalled"), its socket stays open.
func TestSilentCarrierExpires(t *testing.T) {
	h := startHub(t, newFakeMedia())
	a, b, aid, bid := linked(t, h)
	a.stopStats()
	if u := b.expect("unlink"); u["peer"] != aid || u["reason"] != "stalled" {
		t.Errorf("the child got %v", u)
	}
	if u := a.expect("unlink"); u["peer"] != bid || u["reason"] != "stalled" {
		t.Errorf("the carrier got %v", u)
	}
	if err := a.send(map[string]any{"type": "stats", "playing": true, "down": 3e6, "fed": false}); err != nil {
		t.Errorf("a stalled carrier's socket was closed: %v", err)
	}
}

// TestSlowSocketClosed: a socket that does not take what it is sent is
// closed once its queue is full.
func TestSlowSocketClosed(t *testing.T) {
	m := newFakeMedia()
	h := startHub(t, m)
	_, b, _, _ := linked(t, h)
	stall := make(chan struct{})
	b.mu.Lock()
	b.stall = stall
	b.mu.Unlock()
	defer close(stall)
	for sent := 0; ; sent++ {
		select {
		case <-b.gone:
		default:
			if sent > 100*queueLen {
				t.Fatal("a socket that takes nothing is still open")
			}
			m.digest(1)
			time.Sleep(100 * time.Microsecond)
			continue
		}
		break
	}
	if code := b.closed(); code != CodePolicy {
		t.Errorf("closed with %d, want %d", code, CodePolicy)
	}
}

// TestMalformed: anything but a valid message closes the socket (1008),
// and so does any message before hello, or a second hello.
func TestMalformed(t *testing.T) {
	h := startHub(t, newFakeMedia())
	for _, msg := range []string{`{`, `[]`, `{"type":"nope"}`, `{"type":"stats"}`, `{"type":"hello","room":-1}`} {
		c := join(t, h)
		if c.s.Handle([]byte(msg)) == nil {
			t.Errorf("%s before hello: accepted", msg)
		}
		if code := c.closed(); code != CodePolicy {
			t.Errorf("%s: closed with %d", msg, code)
		}
	}
	bad := []string{
		`{"type":"hello"}`,
		`{"type":"signal","peer":"zz","sdp":{"type":"offer","sdp":""}}`,
		`{"type":"signal","peer":"0123456789abcdef"}`,
		`{"type":"signal","peer":"0123456789abcdef","sdp":{"type":"pranswer","sdp":""}}`,
		`{"type":"signal","peer":"0123456789abcdef","sdp":{"type":"offer","sdp":"` + strings.Repeat("a", maxSDP+1) + `"}}`,
		`{"type":"signal","peer":"0123456789abcdef","candidate":{"candidate":"` + strings.Repeat("a", maxCandidate+1) + `"}}`,
		`{"type":"lost","peer":""}`,
		`{"type":"stats","down":"fast"}`,
	}
	for _, msg := range bad {
		c := join(t, h)
		c.hello(false, true)
		if c.s.Handle([]byte(msg)) == nil {
			t.Errorf("%.80s: accepted", msg)
		}
		if code := c.closed(); code != CodePolicy {
			t.Errorf("%.80s: closed with %d", msg, code)
		}
	}
	c := join(t, h)
	c.hello(false, true)
	if err := c.send(map[string]any{"type": "signal", "peer": "0123456789abcdef", "sdp": map[string]any{"type": "offer", "sdp": "x"}}); err != nil {
		t.Errorf("a signal to an unknown peer closed the socket: %v", err)
	}
}

// TestStreamEnded: when the stream ends, its sockets are closed (1000).
func TestStreamEnded(t *testing.T) {
	m := newFakeMedia()
	h := startHub(t, m)
	a, b, _, _ := linked(t, h)
	m.mu.Lock()
	m.live = false
	m.mu.Unlock()
	if code := a.closed(); code != CodeNormal {
		t.Errorf("closed with %d, want %d", code, CodeNormal)
	}
	b.closed()
	a.leave()
	b.leave()
	if n := h.Count("alpha"); n != 0 {
		t.Errorf("%d sockets after", n)
	}
}

// TestReceiveFollowsStats: a viewer whose stats say it no longer takes a
// carrier's frames (it chose a lower quality) is not placed; saying it
// does again, it is.
func TestReceiveFollowsStats(t *testing.T) {
	h := startHub(t, newFakeMedia())
	a, b := join(t, h), join(t, h)
	a.hello(true, false)
	a.stats(true, false, 3e6)
	bid := b.hello(false, true)
	b.send(map[string]any{"type": "stats", "playing": true, "down": 2e6, "fed": false, "receive": false})
	if !b.none("parent", 2*time.Second) {
		t.Fatal("a viewer that said it takes no carrier's frames was placed on one")
	}
	b.send(map[string]any{"type": "stats", "playing": true, "down": 2e6, "fed": false, "receive": true})
	if f := a.expect("feed"); f["peer"] != bid {
		t.Errorf("the carrier was told to feed %v, want %s", f["peer"], bid)
	}
}

// TestLeave: a child leaving its carrier by choice unlinks them (the
// carrier is told) and may be placed on it again.
func TestLeave(t *testing.T) {
	h := startHub(t, newFakeMedia())
	a, b, aid, bid := linked(t, h)
	b.send(map[string]any{"type": "leave", "peer": aid})
	if u := a.expect("unlink"); u["peer"] != bid || u["reason"] != "left" {
		t.Errorf("the carrier got %v", u)
	}
	b.stats(true, false, 2e6)
	if p := b.expect("parent"); p["peer"] != aid {
		t.Errorf("the child was placed on %v, want %s again", p["peer"], aid)
	}
}
