package web

import (
	"context"
	"errors"
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
	bw := &batchingWriter{ResponseWriter: w}
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

// wsServe reads frames into the session until the connection ends, with
// wsWrite beside it.
func (s *Server) wsServe(conn *websocket.Conn, raw *batchConn, sess *chat.Session, ip string) {
	defer s.wsConns.release(ip)
	defer sess.End()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		defer cancel()
		wsWrite(ctx, conn, raw, sess)
	}()
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
	<-writerDone
	conn.CloseNow()
}

// wsWrite is the connection's one writer: it sends queued frames in order,
// several per system call (see wsbatch.go), pings to keep proxies from
// dropping an idle connection, and closes the connection when the session
// asks (too slow, shutdown).
func wsWrite(ctx context.Context, conn *websocket.Conn, raw *batchConn, sess wsQueue) {
	ping := time.NewTicker(wsPingEvery)
	defer ping.Stop()
	delay := time.NewTimer(wsWriteDelay)
	delay.Stop()
	// Writes get a context that is never done: with thousands of
	// connections, arming a cancellation per frame costs a tenth of the CPU.
	// A stuck write ends when ws's onClose cuts the connection.
	write := func(frame []byte) error { return conn.Write(context.Background(), websocket.MessageText, frame) }
	for {
		select {
		case frame := <-sess.Out():
			holdBack(ctx, delay, wsWriteDelay, sess)
			if writeQueued(raw, write, frame, sess.Out()) != nil {
				return
			}
		case <-sess.Done():
			// Send what was queued before the close (e.g. the error that
			// explains it), then close with the session's reason.
			select {
			case frame := <-sess.Out():
				if writeQueued(raw, write, frame, sess.Out()) != nil {
					return
				}
			default:
			}
			code, reason := sess.CloseStatus()
			conn.Close(websocket.StatusCode(code), reason)
			return
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, wsWriteTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil && !errors.Is(err, context.Canceled) {
				return
			}
		case <-ctx.Done():
			return
		}
	}
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
