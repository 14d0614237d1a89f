package chat

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/fedwave/fedwave/internal/audience"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/store"
)

// Close codes a session asks its connection to close with.
const (
	ClosePolicy    = 1008 // e.g. too slow to keep up
	CloseGoingAway = 1001 // the server is shutting down
)

// MaxFrame is the largest client frame the web layer should accept.
const MaxFrame = 8 << 10

// Session is one client connection's chat state. Handle is called by one
// goroutine (the connection's reader); frames to send are read from Out.
type Session struct {
	hub  *Hub
	from string // client address

	out       chan []byte
	urgent    chan struct{} // signalled when out is half full
	done      chan struct{}
	closeOnce sync.Once
	closeCode int
	closeText string
	onClose   func()
	wake      atomic.Pointer[func()] // see SetWake

	// anonKey names the connection in channels' audiences until it signs
	// in: its browser's viewer cookie, or a key of its own.
	anonKey string

	pending atomic.Int64 // messages waiting for another instance

	mu    sync.Mutex
	user  *store.User      // as of the last check of token
	token string           // what signed the session in; checked again at every action
	rooms map[string]*room // joined, by lower-case name; reader goroutine only

	ended bool
}

// Out yields the frames to write, in order.
func (s *Session) Out() <-chan []byte { return s.out }

// Urgent is signalled when the queue is half full: a writer that holds
// frames back to send several at once should send them now, well before a
// full queue would count the client as too slow.
func (s *Session) Urgent() <-chan struct{} { return s.urgent }

// SetWake sets a function called after every frame queued and when the
// server closes the session, for a writer that runs only while there is
// something to write. It must not block.
func (s *Session) SetWake(f func()) { s.wake.Store(&f) }

func (s *Session) wakeWriter() {
	if f := s.wake.Load(); f != nil {
		(*f)()
	}
}

// queued wakes the writer, and signals Urgent once the queue is half full.
func (s *Session) queued() {
	s.wakeWriter()
	if len(s.out) >= cap(s.out)/2 {
		select {
		case s.urgent <- struct{}{}:
		default:
		}
	}
}

// Done is closed when the server wants the connection closed; CloseStatus
// then says with what code and reason.
func (s *Session) Done() <-chan struct{} { return s.done }

// CloseStatus is the close code and reason after Done.
func (s *Session) CloseStatus() (int, string) { return s.closeCode, s.closeText }

// User is the signed-in user, or nil.
func (s *Session) User() *store.User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.user
}

// enqueue queues a frame without ever blocking: a client that cannot keep up
// is disconnected instead of slowing its room down.
func (s *Session) enqueue(frame []byte) bool {
	select {
	case s.out <- frame:
		s.queued()
		return true
	default:
		s.kill(ClosePolicy, "too slow to keep up with the chat")
		return false
	}
}

func (s *Session) send(v any) bool { return s.enqueue(encode(v)) }

// sendWait queues a frame, waiting for room in the queue: only for frames
// the session itself asked for (history), never for fan-out.
func (s *Session) sendWait(ctx context.Context, v any) error {
	select {
	case s.out <- encode(v):
		s.queued()
		return nil
	case <-s.done:
		return context.Canceled
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Session) kill(code int, reason string) {
	s.closeOnce.Do(func() {
		s.closeCode, s.closeText = code, reason
		close(s.done)
		if s.onClose != nil {
			s.onClose()
		}
		s.wakeWriter()
	})
}

// End leaves every room; the connection is gone. Call it once.
func (s *Session) End() {
	if s.ended {
		return
	}
	s.ended = true
	for _, r := range s.rooms {
		r.remove(s)
	}
	s.rooms = nil
	if u := s.User(); u != nil {
		s.hub.removeUserSession(u.ID, s)
	}
	s.kill(CloseGoingAway, "")
	s.hub.endSession(s)
}

func (s *Session) signIn(sess *auth.Session) {
	u := sess.User
	s.mu.Lock()
	prev := s.user
	s.user, s.token = u, sess.Token
	s.mu.Unlock()
	if prev != nil {
		if prev.ID == u.ID {
			return
		}
		s.hub.removeUserSession(prev.ID, s)
	}
	s.hub.addUserSession(u.ID, s)
	m := s.member(u)
	for _, r := range s.rooms {
		r.update(s, m)
	}
	s.send(welcomeFrame{Type: "welcome", User: auth.View(u)})
}

// member is how the session appears in a room when signed in as u (nil:
// anonymous).
func (s *Session) member(u *store.User) member {
	if u == nil {
		return member{key: s.anonKey}
	}
	return member{userID: u.ID, handle: auth.Handle(u.Name, u.Num), key: audience.UserKey(u.ID)}
}

// signOut makes the session anonymous: it may still read.
func (s *Session) signOut() {
	s.mu.Lock()
	prev := s.user
	s.user, s.token = nil, ""
	s.mu.Unlock()
	if prev == nil {
		return
	}
	s.hub.removeUserSession(prev.ID, s)
	for _, r := range s.rooms {
		r.update(s, s.member(nil))
	}
}

// current is the signed-in user as of now, resolved again from the
// session's token at every action: a revoked token, a deleted user or a
// changed role takes effect on open connections, not only at sign-in (the
// auth service caches answers for about a second, so this costs no
// database query per message). A token that no longer works signs the
// session out, and its error answers the action.
func (s *Session) current(ctx context.Context) (*store.User, error) {
	s.mu.Lock()
	u, tok := s.user, s.token
	s.mu.Unlock()
	if u == nil {
		return nil, errAuthRequired
	}
	sess, err := s.hub.auth.Authenticate(ctx, tok)
	if _, ok := fail.As(err); ok {
		s.signOut()
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	renamed := false
	if s.token == tok {
		renamed = u.Name != sess.User.Name
		s.user = sess.User
	}
	s.mu.Unlock()
	if renamed { // a guest picked a name: the rooms' chatters follow
		m := s.member(sess.User)
		for _, r := range s.rooms {
			r.update(s, m)
		}
	}
	return sess.User, nil
}

// signedInAs reports whether the session is signed in as user id and its
// token still says so (the auth service caches the answer for about a
// second), for what reaches it without its asking, such as whispers.
func (s *Session) signedInAs(ctx context.Context, id int64) bool {
	s.mu.Lock()
	u, tok := s.user, s.token
	s.mu.Unlock()
	if u == nil || u.ID != id {
		return false
	}
	sess, err := s.hub.auth.Authenticate(ctx, tok)
	return err == nil && sess.User.ID == id
}

// sendError answers a frame with an error frame.
func (s *Session) sendError(err error, nonce json.RawMessage) {
	code, msg := "internal", "something went wrong on the server; try again"
	if fe, ok := fail.As(err); ok {
		code, msg = fe.Code, fe.Message
	} else if !errors.Is(err, context.Canceled) {
		s.hub.log.Error("chat", "err", err)
	}
	s.send(errorFrame{Type: "error", Code: code, Message: msg, Nonce: validNonce(nonce)})
}

func (s *Session) system(channel, text string) {
	s.send(systemFrame{Type: "system", Channel: channel, Text: text})
}

// Handle acts on one client frame. Bad frames get an error frame; nothing a
// client sends can end the session except by closing it.
func (s *Session) Handle(ctx context.Context, data []byte) {
	var f inFrame
	if err := json.Unmarshal(data, &f); err != nil {
		s.sendError(fail.New(fail.Invalid, "invalid_frame", "a frame is one JSON object with a \"type\""), nil)
		return
	}
	var err error
	switch f.Type {
	case "auth":
		err = s.handleAuth(ctx, f.Token)
	case "join":
		err = s.handleJoin(ctx, f.Channel, f.After)
	case "leave":
		s.handleLeave(f.Channel)
	case "send":
		err = s.handleSend(ctx, f)
	case "whisper":
		err = s.handleWhisper(ctx, f.To, f.Text)
	case "delete":
		err = s.handleDelete(ctx, f.Channel, f.ID)
	case "ping":
		s.send(map[string]string{"type": "pong"})
	case "":
		err = fail.New(fail.Invalid, "invalid_frame", "the frame has no \"type\"")
	default:
		err = fail.New(fail.Invalid, "unknown_type", "unknown frame type %q", truncate(f.Type, 32))
	}
	if err != nil {
		s.sendError(err, f.Nonce)
	}
}

func (s *Session) handleAuth(ctx context.Context, token string) error {
	sess, err := s.hub.auth.Authenticate(ctx, token)
	if err != nil {
		return err
	}
	s.signIn(sess)
	return nil
}

func (s *Session) handleJoin(ctx context.Context, channel string, after *int64) error {
	if after != nil && *after < 0 {
		return fail.New(fail.Invalid, "invalid_frame", "\"after\" is an offset, 0 or more")
	}
	open := func() (*room, error) {
		if host, name, ok := s.hub.remoteName(channel); ok {
			return s.hub.openRemoteRoom(ctx, host, name)
		}
		_, name, _ := s.hub.remoteName(channel)
		ch, err := s.hub.channel(ctx, name)
		if err != nil {
			return nil, err
		}
		return s.hub.openRoom(ch)
	}
	r, err := open()
	if err != nil {
		return err
	}
	key := lower(r.name)
	if old := s.rooms[key]; old != nil {
		old.remove(s) // a second join resumes from its own offset
	}
	m := s.member(s.User())
	s.rooms[key] = r
	if err := r.add(ctx, s, m, after); err != nil {
		r.remove(s)
		delete(s.rooms, lower(key))
		return err
	}
	s.enqueue(r.presence()) // confirms the join; the others get theirs within a second
	return nil
}

func (s *Session) handleLeave(channel string) {
	if r := s.rooms[lower(channel)]; r != nil {
		r.remove(s)
		delete(s.rooms, lower(channel))
	}
}

func (s *Session) handleSend(ctx context.Context, f inFrame) error {
	nonce, err := nonceKey(f.Nonce)
	if err != nil {
		return err
	}
	u, err := s.current(ctx)
	if err != nil {
		return err
	}
	host, name, remote := s.hub.remoteName(f.Channel)
	if remote {
		return s.sendRemote(ctx, u, host, name, f, nonce)
	}
	if isCommand(f.Text) {
		return s.hub.command(ctx, s, u, name, f.Text)
	}
	m, err := s.hub.post(ctx, u, name, f.Text, nonce)
	if err != nil {
		return err
	}
	s.send(ackFrame{Type: "ack", Nonce: validNonce(f.Nonce), ID: m.ID, Offset: m.Offset})
	return nil
}

func (s *Session) handleDelete(ctx context.Context, channel string, rawID json.RawMessage) error {
	u, err := s.current(ctx)
	if err != nil {
		return err
	}
	var id string
	if json.Unmarshal(rawID, &id) != nil {
		id = string(rawID)
	}
	return s.hub.deleteMessage(ctx, u, channel, id)
}

func (s *Session) handleWhisper(ctx context.Context, to, text string) error {
	u, err := s.current(ctx)
	if err != nil {
		return err
	}
	return s.hub.whisper(ctx, u, to, text)
}

var errAuthRequired = fail.New(fail.Unauthorized, "auth_required", "sign in or chat as a guest to send messages")

// nonceKey is the stored form of a client nonce: a string or a number, at
// most 128 characters.
func nonceKey(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if len(raw) > 130 {
		return "", fail.New(fail.Invalid, "invalid_nonce", "a nonce has at most 128 characters")
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String(), nil
	}
	return "", fail.New(fail.Invalid, "invalid_nonce", "a nonce is a string or a number")
}

// validNonce echoes a nonce back only if it is a plain string or number.
func validNonce(raw json.RawMessage) json.RawMessage {
	if _, err := nonceKey(raw); err != nil || len(raw) == 0 {
		return nil
	}
	return raw
}
