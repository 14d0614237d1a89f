package web_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/config"
)

// fakeFediverse is a fediverse server on 127.0.0.1 as far as remote
// follow goes: WebFinger for "bob" with Mastodon's subscribe template,
// for "nosub" without one, 404 for anyone else. Its follow page says
// which account it was asked to follow.
func fakeFediverse(t *testing.T) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := strings.TrimPrefix(srv.URL, "http://")
		switch r.URL.Path {
		case "/.well-known/webfinger":
			links := []map[string]string{{"rel": "self", "type": "application/activity+json", "href": srv.URL + "/users/x"}}
			switch r.URL.Query().Get("resource") {
			case "acct:bob@" + host:
				links = append(links, map[string]string{"rel": "http://ostatus.org/schema/1.0/subscribe", "template": srv.URL + "/authorize_interaction?uri={uri}"})
			case "acct:nosub@" + host:
			default:
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/jrd+json")
			json.NewEncoder(w).Encode(map[string]any{"subject": r.URL.Query().Get("resource"), "links": links})
		case "/authorize_interaction":
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, `<!doctype html><title>Follow</title><p id="follow-target">`+r.URL.Query().Get("uri")+`</p>`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func postFollow(t *testing.T, s *apptest.Server, channel, handle string) (*http.Response, string) {
	t.Helper()
	res, err := noRedirects().PostForm(s.URL+"/c/"+channel+"/follow", url.Values{"handle": {handle}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// The follow form sends a visitor to their own server's follow page for
// the channel, or says plainly why it cannot.
func TestFollowOnTheFediverse(t *testing.T) {
	remote := fakeFediverse(t)
	host := strings.TrimPrefix(remote.URL, "http://")
	s := apptest.Start(t, func(c *config.Config) { c.FederationAllowPrivate = true })
	s.CreateUser("alpha", "password1", auth.RoleStreamer)
	here := strings.TrimPrefix(s.URL, "http://")

	page := s.Do("GET", "/c/alpha", nil, "")
	if !strings.Contains(string(page.Raw), `action="/c/alpha/follow"`) || !strings.Contains(page.Header.Get("Content-Security-Policy"), "form-action 'self' http: https:") {
		t.Fatalf("channel page has no follow form that may redirect: %s", page.Header.Get("Content-Security-Policy"))
	}

	for _, handle := range []string{"bob@" + host, "@bob@" + host, " acct:bob@" + host + " "} {
		res, body := postFollow(t, s, "alpha", handle)
		want := remote.URL + "/authorize_interaction?uri=" + url.QueryEscape("alpha@"+here)
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != want {
			t.Fatalf("%q: %d %q, want 303 to %s (%s)", handle, res.StatusCode, res.Header.Get("Location"), want, body)
		}
	}

	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadHost := dead.Addr().String()
	dead.Close()
	for _, c := range []struct {
		handle string
		status int
		says   string
	}{
		{"nosub@" + host, 404, "@alpha@" + here},
		{"nobody@" + host, 404, "does not know that account"},
		{"bob", 400, "you@your.server"},
		{"bob@", 400, "you@your.server"},
		{"bob@host/path", 400, "you@your.server"},
		{"b o b@" + host, 400, "you@your.server"},
		{"bob@" + deadHost, 502, "could not reach"},
	} {
		res, body := postFollow(t, s, "alpha", c.handle)
		if res.StatusCode != c.status || !strings.Contains(body, c.says) || res.Header.Get("Location") != "" {
			t.Errorf("%q: %d %q, want %d saying %q", c.handle, res.StatusCode, res.Header.Get("Location"), c.status, c.says)
		}
	}
	if res, _ := postFollow(t, s, "nosuchchannel", "bob@"+host); res.StatusCode != 404 {
		t.Errorf("unknown channel: %d", res.StatusCode)
	}
}

// Without --federation-allow-private, a handle on a loopback server is
// never looked up.
func TestFollowRefusesPrivateServers(t *testing.T) {
	remote := fakeFediverse(t)
	s := apptest.Start(t)
	s.CreateUser("alpha", "password1", auth.RoleStreamer)
	res, body := postFollow(t, s, "alpha", "bob@"+strings.TrimPrefix(remote.URL, "http://"))
	if res.StatusCode != http.StatusBadGateway || !strings.Contains(body, "could not reach") {
		t.Fatalf("loopback server: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
}
