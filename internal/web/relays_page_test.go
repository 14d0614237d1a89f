package web_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
)

// TestRelaysPageAdminsOnly: /relays is for admins; anyone else is sent to
// log in or told it is not for them, and only admins see its link.
func TestRelaysPageAdminsOnly(t *testing.T) {
	s := apptest.Start(t)
	s.CreateUser("boss", "boss-password", auth.RoleAdmin)
	s.CreateUser("kim", "kim-password", auth.RoleStreamer)
	get := func(path, token string) (*http.Response, string) {
		t.Helper()
		return getPage(t, s, path, token)
	}
	if res, _ := get("/relays", ""); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?next=/relays" {
		t.Errorf("anonymous: %d to %q, want a redirect to the login", res.StatusCode, res.Header.Get("Location"))
	}
	if res, body := get("/relays", s.Login("kim", "kim-password")); res.StatusCode != http.StatusForbidden || strings.Contains(body, `href="/relays"`) {
		t.Errorf("a streamer gets %d, and the header links to /relays: %v", res.StatusCode, strings.Contains(body, `href="/relays"`))
	}
	res, body := get("/relays", s.Login("boss", "boss-password"))
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `id="relay-form"`) || !strings.Contains(body, `href="/relays"`) {
		t.Fatalf("the admin gets %d, with the form: %v, with the header link: %v",
			res.StatusCode, strings.Contains(body, `id="relay-form"`), strings.Contains(body, `href="/relays"`))
	}
}

// TestPlayerPagesMayReachRelays: the player follows the origin to relays
// on other hosts, so its pages allow fetches to them; the other pages keep
// connect-src to this site.
func TestPlayerPagesMayReachRelays(t *testing.T) {
	s := apptest.Start(t)
	s.CreateUser("kim", "kim-password", auth.RoleStreamer)
	for path, relays := range map[string]bool{"/c/kim": true, "/c/kim/embed": true, "/": false, "/studio": false, "/login": false} {
		res, _ := getPage(t, s, path, s.Login("kim", "kim-password"))
		csp := res.Header.Get("Content-Security-Policy")
		if got := strings.Contains(csp, "connect-src 'self' http: https:;"); got != relays {
			t.Errorf("%s: %d, Content-Security-Policy %q: relays allowed %v, want %v", path, res.StatusCode, csp, got, relays)
		}
		if !strings.Contains(csp, "script-src 'self';") {
			t.Errorf("%s: scripts not limited to this site: %q", path, csp)
		}
	}
}

// getPage GETs path with the session cookie token (none if empty),
// without following redirects.
func getPage(t *testing.T, s *apptest.Server, path, token string) (*http.Response, string) {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequest("GET", s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.AddCookie(&http.Cookie{Name: "fedwave_session", Value: token})
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body)
}

// TestWHEPPreflightForRelays: a player on another origin (the origin's
// page, sent to a relay) may post its offer, read the session's headers
// and reach a relay on a private network.
func TestWHEPPreflightForRelays(t *testing.T) {
	s := apptest.Start(t)
	req, err := http.NewRequest("OPTIONS", s.URL+"/whep/kim?quality=low&ticket=x", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", "https://origin.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	req.Header.Set("Access-Control-Request-Private-Network", "true")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	h := res.Header
	if res.StatusCode/100 != 2 || h.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "content-type") ||
		h.Get("Access-Control-Allow-Private-Network") != "true" {
		t.Fatalf("preflight: %d %v", res.StatusCode, h)
	}
	for _, exposed := range []string{"Location", "ETag", "Link"} {
		if !strings.Contains(h.Get("Access-Control-Expose-Headers"), exposed) {
			t.Errorf("%s is not exposed: %q", exposed, h.Get("Access-Control-Expose-Headers"))
		}
	}
}
