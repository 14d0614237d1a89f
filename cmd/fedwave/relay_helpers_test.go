package main

// Helpers of the stream chain's tests: an origin, relay processes, chain
// viewers, the relay list and the tree.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/config"
	"github.com/fedwave/fedwave/internal/loadtest"
)

// chainSite is an origin with a streamer alice (her stream key), another
// streamer bob and an admin.
type chainSite struct {
	t            *testing.T
	s            *apiClient
	bin, host    string
	pid          int    // the origin's process, when it is a child
	admin, owner string // tokens
	key          string
	api          *webrtc.API
	wait         time.Duration
	viewers      []*loadtest.ChainViewer
}

func newChainSite(t *testing.T) *chainSite {
	t.Helper()
	api, err := loadtest.NewViewerAPI(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &chainSite{t: t, bin: buildBinary(t), api: api, wait: 30 * time.Second}
}

// startChainOrigin runs the origin in this process.
func startChainOrigin(t *testing.T, maxViewers, originRelays int) *chainSite {
	t.Helper()
	s := apptest.Start(t, func(c *config.Config) { c.MaxViewers, c.OriginRelays = maxViewers, originRelays })
	s.CreateUser("boss", "password1", auth.RoleAdmin)
	s.CreateUser("alice", "password1", auth.RoleStreamer)
	s.CreateUser("bob", "password1", auth.RoleStreamer)
	c := newChainSite(t)
	c.s, c.host = &apiClient{t: t, URL: s.URL}, strings.TrimPrefix(s.URL, "http://")
	c.admin, c.owner = s.Login("boss", "password1"), s.Login("alice", "password1")
	c.key, _ = s.Do("POST", "/api/v1/channels/alice/stream-key", nil, c.owner).Body["streamKey"].(string)
	if c.key == "" {
		t.Fatal("no stream key")
	}
	return c
}

// apiClient calls a site's API.
type apiClient struct {
	t   *testing.T
	URL string
}

// Do sends a request with an optional JSON body and bearer token.
func (a *apiClient) Do(method, path string, body any, token string) *apptest.Response {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, a.URL+path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	r := &apptest.Response{Status: res.StatusCode, Header: res.Header}
	r.Raw, _ = io.ReadAll(res.Body)
	json.Unmarshal(r.Raw, &r.Body)
	return r
}

func (a *apiClient) Login(name, password string) string {
	a.t.Helper()
	r := a.Do("POST", "/api/v1/login", map[string]string{"name": name, "password": password}, "")
	tok, _ := r.Body["token"].(string)
	if tok == "" {
		a.t.Fatalf("login %s: %d %s", name, r.Status, r.Raw)
	}
	return tok
}

// publish starts the synthetic stream for the rest of the test.
func (c *chainSite) publish() {
	c.t.Helper()
	p, err := loadtest.Publish(context.Background(), loadtest.MediaOptions{WHIP: c.s.URL + "/whip/alice", Key: c.key, Bitrate: 300_000})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(p.Close)
}

// watch starts n viewers of alice's channel, closed at cleanup.
func (c *chainSite) watch(n int) []*loadtest.ChainViewer {
	c.t.Helper()
	out := make([]*loadtest.ChainViewer, n)
	for i := range out {
		v, err := loadtest.WatchChain(context.Background(), loadtest.ChainOptions{WHEP: c.s.URL + "/whep/alice", API: c.api})
		if err != nil {
			c.t.Fatal(err)
		}
		c.t.Cleanup(func() { v.Close() })
		out[i] = v
		c.viewers = append(c.viewers, v)
	}
	return out
}

func (c *chainSite) waitPlaying(viewers []*loadtest.ChainViewer, what string) {
	c.t.Helper()
	c.waitFor(what+" playing", func() bool {
		for _, v := range viewers {
			if !v.State().Playing {
				return false
			}
		}
		return true
	})
}

func (c *chainSite) viewerStates() string {
	var b strings.Builder
	for i, v := range c.viewers {
		s := v.State()
		fmt.Fprintf(&b, "\n  %d: host %s playing %v relinks %d last error %q", i, s.Host, s.Playing, len(s.Relinks), s.Err)
	}
	return b.String()
}

func hostsOf(viewers []*loadtest.ChainViewer) map[string]int {
	h := map[string]int{}
	for _, v := range viewers {
		h[v.State().Host]++
	}
	return h
}

func (c *chainSite) waitFor(what string, cond func() bool) {
	c.t.Helper()
	start := time.Now()
	deadline := start.Add(c.wait)
	defer func() { c.t.Logf("%s after %s", what, time.Since(start).Round(time.Millisecond)) }()
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("waited %s for %s; viewers:%s", c.wait, what, c.viewerStates())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// placement asks the origin where a viewer goes, without following; it
// holds a placement (a reservation on a relay) for a few seconds. want
// other than 0 is the status wanted.
func (c *chainSite) placement(want int) *http.Response {
	c.t.Helper()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.Post(c.s.URL+"/whep/alice", "application/sdp", strings.NewReader("v=0"))
	if err != nil {
		c.t.Fatal(err)
	}
	res.Body.Close()
	if want != 0 && res.StatusCode != want {
		c.t.Fatalf("origin's POST /whep/alice: %d, want %d", res.StatusCode, want)
	}
	return res
}

// relayView is a relay as GET /api/v1/relays lists it.
type relayView struct {
	Name      string `json:"name"`
	URL       string `json:"url"`
	State     string `json:"state"`
	Connected bool   `json:"connected"`
	Viewers   int    `json:"viewers"`
	Capacity  int    `json:"capacity"`
	Uptime    int64  `json:"uptime"`
	Parent    string `json:"parent"`
}

func (c *chainSite) relayList() map[string]relayView {
	c.t.Helper()
	var body struct{ Relays []relayView }
	if st := getJSON(c.t, c.s.URL+"/api/v1/relays", c.admin, &body); st != http.StatusOK {
		c.t.Fatalf("GET /api/v1/relays: %d", st)
	}
	m := map[string]relayView{}
	for _, r := range body.Relays {
		m[r.Name] = r
	}
	return m
}

func (c *chainSite) waitRelays(what string, cond func(map[string]relayView) bool) {
	c.t.Helper()
	c.waitFor(what, func() bool { return cond(c.relayList()) })
}

// tree is alice's tree in a compact form: kind name:viewers(children),
// the origin without its name.
func (c *chainSite) tree(token string) string {
	c.t.Helper()
	var body struct{ Root treeNode }
	if st := getJSON(c.t, c.s.URL+"/api/v1/channels/alice/tree", token, &body); st != http.StatusOK {
		c.t.Fatalf("tree: %d", st)
	}
	return body.Root.String()
}

type treeNode struct {
	Kind     string     `json:"kind"`
	Name     string     `json:"name"`
	Viewers  int        `json:"viewers"`
	Children []treeNode `json:"children"`
}

func (n treeNode) String() string {
	var b strings.Builder
	if n.Kind == "origin" {
		b.WriteString("origin")
	} else {
		b.WriteString(n.Kind + " " + n.Name)
	}
	b.WriteString(":" + strconv.Itoa(n.Viewers) + "(")
	for i, k := range n.Children {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(k.String())
	}
	return b.String() + ")"
}

// relayProc is a `fedwave relay` child process.
type relayProc struct {
	name, base, host string
	cmd              *exec.Cmd
	out              *lockedBuffer
	exited           chan struct{}
}

// startRelay creates a relay token named name on the origin and runs a
// relay with it, on loopback; it returns once the relay answers.
func (c *chainSite) startRelay(name string, extra ...string) *relayProc {
	c.t.Helper()
	r := c.s.Do("POST", "/api/v1/relays", map[string]string{"name": name}, c.admin)
	token, _ := r.Body["token"].(string)
	if r.Status != http.StatusCreated || token == "" {
		c.t.Fatalf("create relay %s: %d %s", name, r.Status, r.Raw)
	}
	return runRelay(c.t, c.bin, name, c.s.URL, token, extra...)
}

func runRelay(t *testing.T, bin, name, origin, token string, extra ...string) *relayProc {
	t.Helper()
	addr := freeAddr(t)
	p := &relayProc{name: name, host: addr, base: "http://" + addr, out: &lockedBuffer{}, exited: make(chan struct{})}
	args := append([]string{"relay", "--origin", origin, "--http", addr, "--public-url", p.base, "--media-port", "0", "--media-loopback"}, extra...)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), "FEDWAVE_TOKEN="+token) // as the docs advise: not on the command line
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.exited:
			case <-time.After(10 * time.Second):
				p.cmd.Process.Kill()
				<-p.exited
				t.Errorf("relay %s did not stop within 10 s of SIGTERM", name)
			}
		}
		if t.Failed() {
			t.Logf("relay %s said:\n%s", name, p.out.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(p.base + "/healthz")
		if err == nil {
			res.Body.Close()
			return p
		}
		select {
		case <-p.exited:
			t.Fatalf("relay %s exited: %s", name, p.out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay %s never answered: %v", name, err)
		}
	}
}

// kill SIGKILLs the relay and waits for it to be gone.
func (p *relayProc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// post sends body (or nothing) as an SDP offer and returns the status and
// the error code.
func post(t *testing.T, u string, body []byte) (int, string) {
	t.Helper()
	res, err := http.Post(u, "application/sdp", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var e struct{ Error struct{ Code string } }
	json.NewDecoder(res.Body).Decode(&e)
	return res.StatusCode, e.Error.Code
}

func getJSON(t testing.TB, u, token string, v any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	json.NewDecoder(res.Body).Decode(v)
	return res.StatusCode
}

// lockedBuffer is a process's output, read while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
