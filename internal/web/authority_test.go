package web_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/store"
)

// Changes of authority must reach clients within a couple of seconds; tests
// give them this long.
const authorityDeadline = 5 * time.Second

// eventually retries check every 50 ms until it reports true, failing
// after authorityDeadline.
func eventually(t *testing.T, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(authorityDeadline)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, authorityDeadline)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// answer sends a chat frame and returns the server's answer to it: its
// ack or error, or (for commands) the next system frame.
func answer(c *apptest.ChatClient, frame map[string]any) map[string]any {
	nonce := fmt.Sprint(time.Now().UnixNano())
	frame["nonce"] = nonce
	c.Send(frame)
	return c.ExpectWhere(func(f map[string]any) bool {
		return f["nonce"] == nonce || (f["type"] == "system" && frame["type"] == "send")
	})
}

// refused retries a chat frame until it is answered with an error of code.
func refused(t *testing.T, c *apptest.ChatClient, frame map[string]any, code string) {
	t.Helper()
	eventually(t, fmt.Sprintf("%v refused with %s", frame, code), func() bool {
		f := answer(c, frame)
		if f["type"] == "error" && f["code"] != code {
			t.Fatalf("%v: %v, want error %s", frame, f, code)
		}
		return f["type"] == "error"
	})
}

// otherProcess opens the instance's database the way `fedwave user role`
// does, beside the running server: nothing tells the server.
func otherProcess(t *testing.T, s *apptest.Server) (*auth.Service, store.Store) {
	t.Helper()
	st, err := store.OpenSQLite(t.Context(), s.Cfg.DatabasePath())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a, err := auth.New(auth.Deps{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	return a, st
}

func sendFrame(text string) map[string]any {
	return map[string]any{"type": "send", "channel": "alpha", "text": text}
}

// A deleted guest's id goes to no one: its tokens (even chained ones) do
// not sign in as the next account, which inherits none of its rows.
func TestDeletedGuestIsNotReborn(t *testing.T) {
	s := apptest.Start(t)
	s.CreateUser("alpha", "password1", auth.RoleStreamer)
	owner := s.Dial(s.Login("alpha", "password1"))
	owner.Join("alpha", nil)
	g := s.Do("POST", "/api/v1/guest", nil, "")
	guestTok := g.Body["token"].(string)
	guest := g.Body["user"].(map[string]any)["handle"].(string)
	page := s.Do("POST", "/api/v1/token", nil, guestTok).Body["token"].(string)
	if f := answer(owner, sendFrame("!mod "+guest)); f["type"] != "system" {
		t.Fatalf("!mod: %v", f)
	}
	if _, err := s.App.Core().Store.DeleteGuests(t.Context(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	user, tok := register(t, s, "newbie", "password1")
	for _, old := range []string{guestTok, page} {
		eventually(t, "deleted guest's token refused", func() bool {
			r := s.Do("GET", "/api/v1/me", nil, old)
			if r.Status == http.StatusOK && r.Body["user"].(map[string]any)["id"] == user["id"] {
				t.Fatalf("the deleted guest's token signs in as %v", r.Body["user"])
			}
			return r.Status == http.StatusUnauthorized
		})
	}
	c := s.Dial(tok)
	c.Join("alpha", nil)
	if f := answer(c, sendFrame("!slow 5")); f["code"] != "forbidden" {
		t.Fatalf("the new account inherited the guest's moderator rights: %v", f)
	}
}

// Logging out ends every token derived from the login, and chat
// connections signed in with them can no longer act.
func TestLogoutReachesDerivedTokensAndChat(t *testing.T) {
	s := apptest.Start(t)
	s.CreateUser("alpha", "password1", auth.RoleStreamer)
	s.CreateUser("ann", "password1", auth.RoleUser)
	login := s.Do("POST", "/api/v1/login", map[string]string{"name": "ann", "password": "password1"}, "")
	ann := login.Body["user"].(map[string]any)["handle"].(string)
	root := login.Body["token"].(string)
	rootExp, _ := time.Parse(time.RFC3339, login.Body["expires"].(string))
	tok, derived := root, []string{}
	for range 3 { // chaining must not extend the session
		r := s.Do("POST", "/api/v1/token", nil, tok)
		exp, err := time.Parse(time.RFC3339, r.Body["expires"].(string))
		if err != nil || exp.After(rootExp) {
			t.Fatalf("page token expires %v, after its login (%v)", r.Body["expires"], rootExp)
		}
		tok = r.Body["token"].(string)
		derived = append(derived, tok)
	}
	bearer := s.Dial(derived[2])
	cookie := s.DialHeader(http.Header{"Origin": {s.URL}, "Cookie": {"fedwave_session=" + root}})
	for _, c := range []*apptest.ChatClient{bearer, cookie} {
		c.Join("alpha", nil)
		if f := answer(c, sendFrame("hello")); f["type"] != "ack" {
			t.Fatalf("send before logout: %v", f)
		}
	}
	s.CreateUser("bob", "password1", auth.RoleUser)
	bob := s.Dial(s.Login("bob", "password1"))
	whisper := map[string]any{"type": "whisper", "to": ann, "text": "psst"}
	bob.Send(whisper)
	bearer.Expect("whisper")
	if r := s.Do("POST", "/api/v1/logout", nil, derived[0]); r.Status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", r.Status, r.Raw)
	}
	// Connections that do not act again no longer count as ann, and get
	// no whispers meant for her.
	if f := answer(bob, whisper); f["code"] != "user_offline" {
		t.Fatalf("whisper after logout: %v, want error user_offline", f)
	}
	for i, tok := range append(derived, root) {
		if r := s.Do("GET", "/api/v1/me", nil, tok); r.Status != http.StatusUnauthorized {
			t.Fatalf("token %d after logout: %d %s", i, r.Status, r.Raw)
		}
	}
	for _, c := range []*apptest.ChatClient{bearer, cookie} {
		refused(t, c, sendFrame("still here?"), "invalid_token")
		// Signed out: the connection may read on, but not act.
		if f := answer(c, sendFrame("and now?")); f["code"] != "auth_required" {
			t.Fatalf("send after sign-out: %v", f)
		}
	}
}

// demote changes roles the way `fedwave user role` does: from another
// process, which tells the server nothing.
func demote(t *testing.T, s *apptest.Server, names ...string) {
	t.Helper()
	cli, st := otherProcess(t, s)
	for _, name := range names {
		u, err := st.UserByName(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		if err := cli.SetRole(t.Context(), u.ID, auth.RoleUser); err != nil {
			t.Fatal(err)
		}
	}
}

// A moderator demoted by another process loses moderation on an open
// connection.
func TestDemotionReachesOpenChat(t *testing.T) {
	s := apptest.Start(t)
	s.CreateUser("alpha", "password1", auth.RoleStreamer)
	s.CreateUser("mo", "password1", auth.RoleModerator)
	mod := s.Dial(s.Login("mo", "password1"))
	mod.Join("alpha", nil)
	if f := answer(mod, sendFrame("!slow 0")); f["type"] != "system" {
		t.Fatalf("!slow before demotion: %v", f)
	}
	demote(t, s, "mo")
	refused(t, mod, sendFrame("!slow 0"), "forbidden")
}

// A demoted streamer keeps the channel, offline, but can no longer manage
// it: not over HTTP, not from an open chat connection.
func TestDemotedStreamerLosesChannelManagement(t *testing.T) {
	s := apptest.Start(t)
	s.CreateUser("alpha", "password1", auth.RoleStreamer)
	tok := s.Login("alpha", "password1")
	owner := s.Dial(tok)
	owner.Join("alpha", nil)
	if f := answer(owner, sendFrame("!title before")); f["type"] != "system" {
		t.Fatalf("!title before demotion: %v", f)
	}
	demote(t, s, "alpha")
	for _, req := range [][2]string{{"PATCH", "/api/v1/channels/alpha"}, {"POST", "/api/v1/channels/alpha/stream-key"}} {
		eventually(t, req[0]+" "+req[1]+" refused", func() bool {
			r := s.Do(req[0], req[1], map[string]any{"title": "mine still"}, tok)
			return r.Status == http.StatusForbidden
		})
	}
	refused(t, owner, sendFrame("!title mine still"), "forbidden")
	refused(t, owner, sendFrame("!slow 5"), "forbidden")
	if ch := s.Do("GET", "/api/v1/channels/alpha", nil, ""); ch.Status != http.StatusOK {
		t.Fatalf("the channel itself stays: %d %s", ch.Status, ch.Raw)
	}
}

// Guest tokens stop working once the instance no longer allows guests.
func TestGuestTokensEndWithGuests(t *testing.T) {
	s := apptest.Start(t)
	tok := s.Do("POST", "/api/v1/guest", nil, "").Body["token"].(string)
	s.Cfg.Guests = false
	s.Restart()
	wantError(t, s.Do("GET", "/api/v1/me", nil, tok), http.StatusUnauthorized, "invalid_token")
	c := s.DialHeader(nil)
	c.Send(map[string]any{"type": "auth", "token": tok})
	if f := c.Expect("error"); f["code"] != "invalid_token" {
		t.Fatalf("guest auth frame: %v", f)
	}
}
