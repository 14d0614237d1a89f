package wire

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fedwave/fedwave/internal/fail"
)

// countingServer is a loopback server that counts the requests it receives.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if h != nil {
			h(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestClientRefusesLoopbackUnlessAllowed(t *testing.T) {
	srv, hits := countingServer(t, nil)
	port := srv.URL[strings.LastIndexByte(srv.URL, ':'):]
	// By address, and by a name that resolves to loopback (the check runs
	// after DNS resolution).
	for _, url := range []string{srv.URL, "http://localhost" + port + "/"} {
		resp, err := NewClient(false).Get(url)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("%s: private address reached", url)
		}
		e, ok := fail.As(err)
		if !ok || e.Code != "invalid_url" {
			t.Fatalf("%s: error %v, want a fail.Error invalid_url inside", url, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("server received %d requests from a refusing client", n)
	}

	resp, err := NewClient(true).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || hits.Load() != 1 {
		t.Fatalf("allowPrivate: status %d, %d hits", resp.StatusCode, hits.Load())
	}
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	var followed atomic.Bool
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/target" {
			followed.Store(true)
			return
		}
		http.Redirect(w, r, "/target", http.StatusFound)
	})
	resp, err := NewClient(true).Get(srv.URL + "/start")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || followed.Load() {
		t.Fatalf("status %d, followed %v: want the 302 itself", resp.StatusCode, followed.Load())
	}
}

func TestCheckPeerURL(t *testing.T) {
	cases := []struct {
		raw          string
		allowPrivate bool
		base, host   string // empty: refused
	}{
		{"https://b.example", false, "https://b.example", "b.example"},
		{"https://b.example/", false, "https://b.example", "b.example"},
		{"  HTTPS://B.Example:443/ ", false, "https://b.example", "b.example"},
		{"https://b.example:8443", false, "https://b.example:8443", "b.example:8443"},
		{"https://93.184.216.34", false, "https://93.184.216.34", "93.184.216.34"},
		{"https://[2606:2800:220:1:248:1893:25c8:1946]:8443", false, "https://[2606:2800:220:1:248:1893:25c8:1946]:8443", "[2606:2800:220:1:248:1893:25c8:1946]:8443"},
		{"https://[2606:2800:0220:0001:0248:1893:25C8:1946]", false, "https://[2606:2800:220:1:248:1893:25c8:1946]", "[2606:2800:220:1:248:1893:25c8:1946]"},
		{"http://127.0.0.1:8080", true, "http://127.0.0.1:8080", "127.0.0.1:8080"},
		{"http://127.0.0.1:80/", true, "http://127.0.0.1", "127.0.0.1"},
		{"https://10.0.0.5", true, "https://10.0.0.5", "10.0.0.5"},
		{"http://b.example", false, "", ""},
		{"https://127.0.0.1:8443", false, "", ""},
		{"https://10.0.0.5", false, "", ""},
		{"https://192.168.1.1", false, "", ""},
		{"https://100.64.0.1", false, "", ""},
		{"https://169.254.169.254", false, "", ""},
		{"https://[::1]", false, "", ""},
		{"https://[::ffff:127.0.0.1]", false, "", ""},
		{"https://0.0.0.0", false, "", ""},
		{"ftp://b.example", true, "", ""},
		{"b.example", true, "", ""},
		{"//b.example", true, "", ""},
		{"https:b.example", true, "", ""},
		{"https://user:pw@b.example", true, "", ""},
		{"https://b.example/path", true, "", ""},
		{"https://b.example/?", true, "", ""},
		{"https://b.example/?x=1", true, "", ""},
		{"https://b.example/#", true, "", ""},
		{"https://b.example/#top", true, "", ""},
		{"https://b.example:", true, "", ""},
		{"https://b.example:0", true, "", ""},
		{"https://b.example:65536", true, "", ""},
		{"https://b.example:08443", true, "", ""},
		{"https://b.example.", true, "", ""},
		{"https://-b.example", true, "", ""},
		{"https://b_c.example", true, "", ""},
		{"https://bü.example", true, "", ""},
		{"https://[fe80::1%25eth0]", true, "", ""},
		{"https://" + strings.Repeat("a", 64) + ".example", true, "", ""},
		{"https://b.example/" + strings.Repeat("a", maxURL), true, "", ""},
		{"", true, "", ""},
	}
	for _, tc := range cases {
		base, host, err := CheckPeerURL(tc.raw, tc.allowPrivate)
		if tc.base == "" {
			if err == nil {
				t.Errorf("CheckPeerURL(%q, %v) = %q, %q; want refused", tc.raw, tc.allowPrivate, base, host)
				continue
			}
			if e, ok := fail.As(err); !ok || e.Code != "invalid_url" {
				t.Errorf("CheckPeerURL(%q): error %v, want invalid_url", tc.raw, err)
			}
			continue
		}
		if err != nil || base != tc.base || host != tc.host {
			t.Errorf("CheckPeerURL(%q, %v) = %q, %q, %v; want %q, %q", tc.raw, tc.allowPrivate, base, host, err, tc.base, tc.host)
		}
		if !ValidHost(host) {
			t.Errorf("CheckPeerURL(%q) returned host %q that signed headers would refuse", tc.raw, host)
		}
	}
}
