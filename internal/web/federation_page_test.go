package web_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
)

// TestFederationPageAdminsOnly: /federation is for admins; anyone else is
// sent to log in or told it is not for them, and only admins see its link.
func TestFederationPageAdminsOnly(t *testing.T) {
	s := apptest.Start(t)
	s.CreateUser("boss", "boss-password", auth.RoleAdmin)
	s.CreateUser("kim", "kim-password", auth.RoleStreamer)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(token string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest("GET", s.URL+"/federation", nil)
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
	if res, _ := get(""); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?next=/federation" {
		t.Errorf("anonymous: %d to %q, want a redirect to the login", res.StatusCode, res.Header.Get("Location"))
	}
	if res, body := get(s.Login("kim", "kim-password")); res.StatusCode != http.StatusForbidden || strings.Contains(body, `href="/federation"`) {
		t.Errorf("a streamer gets %d, and the header links to /federation: %v", res.StatusCode, strings.Contains(body, `href="/federation"`))
	}
	if r := s.Do("GET", "/", nil, ""); strings.Contains(string(r.Raw), `href="/federation"`) {
		t.Error("the header links to /federation for an anonymous visitor")
	}
	res, body := get(s.Login("boss", "boss-password"))
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `id="fed-link-form"`) || !strings.Contains(body, `href="/federation"`) {
		t.Fatalf("the admin gets %d, with the form: %v, with the header link: %v",
			res.StatusCode, strings.Contains(body, `id="fed-link-form"`), strings.Contains(body, `href="/federation"`))
	}
}
