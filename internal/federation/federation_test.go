package federation_test

import (
	"net/http"
	"testing"

	"github.com/fedwave/fedwave/internal/auth"
)

// Admins link two sites: a request, seen and approved on the other side;
// switches, blocks and unlinks reach both sides.
func TestLinkLifecycle(t *testing.T) {
	a, b := startSite(t), startSite(t)
	r := b.Do("POST", "/api/v1/federation/peers", map[string]string{"url": a.URL}, b.admin)
	if r.Status != http.StatusCreated || r.Body["peer"].(map[string]any)["state"] != "pending_out" {
		t.Fatalf("request: %d %s", r.Status, r.Raw)
	}
	if p := a.peer(t, b.host); p == nil || p["state"] != "pending_in" {
		t.Fatalf("A sees %v, want a pending_in request", p)
	}
	if r := b.Do("POST", "/api/v1/federation/peers", map[string]string{"url": a.URL}, ""); r.Status != http.StatusUnauthorized {
		t.Fatalf("anonymous link request: %d", r.Status)
	}
	// A refuses: both forget it; B asks again.
	if r := a.Do("DELETE", "/api/v1/federation/peers/"+b.host, nil, a.admin); r.Status != http.StatusNoContent {
		t.Fatalf("refuse: %d %s", r.Status, r.Raw)
	}
	eventually(t, "B learns the refusal", func() bool { return b.peer(t, a.host) == nil && a.peer(t, b.host) == nil })
	b.Do("POST", "/api/v1/federation/peers", map[string]string{"url": a.URL}, b.admin)
	r = a.Do("PATCH", "/api/v1/federation/peers/"+b.host, map[string]any{"approve": true}, a.admin)
	if r.Status != http.StatusOK {
		t.Fatalf("approve: %d %s", r.Status, r.Raw)
	}
	eventually(t, "both linked and connected", func() bool {
		pa, pb := a.peer(t, b.host), b.peer(t, a.host)
		return pa["state"] == "linked" && pb["state"] == "linked" && pa["connected"] == true && pb["connected"] == true
	})
	if p := a.peer(t, b.host); p["incoming"] != true || p["outgoing"] != true {
		t.Fatalf("a new link has both switches on: %v", p)
	}

	// A's channel shows up on B, with its host.
	a.CreateUser("alice", "correct horse battery", auth.RoleStreamer)
	eventually(t, "alice@A listed on B", func() bool {
		c := b.channel(t, "alice@"+a.host)
		return c != nil && c["instance"] == a.host
	})
	// A switches outgoing off: B stops listing A's channels.
	a.Do("PATCH", "/api/v1/federation/peers/"+b.host, map[string]any{"outgoing": false}, a.admin)
	eventually(t, "alice@A gone from B", func() bool { return b.channel(t, "alice@"+a.host) == nil })
	a.Do("PATCH", "/api/v1/federation/peers/"+b.host, map[string]any{"outgoing": true}, a.admin)
	eventually(t, "alice@A back on B", func() bool { return b.channel(t, "alice@"+a.host) != nil })
	// B switches incoming off: B hides them too.
	b.Do("PATCH", "/api/v1/federation/peers/"+a.host, map[string]any{"incoming": false}, b.admin)
	eventually(t, "alice@A hidden by B", func() bool { return b.channel(t, "alice@"+a.host) == nil })
	b.Do("PATCH", "/api/v1/federation/peers/"+a.host, map[string]any{"incoming": true}, b.admin)
	eventually(t, "alice@A shown by B again", func() bool { return b.channel(t, "alice@"+a.host) != nil })

	// A blocks B: B loses the link, and may not ask again.
	r = a.Do("PATCH", "/api/v1/federation/peers/"+b.host, map[string]any{"blocked": true}, a.admin)
	if r.Status != http.StatusOK || r.Body["peer"].(map[string]any)["state"] != "blocked" {
		t.Fatalf("block: %d %s", r.Status, r.Raw)
	}
	eventually(t, "B forgets A", func() bool { return b.peer(t, a.host) == nil })
	if b.channel(t, "alice@"+a.host) != nil {
		t.Fatal("a blocking site's channels still listed")
	}
	r = b.Do("POST", "/api/v1/federation/peers", map[string]string{"url": a.URL}, b.admin)
	if r.Status != http.StatusForbidden || r.ErrorCode() != "federation_refused" {
		t.Fatalf("request to a site that blocked us: %d %s", r.Status, r.Raw)
	}
	if p := a.peer(t, b.host); p == nil || p["state"] != "blocked" {
		t.Fatalf("the block stays listed: %v", p)
	}
	// Unblock, link again, then unlink: both sides forget.
	a.Do("PATCH", "/api/v1/federation/peers/"+b.host, map[string]any{"blocked": false}, a.admin)
	if p := a.peer(t, b.host); p != nil {
		t.Fatalf("unblocked peer still listed: %v", p)
	}
	link(t, b, a)
	if r := a.Do("DELETE", "/api/v1/federation/peers/"+b.host, nil, a.admin); r.Status != http.StatusNoContent {
		t.Fatalf("unlink: %d %s", r.Status, r.Raw)
	}
	eventually(t, "B forgets A after unlink", func() bool { return b.peer(t, a.host) == nil })
}
