package web_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
	"github.com/pion/webrtc/v4"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/config"
	"github.com/fedwave/fedwave/internal/pionlog"
	fwturn "github.com/fedwave/fedwave/internal/turn"
	"github.com/fedwave/fedwave/internal/udptest"
)

// Anonymous TURN must not be an open relay (issue 8, item 4). These tests
// attack the server as an outsider would: credentials from GET /api/v1/ice
// and WHIP/WHEP Link headers, used with pion's TURN client.

// startWithTURN runs a server with its embedded TURN server on loopback,
// allowed to relay to loopback peers (as tests need).
func startWithTURN(t *testing.T) *apptest.Server {
	t.Helper()
	return apptest.Start(t, func(c *config.Config) { c.TURNPort, c.TURNLoopback = udptest.FreePort(t), true })
}

// iceCredential fetches GET /api/v1/ice (with token, if any) and returns
// the TURN server's UDP address and the credential.
func iceCredential(t *testing.T, s *apptest.Server, token string) (server, user, pass string) {
	t.Helper()
	r := s.Do("GET", "/api/v1/ice", nil, token)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /api/v1/ice: %d %s", r.Status, r.Raw)
	}
	servers, _ := r.Body["iceServers"].([]any)
	if len(servers) != 1 {
		t.Fatalf("iceServers = %v", r.Body["iceServers"])
	}
	ice := servers[0].(map[string]any)
	urls := ice["urls"].([]any)
	udp := strings.TrimSuffix(strings.TrimPrefix(urls[0].(string), "turn:"), "?transport=udp")
	return udp, ice["username"].(string), ice["credential"].(string)
}

// turnClient is a pion TURN client on 127.0.0.1, talking UDP to server.
func turnClient(t *testing.T, server, user, pass string) *turn.Client {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server, TURNServerAddr: server, Username: user, Password: pass, Conn: conn,
		LoggerFactory: pionlog.Factory{Log: slog.New(slog.DiscardHandler)},
	})
	if err != nil {
		conn.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		conn.Close()
	})
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	return c
}

func turnErrorCode(err error) int {
	var te *stun.TurnError
	if errors.As(err, &te) {
		return int(te.ErrorCodeAttr.Code)
	}
	return 0
}

// TestICEAnonymousQuotaPerAddress: fresh anonymous credentials from one
// address do not bring fresh quotas. The first release gave every call a
// user of its own, and 150 of 150 allocations succeeded.
func TestICEAnonymousQuotaPerAddress(t *testing.T) {
	s := startWithTURN(t)
	const tries = fwturn.DefaultMaxAnonymousPerAddress + 4
	ok := 0
	for i := range tries {
		server, user, pass := iceCredential(t, s, "")
		relay, err := turnClient(t, server, user, pass).Allocate()
		if err != nil {
			if code := turnErrorCode(err); code != 486 {
				t.Fatalf("allocation %d: %v (code %d), want 486 (Allocation Quota Reached)", i+1, err, code)
			}
			continue
		}
		ok++
		t.Cleanup(func() { relay.Close() })
	}
	if ok != fwturn.DefaultMaxAnonymousPerAddress {
		t.Fatalf("%d of %d anonymous allocations from one address succeeded, want %d", ok, tries, fwturn.DefaultMaxAnonymousPerAddress)
	}
}

// TestICERateLimited: GET /api/v1/ice is limited per client address, with
// the contract's error body beyond the limit.
func TestICERateLimited(t *testing.T) {
	s := apptest.Start(t)
	for i := range 1000 {
		r := s.Do("GET", "/api/v1/ice", nil, "")
		if r.Status == http.StatusOK {
			continue
		}
		if r.Status != http.StatusTooManyRequests || r.ErrorCode() != "rate_limited" {
			t.Fatalf("request %d: %d %s, want 429 rate_limited", i+1, r.Status, r.Raw)
		}
		if i < 10 {
			t.Fatalf("limited after only %d requests", i)
		}
		// 30 a minute: the next one in 2 s (RFC 6585's Retry-After).
		if ra := r.Header.Get("Retry-After"); ra != "2" {
			t.Errorf("Retry-After %q, want 2", ra)
		}
		return
	}
	t.Fatal("1000 requests from one address were all answered")
}

// TestICEAnonymousRelaysOnlyToMedia: an anonymous credential may relay to
// the server's media port only, not to another loopback address nor to
// another port of the media address; a signed-in user's may (the test
// server allows loopback peers, as tests on one machine need).
func TestICEAnonymousRelaysOnlyToMedia(t *testing.T) {
	s := startWithTURN(t)
	// A listener on the media port's IP (127.0.0.1, which the test server
	// offers with --media-loopback) that is not the media port.
	other, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	server, user, pass := iceCredential(t, s, "")
	anon := turnClient(t, server, user, pass)
	relay, err := anon.Allocate()
	if err != nil {
		t.Fatalf("anonymous Allocate: %v", err)
	}
	defer relay.Close()
	if _, err := relay.WriteTo([]byte("anonymous"), other.LocalAddr()); err != nil {
		t.Fatalf("anonymous WriteTo (the media IP has a permission): %v", err)
	}
	// The reply to this request comes after the server has handled the
	// datagram before it (one client's packets are handled in order).
	if err := anon.CreatePermission(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 9}); err == nil {
		t.Error("anonymous CreatePermission(127.0.0.2) succeeded")
	} else if code := turnErrorCode(err); code != 403 {
		t.Errorf("anonymous CreatePermission(127.0.0.2): %v (code %d), want 403", err, code)
	}
	if udptest.Queued(t, other) {
		t.Fatal("an anonymous relay sent to a loopback port that is not the media port")
	}

	s.CreateUser("sam", "password1", auth.RoleUser)
	server, user, pass = iceCredential(t, s, s.Login("sam", "password1"))
	signed := turnClient(t, server, user, pass)
	srelay, err := signed.Allocate()
	if err != nil {
		t.Fatalf("signed-in Allocate: %v", err)
	}
	defer srelay.Close()
	if err := signed.CreatePermission(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 9}); err != nil {
		t.Errorf("signed-in CreatePermission(127.0.0.2): %v", err)
	}
	if _, err := srelay.WriteTo([]byte("signed in"), other.LocalAddr()); err != nil {
		t.Fatalf("signed-in WriteTo: %v", err)
	}
	buf := make([]byte, 64)
	other.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _, err := other.ReadFrom(buf); err != nil || string(buf[:n]) != "signed in" {
		t.Fatalf("the signed-in relay's datagram: %q, %v", buf[:n], err)
	}
}

// TestTURNUsernamesCarryNoSecrets: TURN user names say "anonymous" or name
// an account by number; never a WHIP/WHEP session's id (whoever holds it
// can end or change the session), a stream key or a handle.
func TestTURNUsernamesCarryNoSecrets(t *testing.T) {
	s := startWithTURN(t)
	s.CreateUser("alpha", "password1", auth.RoleStreamer)
	owner := s.Login("alpha", "password1")
	key := s.Do("POST", "/api/v1/channels/alpha/stream-key", nil, owner).Body["streamKey"].(string)
	anon := regexp.MustCompile(`^[0-9]+:anon$`)

	if _, user, _ := iceCredential(t, s, ""); !anon.MatchString(user) {
		t.Errorf("anonymous /api/v1/ice user name %q", user)
	}
	guest := s.Do("POST", "/api/v1/guest", nil, "").Body["token"].(string)
	if _, user, _ := iceCredential(t, s, guest); !anon.MatchString(user) {
		t.Errorf("a guest's /api/v1/ice user name %q, want an anonymous one", user)
	}
	id := int64(s.Do("GET", "/api/v1/me", nil, owner).Body["user"].(map[string]any)["id"].(float64))
	if _, user, _ := iceCredential(t, s, owner); !regexp.MustCompile(fmt.Sprintf(`^[0-9]+:u%d$`, id)).MatchString(user) {
		t.Errorf("a signed-in user's /api/v1/ice user name %q, want expiry:u%d", user, id)
	}

	pub := apptest.Publish(t, s.URL+"/whip/alpha", key)
	checkLinks(t, "WHIP", pub, key)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ch := s.Do("GET", "/api/v1/channels/alpha", nil, "").Body["channel"].(map[string]any)
		if ch["live"] == true {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the channel did not go live")
		}
		time.Sleep(20 * time.Millisecond)
	}
	view := whepOffer(t, s.URL+"/whep/alpha")
	checkLinks(t, "WHEP", view, key)
}

// checkLinks checks the TURN user names in a WHIP/WHEP answer's Link
// headers: anonymous, and nothing of the session in them.
func checkLinks(t *testing.T, what string, res *http.Response, key string) {
	t.Helper()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("%s: %d", what, res.StatusCode)
	}
	loc := res.Header.Get("Location")
	id := loc[strings.LastIndex(loc, "/")+1:]
	links := res.Header.Values("Link")
	users := 0
	for _, l := range links {
		if !strings.Contains(l, `rel="ice-server"`) {
			continue
		}
		m := regexp.MustCompile(`username="([^"]*)"`).FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("%s: ice-server Link without a user name: %s", what, l)
		}
		users++
		if !regexp.MustCompile(`^[0-9]+:anon$`).MatchString(m[1]) {
			t.Errorf("%s: TURN user name %q, want expiry:anon", what, m[1])
		}
		if id == "" || strings.Contains(l, id) || strings.Contains(l, key) {
			t.Errorf("%s: Link %q carries the session id %q or the stream key", what, l, id)
		}
	}
	if users == 0 {
		t.Fatalf("%s: no ice-server Link headers: %v", what, links)
	}
}

// whepOffer asks to watch url and returns the answer.
func whepOffer(t *testing.T, url string) *http.Response {
	t.Helper()
	pc := apptest.LoopbackPeer(t)
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	return apptest.PostOffer(t, pc, url, "")
}
