package web

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/fedwave/fedwave/internal/audience"
	"github.com/fedwave/fedwave/internal/carry"
	"github.com/fedwave/fedwave/internal/ratelimit"
)

// The carry socket (GET /api/v1/channels/{name}/carry) is every player's
// control channel for viewers who help carry a stream (package carry has
// the protocol). Here: who may open one, and how much a client may send.
const (
	carryPerAddress  = 4    // open sockets of one client address
	carryPerMinute   = 20   // sockets one client address starts a minute
	carryPerChannel  = 2000 // open sockets of one channel
	carryMsgRate     = 20   // messages a second a client sends, after
	carryMsgBurst    = 60   // this many at once
	carryHelloWithin = 10 * time.Second
	carryIdle        = 5 * time.Second // the player sends stats every 500 ms
)

// carrySockets limits who opens carry sockets.
type carrySockets struct {
	hub      *carry.Hub // nil: the feature is off
	audience *audience.Registry
	rate     *ratelimit.Keyed
	conns    *connLimit // by client address
	channels *connLimit // by channel
}

func newCarrySockets(hub *carry.Hub, aud *audience.Registry) carrySockets {
	return carrySockets{
		hub:      hub,
		audience: aud,
		rate:     ratelimit.PerMinute(carryPerMinute),
		conns:    &connLimit{max: carryPerAddress, n: map[string]int{}},
		channels: &connLimit{max: carryPerChannel, n: map[string]int{}},
	}
}

func (s *Server) apiCarry(w http.ResponseWriter, r *http.Request) {
	if s.carry.hub == nil {
		writeError(w, http.StatusNotFound, "not_found", "viewers do not help carry streams on this site")
		return
	}
	ip := clientIP(r)
	if !allow(w, s.carry.rate, ip) {
		writeError(w, http.StatusTooManyRequests, "rate_limited", "too many carry sockets started from your address; wait a moment")
		return
	}
	ch, err := s.channels.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if ch.Instance != "" {
		writeError(w, http.StatusNotFound, "not_found", "a linked instance's channel: its origin places its viewers")
		return
	}
	if !s.carry.conns.acquire(ip) {
		writeError(w, http.StatusTooManyRequests, "too_many_connections", "too many carry sockets open from your address")
		return
	}
	key := strings.ToLower(ch.Name)
	if !s.carry.channels.acquire(key) {
		s.carry.conns.release(ip)
		writeError(w, http.StatusTooManyRequests, "too_many_connections", "too many carry sockets of this channel are open")
		return
	}
	release := func() { s.carry.conns.release(ip); s.carry.channels.release(key) }
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: s.wsOrigins})
	if err != nil {
		release()
		return // Accept has answered (403 for a foreign Origin, 426 for a non-WebSocket request)
	}
	conn.SetReadLimit(carry.MaxMessage)
	sock, ok := s.carry.hub.Join(ch.Name, wsConn{conn})
	if !ok {
		release()
		conn.Close(websocket.StatusGoingAway, "the server is stopping")
		return
	}
	// A viewer fed by a fellow viewer has no WHEP session: it counts in
	// the channel's audience through this socket (once, with its player
	// and chat, by the same key). A client without a key is not counted
	// here: its WHEP session has a key of its own.
	leave := func() {}
	if who := s.audienceKey(r); who != "" && s.carry.audience != nil {
		leave = s.carry.audience.Join(ch.Name, who)
	}
	// The handler returns (freeing net/http's state for the request); a
	// goroutine of its own reads the socket.
	go func() {
		defer release()
		defer leave()
		carryRead(conn, sock)
	}()
}

// carryRead hands the client's messages to its socket until the
// connection ends, holding the client to the hello deadline, the idle
// timeout and the message rate. (Closing through the socket, not a read
// deadline, which would cut the connection without a close frame.)
func carryRead(conn *websocket.Conn, sock *carry.Socket) {
	defer sock.Leave()
	var said atomic.Bool
	timer := time.AfterFunc(carryHelloWithin, func() {
		if said.Load() {
			sock.Close(carry.CodePolicy, "silent too long")
		} else {
			sock.Close(carry.CodePolicy, "no hello in time")
		}
	})
	defer timer.Stop()
	lim := rate.NewLimiter(carryMsgRate, carryMsgBurst)
	for {
		typ, data, err := conn.Read(context.Background())
		switch {
		case err != nil: // closed, or over the read limit (the library closes with 1009)
			return
		case typ != websocket.MessageText:
			sock.Close(carry.CodePolicy, "text messages only")
			return
		case !lim.Allow():
			sock.Close(carry.CodePolicy, "too many messages")
			return
		}
		if sock.Handle(data) != nil {
			return
		}
		said.Store(true)
		timer.Reset(carryIdle)
	}
}

// wsConn is a WebSocket as the carry hub writes to it.
type wsConn struct{ c *websocket.Conn }

func (w wsConn) Write(ctx context.Context, msg []byte) error {
	return w.c.Write(ctx, websocket.MessageText, msg)
}

func (w wsConn) Close(code int, reason string) {
	w.c.Close(websocket.StatusCode(code), reason)
}
