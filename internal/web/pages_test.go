package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
)

func TestPagesEscapeAndSecure(t *testing.T) {
	s := apptest.Start(t)
	s.CreateUser("kim", "password1", auth.RoleStreamer)
	tok := s.Login("kim", "password1")
	evil := `<script>alert(1)</script><img src=x onerror=alert(2)>`
	if r := s.Do("PATCH", "/api/v1/channels/kim", map[string]any{"title": evil, "description": evil}, tok); r.Status != 200 {
		t.Fatal(r.Status)
	}
	for _, path := range []string{"/", "/c/kim", "/login", "/register", "/c/nobody", "/no/such/page"} {
		r := s.Do("GET", path, nil, "")
		csp := r.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("Referrer-Policy") == "" {
			t.Errorf("%s: missing security headers %v", path, r.Header)
		}
		body := string(r.Raw)
		if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
			t.Errorf("%s: user text not escaped", path)
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, "onclick=") || strings.Contains(body, " style=") {
			t.Errorf("%s: inline script or style in the page", path)
		}
	}
	if r := s.Do("GET", "/c/nobody", nil, ""); r.Status != 404 {
		t.Errorf("unknown channel page: %d", r.Status)
	}
	if r := s.Do("GET", "/static/css/site.css", nil, ""); r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/css") {
		t.Errorf("stylesheet: %d %s", r.Status, r.Header.Get("Content-Type"))
	}
}

func TestLoginForm(t *testing.T) {
	s := apptest.Start(t)
	s.CreateUser("lee", "password1", auth.RoleUser)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(form url.Values) *http.Response {
		t.Helper()
		res, err := client.PostForm(s.URL+"/login", form)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := post(url.Values{"name": {"lee"}, "password": {"wrong-one"}}); res.StatusCode != 401 {
		t.Fatalf("wrong password: %d", res.StatusCode)
	}
	res := post(url.Values{"name": {"lee"}, "password": {"password1"}, "next": {"//evil.example/"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("login redirect: %d %q (must stay on the site)", res.StatusCode, res.Header.Get("Location"))
	}
	res = post(url.Values{"name": {"lee"}, "password": {"password1"}, "next": {"/c/lee"}})
	if res.Header.Get("Location") != "/c/lee" {
		t.Fatalf("next ignored: %q", res.Header.Get("Location"))
	}
	// A cross-site form post is refused.
	req, _ := http.NewRequest("POST", s.URL+"/login", strings.NewReader("name=lee&password=password1"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if r := s.Send(req); r.Status != 403 {
		t.Fatalf("cross-site login form: %d", r.Status)
	}
}

// TestRedirectsStayOnSite: whatever `next` a form or link carries, the
// redirect after logging in (or registering) lands on this site. Browsers
// drop tabs and newlines and read "\" as "/", so each of these would
// otherwise lead to evil.example.
func TestRedirectsStayOnSite(t *testing.T) {
	s := apptest.Start(t)
	s.CreateUser("lee", "password1", auth.RoleUser)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for i, next := range []string{
		"/\t/evil.example", "/\n/evil.example", "/\r/evil.example", "\t//evil.example", "/\\evil.example",
		"\\\\evil.example", "//evil.example", "///evil.example", "/%2F/evil.example", "/%5Cevil.example",
		"https://evil.example/", "javascript:alert(1)", "http:/evil.example", " //evil.example",
		"/\x00/evil.example", "/\u2028/evil.example", "evil.example",
	} {
		for _, form := range []url.Values{
			{"name": {"lee"}, "password": {"password1"}, "next": {next}},
			{"name": {"lee2"}, "password": {"password1"}, "password2": {"password1"}, "next": {next}},
		} {
			path := "/login"
			if form.Has("password2") {
				path = "/register"
				form.Set("name", fmt.Sprintf("user%d", i))
			}
			res, err := client.PostForm(s.URL+path, form)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			loc := res.Header.Get("Location")
			u, err := url.Parse(loc)
			if res.StatusCode != http.StatusSeeOther || err != nil || u.Scheme != "" || u.Host != "" ||
				!strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.ContainsAny(loc, "\\\t\r\n") {
				t.Errorf("%s with next=%q: %d Location %q", path, next, res.StatusCode, loc)
			}
		}
		// The page that carries next on to its form cleans it too.
		page := s.Do("GET", "/login?next="+url.QueryEscape(next), nil, "")
		if strings.Contains(string(page.Raw), "evil.example") {
			t.Errorf("login page keeps next=%q", next)
		}
	}
	res, err := client.PostForm(s.URL+"/login", url.Values{"name": {"lee"}, "password": {"password1"}, "next": {"/c/lee?x=1#chat"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if loc := res.Header.Get("Location"); loc != "/c/lee?x=1#chat" {
		t.Fatalf("a local next with query and fragment: %q", loc)
	}
}
