package media_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/fedwave/fedwave/internal/app"
	"github.com/fedwave/fedwave/internal/auth"
)

// A streamer demoted to user (by another process, as `fedwave user role
// alpha user` does) loses the live stream within seconds, and neither the
// stream key nor the owner's token publishes any more.
func TestDemotedStreamerStopsPublishing(t *testing.T) {
	s, key, ownerTok := setup(t)
	pub := publish(t, s.URL+"/whip/alpha", key, "vp8")
	if pub.res.StatusCode != http.StatusCreated {
		t.Fatalf("WHIP: %d", pub.res.StatusCode)
	}
	waitFor(t, "the channel to go live", func() bool { return live(s) })

	// Another connection to the database, as the command line opens.
	cli, err := app.OpenCore(context.Background(), s.Cfg, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	u, err := cli.Store.UserByName(context.Background(), "alpha")
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.Auth.SetRole(context.Background(), u.ID, auth.RoleUser); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the demoted streamer's stream to end", func() bool { return !live(s) })

	for name, tok := range map[string]string{"stream key": key, "owner's token": ownerTok} {
		req, _ := http.NewRequest("POST", s.URL+"/whip/alpha", strings.NewReader(pub.pc.LocalDescription().SDP))
		req.Header.Set("Content-Type", "application/sdp")
		req.Header.Set("Authorization", "Bearer "+tok)
		if r := s.Send(req); r.Status != http.StatusForbidden {
			t.Errorf("WHIP with the %s after the demotion: %d %s", name, r.Status, r.Raw)
		}
	}
}
