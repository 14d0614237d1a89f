package web

import (
	"errors"
	"strings"
	"testing"

	"github.com/fedwave/fedwave/internal/federation"
	"github.com/fedwave/fedwave/internal/relays"
)

// codes are the warnings' codes, in order; each must say what to do.
func codes(t *testing.T, ws []warning) string {
	t.Helper()
	var out []string
	for _, w := range ws {
		if w.Text == "" || w.Fix == "" {
			t.Errorf("warning %s lacks its text or what to do: %+v", w.Code, w)
		}
		out = append(out, w.Code)
	}
	return strings.Join(out, " ")
}

// TestWarnings: each rule, on facts made up for it.
func TestWarnings(t *testing.T) {
	const gib = 1 << 30
	healthy := siteFacts{TURN: true, DiskFree: 50 * gib, DiskTotal: 100 * gib,
		Peers:  []federation.View{{Domain: "ok.example", State: federation.Linked, Connected: true}, {Domain: "new.example", State: federation.PendingOut, LastError: "refused"}},
		Relays: []relays.View{{Name: "up", State: "connected"}, {Name: "gone", State: "revoked"}}}
	cases := []struct {
		name   string
		change func(f *siteFacts)
		want   string
	}{
		{"healthy", func(f *siteFacts) {}, ""},
		{"TURN off", func(f *siteFacts) { f.TURN = false }, "no_turn"},
		{"under 1 GiB free", func(f *siteFacts) { f.DiskFree = gib - 1 }, "disk_low"},
		{"under 5% free of a big disk", func(f *siteFacts) { f.DiskFree, f.DiskTotal = 4*gib, 100*gib }, "disk_low"},
		{"6% free of a big disk", func(f *siteFacts) { f.DiskFree, f.DiskTotal = 6*gib, 100*gib }, ""},
		{"disk unreadable", func(f *siteFacts) { f.DiskErr = errors.New("no such directory") }, "disk_unknown"},
		{"a linked peer failing", func(f *siteFacts) {
			f.Peers = append(f.Peers, federation.View{Domain: "down.example", State: federation.Linked, LastError: "connection refused"})
		}, "peer_failing"},
		{"a relay down", func(f *siteFacts) { f.Relays = append(f.Relays, relays.View{Name: "attic", State: "disconnected"}) }, "relay_down"},
		{"all at once", func(f *siteFacts) {
			f.TURN, f.DiskFree = false, 1
			f.Peers[0].Connected, f.Peers[0].LastError = false, "timeout"
			f.Relays[0].State = "disconnected"
		}, "no_turn disk_low peer_failing relay_down"},
	}
	for _, c := range cases {
		f := healthy
		f.Peers = append([]federation.View(nil), healthy.Peers...)
		f.Relays = append([]relays.View(nil), healthy.Relays...)
		c.change(&f)
		ws := warningsFor(f)
		if got := codes(t, ws); got != c.want {
			t.Errorf("%s: warnings %q, want %q", c.name, got, c.want)
		}
	}
	w := warningsFor(siteFacts{TURN: true, DiskFree: 300 << 20, DiskTotal: 20 * gib})[0]
	if !strings.Contains(w.Text, "300.0 MiB free of 20.0 GiB") {
		t.Errorf("the disk warning says %q", w.Text)
	}
	w = warningsFor(siteFacts{TURN: true, Peers: []federation.View{{Domain: "down.example", State: federation.Linked, LastError: "connection refused"}}})[0]
	if !strings.Contains(w.Text, "down.example") || !strings.Contains(w.Text, "connection refused") || w.Link != "/federation" {
		t.Errorf("the peer warning: %+v", w)
	}
}
