package main

import (
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The stream chain end to end (CONTRACT §5a): an origin in this process,
// `fedwave relay` child processes (so that they can be SIGKILLed), a
// synthetic publisher and viewers that behave as the player does
// (loadtest.ChainViewer). Conditions are waited for with deadlines; no
// timing decides a pass.

// TestRelayPlacementBeyondMaxViewers: the origin serves --max-viewers
// itself and sends the others to a relay with a 307; the relay refuses
// whoever the origin did not place there; a full chain answers 503 with
// Retry-After.
func TestRelayPlacementBeyondMaxViewers(t *testing.T) {
	c := startChainOrigin(t, 2, 0)
	r1 := c.startRelay("r1", "--capacity", "3") // room for 2 viewers (one slot is kept for a child relay)
	c.waitRelays("r1 connected", func(m map[string]relayView) bool { return m["r1"].Connected })
	c.publish()

	// Unplaced viewers: no ticket, a forged one, one for another channel,
	// one used twice.
	for name, q := range map[string]string{"no ticket": "", "forged": "?ticket=eyJrIjoidmlld2VyIn0.AAAA"} {
		if st, code := post(t, r1.base+"/whep/alice"+q, nil); st != http.StatusForbidden || code != "not_placed" {
			t.Errorf("%s: relay answered %d %s, want 403 not_placed", name, st, code)
		}
	}
	// Viewers beyond the two the origin serves are sent to r1; the first two
	// take the origin's places.
	viewers := c.watch(2)
	c.waitPlaying(viewers, "two viewers on the origin")
	ticketed := c.placement(http.StatusTemporaryRedirect)
	loc, _ := url.Parse(ticketed.Header.Get("Location"))
	if loc.Host != r1.host || !strings.HasPrefix(loc.Path, "/whep/alice") || loc.Query().Get("ticket") == "" {
		t.Fatalf("307 Location %s, want r1's WHEP URL with a ticket", loc)
	}
	other := *loc
	other.Path = "/whep/bob"
	if st, code := post(t, other.String(), nil); st != http.StatusForbidden || code != "not_placed" {
		t.Errorf("a ticket for another channel: %d %s, want 403 not_placed", st, code)
	}
	if st, _ := post(t, loc.String(), []byte("not sdp")); st == http.StatusForbidden {
		t.Errorf("a fresh ticket was refused")
	}
	if st, code := post(t, loc.String(), []byte("not sdp")); st != http.StatusForbidden || code != "not_placed" {
		t.Errorf("a used ticket: %d %s, want 403 not_placed", st, code)
	}

	viewers = append(viewers, c.watch(2)...)
	c.waitPlaying(viewers, "four viewers")
	hosts := map[string]int{}
	for _, v := range viewers {
		hosts[v.State().Host]++
	}
	if hosts[c.host] != 2 || hosts[r1.host] != 2 {
		t.Fatalf("viewers per host %v, want 2 on the origin %s and 2 on r1 %s", hosts, c.host, r1.host)
	}
	// Origin and relay full: 503 with Retry-After.
	c.waitFor("a full chain to answer 503", func() bool {
		res := c.placement(0)
		return res.StatusCode == http.StatusServiceUnavailable && res.Header.Get("Retry-After") != ""
	})

	// r1 freezes for a while (a network hiccup): its viewers stall and ask
	// the origin again, avoiding r1; r1 being the only relay with room,
	// they are placed on it again once it is back rather than refused
	// for ever.
	r1.cmd.Process.Signal(syscall.SIGSTOP)
	c.waitFor("r1's viewers to stall", func() bool {
		for _, v := range viewers {
			if v.State().Host == r1.host && v.State().Playing {
				return false
			}
		}
		return true
	})
	time.Sleep(time.Second) // the outage: r1 is dropped from placement
	r1.cmd.Process.Signal(syscall.SIGCONT)
	c.waitPlaying(viewers, "every viewer again")
	if h := hostsOf(viewers); h[r1.host] != 2 {
		t.Fatalf("viewers per host %v after r1 came back", h)
	}
}

// TestRelayChain covers relay to relay, the tree API, the relay list's
// details, a SIGKILLed relay (its child relay re-attaches, its viewers are
// placed elsewhere, the tree is whole again) and a revoked relay.
func TestRelayChain(t *testing.T) {
	c := startChainOrigin(t, 1, 1)
	r1 := c.startRelay("r1", "--capacity", "4") // 2 child slots, 2 viewers
	c.waitRelays("r1 connected", func(m map[string]relayView) bool { return m["r1"].Connected })
	r2 := c.startRelay("r2") // the origin feeds one relay: r2 goes under r1
	c.waitRelays("r2 under r1", func(m map[string]relayView) bool { return m["r2"].Connected && m["r2"].Parent == "r1" })
	c.publish()

	// Details of the list (§5a): url, state, capacity default, uptime.
	c.waitRelays("uptime counting", func(m map[string]relayView) bool { return m["r1"].Uptime >= 1 })
	m := c.relayList()
	if v := m["r2"]; v.URL != r2.base || v.State != "connected" || v.Capacity != 100 || v.Parent != "r1" {
		t.Errorf("r2 listed as %+v, want url %s, connected, capacity 100, parent r1", v, r2.base)
	}
	if v := m["r1"]; v.Parent != "" || v.Capacity != 4 {
		t.Errorf("r1 listed as %+v, want no parent and capacity 4", v)
	}
	for _, r := range []*relayProc{r1, r2} {
		var h struct {
			Status string `json:"status"`
			Origin bool   `json:"origin"`
		}
		if st := getJSON(t, r.base+"/healthz", "", &h); st != 200 || h.Status != "ok" || !h.Origin {
			t.Errorf("%s /healthz: %d %+v", r.name, st, h)
		}
	}
	if r := c.s.Do("GET", "/api/v1/relays", nil, c.owner); r.Status != http.StatusForbidden {
		t.Errorf("a streamer listed the relays: %d", r.Status)
	}

	// One viewer on the origin, two on r1, the rest on r2 (r1's pull does
	// not count against --max-viewers).
	viewers := c.watch(1)
	c.waitPlaying(viewers, "the origin's viewer")
	viewers = append(viewers, c.watch(2)...)
	c.waitPlaying(viewers, "r1's viewers")
	viewers = append(viewers, c.watch(2)...)
	c.waitPlaying(viewers, "r2's viewers")
	if h := hostsOf(viewers); h[c.host] != 1 || h[r1.host] != 2 || h[r2.host] != 2 {
		t.Fatalf("viewers per host %v; want origin 1, r1 (%s) 2, r2 (%s) 2", h, r1.host, r2.host)
	}

	// The tree: origin → r1 → r2 with their own viewers; owner and admins
	// only.
	want := "origin:1(relay r1:2(relay r2:2()))"
	c.waitFor("the tree "+want, func() bool { return c.tree(c.owner) == want })
	if got := c.tree(c.admin); got != want {
		t.Errorf("the admin's tree %s, want %s", got, want)
	}
	if r := c.s.Do("GET", "/api/v1/channels/alice/tree", nil, c.s.Login("bob", "password1")); r.Status != http.StatusForbidden {
		t.Errorf("another streamer read the tree: %d", r.Status)
	}
	if r := c.s.Do("GET", "/api/v1/channels/alice/tree", nil, ""); r.Status != http.StatusUnauthorized {
		t.Errorf("an anonymous caller read the tree: %d", r.Status)
	}

	// SIGKILL r1: r2 re-attaches to the origin, every viewer plays again
	// (r1's re-posted and were placed on r2), the tree is whole.
	r1.kill()
	c.waitRelays("r2 under the origin", func(m map[string]relayView) bool {
		return m["r2"].Connected && m["r2"].Parent == "" && !m["r1"].Connected
	})
	c.waitFor("every viewer playing off r1", func() bool {
		for _, v := range viewers {
			if s := v.State(); !s.Playing || s.Host == r1.host {
				return false
			}
		}
		return true
	})
	for _, v := range viewers {
		if s := v.State(); s.Host != c.host && s.Host != r2.host {
			t.Errorf("a viewer is on %s", s.Host)
		}
	}
	want = "origin:1(relay r2:4())"
	c.waitFor("the tree "+want, func() bool { return c.tree(c.owner) == want })
	for _, v := range viewers {
		for _, rl := range v.State().Relinks {
			t.Logf("relink %s → %s in %s", rl.From, rl.To, rl.Gap.Round(time.Millisecond))
		}
	}

	// Revoking r2: 204, the process exits within 2 s saying why, the list
	// shows it revoked.
	if r := c.s.Do("DELETE", "/api/v1/relays/r2", nil, c.admin); r.Status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.Status, r.Raw)
	}
	select {
	case <-r2.exited:
	case <-time.After(2 * time.Second):
		t.Fatal("the revoked relay still runs 2 s later")
	}
	if out := r2.out.String(); !strings.Contains(out, "revoked") {
		t.Errorf("the revoked relay did not say why:\n%s", out)
	}
	if r2.cmd.ProcessState.Success() {
		t.Errorf("the revoked relay exited with status 0")
	}
	if v := c.relayList()["r2"]; v.State != "revoked" || v.Connected {
		t.Errorf("r2 listed as %+v after revoking", v)
	}
}

// TestRelayFrozenParent: a relay that stops answering without closing
// anything (SIGSTOP, like a network cut) is dropped; its child relay
// re-attaches to the origin and every viewer plays again; once it is back
// it rejoins the tree.
func TestRelayFrozenParent(t *testing.T) {
	c := startChainOrigin(t, 1, 1)
	r1 := c.startRelay("r1", "--capacity", "4")
	c.waitRelays("r1 connected", func(m map[string]relayView) bool { return m["r1"].Connected })
	r2 := c.startRelay("r2")
	c.waitRelays("r2 under r1", func(m map[string]relayView) bool { return m["r2"].Connected && m["r2"].Parent == "r1" })
	c.publish()
	viewers := c.watch(1)
	c.waitPlaying(viewers, "the origin's viewer")
	viewers = append(viewers, c.watch(4)...)
	c.waitPlaying(viewers, "every viewer")
	if h := hostsOf(viewers); h[r1.host] != 2 || h[r2.host] != 2 {
		t.Fatalf("viewers per host %v; want r1 (%s) 2, r2 (%s) 2", h, r1.host, r2.host)
	}

	r1.cmd.Process.Signal(syscall.SIGSTOP)
	t.Cleanup(func() { r1.cmd.Process.Signal(syscall.SIGCONT) })
	c.waitRelays("r2 under the origin", func(m map[string]relayView) bool { return m["r2"].Connected && m["r2"].Parent == "" })
	c.waitFor("every viewer playing off r1", func() bool {
		for _, v := range viewers {
			if s := v.State(); !s.Playing || s.Host == r1.host {
				return false
			}
		}
		return true
	})
	want := "origin:1(relay r2:4())"
	c.waitFor("the tree "+want, func() bool { return c.tree(c.owner) == want })
	for _, v := range viewers {
		for _, rl := range v.State().Relinks {
			t.Logf("relink %s → %s in %s (answer %s, then video %s)", rl.From, rl.To, rl.Gap.Round(time.Millisecond), rl.Answer.Round(time.Millisecond), rl.Media.Round(time.Millisecond))
		}
	}

	r1.cmd.Process.Signal(syscall.SIGCONT)
	c.waitRelays("r1 back, under r2", func(m map[string]relayView) bool { return m["r1"].Connected && m["r1"].Parent == "r2" })
}
