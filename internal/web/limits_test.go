package web_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/config"
)

// stalledBody sends a request's head announcing a body, and part of that
// body, then nothing. It reports whether the server closed the connection
// (instead of waiting forever); a server that answers first is fine as long
// as it closes too.
func stalledBody(t *testing.T, s *apptest.Server, method, path, token string) bool {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n", method, path, strings.TrimPrefix(s.URL, "http://"))
	if token != "" {
		head += "Authorization: Bearer " + token + "\r\n"
	}
	if _, err := io.WriteString(conn, head+"\r\n{\"name\":\"x"); err != nil {
		t.Fatal(err)
	}
	// The deadline only keeps a broken server from hanging the test; the
	// server's timeout is far shorter.
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.Copy(io.Discard, conn)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// TestStalledBodiesAreCut: a client that announces a body and stops sending
// it loses its connection, on every kind of route (JSON, uploads), while a
// chat WebSocket lives on past the same timeout.
func TestStalledBodiesAreCut(t *testing.T) {
	s := apptest.Start(t, func(c *config.Config) { c.RequestTimeout = time.Second })
	s.CreateUser("boss", "password1", auth.RoleAdmin)
	admin := s.Login("boss", "password1")
	s.CreateUser("stella", "password1", auth.RoleStreamer)
	streamer := s.Login("stella", "password1")

	ws := s.Dial(admin)
	for _, c := range []struct{ method, path, token string }{
		{"POST", "/api/v1/login", ""},
		{"POST", "/login", ""},
		{"PUT", "/api/v1/emotes/kappa", admin},
		{"PUT", "/api/v1/channels/stella/thumbnail", streamer},
		{"POST", "/whep/stella", ""},
	} {
		if !stalledBody(t, s, c.method, c.path, c.token) {
			t.Errorf("%s %s: a stalled body kept the connection open", c.method, c.path)
		}
	}
	// Well past the timeout, the WebSocket still works.
	ws.Join("stella", nil)
	ws.Say("stella", "still here", "n1")
}

// TestTrustedProxy: X-Forwarded-For names the client only when the peer is
// a trusted proxy; then each client behind it has its own limits, IPv6
// clients per /64.
func TestTrustedProxy(t *testing.T) {
	login := func(s *apptest.Server, xff ...string) int {
		req := mustReq(t, "POST", s.URL+"/api/v1/login", func(h http.Header) {
			h.Set("Content-Type", "application/json")
			for _, v := range xff {
				h.Add("X-Forwarded-For", v)
			}
		})
		req.Body = io.NopCloser(strings.NewReader(`{"name":"nobody","password":"password1"}`))
		return s.Send(req).Status
	}
	exhaust := func(s *apptest.Server, xff string) {
		t.Helper()
		for range 3 {
			login(s, xff)
		}
		if st := login(s, xff); st != 429 {
			t.Fatalf("attempt 4 from %q: %d, want 429", xff, st)
		}
	}

	// No trusted proxy: the header is the attacker's and changes nothing.
	s := apptest.Start(t, func(c *config.Config) { c.AuthRate = 3 })
	exhaust(s, "198.51.100.1")
	if st := login(s, "198.51.100.2"); st != 429 {
		t.Fatalf("a forged X-Forwarded-For escaped the limit: %d", st)
	}

	p := apptest.Start(t, func(c *config.Config) {
		c.AuthRate = 3
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("192.0.2.0/24")}
	})
	exhaust(p, "198.51.100.1")
	if st := login(p, "198.51.100.2"); st != 401 {
		t.Fatalf("another client behind the proxy: %d, want 401", st)
	}
	// The rightmost untrusted hop counts: what the client wrote to the left
	// of it is not believed, and trusted hops to its right are skipped.
	if st := login(p, "203.0.113.50, 198.51.100.1"); st != 429 {
		t.Fatalf("a client prepending a forged hop escaped its limit: %d", st)
	}
	if st := login(p, "198.51.100.1, 192.0.2.9"); st != 429 {
		t.Fatalf("a client behind two trusted proxies escaped its limit: %d", st)
	}
	if st := login(p, "198.51.100.1", "192.0.2.9"); st != 429 {
		t.Fatalf("X-Forwarded-For split over two headers: %d", st)
	}
	// IPv6: one /64 is one client.
	exhaust(p, "2001:db8:1:2::1")
	if st := login(p, "2001:db8:1:2:ffff::9"); st != 429 {
		t.Fatalf("another address of the same /64 escaped the limit: %d", st)
	}
	if st := login(p, "2001:db8:1:3::1"); st != 401 {
		t.Fatalf("another /64: %d, want 401", st)
	}
}

// TestConnLimitBehindProxy: chat connections are counted per client behind
// a trusted proxy, and per peer otherwise.
func TestConnLimitBehindProxy(t *testing.T) {
	dial := func(s *apptest.Server, xff string) int {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/ws",
			&websocket.DialOptions{HTTPHeader: http.Header{"X-Forwarded-For": {xff}}})
		if err == nil {
			t.Cleanup(func() { conn.CloseNow() })
			return res.StatusCode
		}
		if res == nil {
			t.Fatal(err)
		}
		return res.StatusCode
	}
	s := apptest.Start(t, func(c *config.Config) { c.ConnsPerIP = 1 })
	dial(s, "198.51.100.1")
	if st := dial(s, "198.51.100.2"); st != 429 {
		t.Fatalf("forged X-Forwarded-For: %d, want 429", st)
	}
	p := apptest.Start(t, func(c *config.Config) {
		c.ConnsPerIP = 1
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	if st := dial(p, "198.51.100.1"); st != 101 {
		t.Fatalf("first client: %d", st)
	}
	if st := dial(p, "198.51.100.2"); st != 101 {
		t.Fatalf("second client behind the proxy: %d, want 101", st)
	}
	if st := dial(p, "198.51.100.1"); st != 429 {
		t.Fatalf("first client again: %d, want 429", st)
	}
}

// TestMetricsThroughTrustedProxy: a request the local proxy relays is not
// local, whatever address the proxy names; a direct local scrape is.
func TestMetricsThroughTrustedProxy(t *testing.T) {
	p := apptest.Start(t, func(c *config.Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	for _, h := range []string{"X-Forwarded-For", "X-Real-Ip", "Forwarded"} {
		r := p.Send(mustReq(t, "GET", p.URL+"/metrics", func(hd http.Header) { hd.Set(h, "127.0.0.1") }))
		if r.Status != 401 {
			t.Errorf("metrics relayed with %s: %d, want 401", h, r.Status)
		}
	}
	if r := p.Do("GET", "/metrics", nil, ""); r.Status != 200 {
		t.Fatalf("local scrape: %d", r.Status)
	}
}

// TestDataFilesArePrivate: the database (and its WAL files), the keys and
// the data directory are for FedWave's user only, also when an older
// version left them readable.
func TestDataFilesArePrivate(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	os.WriteFile(dir+"/fedwave.db", nil, 0o644) // an empty file is an empty database
	os.Chmod(dir+"/fedwave.db", 0o644)
	s := apptest.Start(t, func(c *config.Config) { c.DataDir = dir })
	s.CreateUser("walter", "password1", auth.RoleUser) // writes the WAL
	check := func(p string, want os.FileMode) {
		t.Helper()
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, info.Mode().Perm(), want)
		}
	}
	check(dir, 0o700)
	check(dir+"/keys", 0o700)
	for _, f := range []string{"fedwave.db", "fedwave.db-wal", "fedwave.db-shm"} {
		check(dir+"/"+f, 0o600)
	}
	s.Stop()

	// A fresh data directory.
	fresh := t.TempDir() + "/data"
	s = apptest.Start(t, func(c *config.Config) { c.DataDir = fresh })
	s.CreateUser("walter", "password1", auth.RoleUser)
	for _, f := range []string{"fedwave.db", "fedwave.db-wal", "fedwave.db-shm"} {
		check(fresh+"/"+f, 0o600)
	}
	keys, _ := os.ReadDir(fresh + "/keys")
	for _, k := range keys {
		check(fresh+"/keys/"+k.Name(), 0o600)
	}
}
