package activitypub

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/activitypub/httpsig"
	"github.com/fedwave/fedwave/internal/store"
)

// TestDeliveryMeasure measures one go-live post delivered to 1,000
// followers on 100 servers (127.0.0.1), with personal inboxes and with a
// shared inbox per server: wall time and memory, each inbox checking the
// signature it gets. FEDWAVE_AP_BENCH=1 runs it:
//
//	FEDWAVE_AP_BENCH=1 go test -run TestDeliveryMeasure -v ./internal/activitypub/
func TestDeliveryMeasure(t *testing.T) {
	if os.Getenv("FEDWAVE_AP_BENCH") != "1" {
		t.Skip("FEDWAVE_AP_BENCH=1 runs the delivery measurement")
	}
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared=%v", shared), func(t *testing.T) { measureDelivery(t, 100, 10, shared) })
	}
}

func measureDelivery(t *testing.T, hosts, perHost int, shared bool) {
	q := newQueueSite(t)
	fs := &fakeStream{st: Stream{Name: "alice", Title: "Benchmark", Thumbnail: "/thumbs/alice.jpg"}}
	svc := q.start(DeliveryConfig{}, fs.get, 0)
	var mu sync.Mutex
	got := map[string]int{} // inbox URL → verified deliveries
	var bad atomic.Int32
	ctx := context.Background()
	want := 0
	for range hosts {
		var srv *httptest.Server
		srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			sig, err := httpsig.Parse(r)
			if err == nil {
				err = httpsig.Verify(r, body, sig, &q.key.PublicKey, time.Now())
			}
			if err != nil || !strings.Contains(string(body), `"Create"`) {
				bad.Add(1)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			mu.Lock()
			got[srv.URL+r.URL.Path]++
			mu.Unlock()
			w.WriteHeader(http.StatusAccepted)
		}))
		t.Cleanup(srv.Close)
		for i := range perHost {
			f := &store.Follower{Channel: "alice", Actor: fmt.Sprintf("%s/users/u%d", srv.URL, i)}
			f.Inbox = f.Actor + "/inbox"
			if shared {
				f.SharedInbox = srv.URL + "/inbox"
			}
			if err := q.st.AddFollower(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
		want += perHost
		if shared {
			want -= perHost - 1
		}
	}

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rssBefore := procStatus("VmRSS")
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	cpuBefore := cpuTime()
	start := time.Now()
	fs.set(true)
	svc.StreamChanged("alice")
	waitFor(t, "every inbox to get the post", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= want
	})
	elapsed := time.Since(start)
	cpu := cpuTime() - cpuBefore
	close(stop)
	<-sampled
	runtime.ReadMemStats(&after)
	waitFor(t, "the queue to empty", func() bool { return q.queued() == 0 })

	mu.Lock()
	defer mu.Unlock()
	for inbox, n := range got {
		if n != 1 {
			t.Errorf("%s got the post %d times", inbox, n)
		}
	}
	if len(got) != want || bad.Load() != 0 {
		t.Fatalf("%d inboxes reached (want %d), %d bad signatures", len(got), want, bad.Load())
	}
	t.Logf("%d followers on %d hosts, shared inboxes %v: %d POSTs in %v (CPU %v, senders and receivers); heap peak %.1f MiB (%.1f MiB before), %.1f MiB allocated in %d allocations; RSS %s before, %s now, peak %s (receivers included)",
		hosts*perHost, hosts, shared, want, elapsed.Round(time.Millisecond), cpu.Round(time.Millisecond),
		float64(peak.Load())/(1<<20), float64(before.HeapAlloc)/(1<<20),
		float64(after.TotalAlloc-before.TotalAlloc)/(1<<20), after.Mallocs-before.Mallocs,
		rssBefore, procStatus("VmRSS"), procStatus("VmHWM"))
}

// cpuTime is the CPU time the process has used (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procStatus reads one field of /proc/self/status ("?" where there is
// none).
func procStatus(field string) string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
