package web_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/config"
)

// loginAs logs in with a User-Agent, so that the session list can name
// the client, and returns the token.
func loginAs(t *testing.T, s *apptest.Server, name, password, agent string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL+"/api/v1/login", strings.NewReader(`{"name":"`+name+`","password":"`+password+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", agent)
	r := s.Send(req)
	if r.Status != http.StatusOK {
		t.Fatalf("login %s: %d %s", name, r.Status, r.Raw)
	}
	tok := r.Body["token"].(string)
	// The first authenticated call records the client.
	me, _ := http.NewRequest("GET", s.URL+"/api/v1/me", nil)
	me.Header.Set("Authorization", "Bearer "+tok)
	me.Header.Set("User-Agent", agent)
	s.Send(me)
	return tok
}

const (
	firefoxUA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	chromeUA  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)

// chattingIn opens a chat connection with token, joined to channel.
func chattingIn(s *apptest.Server, token, channel string) *apptest.ChatClient {
	c := s.Dial(token)
	c.Join(channel, nil)
	return c
}

// Changing the password needs the current one; afterwards the other
// sessions are signed out (an open chat connection included, at its next
// send) and this one stays.
func TestAccountPassword(t *testing.T) {
	s := apptest.Start(t)
	s.CreateUser("alpha", "password1", auth.RoleStreamer)
	_, here := register(t, s, "alice", "first password")
	there := loginAs(t, s, "alice", "first password", firefoxUA)
	chat := chattingIn(s, there, "alpha")
	chat.Say("alpha", "hello from the other tab", "n1")

	wantError(t, s.Do("PUT", "/api/v1/account/password", map[string]string{"current": "wrong password", "password": "second password"}, here), 403, "wrong_password")
	wantError(t, s.Do("PUT", "/api/v1/account/password", map[string]string{"current": "first password", "password": "short"}, here), 400, "invalid_password")
	wantError(t, s.Do("PUT", "/api/v1/account/password", map[string]string{"current": "first password", "password": "second password"}, ""), 401, "unauthorized")
	if r := s.Do("GET", "/api/v1/me", nil, there); r.Status != 200 {
		t.Fatalf("a refused change signed the other session out: %d", r.Status)
	}

	if r := s.Do("PUT", "/api/v1/account/password", map[string]string{"current": "first password", "password": "second password"}, here); r.Status != http.StatusNoContent {
		t.Fatalf("change password: %d %s", r.Status, r.Raw)
	}
	if r := s.Do("GET", "/api/v1/me", nil, here); r.Status != 200 {
		t.Fatalf("this session was signed out: %d %s", r.Status, r.Raw)
	}
	wantError(t, s.Do("GET", "/api/v1/me", nil, there), 401, "invalid_token")
	refused(t, chat, sendFrame("still here?"), "invalid_token")
	wantError(t, s.Do("POST", "/api/v1/login", map[string]string{"name": "alice", "password": "first password"}, ""), 401, "invalid_credentials")
	s.Login("alice", "second password")
}

// Wrong current passwords count against the address like logins do.
func TestAccountPasswordRateLimited(t *testing.T) {
	s := apptest.Start(t, func(c *config.Config) { c.AuthRate = 3 })
	_, tok := register(t, s, "alice", "first password") // one attempt
	for range 2 {
		wantError(t, s.Do("PUT", "/api/v1/account/password", map[string]string{"current": "guess guess", "password": "second password"}, tok), 403, "wrong_password")
	}
	wantError(t, s.Do("PUT", "/api/v1/account/password", map[string]string{"current": "first password", "password": "second password"}, tok), 429, "rate_limited")
}

type sessionRow struct {
	ID, Client string
	Current    bool
}

func sessionsOf(t *testing.T, s *apptest.Server, tok string) []sessionRow {
	t.Helper()
	r := s.Do("GET", "/api/v1/account/sessions", nil, tok)
	if r.Status != 200 {
		t.Fatalf("sessions: %d %s", r.Status, r.Raw)
	}
	var out []sessionRow
	for _, e := range r.Body["sessions"].([]any) {
		m := e.(map[string]any)
		if m["created"] == "" || m["lastSeen"] == "" {
			t.Fatalf("session without times: %v", m)
		}
		out = append(out, sessionRow{m["id"].(string), m["client"].(string), m["current"].(bool)})
	}
	return out
}

// A user sees their sessions with their clients, signs one out, then all
// the others; the current one stays, and nobody can sign out another
// user's session.
func TestAccountSessions(t *testing.T) {
	s := apptest.Start(t)
	s.CreateUser("alpha", "password1", auth.RoleStreamer)
	s.CreateUser("alice", "password1", auth.RoleUser)
	here := loginAs(t, s, "alice", "password1", chromeUA)
	fox := loginAs(t, s, "alice", "password1", firefoxUA)
	third := loginAs(t, s, "alice", "password1", "curl/8.5.0")
	bob := loginAs(t, s, "alpha", "password1", firefoxUA)

	list := sessionsOf(t, s, here)
	if len(list) != 3 {
		t.Fatalf("want 3 sessions, got %v", list)
	}
	clients := map[string]sessionRow{}
	for _, e := range list {
		clients[e.Client] = e
	}
	if !clients["Chrome on Windows"].Current || clients["Firefox on Linux"].Current || clients["curl"].ID == "" {
		t.Fatalf("sessions not named or marked: %v", list)
	}

	wantError(t, s.Do("DELETE", "/api/v1/account/sessions/"+clients["Firefox on Linux"].ID, nil, bob), 404, "no_such_session")
	wantError(t, s.Do("DELETE", "/api/v1/account/sessions/nosuchsession", nil, here), 404, "no_such_session")
	if r := s.Do("GET", "/api/v1/me", nil, fox); r.Status != 200 {
		t.Fatalf("another user's delete signed alice out: %d", r.Status)
	}

	chat := chattingIn(s, third, "alpha")
	if r := s.Do("DELETE", "/api/v1/account/sessions/"+clients["Firefox on Linux"].ID, nil, here); r.Status != http.StatusNoContent {
		t.Fatalf("sign out one: %d %s", r.Status, r.Raw)
	}
	wantError(t, s.Do("GET", "/api/v1/me", nil, fox), 401, "invalid_token")
	chat.Say("alpha", "the third session still talks", "n1")

	r := s.Do("DELETE", "/api/v1/account/sessions", nil, here)
	if r.Status != 200 || r.Body["signedOut"].(float64) != 1 {
		t.Fatalf("sign out others: %d %s", r.Status, r.Raw)
	}
	wantError(t, s.Do("GET", "/api/v1/me", nil, third), 401, "invalid_token")
	refused(t, chat, sendFrame("and now?"), "invalid_token")
	if got := sessionsOf(t, s, here); len(got) != 1 || !got[0].Current {
		t.Fatalf("after signing out the others: %v", got)
	}
	if r := s.Do("GET", "/api/v1/me", nil, bob); r.Status != 200 {
		t.Fatalf("another user's session was signed out: %d", r.Status)
	}
}

// A colour from the palette takes effect for the next chat message;
// anything else is refused.
func TestAccountColor(t *testing.T) {
	s := apptest.Start(t)
	s.CreateUser("alpha", "password1", auth.RoleStreamer)
	_, tok := register(t, s, "alice", "password1")
	acct := s.Do("GET", "/api/v1/account", nil, tok)
	palette := acct.Body["palette"].([]any)
	if acct.Status != 200 || len(palette) < 6 || acct.Body["guest"] != false {
		t.Fatalf("account: %d %s", acct.Status, acct.Raw)
	}
	chat := chattingIn(s, tok, "alpha")
	mine := acct.Body["user"].(map[string]any)["color"].(string)
	pick := palette[0].(string)
	if pick == mine {
		pick = palette[1].(string)
	}
	for _, bad := range []string{"#123456", "red", "", "#E6194B; x"} {
		wantError(t, s.Do("PUT", "/api/v1/account/color", map[string]string{"color": bad}, tok), 400, "invalid_color")
	}
	r := s.Do("PUT", "/api/v1/account/color", map[string]string{"color": strings.ToUpper(pick)}, tok)
	if r.Status != 200 || r.Body["user"].(map[string]any)["color"] != pick {
		t.Fatalf("set colour: %d %s", r.Status, r.Raw)
	}
	chat.Send(map[string]any{"type": "send", "channel": "alpha", "text": "new colour", "nonce": "c1"})
	msg := chat.ExpectWhere(func(f map[string]any) bool { return f["type"] == "message" })
	if got := msg["from"].(map[string]any)["color"]; got != pick {
		t.Fatalf("message colour %v, want %s", got, pick)
	}
}

// Guests may pick a name under the rules of new accounts, never one a
// registered user (or anyone) holds; registered users keep theirs.
func TestGuestRename(t *testing.T) {
	s := apptest.Start(t)
	s.CreateUser("alpha", "password1", auth.RoleStreamer)
	_, alice := register(t, s, "alice", "password1")
	g := s.Do("POST", "/api/v1/guest", nil, "")
	guest := g.Body["token"].(string)
	chat := chattingIn(s, guest, "alpha")

	for name, code := range map[string]string{
		"alice": "name_taken", "ALICE": "name_taken", "admin": "reserved_name", "guest-abcd": "reserved_name",
		"no spaces": "invalid_name", "x": "invalid_name", "<b>": "invalid_name",
	} {
		status := map[string]int{"name_taken": 409}[code]
		if status == 0 {
			status = 400
		}
		wantError(t, s.Do("PUT", "/api/v1/account/name", map[string]string{"name": name}, guest), status, code)
	}
	wantError(t, s.Do("PUT", "/api/v1/account/name", map[string]string{"name": "alice2"}, alice), 403, "not_guest")

	r := s.Do("PUT", "/api/v1/account/name", map[string]string{"name": "visitor"}, guest)
	handle, _ := r.Body["user"].(map[string]any)["handle"].(string)
	if r.Status != 200 || !strings.HasPrefix(handle, "visitor#") {
		t.Fatalf("rename: %d %s", r.Status, r.Raw)
	}
	chat.Send(map[string]any{"type": "send", "channel": "alpha", "text": "my new name", "nonce": "g1"})
	msg := chat.ExpectWhere(func(f map[string]any) bool { return f["type"] == "message" })
	if got := msg["from"].(map[string]any)["handle"]; got != handle {
		t.Fatalf("message from %v, want %s", got, handle)
	}
	chat.ExpectWhere(func(f map[string]any) bool {
		l, _ := f["chatters"].([]any)
		return f["type"] == "presence" && slices.Contains(l, any(handle))
	})
	wantError(t, s.Do("POST", "/api/v1/register", map[string]string{"name": "Visitor", "password": "password1"}, ""), 409, "name_taken")
}

// The account page is for signed-in users; others are sent to log in.
func TestAccountPageNeedsLogin(t *testing.T) {
	s := apptest.Start(t)
	res, err := noRedirects().Get(s.URL + "/account")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?next=/account" {
		t.Fatalf("anonymous /account: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	for _, path := range []string{"/api/v1/account", "/api/v1/account/sessions"} {
		wantError(t, s.Do("GET", path, nil, ""), 401, "unauthorized")
	}
	_, tok := register(t, s, "alice", "password1")
	req, _ := http.NewRequest("GET", s.URL+"/account", nil)
	req.AddCookie(&http.Cookie{Name: "fedwave_session", Value: tok})
	page := s.Send(req)
	if page.Status != 200 || !strings.Contains(string(page.Raw), `id="sessions-body"`) || !strings.Contains(string(page.Raw), `id="nav-account"`) {
		t.Fatalf("account page: %d", page.Status)
	}
	if !slices.Contains([]string{"text/html; charset=utf-8"}, page.Header.Get("Content-Type")) {
		t.Fatalf("account page type %q", page.Header.Get("Content-Type"))
	}
}

func noRedirects() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// A password set through a reset link signs out every earlier session:
// whoever knew the old password is out.
func TestResetSignsOutEverySession(t *testing.T) {
	s := apptest.Start(t)
	u, old := register(t, s, "alice", "first password")
	secret, err := s.App.Core().Auth.ResetLinkToken(t.Context(), int64(u["id"].(float64)))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.App.Core().Auth.CompleteReset(t.Context(), "127.0.0.1", secret, "second password"); err != nil {
		t.Fatal(err)
	}
	wantError(t, s.Do("GET", "/api/v1/me", nil, old), 401, "invalid_token")
	s.Login("alice", "second password")
}
