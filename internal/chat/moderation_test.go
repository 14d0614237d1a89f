package chat_test

import (
	"strings"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/config"
)

// wantSystem sends a command and waits for a system frame containing
// want (public announcements and replies are both system frames).
func wantSystem(t *testing.T, c *apptest.ChatClient, channel, text, want string) {
	t.Helper()
	c.Send(map[string]any{"type": "send", "channel": channel, "text": text, "nonce": text})
	f := c.ExpectWhere(func(f map[string]any) bool {
		s, _ := f["text"].(string)
		return (f["type"] == "system" && strings.Contains(s, want)) || (f["type"] == "error" && f["nonce"] == text)
	})
	if f["type"] == "error" {
		t.Fatalf("%s: %v, want a system frame containing %q", text, f, want)
	}
}

// wantCode sends a command and waits for its error frame.
func wantCode(t *testing.T, c *apptest.ChatClient, channel, text, code string) {
	t.Helper()
	c.Send(map[string]any{"type": "send", "channel": channel, "text": text, "nonce": text})
	f := c.ExpectWhere(func(f map[string]any) bool { return f["type"] == "error" && f["nonce"] == text })
	if f["code"] != code {
		t.Fatalf("%s: %v, want error %s", text, f, code)
	}
}

func TestBanTimeoutAndPermissions(t *testing.T) {
	s, tok := setup(t)
	owner, ann, bob, boss := s.Dial(tok["alpha"]), s.Dial(tok["ann"]), s.Dial(tok["bob"]), s.Dial(tok["boss"])
	for _, c := range []*apptest.ChatClient{owner, ann, bob, boss} {
		c.Join("alpha", nil)
	}
	annH, bobH, bossH := handleOf(t, s, tok["ann"]), handleOf(t, s, tok["bob"]), handleOf(t, s, tok["boss"])

	// A plain user may not moderate.
	wantCode(t, bob, "alpha", "!ban "+annH, "forbidden")
	wantCode(t, bob, "alpha", "!slow 5", "forbidden")
	wantCode(t, bob, "alpha", "!frobnicate", "unknown_command")
	wantSystem(t, bob, "alpha", "/help", "!w name#1234")

	// The owner bans ann in the channel: her message disappears, she cannot
	// send here, but can in another channel.
	spam := ann.Say("alpha", "spam", "spam1")
	wantSystem(t, owner, "alpha", "!ban "+annH+" spamming", annH+" was banned from this channel")
	del := bob.Expect("delete")
	if del["id"] != spam["id"] || del["channel"] != "alpha" {
		t.Fatalf("delete frame %v, want id %v", del, spam["id"])
	}
	ann.Send(map[string]any{"type": "send", "channel": "alpha", "text": "let me in", "nonce": "x1"})
	if e := ann.ExpectWhere(func(f map[string]any) bool { return f["type"] == "error" }); e["code"] != "banned" || !strings.Contains(e["message"].(string), "spamming") {
		t.Fatalf("banned send: %v", e)
	}
	ann.Join("beta", nil)
	ann.Say("beta", "elsewhere is fine", "b1")
	wantCode(t, owner, "alpha", "!ban "+bossH, "forbidden") // not above an admin
	wantSystem(t, owner, "alpha", "!unban "+annH, "may chat again")
	ann.Say("alpha", "back", "back1")

	// A timeout ends by itself.
	wantSystem(t, owner, "alpha", "!timeout "+annH+" 1", "timed out for 1 seconds")
	ann.Send(map[string]any{"type": "send", "channel": "alpha", "text": "now?", "nonce": "t1"})
	if e := ann.ExpectWhere(func(f map[string]any) bool { return f["type"] == "error" && f["nonce"] == "t1" }); e["code"] != "timed_out" {
		t.Fatalf("timed-out send: %v", e)
	}
	time.Sleep(1100 * time.Millisecond)
	ann.Say("alpha", "free again", "t2")

	// An admin's ban is instance-wide.
	wantSystem(t, boss, "alpha", "!ban "+bobH, "from this instance")
	bob.Join("beta", nil)
	bob.Send(map[string]any{"type": "send", "channel": "beta", "text": "hi", "nonce": "b2"})
	if e := bob.ExpectWhere(func(f map[string]any) bool { return f["type"] == "error" && f["nonce"] == "b2" }); e["code"] != "banned" {
		t.Fatalf("instance-banned send: %v", e)
	}
	// The owner cannot lift an instance ban (it is not in their scope).
	wantSystem(t, owner, "alpha", "!unban "+bobH, "was not banned")

	// Channel moderators: appointed by the owner, may time out users.
	wantSystem(t, owner, "alpha", "!mod "+annH, "is now a moderator")
	wantSystem(t, ann, "alpha", "!slow 1", "slow mode is on")
	wantCode(t, ann, "alpha", "!mod "+bobH, "forbidden")
	wantSystem(t, owner, "alpha", "!unmod "+annH, "no longer a moderator")
	wantCode(t, ann, "alpha", "!slow 0", "forbidden")

	// Slow mode applies to users, not to the owner.
	time.Sleep(1100 * time.Millisecond) // since ann's last message
	ann.Say("alpha", "one", "s1")
	ann.Send(map[string]any{"type": "send", "channel": "alpha", "text": "two", "nonce": "s2"})
	if e := ann.ExpectWhere(func(f map[string]any) bool { return f["type"] == "error" && f["nonce"] == "s2" }); e["code"] != "slow_mode" {
		t.Fatalf("slow mode: %v", e)
	}
	owner.Say("alpha", "owner one", "o1")
	owner.Say("alpha", "owner two", "o2")

	// Title, status, wipe.
	wantSystem(t, owner, "alpha", "!title Friday <jam>", "title: Friday <jam>")
	// (live frames also come when the audience changes)
	bob.ExpectWhere(func(f map[string]any) bool {
		ch, _ := f["channel"].(map[string]any)
		return f["type"] == "live" && ch["title"] == "Friday <jam>"
	})
	wantSystem(t, bob, "alpha", "!status", "slow mode 1 s")
	wantSystem(t, owner, "alpha", "!wipe", "cleared")
	if h := s.Do("GET", "/api/v1/channels/alpha/messages", nil, "").Body["messages"].([]any); len(h) != 0 {
		t.Fatalf("history after wipe: %v", h)
	}
	next := owner.Say("alpha", "after wipe", "w1")
	if next["offset"].(float64) <= 5 {
		t.Fatalf("offsets restarted after a wipe: %v", next)
	}

	// mkstreamer is for admins.
	wantCode(t, owner, "alpha", "!mkstreamer "+annH, "forbidden")
	wantSystem(t, boss, "alpha", "!mkstreamer "+annH, "is now a streamer")
	if r := s.Do("GET", "/api/v1/channels/ann", nil, ""); r.Status != 200 {
		t.Fatalf("new streamer has no channel: %d", r.Status)
	}

	// Every action is in the audit log.
	log, err := s.App.Core().Store.AuditLog(t.Context(), 100)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range log {
		seen[e.Action] = true
	}
	for _, a := range []string{"ban", "unban", "timeout", "mod", "unmod", "slow", "title", "wipe", "mkstreamer"} {
		if !seen[a] {
			t.Errorf("audit log lacks %q: %v", a, log)
		}
	}
}

func TestModeratorDeletesMessage(t *testing.T) {
	s, tok := setup(t)
	owner, ann := s.Dial(tok["alpha"]), s.Dial(tok["ann"])
	owner.Join("alpha", nil)
	ann.Join("alpha", nil)
	ack := ann.Say("alpha", "oops", "o")
	ann.Send(map[string]any{"type": "delete", "channel": "alpha", "id": ack["id"]})
	if e := ann.Expect("error"); e["code"] != "forbidden" {
		t.Fatalf("user deleting: %v", e)
	}
	owner.Send(map[string]any{"type": "delete", "channel": "alpha", "id": ack["id"]})
	if d := ann.Expect("delete"); d["id"] != ack["id"] {
		t.Fatalf("delete %v", d)
	}
	if h := s.Do("GET", "/api/v1/channels/alpha/messages", nil, "").Body["messages"].([]any); len(h) != 0 {
		t.Fatalf("deleted message still in history: %v", h)
	}
}

func TestFloodRefusedOthersUnaffected(t *testing.T) {
	s := apptest.Start(t, func(c *config.Config) { c.ChatRate, c.ChatBurst = 1, 5 })
	s.CreateUser("alpha", "password1", "streamer")
	s.CreateUser("ann", "password1", "user")
	s.CreateUser("bob", "password1", "user")
	ann, bob := s.Dial(s.Login("ann", "password1")), s.Dial(s.Login("bob", "password1"))
	ann.Join("alpha", nil)
	bob.Join("alpha", nil)
	var codes []string
	for i := range 8 {
		ann.Send(map[string]any{"type": "send", "channel": "alpha", "text": "flood", "nonce": i})
		f := ann.ExpectWhere(func(f map[string]any) bool {
			return (f["type"] == "ack" || f["type"] == "error") && f["nonce"] == float64(i)
		})
		if f["type"] == "error" {
			codes = append(codes, f["code"].(string))
		}
	}
	if len(codes) < 3 || codes[0] != "rate_limited" {
		t.Fatalf("flood answers %v, want rate_limited then a timeout", codes)
	}
	if !strings.Contains(strings.Join(codes, " "), "timed_out") {
		t.Fatalf("repeated flooding did not earn a timeout: %v", codes)
	}
	bob.Say("alpha", "I can still talk", "bob1")
}
