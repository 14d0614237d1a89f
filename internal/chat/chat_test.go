package chat_test

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
)

// setup starts a server with two streamers (alpha, beta), an admin and two
// users, and returns their tokens by name.
func setup(t *testing.T) (*apptest.Server, map[string]string) {
	t.Helper()
	s := apptest.Start(t)
	toks := map[string]string{}
	for name, role := range map[string]auth.Role{"alpha": auth.RoleStreamer, "beta": auth.RoleStreamer, "boss": auth.RoleAdmin, "ann": auth.RoleUser, "bob": auth.RoleUser} {
		s.CreateUser(name, "password1", role)
		toks[name] = s.Login(name, "password1")
	}
	return s, toks
}

func handleOf(t *testing.T, s *apptest.Server, tok string) string {
	return s.Do("GET", "/api/v1/me", nil, tok).Body["user"].(map[string]any)["handle"].(string)
}

func TestRoomsAreSeparate(t *testing.T) {
	s, tok := setup(t)
	ann, bob, boss := s.Dial(tok["ann"]), s.Dial(tok["bob"]), s.Dial(tok["boss"])
	ann.Join("alpha", nil)
	bob.Join("alpha", nil)
	boss.Join("beta", nil)

	ack := ann.Say("alpha", "hello *there*", "n1")
	m := bob.Expect("message")
	if m["channel"] != "alpha" || m["html"] != "hello <em>there</em>" || m["offset"] != ack["offset"] || m["id"] != ack["id"] {
		t.Fatalf("bob got %v (ack %v)", m, ack)
	}
	from := m["from"].(map[string]any)
	if from["handle"] != handleOf(t, s, tok["ann"]) || from["instance"] != "" {
		t.Fatalf("from %v", from)
	}
	if _, err := time.Parse(time.RFC3339, m["ts"].(string)); err != nil {
		t.Fatalf("ts %v: %v", m["ts"], err)
	}
	if ann.Expect("message")["id"] != ack["id"] {
		t.Fatal("the sender does not see its own message")
	}
	if !boss.Quiet("message", 300*time.Millisecond) {
		t.Fatal("a client in another channel received the message")
	}

	// Bots post over HTTP; history is in offset order.
	r := s.Do("POST", "/api/v1/channels/alpha/messages", map[string]string{"text": "from a bot"}, tok["bob"])
	if r.Status != 201 || r.Body["message"].(map[string]any)["offset"].(float64) != ack["offset"].(float64)+1 {
		t.Fatalf("post: %d %s", r.Status, r.Raw)
	}
	if ann.Expect("message")["html"] != "from a bot" {
		t.Fatal("HTTP post not delivered live")
	}
	h := s.Do("GET", "/api/v1/channels/alpha/messages?after=0&limit=10", nil, "")
	msgs := h.Body["messages"].([]any)
	if h.Status != 200 || len(msgs) != 2 || msgs[0].(map[string]any)["html"] != "hello <em>there</em>" {
		t.Fatalf("history: %s", h.Raw)
	}
	if r := s.Do("POST", "/api/v1/channels/alpha/messages", map[string]string{"text": "!wipe"}, tok["alpha"]); r.Status != 400 {
		t.Fatalf("command over HTTP: %d", r.Status)
	}
	for _, q := range []string{"?limit=0", "?limit=501", "?after=-1", "?after=x"} {
		if r := s.Do("GET", "/api/v1/channels/alpha/messages"+q, nil, ""); r.Status != 400 {
			t.Errorf("%s: %d", q, r.Status)
		}
	}
	if r := s.Do("GET", "/api/v1/channels/nope/messages", nil, ""); r.Status != 404 {
		t.Errorf("unknown channel history: %d", r.Status)
	}
}

func TestResumeWithoutGapsOrDuplicates(t *testing.T) {
	s, tok := setup(t)
	ann := s.Dial(tok["ann"])
	ann.Join("alpha", nil)
	last := int64(ann.Say("alpha", "before", "b0")["offset"].(float64))
	ann.Conn.CloseNow()

	bob := s.Dial(tok["bob"])
	bob.Join("alpha", nil)
	for i := range 50 {
		bob.Say("alpha", fmt.Sprintf("missed %d", i), fmt.Sprintf("m%d", i))
	}

	again := s.Dial(tok["ann"])
	got := again.Join("alpha", &last)
	if len(got) != 50 {
		t.Fatalf("replayed %d messages, want 50", len(got))
	}
	for i, m := range got {
		if int64(m["offset"].(float64)) != last+1+int64(i) || m["html"] != fmt.Sprintf("missed %d", i) {
			t.Fatalf("message %d: %v", i, m)
		}
	}
	// Live messages continue right after the replay.
	ack := bob.Say("alpha", "live again", "live")
	if m := again.Expect("message"); m["offset"] != ack["offset"] {
		t.Fatalf("first live message %v, want offset %v", m, ack["offset"])
	}

	// A resent nonce is stored once and acknowledged with the same id.
	first := bob.Say("alpha", "only once", "same-nonce")
	second := bob.Say("alpha", "only once", "same-nonce")
	if first["id"] != second["id"] || first["offset"] != second["offset"] {
		t.Fatalf("resent nonce gave %v then %v", first, second)
	}
	h := s.Do("GET", "/api/v1/channels/alpha/messages?limit=5", nil, "").Body["messages"].([]any)
	n := 0
	for _, m := range h {
		if m.(map[string]any)["html"] == "only once" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("resent message stored %d times", n)
	}
}

func TestAnonymousAndBadFrames(t *testing.T) {
	s, tok := setup(t)
	anon := s.Dial("")
	anon.Join("alpha", nil)
	anon.Send(map[string]any{"type": "send", "channel": "alpha", "text": "hi", "nonce": "x"})
	if e := anon.Expect("error"); e["code"] != "auth_required" || e["nonce"] != "x" {
		t.Fatalf("anonymous send: %v", e)
	}
	for frame, code := range map[string]string{
		`not json`:                        "invalid_frame",
		`{"type":"dance"}`:                "unknown_type",
		`{}`:                              "invalid_frame",
		`[1,2]`:                           "invalid_frame",
		`{"type":"join","channel":"zzz"}`: "no_such_channel",
		`{"type":"join","channel":"alpha","after":-5}`: "invalid_frame",
		`{"type":"auth","token":"forged.token.here"}`:  "invalid_token",
	} {
		anon.Send(frame)
		if e := anon.Expect("error"); e["code"] != code {
			t.Errorf("%s: got %v, want %s", frame, e, code)
		}
	}
	ann := s.Dial(tok["ann"])
	ann.Join("alpha", nil)
	for text, code := range map[string]string{"   ": "empty", strings.Repeat("x", 501): "too_long", "\x00\x01": "empty"} {
		ann.Send(map[string]any{"type": "send", "channel": "alpha", "text": text, "nonce": "n"})
		if e := ann.Expect("error"); e["code"] != code {
			t.Errorf("send %q: %v, want %s", text, e, code)
		}
	}
	// 500 characters (not bytes) are fine.
	ann.Say("alpha", strings.Repeat("é", 500), "long")

	// An oversized frame closes that connection only.
	big := s.Dial("")
	big.Send(`{"type":"ping","pad":"` + strings.Repeat("a", 9000) + `"}`)
	select {
	case <-waitClosed(big):
	case <-time.After(5 * time.Second):
		t.Fatal("oversized frame did not close the connection")
	}
	ann.Say("alpha", "still fine", "fine")
}

func waitClosed(c *apptest.ChatClient) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, _, err := c.Conn.Read(t0()); err != nil {
				return
			}
		}
	}()
	return done
}

func TestOriginChecked(t *testing.T) {
	s, _ := setup(t)
	s.DialHeader(http.Header{"Origin": {s.URL}}) // same origin works
	_, res, err := dialRaw(s, http.Header{"Origin": {"https://evil.example"}})
	if err == nil || res == nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: %v %v", res, err)
	}
}

func TestWhispers(t *testing.T) {
	s, tok := setup(t)
	ann, bob := s.Dial(tok["ann"]), s.Dial(tok["bob"])
	ann.Join("alpha", nil)
	bobHandle := handleOf(t, s, tok["bob"])
	ann.Send(map[string]any{"type": "whisper", "to": bobHandle, "text": "psst **hi**"})
	w := bob.Expect("whisper")
	if w["to"] != bobHandle || w["html"] != "psst <strong>hi</strong>" || w["from"].(map[string]any)["handle"] != handleOf(t, s, tok["ann"]) {
		t.Fatalf("whisper %v", w)
	}
	if ann.Expect("whisper")["to"] != bobHandle {
		t.Fatal("sender did not get its copy")
	}
	// The !w command does the same.
	ann.Send(map[string]any{"type": "send", "channel": "alpha", "text": "!w " + bobHandle + " again", "nonce": "w2"})
	if bob.Expect("whisper")["html"] != "again" {
		t.Fatal("!w")
	}
	for to, code := range map[string]string{"alpha": "user_offline", "nobody#1234": "user_not_found", "bob#0000": "user_not_found", "bob#1234@other.example": "federation_not_linked"} {
		if to == "bob#0000" && strings.HasSuffix(bobHandle, "#0000") {
			continue
		}
		ann.Send(map[string]any{"type": "whisper", "to": to, "text": "x"})
		if e := ann.Expect("error"); e["code"] != code {
			t.Errorf("whisper to %s: %v, want %s", to, e, code)
		}
	}
}

func TestPresenceCountsUsersOnce(t *testing.T) {
	s, tok := setup(t)
	a1, a2 := s.Dial(tok["ann"]), s.Dial(tok["ann"])
	a1.Join("alpha", nil)
	a2.Join("alpha", nil)
	anon := s.Dial("")
	anon.Join("alpha", nil)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		p := a1.Expect("presence")
		if p["viewers"].(float64) == 2 {
			ch := p["chatters"].([]any)
			if len(ch) != 1 || ch[0] != handleOf(t, s, tok["ann"]) {
				t.Fatalf("chatters %v", ch)
			}
			return
		}
	}
	t.Fatal("presence never showed 2 viewers (one user in two tabs + one anonymous)")
}

// Disconnecting clients leaves no goroutine behind.
func TestNoGoroutineLeak(t *testing.T) {
	s, tok := setup(t)
	warm := s.Dial(tok["ann"]) // let the server start its long-lived goroutines
	warm.Join("alpha", nil)
	warm.Conn.CloseNow()
	time.Sleep(200 * time.Millisecond)
	base := runtime.NumGoroutine()

	var clients []*apptest.ChatClient
	for i := range 30 {
		c := s.Dial(tok[[]string{"ann", "bob", ""}[i%3]])
		c.Join("alpha", nil)
		clients = append(clients, c)
	}
	clients[0].Say("alpha", "hello", "h")
	for _, c := range clients {
		c.Conn.CloseNow()
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before the clients came:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
}
