package federation_test

import (
	"fmt"
	"testing"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
)

// A's room is one room: B's and C's users chat in it with their own
// accounts, A assigns the offsets and everyone sees the same ones; a
// reader on B resumes by offset as locally.
func TestChatAcrossThreeSites(t *testing.T) {
	a, b, c := startSite(t), startSite(t), startSite(t)
	link(t, b, a)
	link(t, c, a)
	aliceH, aliceT := a.user(t, "alice", auth.RoleStreamer)
	bobH, bobT := b.user(t, "bob", auth.RoleUser)
	_, carolT := c.user(t, "carol", auth.RoleUser)
	room := "alice@" + a.host
	eventually(t, "alice@A listed on B and C", func() bool { return b.channel(t, room) != nil && c.channel(t, room) != nil })

	ca, cb, cc := a.Dial(aliceT), b.Dial(bobT), c.Dial(carolT)
	ca.Join("alice", nil)
	cb.Join(room, nil)
	cc.Join(room, nil)

	// People on B's and C's sites count in A's viewer number.
	eventually(t, "A counts the people on B and C", func() bool {
		r := a.Do("GET", "/api/v1/channels/alice", nil, "")
		return r.Body["channel"].(map[string]any)["viewers"] == 3.0
	})

	ack := cb.Say(room, "hello from *B*", "n1")
	if ack["offset"] != 1.0 {
		t.Fatalf("ack of a message sent from B: %v", ack)
	}
	m := ca.Expect("message")
	from := m["from"].(map[string]any)
	if m["offset"] != 1.0 || from["handle"] != bobH || from["instance"] != b.host || m["html"] != "hello from <em>B</em>" {
		t.Fatalf("A got %v", m)
	}
	if m := cc.Expect("message"); m["offset"] != 1.0 || m["from"].(map[string]any)["instance"] != b.host || m["channel"] != room {
		t.Fatalf("C got %v", m)
	}
	if m := cb.Expect("message"); m["offset"] != 1.0 || m["from"].(map[string]any)["instance"] != "" || m["id"] != ack["id"] {
		t.Fatalf("B got its own message as %v (ack %v)", m, ack)
	}
	ca.Say("alice", "hi from A", "n2")
	cc.Say(room, "hi from C", "n3")
	for _, cl := range []interface{ Expect(string) map[string]any }{ca, cb, cc} {
		for want := 2.0; want <= 3; want++ {
			cl := cl
			if m := cl.Expect("message"); m["offset"] != want {
				t.Fatalf("offset %v where %v was due: %v", m["offset"], want, m)
			}
		}
	}
	// The author of A is A's on B.
	resume := int64(1)
	late := b.Dial("")
	got := late.Join(room, &resume)
	if len(got) != 2 || got[0]["offset"] != 2.0 || got[0]["from"].(map[string]any)["instance"] != a.host || got[0]["from"].(map[string]any)["handle"] != aliceH {
		t.Fatalf("resume on B after 1: %v", got)
	}
	// Bots post through the REST API on B; B's mirror answers history.
	r := b.Do("POST", "/api/v1/channels/"+room+"/messages", map[string]string{"text": "from a bot", "nonce": "rest1"}, bobT)
	if r.Status != 201 || r.Body["message"].(map[string]any)["offset"] != 4.0 {
		t.Fatalf("REST post from B: %d %s", r.Status, r.Raw)
	}
	eventually(t, "B's history has the bot's message", func() bool {
		r := b.Do("GET", "/api/v1/channels/"+room+"/messages?after=3", nil, "")
		msgs, _ := r.Body["messages"].([]any)
		return len(msgs) == 1 && msgs[0].(map[string]any)["html"] == "from a bot"
	})
	// A repeated nonce is stored once.
	if again := cb.Say(room, "hello from *B*", "n1"); again["offset"] != 1.0 {
		t.Fatalf("a repeated nonce was stored again: %v", again)
	}
}

// Whispers cross both ways; errors say why.
func TestWhispersAcrossSites(t *testing.T) {
	a, b, c := startSite(t), startSite(t), startSite(t)
	link(t, b, a)
	aliceH, aliceT := a.user(t, "alice", auth.RoleStreamer)
	bobH, bobT := b.user(t, "bob", auth.RoleUser)
	carolH, _ := c.user(t, "carol", auth.RoleUser)
	daveH, _ := a.user(t, "dave", auth.RoleUser)
	ca, cb := a.Dial(aliceT), b.Dial(bobT)

	cb.Send(map[string]any{"type": "whisper", "to": aliceH + "@" + a.host, "text": "psst", "nonce": "w1"})
	w := ca.Expect("whisper")
	if w["from"].(map[string]any)["handle"] != bobH || w["from"].(map[string]any)["instance"] != b.host || w["html"] != "psst" {
		t.Fatalf("alice got %v", w)
	}
	if w := cb.Expect("whisper"); w["to"] != aliceH+"@"+a.host {
		t.Fatalf("bob's copy: %v", w)
	}
	ca.Send(map[string]any{"type": "send", "channel": "alice", "text": fmt.Sprintf("!w %s@%s back at you", bobH, b.host), "nonce": "w2"})
	if w := cb.ExpectWhere(func(f map[string]any) bool { return f["type"] == "whisper" && f["html"] == "back at you" }); w["from"].(map[string]any)["instance"] != a.host {
		t.Fatalf("bob got %v", w)
	}
	for _, tc := range []struct{ to, code string }{
		{daveH + "@" + a.host, "user_offline"},
		{"nobody#0001@" + a.host, "user_not_found"},
		{carolH + "@" + c.host, "federation_not_linked"},
	} {
		cb.Send(map[string]any{"type": "whisper", "to": tc.to, "text": "hi", "nonce": tc.to})
		e := cb.ExpectWhere(func(f map[string]any) bool { return f["type"] == "error" && f["nonce"] == tc.to })
		if e["code"] != tc.code {
			t.Errorf("whisper to %s: %v, want %s", tc.to, e, tc.code)
		}
	}
	// A is down: whispers fail at once, they do not wait.
	a.Stop()
	eventually(t, "B notices A is gone", func() bool { return b.peer(t, a.host)["connected"] == false })
	cb.Send(map[string]any{"type": "whisper", "to": aliceH + "@" + a.host, "text": "hi", "nonce": "down"})
	if e := cb.ExpectWhere(func(f map[string]any) bool { return f["type"] == "error" && f["nonce"] == "down" }); e["code"] != "peer_unreachable" {
		t.Fatalf("whisper to a site that is down: %v", e)
	}
	a.Resume()
	link := func() bool { p := b.peer(t, a.host); return p["connected"] == true }
	eventually(t, "the link comes back", link)
	// A turns incoming off: B's users are refused.
	a.Do("PATCH", "/api/v1/federation/peers/"+b.host, map[string]any{"incoming": false}, a.admin)
	eventually(t, "B refused by A", func() bool {
		cb.Send(map[string]any{"type": "whisper", "to": aliceH + "@" + a.host, "text": "hi", "nonce": "off"})
		e := cb.ExpectWhere(func(f map[string]any) bool {
			return (f["type"] == "error" && f["nonce"] == "off") || f["type"] == "whisper"
		})
		return e["code"] == "federation_refused"
	})
}

// A's moderators act on B's users by their full address; A's rules
// (bans) answer B's user on B.
func TestRemoteModeration(t *testing.T) {
	a, b := startSite(t), startSite(t)
	link(t, b, a)
	_, aliceT := a.user(t, "alice", auth.RoleStreamer)
	bobH, bobT := b.user(t, "bob", auth.RoleUser)
	room := "alice@" + a.host
	eventually(t, "alice@A listed on B", func() bool { return b.channel(t, room) != nil })
	ca, cb := a.Dial(aliceT), b.Dial(bobT)
	ca.Join("alice", nil)
	cb.Join(room, nil)
	cb.Say(room, "spam", "s1")
	ca.Expect("message")
	cb.Expect("message")
	ca.Send(map[string]any{"type": "send", "channel": "alice", "text": fmt.Sprintf("!ban %s@%s enough", bobH, b.host), "nonce": "b1"})
	if d := cb.Expect("delete"); d["channel"] != room {
		t.Fatalf("B's readers see the ban's purge as %v", d)
	}
	cb.Send(map[string]any{"type": "send", "channel": room, "text": "more", "nonce": "s2"})
	e := cb.ExpectWhere(func(f map[string]any) bool { return f["type"] == "error" && f["nonce"] == "s2" })
	if e["code"] != "banned" {
		t.Fatalf("banned user's send from B: %v", e)
	}
}

// A reader on B resuming a room B holds no copy of yet gets each offset
// after its resume point once, in order: A's catch-up does not repeat what
// the reader already has.
func TestRemoteResumeBeforeCatchUp(t *testing.T) {
	b, ca, room := aliceSaidThree(t)

	after := int64(2)
	cb := b.Dial("")
	var offsets []any
	for _, m := range cb.Join(room, &after) {
		offsets = append(offsets, m["offset"])
	}
	ca.Say("alice", "after", "n4")
	for len(offsets) == 0 || offsets[len(offsets)-1] != 4.0 {
		offsets = append(offsets, cb.Expect("message")["offset"])
	}
	if fmt.Sprint(offsets) != "[3 4]" {
		t.Errorf("resuming after 2 on B, the reader got offsets %v, want [3 4]", offsets)
	}
}

// One room across sites: A's presence lists who is signed in to it on B
// (with B's host), B's shows them as its own; leaving takes them off.
func TestChattersAcrossSites(t *testing.T) {
	a, b := startSite(t), startSite(t)
	link(t, b, a)
	aliceH, aliceT := a.user(t, "alice", auth.RoleStreamer)
	bobH, bobT := b.user(t, "bob", auth.RoleUser)
	room := "alice@" + a.host
	eventually(t, "alice@A listed on B", func() bool { return b.channel(t, room) != nil })

	ca := a.Dial(aliceT)
	ca.Join("alice", nil)
	cb := b.Dial(bobT)
	cb.Join(room, nil)
	chatters := func(f map[string]any) string { return fmt.Sprint(f["chatters"]) }
	want := fmt.Sprint([]string{aliceH, bobH + "@" + b.host})
	ca.ExpectWhere(func(f map[string]any) bool { return f["type"] == "presence" && chatters(f) == want })
	wantB := fmt.Sprint([]string{aliceH + "@" + a.host, bobH})
	cb.ExpectWhere(func(f map[string]any) bool { return f["type"] == "presence" && chatters(f) == wantB })

	cb.Conn.CloseNow()
	want = fmt.Sprint([]string{aliceH})
	ca.ExpectWhere(func(f map[string]any) bool { return f["type"] == "presence" && chatters(f) == want })
}

// B's REST history of A's room, before anyone on B followed it, is A's:
// B follows the room for the request and waits for A's replay.
func TestRemoteHistoryBeforeAnyoneFollows(t *testing.T) {
	b, _, room := aliceSaidThree(t)
	r := b.Do("GET", "/api/v1/channels/"+room+"/messages?after=1", nil, "")
	msgs, _ := r.Body["messages"].([]any)
	var offsets []any
	for _, m := range msgs {
		offsets = append(offsets, m.(map[string]any)["offset"])
	}
	if r.Status != 200 || fmt.Sprint(offsets) != "[2 3]" {
		t.Fatalf("B's history of %s after 1: %d, offsets %v (%s)", room, r.Status, offsets, r.Raw)
	}
	if html := msgs[0].(map[string]any)["html"]; html != "said 2" {
		t.Errorf("B rendered %q", html)
	}
}

// aliceSaidThree links B to A and has alice say "said 1" to "said 3" in
// her room on A (offsets 1 to 3) before anyone on B follows it; ca is her
// connection, room "alice@A".
func aliceSaidThree(t *testing.T) (b *site, ca *apptest.ChatClient, room string) {
	t.Helper()
	a, b := startSite(t), startSite(t)
	link(t, b, a)
	_, aliceT := a.user(t, "alice", auth.RoleStreamer)
	room = "alice@" + a.host
	eventually(t, "alice@A listed on B", func() bool { return b.channel(t, room) != nil })
	ca = a.Dial(aliceT)
	ca.Join("alice", nil)
	for i := 1; i <= 3; i++ {
		ca.Say("alice", fmt.Sprint("said ", i), fmt.Sprint("n", i))
	}
	return b, ca, room
}
