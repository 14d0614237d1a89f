package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/fedwave/fedwave/internal/federation/wire"
)

const (
	wsPath       = "/federation/ws"
	sendQueue    = 8192             // frames queued for a peer before it counts as too slow
	pingEvery    = 5 * time.Second  // also measures the round trip
	silenceLimit = 20 * time.Second // a link that says nothing this long is dead
	postWorkers  = 1                // their posts are stored in the order they were sent
)

// conn is the live connection with a linked peer. Frames are signed
// envelopes; one goroutine reads, one writes, one handles their posts in
// order.
type conn struct {
	p      *peer
	ws     *websocket.Conn
	out    chan []byte
	posts  chan *wire.Envelope
	pump   chan struct{} // wakes the outbox pump
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once

	mu     sync.Mutex
	subs   map[string]func() // our rooms they follow: channel -> stop
	listed string            // the listing last sent
}

// dial opens the connection to the peer (we are the dialling side) and
// serves it until it ends.
func (p *peer) dial() error {
	sp, err := p.s.store.Peer(p.ctx, p.domain)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	hdr := http.Header{}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, sp.URL+wsPath, nil)
	if err != nil {
		return err
	}
	p.s.key.SignRequest(req, p.s.self, nil)
	for k, v := range req.Header {
		hdr[k] = v
	}
	ws, resp, err := websocket.Dial(ctx, sp.URL+wsPath, &websocket.DialOptions{HTTPClient: p.s.client, HTTPHeader: hdr})
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusForbidden {
			return fmt.Errorf("%s refused the connection (not linked there yet, or blocked)", p.domain)
		}
		return fmt.Errorf("connect to %s: %w", p.domain, err)
	}
	if sp.State == PendingOut {
		// They accepted the connection: they approved our request (their
		// approval notice may have been lost).
		p.s.setState(p.ctx, p.domain, Linked)
	}
	p.serve(ws)
	return nil
}

// serve runs a connection until it ends; a newer connection replaces an
// older one.
func (p *peer) serve(ws *websocket.Conn) {
	ws.SetReadLimit(wire.MaxEnvelope)
	c := &conn{p: p, ws: ws, out: make(chan []byte, sendQueue), posts: make(chan *wire.Envelope, sendQueue),
		pump: make(chan struct{}, 1), subs: map[string]func(){}}
	c.ctx, c.cancel = context.WithCancel(p.ctx)
	p.mu.Lock()
	old := p.conn
	p.conn = c
	p.lastErr = ""
	p.mu.Unlock()
	if old != nil {
		old.close("replaced by a newer connection")
	}
	var wg sync.WaitGroup
	for _, f := range []func(){c.writeLoop, c.postLoop, c.pingLoop, c.pumpOutbox} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	c.hello()
	err := c.readLoop()
	c.close("")
	wg.Wait()
	c.stopSubs()
	p.mu.Lock()
	if p.conn == c {
		p.conn = nil
		if !errors.Is(err, context.Canceled) {
			p.lastErr = "connection lost: " + err.Error()
		}
	}
	p.mu.Unlock()
	p.clearCounts()
}

// close ends the connection without waiting for the peer's close
// handshake: it may be called where a room's lock is held (a follower too
// slow to keep up).
func (c *conn) close(why string) {
	c.once.Do(func() {
		c.cancel()
		go c.ws.Close(websocket.StatusGoingAway, why)
	})
}

// send signs a frame and queues it; a peer that does not keep up loses the
// connection (it resynchronises when it reconnects) rather than slowing us.
func (c *conn) send(typ string, body any) {
	data, err := c.p.s.key.Seal(c.p.s.self, c.p.domain, typ, body, c.p.s.now())
	if err != nil {
		c.p.s.log.Error("federation: seal frame", "type", typ, "err", err)
		return
	}
	select {
	case c.out <- data:
	case <-c.ctx.Done():
	default:
		c.close("too slow")
	}
}

func (c *conn) writeLoop() {
	for {
		select {
		case <-c.ctx.Done():
			return
		case data := <-c.out:
			ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
			err := c.ws.Write(ctx, websocket.MessageText, data)
			cancel()
			if err != nil {
				c.close("write failed")
				return
			}
		}
	}
}

// A peer may send this many frames a second (and twice that at once);
// one that sends more is cut off: each frame costs a signature check.
const framesPerSecond = 2000

func (c *conn) readLoop() error {
	lim := rate.NewLimiter(framesPerSecond, 2*framesPerSecond)
	for {
		ctx, cancel := context.WithTimeout(c.ctx, silenceLimit)
		typ, data, err := c.ws.Read(ctx)
		cancel()
		if err != nil {
			return err
		}
		if typ != websocket.MessageText {
			return errors.New("binary frame")
		}
		if !lim.Allow() {
			return errors.New("too many frames")
		}
		env, err := c.p.s.verify.Open(data)
		if err != nil {
			c.p.s.log.Warn("federation: frame refused", "peer", c.p.domain, "err", err)
			continue
		}
		if env.From != c.p.domain {
			c.p.s.log.Warn("federation: frame from another host on this link", "peer", c.p.domain, "from", env.From)
			continue
		}
		c.dispatch(env)
	}
}

type ping struct {
	T int64 `json:"t"` // sender's clock, unix nanoseconds
}

func (c *conn) pingLoop() {
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for {
		c.send("ping", ping{T: time.Now().UnixNano()})
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c *conn) pong(env *wire.Envelope) {
	var b ping
	if json.Unmarshal(env.Body, &b) != nil {
		return
	}
	if d := time.Since(time.Unix(0, b.T)); d >= 0 && d < time.Minute {
		c.p.mu.Lock()
		c.p.rtt = d
		c.p.mu.Unlock()
	}
}

// hello tells the peer our switches; both sides send it first.
type hello struct {
	Name     string `json:"name"`
	Incoming bool   `json:"incoming"`
	Outgoing bool   `json:"outgoing"`
}

func (c *conn) hello() {
	sp, err := c.p.s.store.Peer(c.ctx, c.p.domain)
	if err != nil {
		c.close("peer gone")
		return
	}
	c.send("hello", hello{Name: c.p.s.displayName(), Incoming: sp.Incoming, Outgoing: sp.Outgoing})
	c.afterHello(sp.Outgoing)
}

// afterHello sends what the peer needs after (re)connecting or a switch:
// our channels, the rooms we follow, the people we count on theirs.
func (c *conn) afterHello(outgoing bool) {
	if outgoing && c.p.theirIncoming() {
		if data, err := c.p.s.encodeListing(c.ctx); err == nil {
			c.sendListing(data, true)
		}
	}
	c.p.resubscribe(c)
	c.p.resendCounts(c)
}

// dispatch acts on one verified frame.
func (c *conn) dispatch(env *wire.Envelope) {
	switch env.Type {
	case "ping":
		c.send("pong", json.RawMessage(env.Body))
	case "pong":
		c.pong(env)
	case "hello", "switches":
		c.hearSwitches(env)
	case "channels":
		c.hearListing(env)
	case "sub":
		c.hearSub(env)
	case "unsub":
		c.hearUnsub(env)
	case "event":
		c.hearEvent(env)
	case "post", "whisper":
		select {
		case c.posts <- env:
		default:
			c.close("too many posts")
		}
	case "reply":
		c.hearReply(env)
	case "viewers":
		c.hearViewers(env)
	case "chatters":
		c.hearChatters(env)
	default:
		c.p.s.log.Debug("federation: unknown frame type", "peer", c.p.domain, "type", env.Type)
	}
}

func (c *conn) hearSwitches(env *wire.Envelope) {
	var h hello
	if json.Unmarshal(env.Body, &h) != nil {
		return
	}
	p := c.p
	p.mu.Lock()
	p.theirIn, p.theirOut = h.Incoming, h.Outgoing
	p.mu.Unlock()
	if h.Name != "" && env.Type == "hello" {
		p.s.rename(p.domain, h.Name)
	}
	if !h.Outgoing {
		p.clearListing()
	}
	if env.Type == "switches" {
		if sp, err := p.s.store.Peer(c.ctx, p.domain); err == nil {
			c.afterHello(sp.Outgoing)
		}
	}
}

func (c *conn) hearReply(env *wire.Envelope) {
	var r struct {
		Ref int64 `json:"ref"`
		reply
	}
	if json.Unmarshal(env.Body, &r) != nil {
		return
	}
	if r.Ref > 0 { // an outbox item: delivered (stored or refused) once
		if err := c.p.s.store.DeleteOutbox(c.ctx, c.p.domain, r.Ref); err != nil {
			c.p.s.log.Error("federation: outbox", "err", err)
		}
	}
	c.p.resolve(r.Ref, r.reply)
}

func (c *conn) reply(ref int64, r reply) {
	c.send("reply", struct {
		Ref int64 `json:"ref"`
		reply
	}{ref, r})
}

func (c *conn) postLoop() {
	for {
		select {
		case <-c.ctx.Done():
			return
		case env := <-c.posts:
			if env.Type == "post" {
				c.hearPost(env)
			} else {
				c.hearWhisper(env)
			}
		}
	}
}
