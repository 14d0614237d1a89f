package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/config"
	"github.com/fedwave/fedwave/internal/store"
)

// TestFederationOutboxSurvivesSIGKILL: messages a B user sent into A's
// room while A was down wait in B's outbox; B is killed without warning
// and restarted, A comes back, and each message reaches A's room exactly
// once, in order.
func TestFederationOutboxSurvivesSIGKILL(t *testing.T) {
	a := apptest.Start(t, func(c *config.Config) { c.FederationAllowPrivate = true })
	a.CreateUser("boss", "password1", auth.RoleAdmin)
	a.CreateUser("alice", "password1", auth.RoleStreamer)
	aAdmin := a.Login("boss", "password1")
	aHost := strings.TrimPrefix(a.URL, "http://")

	dir := t.TempDir()
	for _, u := range [][]string{{"boss", "admin"}, {"bob", "user"}} {
		if out, err := runCLI(t, "password1\n", "user", "create", u[0], "--role", u[1], "--password-stdin", "--data", dir); err != nil {
			t.Fatalf("%s %v", out, err)
		}
	}
	bin, addrB := buildBinary(t), freeAddr(t)
	flags := []string{"--federation-allow-private", "--chat-rate", "1000", "--chat-burst", "1000"}
	base, cmd, _ := startChildAt(t, bin, dir, addrB, flags...)
	b := &remote{t: t, base: base, token: loginToken(t, base, "boss")}
	if st, body := b.call("POST", "/api/v1/federation/peers", map[string]string{"url": a.URL}); st != http.StatusCreated {
		t.Fatalf("link: %d %s", st, body)
	}
	if r := a.Do("PATCH", "/api/v1/federation/peers/"+addrB, map[string]any{"approve": true}, aAdmin); r.Status != http.StatusOK {
		t.Fatalf("approve: %d %s", r.Status, r.Raw)
	}
	room := "alice@" + aHost
	b.waitConnected(aHost)
	b.waitListed(room) // B accepts messages for the rooms A has listed

	// A goes down; bob sends from B: the messages wait.
	a.Stop()
	bob := b.dial(loginToken(t, base, "bob"))
	const n = 20
	for i := range n {
		bob.send(map[string]any{"type": "send", "channel": room, "text": fmt.Sprintf("m%02d", i), "nonce": fmt.Sprintf("n%02d", i)})
	}
	b.waitOutbox(dir, n)
	cmd.Process.Kill() // SIGKILL
	cmd.Wait()
	outage := time.Second
	if d, err := time.ParseDuration(os.Getenv("FEDWAVE_OUTAGE")); err == nil {
		outage = d // the closing note's benchmark: FEDWAVE_OUTAGE=10s
	}
	time.Sleep(outage)

	a.Resume()
	startChildAt(t, bin, dir, addrB, flags...)
	b.waitConnected(aHost)
	var texts []string
	deadline := time.Now().Add(20 * time.Second)
	for len(texts) < n && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		r := a.Do("GET", "/api/v1/channels/alice/messages?after=0&limit=100", nil, "")
		texts = texts[:0]
		for _, m := range r.Body["messages"].([]any) {
			texts = append(texts, m.(map[string]any)["html"].(string))
		}
	}
	time.Sleep(time.Second) // anything sent twice would show up by now
	r := a.Do("GET", "/api/v1/channels/alice/messages?after=0&limit=100", nil, "")
	msgs := r.Body["messages"].([]any)
	if len(msgs) != n {
		t.Fatalf("A's room has %d messages, want %d exactly once: %s", len(msgs), n, r.Raw)
	}
	for i, m := range msgs {
		if got := m.(map[string]any)["html"]; got != fmt.Sprintf("m%02d", i) {
			t.Fatalf("message %d is %v: out of order", i, got)
		}
	}
}

// remote is a FedWave child process driven over its API.
type remote struct {
	t     *testing.T
	base  string
	token string
}

func (r *remote) call(method, path string, body any) (int, []byte) {
	r.t.Helper()
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, r.base+path, strings.NewReader(string(data)))
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, raw
}

// wsClient writes frames to a chat connection.
type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
}

func (r *remote) dial(token string) *wsClient {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(r.base, "http")+"/ws", nil)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { conn.CloseNow() })
	c := &wsClient{t: r.t, conn: conn}
	c.send(map[string]any{"type": "auth", "token": token})
	go func() { // read and drop: the server must not see a slow reader
		for {
			if _, _, err := conn.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	return c
}

func (c *wsClient) send(v any) {
	data, _ := json.Marshal(v)
	if err := c.conn.Write(context.Background(), websocket.MessageText, data); err != nil {
		c.t.Fatal(err)
	}
}

// waitOutbox waits until the site's outbox holds n messages.
func (r *remote) waitOutbox(dir string, n int) {
	r.t.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "fedwave.db"))
	if err != nil {
		r.t.Fatal(err)
	}
	defer st.Close()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var total int
		peers, _ := st.Peers(context.Background())
		for _, p := range peers {
			items, _ := st.Outbox(context.Background(), p.Domain, 0, 1000)
			total += len(items)
		}
		if total >= n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("the outbox never held %d messages", n)
}

// waitListed waits until the site lists a channel.
func (r *remote) waitListed(channel string) {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		_, body := r.call("GET", "/api/v1/channels", nil)
		var v struct{ Channels []struct{ Name string } }
		json.Unmarshal(body, &v)
		for _, c := range v.Channels {
			if c.Name == channel {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("%s never listed %s", r.base, channel)
}

func (r *remote) waitConnected(host string) {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		_, body := r.call("GET", "/api/v1/federation/peers", nil)
		var v struct {
			Peers []struct {
				Domain    string
				State     string
				Connected bool
			}
		}
		json.Unmarshal(body, &v)
		for _, p := range v.Peers {
			if p.Domain == host && p.State == "linked" && p.Connected {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("%s never connected to %s", r.base, host)
}
