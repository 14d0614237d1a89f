package media_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/media"
)

// instance is a media service behind a minimal WHIP/WHEP front (no
// accounts: the web package's checks are tested elsewhere), as an
// instance's media side is seen by a linked one.
type instance struct {
	srv *httptest.Server
	fed media.Federation

	mu        sync.Mutex
	media     *media.Service
	stop      func()         // closes media and its engine
	qualities map[string]int // WHEP sessions started, per quality
	ids       []string       // and their ids
}

func newInstance(t *testing.T, fed media.Federation) *instance {
	t.Helper()
	in := &instance{fed: fed, qualities: map[string]int{}}
	in.restart(t)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{kind}/{channel}", func(w http.ResponseWriter, r *http.Request) {
		offer, _ := io.ReadAll(r.Body)
		var id, answer string
		var err error
		if r.PathValue("kind") == "whip" {
			id, answer, err = in.svc().Publish(r.Context(), r.PathValue("channel"), "owner", string(offer), nil)
		} else {
			q := r.URL.Query().Get("quality")
			id, answer, err = in.svc().Play(r.Context(), r.PathValue("channel"), string(offer), q, "")
			if err == nil {
				in.mu.Lock()
				in.qualities[q]++
				in.ids = append(in.ids, id)
				in.mu.Unlock()
			}
		}
		if err != nil {
			writeFail(w, err)
			return
		}
		w.Header().Set("Location", "/"+r.PathValue("kind")+"/"+r.PathValue("channel")+"/"+id)
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, answer)
	})
	mux.HandleFunc("GET /received", func(w http.ResponseWriter, r *http.Request) {
		pubs, pulls := in.svc().ReceivedBytes()
		json.NewEncoder(w).Encode(map[string]uint64{"publishers": pubs, "pulls": pulls})
	})
	mux.HandleFunc("DELETE /{kind}/{channel}/{id}", func(w http.ResponseWriter, r *http.Request) {
		in.svc().Stop(r.PathValue("id"))
		w.WriteHeader(http.StatusOK)
	})
	in.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		in.srv.Close()
		in.mu.Lock()
		defer in.mu.Unlock()
		in.stop()
	})
	return in
}

// restart replaces the instance's media service (and media port) with a
// new one, as when the process restarts.
func (in *instance) restart(t *testing.T) {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	engine, err := media.NewEngine(media.EngineConfig{ListenIP: "127.0.0.1", Loopback: true, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s := media.New(engine, quiet, nil, nil, in.fed)
	in.mu.Lock()
	old := in.stop
	in.media, in.stop = s, func() { s.Close(); engine.Close() }
	in.mu.Unlock()
	if old != nil {
		old()
	}
}

func (in *instance) svc() *media.Service {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.media
}

func writeFail(w http.ResponseWriter, err error) {
	status, code := http.StatusInternalServerError, "internal"
	if fe, ok := fail.As(err); ok {
		code = fe.Code
		status = map[fail.Kind]int{fail.Invalid: 400, fail.Forbidden: 403, fail.NotFound: 404, fail.Conflict: 409, fail.BadGateway: 502}[fe.Kind]
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": err.Error()}})
}

func (in *instance) host() string { return strings.TrimPrefix(in.srv.URL, "http://") }

func (in *instance) viewers() int {
	_, v := in.svc().Sessions()
	return v
}

// peers sends B's requests to A as they are (the federation package
// signs them; here nothing does).
type peers struct {
	base, host string // A's URL and host
	fail       error  // when set, every request fails with it
}

func peersOf(a *instance) *peers { return &peers{base: a.srv.URL, host: a.host()} }

func (p *peers) Do(ctx context.Context, host, method, path, contentType string, body []byte) (*http.Response, error) {
	if p.fail != nil {
		return nil, p.fail
	}
	if host != p.host {
		return nil, fail.New(fail.Forbidden, "federation_not_linked", "not linked with %s", host)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return http.DefaultClient.Do(req)
}

// counts records OnRemoteViewers reports.
type counts struct {
	mu   sync.Mutex
	last map[string]int
}

func (c *counts) report(host, channel string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last[channel+"@"+host] = n
}

func (c *counts) get(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last[name]
}

// pullGoroutines counts the goroutines of remote pulls.
func pullGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return bytes.Count(buf, []byte("media.(*pull)"))
}

// B serves its viewers of A's channel from one pull per quality used:
// A sees one viewer session per quality whatever B's viewers; B's viewers
// keep their connections and get the stream back when A's publisher
// reconnects, when A drops B's session and when A restarts; a quality
// nobody uses any more is no longer pulled; the pulls end after B's last
// viewer.
func TestRemoteStreamPulledOnce(t *testing.T) {
	a := newInstance(t, media.Federation{})
	seen := &counts{last: map[string]int{}}
	b := newInstance(t, media.Federation{Peers: peersOf(a), OnRemoteViewers: seen.report})
	pub := publish(t, a.srv.URL+"/whip/alice", "", "vp8")
	waitFor(t, "A live", func() bool { live, _, _ := a.svc().Live("alice"); return live })

	remote := "alice@" + a.host()
	url := b.srv.URL + "/whep/" + remote
	viewers := []*viewer{watch(t, url, false), watch(t, url, false), watch(t, url+"?quality=low", false)}
	for i, v := range viewers {
		if v.res.StatusCode != http.StatusCreated {
			t.Fatalf("viewer %d on B: %d", i, v.res.StatusCode)
		}
		waitFor(t, "video and audio on B", func() bool { video, audio := v.counts(); return video > 20 && audio > 20 })
	}
	listener := watch(t, url+"?quality=audio", true)
	waitFor(t, "audio on B", func() bool { _, audio := listener.counts(); return audio > 20 })
	if n := a.viewers(); n != 3 {
		t.Fatalf("A serves %d viewer sessions for B's high, low and audio viewers, want 3", n)
	}
	a.mu.Lock()
	if a.qualities["high"] != 1 || a.qualities["low"] != 1 || a.qualities["audio"] != 1 {
		t.Errorf("A's sessions by quality: %v", a.qualities)
	}
	a.mu.Unlock()
	waitFor(t, "B to report its 4 viewers", func() bool { return seen.get(remote) == 4 })
	listener.pc.Close()
	waitFor(t, "the audio pull to end", func() bool { return a.viewers() == 2 })

	// A's publisher reconnects: B's viewers get video again on the same
	// connections.
	pub.stop()
	waitFor(t, "A offline", func() bool { live, _, _ := a.svc().Live("alice"); return !live })
	before := make([]int, len(viewers))
	for i, v := range viewers {
		before[i], _ = v.counts()
	}
	publish(t, a.srv.URL+"/whip/alice", "", "vp8")
	for _, i := range []int{0, 2} {
		v := viewers[i]
		waitFor(t, "video again on B", func() bool { video, _ := v.counts(); return video > before[i]+50 })
	}

	// The link drops (A ends B's session): the pull comes back by itself.
	a.mu.Lock()
	a.qualities = map[string]int{}
	a.mu.Unlock()
	for _, id := range a.sessionIDs() {
		a.svc().Stop(id)
	}
	v := viewers[0]
	mid, _ := v.counts()
	waitLonger(t, "video again after the pull dropped", 30*time.Second, func() bool { video, _ := v.counts(); return video > mid+50 })

	// A restarts, with a new media port: the pulls come back by themselves.
	a.restart(t)
	publish(t, a.srv.URL+"/whip/alice", "", "vp8")
	mid, _ = v.counts()
	waitLonger(t, "video again after A restarted", 30*time.Second, func() bool { video, _ := v.counts(); return video > mid+50 })

	// B's high viewers switch to low: the high pull ends, their video goes on.
	for _, v := range viewers[:2] {
		loc := strings.Split(v.res.Header.Get("Location"), "/")
		if err := b.svc().SetQuality(loc[len(loc)-1], "low"); err != nil {
			t.Fatal(err)
		}
	}
	waitLonger(t, "the high pull to end", 30*time.Second, func() bool { return a.viewers() == 1 })
	mid, _ = v.counts()
	waitFor(t, "video at low quality", func() bool { video, _ := v.counts(); return video > mid+50 })

	for _, v := range viewers {
		v.pc.Close()
	}
	waitLonger(t, "A's sessions for B to end", 30*time.Second, func() bool { return a.viewers() == 0 })
	waitFor(t, "B to report no viewers", func() bool { return seen.get(remote) == 0 })
	// A forgets its sessions as B's DELETEs arrive, a moment before B's
	// pulls finish ending: wait for B, as for everything else here.
	waitFor(t, "B to show the remote channel offline without a pull", func() bool {
		live, _, _ := b.svc().Live(remote)
		return !live
	})
	waitFor(t, "the pulls' goroutines to end", func() bool { return pullGoroutines() == 0 })
}

// sessionIDs lists the viewer sessions the instance started.
func (in *instance) sessionIDs() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string(nil), in.ids...)
}

// A viewer of a remote channel gets the error of its pull's start: the
// federation's own, or peer_unreachable; and nothing is left running.
func TestRemoteStreamErrors(t *testing.T) {
	a := newInstance(t, media.Federation{})
	refused := fail.New(fail.Forbidden, "federation_refused", "refused")
	for _, c := range []struct {
		peers media.Peers
		code  string
	}{
		{&peers{fail: refused}, "federation_refused"},
		{&peers{fail: errors.New("connection refused")}, "peer_unreachable"},
		{peersOf(a), "offline"}, // A is linked but alice is not live there
		{nil, "federation_not_linked"},
	} {
		b := newInstance(t, media.Federation{Peers: c.peers})
		v := watch(t, b.srv.URL+"/whep/alice@"+a.host(), false)
		var body struct {
			Error struct{ Code string } `json:"error"`
		}
		json.NewDecoder(v.res.Body).Decode(&body)
		if body.Error.Code != c.code {
			t.Errorf("want %s: %d %s", c.code, v.res.StatusCode, body.Error.Code)
		}
	}
	waitFor(t, "the pulls' goroutines to end", func() bool { return pullGoroutines() == 0 })
}
