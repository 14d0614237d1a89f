package activitypub

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/activitypub/httpsig"
	"github.com/fedwave/fedwave/internal/store"
)

// quick retries: the tests wait for conditions, never for backoff.
var quick = DeliveryConfig{RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond}

// queueSite is a FedWave fediverse service on a database file, so that a
// second one can take over its queue.
type queueSite struct {
	t   *testing.T
	db  string
	key *rsa.PrivateKey
	st  *store.SQLite
	svc *Service
}

func newQueueSite(t *testing.T) *queueSite {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	q := &queueSite{t: t, db: filepath.Join(t.TempDir(), "fw.db"), key: key}
	t.Cleanup(q.stop)
	return q
}

// start opens the database and starts a service on it with d and stream.
func (q *queueSite) start(d DeliveryConfig, stream func(context.Context, string) (Stream, error), cooldown time.Duration) *Service {
	q.t.Helper()
	st, err := store.OpenSQLite(context.Background(), q.db)
	if err != nil {
		q.t.Fatal(err)
	}
	svc, err := New(Deps{Store: st, Key: q.key, PublicURL: "http://fedwave.example", AllowPrivate: true,
		Delivery: d, Stream: stream, Cooldown: cooldown})
	if err != nil {
		q.t.Fatal(err)
	}
	q.st, q.svc = st, svc
	return svc
}

// stop closes the service, then its database.
func (q *queueSite) stop() {
	if q.svc != nil {
		q.svc.Close()
		q.st.Close()
		q.svc, q.st = nil, nil
	}
}

// waitFor polls cond until it holds, failing after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (q *queueSite) queued() int {
	q.t.Helper()
	n, err := q.st.CountDeliveries(context.Background())
	if err != nil {
		q.t.Fatal(err)
	}
	return n
}

// noQueueGoroutines fails if a stopped service left a queue or delivery
// goroutine behind (Close waits for them).
func noQueueGoroutines(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, f := range []string{"activitypub.(*Service).runQueue", "activitypub.(*Service).attempt", "activitypub.(*Service).deliver"} {
		if strings.Contains(stacks, f) {
			t.Fatalf("%s still running after Close", f)
		}
	}
}

// inbox is a remote inbox answering with status(n) to its n-th POST (from
// 1), counting the POSTs whose signature verifies with key.
type inbox struct {
	srv      *httptest.Server
	posts    atomic.Int32
	verified atomic.Int32
	bodies   chan []byte
}

func newInbox(t *testing.T, key *rsa.PublicKey, status func(n int32) int) *inbox {
	in := &inbox{bodies: make(chan []byte, 100)}
	in.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := in.posts.Add(1)
		body, _ := io.ReadAll(r.Body)
		code := status(n)
		if sig, err := httpsig.Parse(r); err == nil && httpsig.Verify(r, body, sig, key, time.Now()) == nil && code/100 == 2 {
			in.verified.Add(1)
			in.bodies <- body
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(in.srv.Close)
	return in
}

func (in *inbox) url() string { return in.srv.URL + "/inbox" }

// A server failing twice, then accepting, gets the activity once.
func TestDeliveryRetries(t *testing.T) {
	q := newQueueSite(t)
	svc := q.start(quick, nil, 0)
	in := newInbox(t, &q.key.PublicKey, func(n int32) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusAccepted
	})
	if err := svc.send(context.Background(), "alice", []byte(`{"type":"Create"}`), []string{in.url()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the queue to empty", func() bool { return q.queued() == 0 })
	if in.posts.Load() != 3 || in.verified.Load() != 1 {
		t.Fatalf("%d POSTs, %d accepted and verified; want 3 and 1", in.posts.Load(), in.verified.Load())
	}
}

// A refusal for good (a 4xx but 408 and 429) is not tried again; 429 is.
func TestDeliveryPermanentFailureDropped(t *testing.T) {
	q := newQueueSite(t)
	svc := q.start(quick, nil, 0)
	gone := newInbox(t, &q.key.PublicKey, func(int32) int { return http.StatusGone })
	busy := newInbox(t, &q.key.PublicKey, func(n int32) int {
		if n == 1 {
			return http.StatusTooManyRequests
		}
		return http.StatusOK
	})
	if err := svc.send(context.Background(), "alice", []byte(`{}`), []string{gone.url(), busy.url()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the queue to empty", func() bool { return q.queued() == 0 })
	if gone.posts.Load() != 1 {
		t.Errorf("410 inbox: %d POSTs, want 1", gone.posts.Load())
	}
	if busy.posts.Load() != 2 || busy.verified.Load() != 1 {
		t.Errorf("429 inbox: %d POSTs, %d accepted; want 2 and 1", busy.posts.Load(), busy.verified.Load())
	}
}

// A delivery under way when the site stops is made by the next start, on
// the same database.
func TestDeliverySurvivesRestart(t *testing.T) {
	q := newQueueSite(t)
	svc := q.start(quick, nil, 0)
	var hang atomic.Bool
	hang.Store(true)
	arrived := make(chan struct{}, 10)
	in := newInbox(t, &q.key.PublicKey, func(int32) int { return http.StatusAccepted })
	blocking := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hang.Load() {
			io.ReadAll(r.Body) // so that the server sees the sender hang up
			arrived <- struct{}{}
			<-r.Context().Done() // the sender gives up when it stops
			return
		}
		in.srv.Config.Handler.ServeHTTP(w, r)
	}))
	defer blocking.Close()
	if err := svc.send(context.Background(), "alice", []byte(`{"type":"Create"}`), []string{blocking.URL + "/inbox"}); err != nil {
		t.Fatal(err)
	}
	<-arrived
	q.stop()
	noQueueGoroutines(t)
	hang.Store(false)
	q.start(quick, nil, 0)
	waitFor(t, "the queue to empty", func() bool { return q.queued() == 0 })
	if in.verified.Load() != 1 {
		t.Fatalf("%d deliveries after the restart, want 1", in.verified.Load())
	}
}

// No more than PerHost deliveries run at once against one server.
func TestDeliveryPerHostLimit(t *testing.T) {
	q := newQueueSite(t)
	svc := q.start(DeliveryConfig{PerHost: 2}, nil, 0)
	var mu sync.Mutex
	now, most := 0, 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		now++
		most = max(most, now)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond) // gives overlapping requests a chance to show
		mu.Lock()
		now--
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	var inboxes []string
	for i := range 10 {
		inboxes = append(inboxes, srv.URL+"/users/u"+string(rune('a'+i))+"/inbox")
	}
	if err := svc.send(context.Background(), "alice", []byte(`{}`), append(inboxes, inboxes...)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the queue to empty", func() bool { return q.queued() == 0 })
	mu.Lock()
	defer mu.Unlock()
	if most > 2 {
		t.Fatalf("%d deliveries at once to one host, want at most 2", most)
	}
}

// The queue is bounded per host and in all.
func TestDeliveryQueueBounded(t *testing.T) {
	q := newQueueSite(t)
	// Retries an hour away: nothing leaves the queue during the test.
	svc := q.start(DeliveryConfig{RetryMin: time.Hour, Limits: store.QueueLimits{PerHost: 3, Total: 5}}, nil, 0)
	var inboxes []string
	for _, h := range []string{"a.invalid", "b.invalid", "c.invalid"} {
		for i := range 4 {
			inboxes = append(inboxes, "http://"+h+"/users/"+string(rune('a'+i))+"/inbox")
		}
	}
	if err := svc.send(context.Background(), "alice", []byte(`{}`), inboxes); err != nil {
		t.Fatal(err)
	}
	if n := q.queued(); n != 5 {
		t.Fatalf("%d queued, want 5 (3 for the first host, 2 more to the total)", n)
	}
}
