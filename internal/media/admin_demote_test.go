package media_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/fedwave/fedwave/internal/auth"
)

// A streamer demoted on the admin page (PUT /api/v1/admin/users/{id}/role)
// loses the live stream, and their stream key publishes no more.
func TestAdminDemotionStopsPublishing(t *testing.T) {
	s, key, _ := setup(t)
	s.CreateUser("boss", "boss-password", auth.RoleAdmin)
	admin := s.Login("boss", "boss-password")
	pub := publish(t, s.URL+"/whip/alpha", key, "vp8")
	if pub.res.StatusCode != http.StatusCreated {
		t.Fatalf("WHIP: %d", pub.res.StatusCode)
	}
	waitFor(t, "the channel to go live", func() bool { return live(s) })

	users := s.Do("GET", "/api/v1/admin/users?q=alp", nil, admin).Body["users"].([]any)
	id := users[0].(map[string]any)["id"]
	if r := s.Do("PUT", fmt.Sprintf("/api/v1/admin/users/%v/role", id), map[string]string{"role": "user"}, admin); r.Status != http.StatusOK {
		t.Fatalf("demote: %d %s", r.Status, r.Raw)
	}
	waitFor(t, "the demoted streamer's stream to end", func() bool { return !live(s) })
	req, _ := http.NewRequest("POST", s.URL+"/whip/alpha", strings.NewReader(pub.pc.LocalDescription().SDP))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+key)
	if r := s.Send(req); r.Status != http.StatusForbidden {
		t.Errorf("WHIP with the stream key after the demotion: %d %s", r.Status, r.Raw)
	}
}
