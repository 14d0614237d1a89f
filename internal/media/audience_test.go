package media_test

import (
	"net/http"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/fedwave/fedwave/internal/auth"
)

// A person with the player and the chat open counts once, the same number
// on the channel (live frames, API) and in the chat's presence frames.
func TestAudienceCountsEachPersonOnce(t *testing.T) {
	s, key, _ := setup(t)
	publish(t, s.URL+"/whip/alpha", key, "vp8")
	waitFor(t, "live", func() bool { return live(s) })
	// play starts a WHEP session with the headers h (a cookie, a token).
	play := func(h http.Header) {
		t.Helper()
		pc := newPeer(t)
		pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
		if res := exchangeHeader(t, pc, s.URL+"/whep/alpha", h); res.StatusCode != http.StatusCreated {
			t.Fatalf("WHEP: %d", res.StatusCode)
		}
	}
	viewers := func() float64 {
		ch, _ := s.Do("GET", "/api/v1/channels/alpha", nil, "").Body["channel"].(map[string]any)
		n, _ := ch["viewers"].(float64)
		return n
	}

	// An anonymous browser: the channel page gives it its viewer cookie,
	// which its player and its chat both send.
	res, err := http.Get(s.URL + "/c/alpha")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "fedwave_viewer" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly {
		t.Fatalf("the channel page set no HttpOnly viewer cookie: %v", res.Cookies())
	}
	browser := http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}, "Origin": {s.URL}}
	chat := s.DialHeader(browser)
	chat.Join("alpha", nil)
	if n := viewers(); n != 1 {
		t.Fatalf("with the chat open: %v viewers, want 1", n)
	}
	play(browser)
	if n := viewers(); n != 1 {
		t.Fatalf("the same browser's player and chat: %v viewers, want 1", n)
	}

	// A player without any identity counts on its own.
	play(nil)
	if n := viewers(); n != 2 {
		t.Fatalf("an anonymous player besides: %v viewers, want 2", n)
	}

	// A signed-in user in the chat, then with a player too: the token
	// names the person on both.
	s.CreateUser("bob", "password1", auth.RoleUser)
	tok := s.Login("bob", "password1")
	bobChat := s.Dial(tok)
	bobChat.Join("alpha", nil)
	if n := viewers(); n != 3 {
		t.Fatalf("bob in the chat besides: %v viewers, want 3", n)
	}
	play(http.Header{"Authorization": {"Bearer " + tok}})
	if n := viewers(); n != 3 {
		t.Fatalf("bob's player and chat: %v viewers, want 3", n)
	}

	// Both frames carry the number.
	chat.ExpectWhere(func(f map[string]any) bool { return f["type"] == "presence" && f["viewers"] == 3.0 })
	chat.ExpectWhere(func(f map[string]any) bool {
		ch, _ := f["channel"].(map[string]any)
		return f["type"] == "live" && ch["viewers"] == 3.0
	})
}
