package web

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/fedwave/fedwave/internal/chat"
	"github.com/fedwave/fedwave/internal/fail"
)

const (
	wsWriteTimeout = 10 * time.Second
	wsPingEvery    = 30 * time.Second
	// wsWriterLinger is how long a connection's writer waits for more
	// frames before it ends: long enough that a busy room's connections
	// keep theirs (frames ~10 ms apart), short enough that a quiet room's,
	// which see a presence frame at most once a second, hold no goroutine
	// in between.
	wsWriterLinger = 500 * time.Millisecond
)

// connLimit caps concurrent WebSocket connections per client address.
type connLimit struct {
	max int
	mu  sync.Mutex
	n   map[string]int
}

func (l *connLimit) acquire(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[ip] >= l.max {
		return false
	}
	l.n[ip]++
	return true
}

func (l *connLimit) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[ip]--; l.n[ip] <= 0 {
		delete(l.n, ip)
	}
}

// ws serves the chat WebSocket (CONTRACT §4). A valid session cookie signs
// the connection in at once; otherwise the first frame may be an auth frame,
// and an anonymous connection may still join and read.
//
// Once upgraded, the connection is handed to fresh goroutines and the
// handler returns: that frees net/http's per-request state and its deep
// stack, which would otherwise stay pinned for the life of every idle chat
// connection.
func (s *Server) ws(w http.ResponseWriter, r *http.Request) {
	ip := clientIP(r)
	if !s.wsConns.acquire(ip) {
		writeError(w, http.StatusTooManyRequests, "too_many_connections", "too many chat connections from your address")
		return
	}
	auth, err := s.session(r)
	if err != nil {
		s.wsConns.release(ip)
		s.fail(w, r, err)
		return
	}
	bw := &batchingWriter{ResponseWriter: w, bufs: s.batchBufs}
	conn, err := websocket.Accept(bw, r, &websocket.AcceptOptions{OriginPatterns: s.wsOrigins})
	if err != nil {
		s.wsConns.release(ip)
		return // Accept has answered (403 for a foreign Origin, 426 for a non-WebSocket request)
	}
	conn.SetReadLimit(chat.MaxFrame)
	// A session closed by the server (too slow, shutdown) gets a moment to
	// receive its close frame; then the connection is cut, which also ends
	// a write stuck on a peer that stopped reading.
	onClose := func() { time.AfterFunc(wsWriteTimeout, func() { conn.CloseNow() }) }
	sess, err := s.chat.Connect(auth, ip, browserID(r), onClose)
	if err != nil {
		s.wsConns.release(ip)
		conn.Close(websocket.StatusGoingAway, "the server is shutting down")
		return
	}
	go s.wsServe(conn, bw.conn, sess, ip)
}

// wsServe reads frames into the session until the connection ends. The
// connection's writer (wsWriter) runs beside it only while there is
// something to send, and a timer pings the client.
func (s *Server) wsServe(conn *websocket.Conn, raw *batchConn, sess *chat.Session, ip string) {
	defer s.wsConns.release(ip)
	defer sess.End()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &wsWriter{ctx: ctx, cancel: cancel, conn: conn, raw: raw, q: sess, delay: wsWriteDelay}
	sess.SetWake(w.wake)
	w.wake() // for what was queued before (the welcome)
	w.startPings(wsPingEvery)
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			break
		}
		if typ != websocket.MessageText {
			sess.Handle(ctx, []byte(`{"type":"binary"}`)) // answered as an unknown frame
			continue
		}
		sess.Handle(ctx, data)
	}
	cancel()
	w.stop()
	conn.CloseNow()
}

// wsOriginsFor lets pages served under the public URL open the chat even
// when the request's Host differs (a reverse proxy).
func wsOriginsFor(publicURL string) []string {
	u, err := url.Parse(publicURL)
	if err != nil || u.Host == "" {
		return nil
	}
	return []string{u.Host}
}

// apiMessages is GET /api/v1/channels/{name}/messages?after=&limit=.
func (s *Server) apiMessages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 50
	if v := q.Get("limit"); v != "" {
		n, err := parseInt(v)
		if err != nil || n < 1 || n > 500 {
			s.fail(w, r, fail.New(fail.Invalid, "invalid_limit", "limit is a number from 1 to 500"))
			return
		}
		limit = int(n)
	}
	var after *int64
	if v := q.Get("after"); v != "" {
		n, err := parseInt(v)
		if err != nil || n < 0 {
			s.fail(w, r, fail.New(fail.Invalid, "invalid_offset", "after is an offset, 0 or more"))
			return
		}
		after = &n
	}
	msgs, err := s.chat.History(r.Context(), r.PathValue("name"), after, limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": msgs})
}

// apiPostMessage is POST /api/v1/channels/{name}/messages {text, nonce?}.
func (s *Server) apiPostMessage(w http.ResponseWriter, r *http.Request) {
	sess, err := s.requireSession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var body struct {
		Text  string `json:"text"`
		Nonce string `json:"nonce"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	if len(body.Nonce) > 128 {
		s.fail(w, r, fail.New(fail.Invalid, "invalid_nonce", "a nonce has at most 128 characters"))
		return
	}
	m, err := s.chat.Post(r.Context(), sess.User, r.PathValue("name"), body.Text, body.Nonce)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"message": m})
}
