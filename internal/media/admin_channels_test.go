package media_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/fedwave/fedwave/internal/auth"
)

// TestAdminStopStream: a moderator stops a live stream from the admin
// API: it ends at once, the publisher's client is told it was stopped
// (and must not reconnect by itself), the stop is in the audit log, and
// the owner can go live again.
func TestAdminStopStream(t *testing.T) {
	s, key, _ := setup(t)
	s.CreateUser("mo", "mo-password", auth.RoleModerator)
	mod := s.Login("mo", "mo-password")
	pub := publish(t, s.URL+"/whip/alpha", key, "vp8")
	if pub.res.StatusCode != http.StatusCreated {
		t.Fatalf("WHIP: %d", pub.res.StatusCode)
	}
	waitFor(t, "the channel to go live", func() bool { return live(s) })

	r := s.Do("POST", "/api/v1/admin/channels/alpha/stop", "{}", mod)
	if ch, _ := r.Body["channel"].(map[string]any); r.Status != http.StatusOK || ch["live"] != false {
		t.Fatalf("stop: %d %s", r.Status, r.Raw)
	}
	if live(s) {
		t.Fatal("the channel is still live after the stop")
	}
	// The publisher's client asks about its session: stopped, not gone.
	req, _ := http.NewRequest("PATCH", s.URL+pub.res.Header.Get("Location"), strings.NewReader("a=end-of-candidates\r\n"))
	req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
	req.Header.Set("Authorization", "Bearer "+key)
	if r := s.Send(req); r.Status != http.StatusConflict || r.ErrorCode() != "stopped" {
		t.Errorf("the stopped publisher's PATCH: %d %s", r.Status, r.Raw)
	}
	e := s.Do("GET", "/api/v1/admin/audit?action=stop_stream", nil, mod).Body["entries"].([]any)
	if len(e) != 1 || e[0].(map[string]any)["channel"] != "alpha" || !strings.HasPrefix(e[0].(map[string]any)["actor"].(string), "mo#") {
		t.Errorf("audit: %v", e)
	}
	if r := s.Do("POST", "/api/v1/admin/channels/alpha/stop", "{}", mod); r.Status != http.StatusConflict {
		t.Errorf("stopping an offline channel: %d %s", r.Status, r.Raw)
	}

	again := publish(t, s.URL+"/whip/alpha", key, "vp8")
	if again.res.StatusCode != http.StatusCreated {
		t.Fatalf("the owner goes live again: %d", again.res.StatusCode)
	}
	waitFor(t, "the channel to be live again", func() bool { return live(s) })
}

// TestAdminRotateKey: an admin replaces a channel's stream key on the
// owner's behalf: the old key publishes no more, the key the owner makes
// next in the studio does; the new key is not shown to the admin, and a
// moderator may not rotate.
func TestAdminRotateKey(t *testing.T) {
	s, oldKey, ownerTok := setup(t)
	s.CreateUser("boss", "boss-password", auth.RoleAdmin)
	s.CreateUser("mo", "mo-password", auth.RoleModerator)
	if r := s.Do("POST", "/api/v1/admin/channels/alpha/rotate-key", "{}", s.Login("mo", "mo-password")); r.Status != http.StatusForbidden {
		t.Errorf("a moderator rotates: %d", r.Status)
	}
	admin := s.Login("boss", "boss-password")
	r := s.Do("POST", "/api/v1/admin/channels/alpha/rotate-key", "{}", admin)
	if r.Status != http.StatusOK || strings.Contains(string(r.Raw), "sk_") {
		t.Fatalf("rotate: %d %s", r.Status, r.Raw)
	}
	if e := s.Do("GET", "/api/v1/admin/audit", nil, admin).Body["entries"].([]any)[0].(map[string]any); e["action"] != "rotate_key" || e["channel"] != "alpha" {
		t.Errorf("audit: %v", e)
	}
	if old := publish(t, s.URL+"/whip/alpha", oldKey, "vp8"); old.res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("WHIP with the old key: %d, want 401", old.res.StatusCode)
	}
	newKey := s.Do("POST", "/api/v1/channels/alpha/stream-key", nil, ownerTok).Body["streamKey"].(string)
	if pub := publish(t, s.URL+"/whip/alpha", newKey, "vp8"); pub.res.StatusCode != http.StatusCreated {
		t.Fatalf("WHIP with the owner's new key: %d", pub.res.StatusCode)
	}
	waitFor(t, "the channel to go live with the new key", func() bool { return live(s) })
}
