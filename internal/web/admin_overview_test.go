package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
)

// TestAdminOverviewAndChannels: the overview has the sampler's readings,
// says what is wrong (this test site runs without TURN) and what to do,
// and counts linked sites and relays; Channels lists every local channel
// with its owner.
func TestAdminOverviewAndChannels(t *testing.T) {
	s := apptest.Start(t)
	s.CreateUser("boss", "boss-password", auth.RoleAdmin)
	s.CreateUser("alpha", "alpha-password", auth.RoleStreamer)
	admin := s.Login("boss", "boss-password")

	r := s.Do("GET", "/api/v1/admin/overview", nil, admin)
	if r.Status != http.StatusOK {
		t.Fatalf("overview: %d %s", r.Status, r.Raw)
	}
	history, _ := r.Body["history"].([]any)
	if len(history) == 0 || history[0].(map[string]any)["rss"].(float64) <= 0 {
		t.Errorf("no readings of the resident memory: %v", history)
	}
	var turn map[string]any
	for _, w := range r.Body["warnings"].([]any) {
		if w := w.(map[string]any); w["code"] == "no_turn" {
			turn = w
		}
	}
	if turn == nil || !strings.Contains(turn["fix"].(string), "--turn-port") {
		t.Errorf("no TURN warning saying what to do: %s", r.Raw)
	}
	if live := r.Body["live"].([]any); len(live) != 0 || r.Body["viewers"] != 0.0 {
		t.Errorf("live with nobody streaming: %s", r.Raw)
	}
	for _, k := range []string{"peers", "relays"} {
		if c, _ := r.Body[k].(map[string]any); c == nil || c["total"] != 0.0 {
			t.Errorf("%s: %v", k, r.Body[k])
		}
	}

	r = s.Do("GET", "/api/v1/admin/channels", nil, admin)
	list, _ := r.Body["channels"].([]any)
	if r.Status != http.StatusOK || len(list) != 2 {
		t.Fatalf("channels: %d %s", r.Status, r.Raw)
	}
	for _, c := range list {
		c := c.(map[string]any)
		if !strings.HasPrefix(c["owner"].(string), c["name"].(string)+"#") || c["live"] != false {
			t.Errorf("channel %v", c)
		}
	}
	if r := s.Do("POST", "/api/v1/admin/channels/nobody@elsewhere.example/stop", "{}", admin); r.Status != http.StatusNotFound {
		t.Errorf("stop a linked site's channel: %d", r.Status)
	}
}
