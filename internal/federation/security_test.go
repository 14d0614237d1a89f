package federation_test

import (
	"bytes"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/federation/wire"
)

// signed sends a link notice to site as from, signed with key.
func signed(t *testing.T, site *apptest.Server, key *wire.Key, from, body string) *apptest.Response {
	t.Helper()
	req, err := http.NewRequest("POST", site.URL+"/federation/link", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	key.SignRequest(req, from, []byte(body))
	return site.Send(req)
}

// Forged, replayed and unlinked requests are refused, and the link
// stays as it was.
func TestSignedRequestsRefused(t *testing.T) {
	a, b := startSite(t), startSite(t)
	link(t, b, a)
	bKey, err := wire.LoadKey(filepath.Join(b.Cfg.DataDir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := wire.LoadKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	accept := `{"action":"accept"}`

	// B's own key: accepted once (an accept of a live link is harmless).
	req, _ := http.NewRequest("POST", a.URL+"/federation/link", bytes.NewReader([]byte(accept)))
	req.Header.Set("Content-Type", "application/json")
	bKey.SignRequest(req, b.host, []byte(accept))
	replay := req.Clone(req.Context())
	if r := a.Send(req); r.Status != http.StatusOK {
		t.Fatalf("a genuine notice: %d %s", r.Status, r.Raw)
	}
	replay.Body, replay.ContentLength = nopCloser{bytes.NewReader([]byte(accept))}, int64(len(accept))
	if r := a.Send(replay); r.ErrorCode() != "replayed" {
		t.Fatalf("a replayed notice: %d %s", r.Status, r.Raw)
	}
	// Another key claiming to be B.
	if r := signed(t, a.Server, other, b.host, `{"action":"unlink"}`); r.ErrorCode() != "bad_signature" {
		t.Fatalf("a forged unlink: %d %s", r.Status, r.Raw)
	}
	// B's key, but the body changed after signing.
	req, _ = http.NewRequest("POST", a.URL+"/federation/link", bytes.NewReader([]byte(`{"action":"unlink"}`)))
	bKey.SignRequest(req, b.host, []byte(accept))
	if r := a.Send(req); r.ErrorCode() != "bad_signature" {
		t.Fatalf("a tampered body: %d %s", r.Status, r.Raw)
	}
	// A host that is not linked.
	if r := signed(t, a.Server, other, "127.0.0.1:1", accept); r.ErrorCode() != "federation_not_linked" {
		t.Fatalf("an unlinked sender: %d %s", r.Status, r.Raw)
	}
	if p := a.peer(t, b.host); p == nil || p["state"] != "linked" {
		t.Fatalf("the link changed: %v", p)
	}
	// Unsigned requests to the link's WebSocket are refused.
	if r := a.Do("GET", "/federation/ws", nil, ""); r.Status < 400 {
		t.Fatalf("unsigned connection: %d", r.Status)
	}
}

// Without --federation-allow-private, peers on private addresses or plain
// http are refused before anything is sent to them.
func TestPrivatePeersRefused(t *testing.T) {
	target := startSite(t)
	s := apptest.Start(t)
	s.CreateUser("boss", "correct horse battery", auth.RoleAdmin)
	admin := s.Login("boss", "correct horse battery")
	for _, u := range []string{target.URL, "https://127.0.0.1:1", "https://10.0.0.1", "https://[::1]:8443", "ftp://example.org", "https://user@example.org"} {
		if r := s.Do("POST", "/api/v1/federation/peers", map[string]string{"url": u}, admin); r.Status != http.StatusBadRequest || r.ErrorCode() != "invalid_url" {
			t.Errorf("link to %s: %d %s", u, r.Status, r.Raw)
		}
	}
	if p := target.peer(t, s.URL[len("http://"):]); p != nil {
		t.Fatalf("the private target heard of us: %v", p)
	}
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
