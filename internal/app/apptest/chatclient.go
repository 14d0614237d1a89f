package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// ChatClient is a WebSocket chat client for tests.
type ChatClient struct {
	t       testing.TB
	pending []map[string]any // frames read but not yet asked for
	Conn    *websocket.Conn
	frames  chan map[string]any
	closed  chan struct{}
	err     error
}

// Dial opens /ws. With a token, it sends the auth frame and waits for the
// welcome; without, the connection is anonymous.
func (s *Server) Dial(token string) *ChatClient {
	s.t.Helper()
	c := s.DialHeader(nil)
	if token != "" {
		c.Send(map[string]any{"type": "auth", "token": token})
		c.Expect("welcome")
	}
	return c
}

// DialHeader opens /ws with extra request headers (Origin, Cookie).
func (s *Server) DialHeader(h http.Header) *ChatClient {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/ws", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		s.t.Fatalf("dial /ws: %v", err)
	}
	conn.SetReadLimit(1 << 20)
	c := &ChatClient{t: s.t, Conn: conn, frames: make(chan map[string]any, 4096), closed: make(chan struct{})}
	go c.read()
	s.t.Cleanup(func() { conn.CloseNow() })
	return c
}

func (c *ChatClient) read() {
	defer close(c.closed)
	for {
		_, data, err := c.Conn.Read(context.Background())
		if err != nil {
			c.err = err
			return
		}
		// A message may hold several frames, one per line (CONTRACT §4).
		for line := range bytes.SplitSeq(data, []byte("\n")) {
			var f map[string]any
			if err := json.Unmarshal(line, &f); err != nil {
				c.err = err
				return
			}
			c.frames <- f
		}
	}
}

// Send writes one frame (a map or a raw string).
func (c *ChatClient) Send(frame any) {
	c.t.Helper()
	var data []byte
	if s, ok := frame.(string); ok {
		data = []byte(s)
	} else {
		data, _ = json.Marshal(frame)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Conn.Write(ctx, websocket.MessageText, data); err != nil {
		c.t.Fatalf("write frame: %v", err)
	}
}

// Next returns the next frame, failing after 5 s.
func (c *ChatClient) Next() map[string]any {
	c.t.Helper()
	if len(c.pending) > 0 {
		f := c.pending[0]
		c.pending = c.pending[1:]
		return f
	}
	return c.read1()
}

func (c *ChatClient) read1() map[string]any {
	c.t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-c.closed:
		select {
		case f := <-c.frames:
			return f
		default:
		}
		c.t.Fatalf("connection closed: %v", c.err)
	case <-time.After(20 * time.Second): // a bound for a loaded CI machine, not a timing check
		c.t.Fatal("no frame within 20 s")
	}
	return nil
}

// Expect returns the first frame of the given type, read before or now;
// other frames stay for later calls.
func (c *ChatClient) Expect(typ string) map[string]any {
	c.t.Helper()
	return c.ExpectWhere(func(f map[string]any) bool { return f["type"] == typ })
}

// ExpectWhere is Expect with any condition.
func (c *ChatClient) ExpectWhere(match func(map[string]any) bool) map[string]any {
	c.t.Helper()
	for i, f := range c.pending {
		if match(f) {
			c.pending = append(c.pending[:i:i], c.pending[i+1:]...)
			return f
		}
	}
	for {
		f := c.read1()
		if match(f) {
			return f
		}
		c.pending = append(c.pending, f)
	}
}

// Drop forgets the frames received so far and not asked for.
func (c *ChatClient) Drop() {
	c.pending = nil
	for {
		select {
		case <-c.frames:
		default:
			return
		}
	}
}

// Quiet reports whether no frame of the type arrives within d.
func (c *ChatClient) Quiet(typ string, d time.Duration) bool {
	for _, f := range c.pending {
		if f["type"] == typ {
			return false
		}
	}
	deadline := time.After(d)
	for {
		select {
		case f := <-c.frames:
			if f["type"] == typ {
				return false
			}
		case <-deadline:
			return true
		}
	}
}

// Join joins a channel and waits for the presence frame that ends the
// history replay; it returns the replayed messages.
func (c *ChatClient) Join(channel string, after *int64) []map[string]any {
	c.t.Helper()
	f := map[string]any{"type": "join", "channel": channel}
	if after != nil {
		f["after"] = *after
	}
	c.Send(f)
	var msgs []map[string]any
	for {
		f := c.read1()
		switch f["type"] {
		case "message":
			msgs = append(msgs, f)
		case "presence":
			return msgs
		case "error":
			c.t.Fatalf("join %s: %v", channel, f)
		}
	}
}

// Say sends a message and waits for its ack; it returns the ack.
func (c *ChatClient) Say(channel, text, nonce string) map[string]any {
	c.t.Helper()
	c.Send(map[string]any{"type": "send", "channel": channel, "text": text, "nonce": nonce})
	f := c.ExpectWhere(func(f map[string]any) bool {
		return (f["type"] == "ack" || f["type"] == "error") && f["nonce"] == nonce
	})
	if f["type"] == "error" {
		c.t.Fatalf("send %q: %v", text, f)
	}
	return f
}
