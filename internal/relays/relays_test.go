package relays

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/fedwave/fedwave/internal/audience"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/store"
)

func TestTickets(t *testing.T) {
	tok, _, key := NewToken()
	if TicketKey(tok) != key || !IsToken(tok) {
		t.Fatal("the ticket key must derive from the token alone")
	}
	now := time.Now()
	s := Ticket{Kind: "viewer", Relay: "r1", Channel: "alice", Expires: now.Add(time.Minute).Unix()}.Sign(key)
	got, err := Verify(key, s, now)
	if err != nil || got.Channel != "alice" || got.Kind != "viewer" || got.Nonce == "" {
		t.Fatalf("a good ticket: %+v %v", got, err)
	}
	_, _, other := NewToken()
	payload, sig, _ := strings.Cut(s, ".")
	forged := strings.Replace(payload, payload[:4], "eyJr", 1) + "." + sig
	bad := map[string]string{
		"another relay's key": Ticket{Kind: "viewer", Expires: now.Add(time.Minute).Unix()}.Sign(other),
		"expired":             Ticket{Kind: "viewer", Expires: now.Add(-time.Second).Unix()}.Sign(key),
		"tampered":            forged + "x",
		"no signature":        payload,
		"garbage":             "a.b",
		"empty":               "",
		"too long":            strings.Repeat("a", 600) + "." + sig,
	}
	for name, s := range bad {
		if _, err := Verify(key, s, now); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

type people struct{ n atomic.Int64 }

func (p *people) People() int { return int(p.n.Load()) }

type origin struct {
	svc   *Service
	srv   *httptest.Server
	aud   *audience.Registry
	media *people
}

func startOrigin(t *testing.T, maxViewers int) *origin {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "fw.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	o := &origin{aud: audience.New(nil), media: &people{}}
	o.svc = New(Config{Store: st, Media: o.media, Audience: o.aud, PublicURL: "http://origin.test", MaxViewers: maxViewers})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go o.svc.Run(ctx)
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if err := o.svc.ServeLink(w, r, tok); err != nil {
			fe, _ := fail.As(err)
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": fe.Code}})
		}
	}))
	t.Cleanup(o.srv.Close)
	return o
}

// dial opens a relay's control link and says hello.
func (o *origin) dial(t *testing.T, token string, hello map[string]any) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(o.srv.URL, "http"), &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		return nil, res, err
	}
	t.Cleanup(func() { ws.CloseNow() })
	send(t, ws, hello)
	return ws, res, nil
}

func send(t *testing.T, ws *websocket.Conn, v any) {
	b, _ := json.Marshal(v)
	if err := ws.Write(context.Background(), websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, ws *websocket.Conn) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := ws.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("never: %s", what)
}

// A relay links, is told its parent (the origin), reports its viewers
// (counted in the channel's audience and shown in the tree), gets the
// viewers the origin cannot serve with tickets it can check, and is
// dropped at once when revoked.
func TestRelayLinkPlacementAndRevocation(t *testing.T) {
	o := startOrigin(t, 1)
	ctx := context.Background()
	_, token, err := o.svc.Create(ctx, "eu-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := o.svc.Create(ctx, "EU-1"); err == nil {
		t.Fatal("a second relay named eu-1 was made")
	}
	if _, _, err := o.svc.Create(ctx, "no spaces"); err == nil {
		t.Fatal("a relay named `no spaces` was made")
	}
	ws, _, err := o.dial(t, token, map[string]any{"type": "hello", "url": "http://relay.test:8090", "capacity": 10})
	if err != nil {
		t.Fatal(err)
	}
	if m := read(t, ws); m["type"] != "assign" || m["parent"].(map[string]any)["url"] != "http://origin.test" {
		t.Fatalf("first message: %v, want an assign to the origin", m)
	}
	send(t, ws, map[string]any{"type": "status", "channels": map[string]any{"alice": map[string]any{"viewers": 2, "pulling": true}}})
	eventually(t, "the relay's viewers counted", func() bool { return o.aud.Count("alice") == 2 })

	// The origin serves one person; the next goes to the relay.
	loc, release, err := o.svc.Place("alice", "low", "")
	if err != nil || loc != "" {
		t.Fatalf("first viewer: %q %v, want served here", loc, err)
	}
	loc, _, err = o.svc.Place("alice", "low", "")
	release()
	if err != nil || !strings.HasPrefix(loc, "http://relay.test:8090/whep/alice?") {
		t.Fatalf("second viewer: %q %v, want the relay", loc, err)
	}
	u, _ := url.Parse(loc)
	tk, err := Verify(TicketKey(token), u.Query().Get("ticket"), time.Now())
	if err != nil || tk.Kind != "viewer" || tk.Channel != "alice" || u.Query().Get("quality") != "low" {
		t.Fatalf("the viewer's ticket: %+v %v (%s)", tk, err, loc)
	}
	// Avoiding is a preference: with no other relay, the one a viewer
	// lost (it may have hiccuped) takes it again rather than a 503.
	o.media.n.Store(1)
	if loc, _, err := o.svc.Place("alice", "", "relay.test:8090"); err != nil || !strings.HasPrefix(loc, "http://relay.test:8090/") {
		t.Fatalf("a viewer avoiding the only relay: %q %v, want the relay", loc, err)
	}

	tree := o.svc.Tree("alice", "origin.test", 1)
	if len(tree.Children) != 1 || tree.Children[0].Name != "eu-1" || tree.Children[0].Viewers != 2 || tree.Viewers != 1 {
		t.Fatalf("tree: %+v", tree)
	}
	list, _ := o.svc.List(ctx)
	if len(list) != 1 || !list[0].Connected || list[0].URL != "http://relay.test:8090" || list[0].Viewers != 2 || list[0].Capacity != 10 {
		t.Fatalf("list: %+v", list)
	}

	if err := o.svc.Revoke(ctx, "eu-1"); err != nil {
		t.Fatal(err)
	}
	if m := read(t, ws); m["type"] != "revoked" {
		t.Fatalf("after revoking: %v", m)
	}
	eventually(t, "the revoked relay's viewers no longer counted", func() bool { return o.aud.Count("alice") == 0 })
	list, _ = o.svc.List(ctx)
	if list[0].State != "revoked" || list[0].Connected {
		t.Fatalf("revoked relay listed as %+v", list[0])
	}
	if _, res, err := o.dial(t, token, nil); err == nil || res == nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the revoked token links again: %v", err)
	}
}

// A hello that does not say where viewers reach the relay, or claims an
// impossible capacity, is refused.
func TestBadHelloRefused(t *testing.T) {
	o := startOrigin(t, 1)
	_, token, _ := o.svc.Create(context.Background(), "r")
	for _, h := range []map[string]any{
		{"type": "hello", "url": "ftp://relay.test", "capacity": 10},
		{"type": "hello", "url": "http://user@relay.test", "capacity": 10},
		{"type": "hello", "url": "http://relay.test/path", "capacity": 10},
		{"type": "hello", "url": "http://relay.test", "capacity": 0},
		{"type": "status"},
	} {
		ws, _, err := o.dial(t, token, h)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _, err = ws.Read(ctx)
		cancel()
		if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
			t.Errorf("hello %v: %v, want closed as a policy violation", h, err)
		}
	}
	if list, _ := o.svc.List(context.Background()); list[0].Connected {
		t.Fatal("a relay with a bad hello is listed as connected")
	}
}
