package chat_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/config"
)

// deleteAnswer asks to delete a message and returns the first error or
// delete frame that follows.
func deleteAnswer(c *apptest.ChatClient, id any) map[string]any {
	c.Send(map[string]any{"type": "delete", "channel": "alpha", "id": id})
	return c.ExpectWhere(func(f map[string]any) bool {
		return f["type"] == "error" || (f["type"] == "delete" && f["id"] == id)
	})
}

// A channel moderator deletes only their own messages and those of lower
// rank (the rule of !ban), and may not wipe the channel.
func TestDeleteFollowsRank(t *testing.T) {
	s, tok := setup(t)
	owner, ann, bob, boss := s.Dial(tok["alpha"]), s.Dial(tok["ann"]), s.Dial(tok["bob"]), s.Dial(tok["boss"])
	for _, c := range []*apptest.ChatClient{owner, ann, bob, boss} {
		c.Join("alpha", nil)
	}
	wantSystem(t, owner, "alpha", "!mod "+handleOf(t, s, tok["ann"]), "is now a moderator")
	fromOwner := owner.Say("alpha", "owner speaking", "o")["id"]
	fromBoss := boss.Say("alpha", "admin speaking", "b")["id"]
	fromBob := bob.Say("alpha", "user speaking", "u")["id"]
	fromAnn := ann.Say("alpha", "mod speaking", "a")["id"]
	for who, id := range map[string]any{"owner": fromOwner, "admin": fromBoss} {
		if f := deleteAnswer(ann, id); f["type"] != "error" || f["code"] != "forbidden" {
			t.Fatalf("a channel moderator deleted the %s's message: %v", who, f)
		}
	}
	for who, id := range map[string]any{"user": fromBob, "own": fromAnn} {
		if f := deleteAnswer(ann, id); f["type"] != "delete" {
			t.Fatalf("deleting a %s message: %v", who, f)
		}
	}
	if f := deleteAnswer(owner, fromBoss); f["type"] != "error" || f["code"] != "forbidden" {
		t.Fatalf("the owner deleted an admin's message: %v", f)
	}
	if f := deleteAnswer(boss, fromOwner); f["type"] != "delete" {
		t.Fatalf("an admin deleting the owner's message: %v", f)
	}
	wantCode(t, ann, "alpha", "!wipe", "forbidden")
	if h := s.Do("GET", "/api/v1/channels/alpha/messages", nil, "").Body["messages"].([]any); len(h) != 1 {
		t.Fatalf("history %v, want the admin's message only", h)
	}
}

// flood sends messages as fast as answers come until one is refused with
// stop (or 30 were sent), and returns the error codes met.
func flood(t *testing.T, c *apptest.ChatClient, prefix, stop string) []string {
	t.Helper()
	var codes []string
	for i := range 30 {
		nonce := fmt.Sprintf("%s%d", prefix, i)
		c.Send(map[string]any{"type": "send", "channel": "alpha", "text": "flood " + nonce, "nonce": nonce})
		f := c.ExpectWhere(func(f map[string]any) bool {
			return (f["type"] == "ack" || f["type"] == "error") && f["nonce"] == nonce
		})
		if f["type"] == "error" {
			codes = append(codes, f["code"].(string))
			if f["code"] == stop {
				break
			}
		}
	}
	return codes
}

// An automatic flood timeout keeps what the user wrote before; staff are
// slowed down but never timed out automatically.
func TestFloodTimeoutKeepsHistoryAndSparesStaff(t *testing.T) {
	s := apptest.Start(t, func(c *config.Config) { c.ChatRate, c.ChatBurst = 0.5, 3 })
	s.CreateUser("alpha", "password1", "streamer")
	s.CreateUser("boss", "password1", "admin")
	g := s.Do("POST", "/api/v1/guest", nil, "").Body["token"].(string)
	guest, owner, boss := s.Dial(g), s.Dial(s.Login("alpha", "password1")), s.Dial(s.Login("boss", "password1"))
	for _, c := range []*apptest.ChatClient{guest, owner, boss} {
		c.Join("alpha", nil)
	}
	guest.Say("alpha", "before the flood", "keep")
	codes := flood(t, guest, "g", "timed_out")
	if codes[len(codes)-1] != "timed_out" {
		t.Fatalf("flooding earned no timeout: %v", codes)
	}
	hist := s.Do("GET", "/api/v1/channels/alpha/messages", nil, "").Body["messages"].([]any)
	if len(hist) != 3 || !strings.Contains(hist[0].(map[string]any)["html"].(string), "before the flood") {
		t.Fatalf("the automatic timeout removed the guest's history: %v", hist)
	}
	for name, c := range map[string]*apptest.ChatClient{"owner": owner, "admin": boss} {
		for _, code := range flood(t, c, name, "timed_out") {
			if code != "rate_limited" {
				t.Fatalf("%s flooding: %s, want rate_limited only", name, code)
			}
		}
		// The bucket refills: the next message goes through.
		deadline := time.Now().Add(10 * time.Second)
		for i := 0; ; i++ {
			nonce := fmt.Sprintf("%s-after-%d", name, i)
			c.Send(map[string]any{"type": "send", "channel": "alpha", "text": "calm", "nonce": nonce})
			f := c.ExpectWhere(func(f map[string]any) bool {
				return (f["type"] == "ack" || f["type"] == "error") && f["nonce"] == nonce
			})
			if f["type"] == "ack" {
				break
			}
			if f["code"] != "rate_limited" || time.Now().After(deadline) {
				t.Fatalf("%s after flooding: %v", name, f)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}
