package federation_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/config"
)

// site is a test instance with its admin's token.
type site struct {
	*apptest.Server
	admin string
	host  string
}

func startSite(t testing.TB, opts ...func(*config.Config)) *site {
	t.Helper()
	s := apptest.Start(t, append([]func(*config.Config){func(c *config.Config) { c.FederationAllowPrivate = true }}, opts...)...)
	s.CreateUser("boss", "correct horse battery", auth.RoleAdmin)
	return &site{Server: s, admin: s.Login("boss", "correct horse battery"), host: strings.TrimPrefix(s.URL, "http://")}
}

// peer returns this site's view of another, or nil.
func (s *site) peer(t testing.TB, host string) map[string]any {
	t.Helper()
	r := s.Do("GET", "/api/v1/federation/peers", nil, s.admin)
	if r.Status != http.StatusOK {
		t.Fatalf("peers: %d %s", r.Status, r.Raw)
	}
	for _, p := range r.Body["peers"].([]any) {
		if p := p.(map[string]any); p["domain"] == host {
			return p
		}
	}
	return nil
}

// eventually waits (up to 10 s) for cond, failing with what it says.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// link links a (asking) with b (approving) and waits until both hold a
// live connection.
func link(t testing.TB, a, b *site) {
	t.Helper()
	r := a.Do("POST", "/api/v1/federation/peers", map[string]string{"url": b.URL}, a.admin)
	if r.Status != http.StatusCreated {
		t.Fatalf("link request: %d %s", r.Status, r.Raw)
	}
	r = b.Do("PATCH", "/api/v1/federation/peers/"+a.host, map[string]any{"approve": true}, b.admin)
	if r.Status != http.StatusOK {
		t.Fatalf("approve: %d %s", r.Status, r.Raw)
	}
	connected := func(s *site, host string) func() bool {
		return func() bool {
			p := s.peer(t, host)
			return p != nil && p["state"] == "linked" && p["connected"] == true
		}
	}
	eventually(t, a.host+" connected to "+b.host, connected(a, b.host))
	eventually(t, b.host+" connected to "+a.host, connected(b, a.host))
}

// channel returns a site's listing entry for a channel name, or nil.
func (s *site) channel(t testing.TB, name string) map[string]any {
	t.Helper()
	r := s.Do("GET", "/api/v1/channels", nil, "")
	for _, c := range r.Body["channels"].([]any) {
		if c := c.(map[string]any); c["name"] == name {
			return c
		}
	}
	return nil
}

// user makes an account on the site and returns its handle and token.
func (s *site) user(t testing.TB, name string, role auth.Role) (string, string) {
	t.Helper()
	h := s.CreateUser(name, "correct horse battery", role)
	return h, s.Login(name, "correct horse battery")
}
