package web

import (
	"context"
	"fmt"
	"net/http"
	"syscall"
	"time"

	"github.com/fedwave/fedwave/internal/federation"
	"github.com/fedwave/fedwave/internal/sampler"
	"github.com/fedwave/fedwave/internal/store"
)

// overviewLive is a live local channel on the overview.
type overviewLive struct {
	Name    string     `json:"name"`
	Title   string     `json:"title"`
	Owner   string     `json:"owner"`
	Viewers int        `json:"viewers"`
	Since   *time.Time `json:"since"`
}

// overviewCount is how many peers or relays there are, by state.
type overviewCount struct {
	Total   int            `json:"total"`
	ByState map[string]int `json:"byState"`
}

// apiAdminOverview is the overview: what is live, the viewers, the chat
// rate, the last hour's figures, linked sites and relays, and warnings.
func (s *Server) apiAdminOverview(w http.ResponseWriter, r *http.Request, _ *store.User) error {
	local, err := s.channels.Local(r.Context())
	if err != nil {
		return err
	}
	live := []overviewLive{}
	for _, ch := range local {
		if ch.Live {
			live = append(live, overviewLive{Name: ch.Name, Title: ch.Title, Owner: ch.Owner, Viewers: ch.Viewers, Since: ch.StartedAt})
		}
	}
	facts, err := s.siteFacts(r.Context())
	if err != nil {
		return err
	}
	peers := overviewCount{ByState: map[string]int{}}
	for _, p := range facts.Peers {
		peers.Total++
		peers.ByState[peerState(p)]++
	}
	rel := overviewCount{ByState: map[string]int{}}
	for _, x := range facts.Relays {
		rel.Total++
		rel.ByState[x.State]++
	}
	points := []sampler.Point{}
	if s.vitals != nil {
		points = s.vitals.Points()
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"live":       live,
		"viewers":    s.media.People(),
		"chatPerMin": chatPerMin(points),
		"every":      sampler.Every.Seconds(),
		"history":    points,
		"peers":      peers,
		"relays":     rel,
		"warnings":   warningsFor(facts),
	})
	return nil
}

// peerState is a peer's state as the overview counts it: a linked peer
// that is not connected now counts apart.
func peerState(p federation.View) string {
	if p.State == federation.Linked && !p.Connected {
		return "unreachable"
	}
	return p.State
}

// chatPerMin is the chat rate over the last minute of readings.
func chatPerMin(points []sampler.Point) float64 {
	n := min(len(points), int(time.Minute/sampler.Every))
	if n == 0 {
		return 0
	}
	sum := 0.0
	for _, p := range points[len(points)-n:] {
		sum += p.ChatPerMin
	}
	return sum / float64(n)
}

// siteFacts gathers what the warnings are made from.
func (s *Server) siteFacts(ctx context.Context) (siteFacts, error) {
	f := siteFacts{TURN: s.turn != nil}
	f.DiskFree, f.DiskTotal, f.DiskErr = diskSpace(s.dataDir)
	var err error
	if s.fed != nil {
		if f.Peers, err = s.fed.Peers(ctx); err != nil {
			return f, err
		}
	}
	if s.relays != nil {
		if f.Relays, err = s.relays.List(ctx); err != nil {
			return f, err
		}
	}
	return f, nil
}

// diskSpace is the free space (for an unprivileged process) and the size
// of the file system holding dir; nothing to say with no dir (tests that
// run without one).
func diskSpace(dir string) (free, total uint64, err error) {
	if dir == "" {
		return 0, 0, nil
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return st.Bavail * uint64(st.Bsize), st.Blocks * uint64(st.Bsize), nil
}
