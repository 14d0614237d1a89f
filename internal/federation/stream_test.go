package federation_test

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/loadtest"
)

// gauge reads one value of a site's /metrics (served to loopback).
func gauge(t testing.TB, s *site, name string) int {
	t.Helper()
	res, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	return -1
}

// B's viewers of alice@A are served by B, which pulls A's stream once.
func TestStreamAcrossSites(t *testing.T) {
	a, b := startSite(t), startSite(t)
	link(t, b, a)
	_, aliceT := a.user(t, "alice", auth.RoleStreamer)
	r := a.Do("POST", "/api/v1/channels/alice/stream-key", nil, aliceT)
	key, _ := r.Body["streamKey"].(string)
	if key == "" {
		t.Fatalf("stream key: %d %s", r.Status, r.Raw)
	}
	room := "alice@" + a.host
	eventually(t, "alice@A listed on B", func() bool { return b.channel(t, room) != nil })

	var maxA, maxB, people atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			if n := int64(gauge(t, a, "fedwave_media_viewers")); n > maxA.Load() {
				maxA.Store(n)
			}
			if n := int64(gauge(t, b, "fedwave_media_viewers")); n > maxB.Load() {
				maxB.Store(n)
			}
			r := a.Do("GET", "/api/v1/channels/alice", nil, "")
			if n, _ := r.Body["channel"].(map[string]any)["viewers"].(float64); int64(n) > people.Load() {
				people.Store(int64(n))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	rep, err := loadtest.RunMedia(context.Background(), loadtest.MediaOptions{
		WHIP: a.URL + "/whip/alice", Key: key, WHEP: b.URL + "/whep/" + room,
		Viewers: 3, Duration: 2 * time.Second, Bitrate: 300_000, Metrics: "-", JoinParallel: 3,
	})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if rep.Joined != 3 {
		t.Fatalf("%d of 3 viewers on B received A's video", rep.Joined)
	}
	if maxB.Load() != 3 || maxA.Load() != 1 {
		t.Fatalf("viewer sessions: %d on A (want 1 pull), %d on B (want 3)", maxA.Load(), maxB.Load())
	}
	if people.Load() != 3 {
		t.Fatalf("A counted %d people on alice, want B's 3 viewers (and not the pull)", people.Load())
	}
	eventually(t, "the pull ends after B's last viewer", func() bool { return gauge(t, a, "fedwave_media_viewers") == 0 })
}
