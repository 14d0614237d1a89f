package federation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/chat"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/federation/wire"
	"github.com/fedwave/fedwave/internal/store"
)

// Bounds on what crosses a link.
const (
	maxChatters = 200     // handles in one room's chatters
	maxOutbox   = 1000    // messages waiting for one peer
	maxText     = 4 << 10 // bytes of one message's source text
	whisperWait = 10 * time.Second
)

// author is a user as it crosses a link: its home is the sending instance
// unless Instance says otherwise (events relay authors of any instance).
type author struct {
	Name     string `json:"name"`
	Num      int    `json:"num"`
	Color    string `json:"color"`
	Instance string `json:"instance,omitempty"`
}

var codeRE = regexp.MustCompile(`^[a-z_]{1,40}$`)

func (a *author) valid() bool {
	if auth.CheckNameFormat(a.Name) != nil || a.Num < 0 || a.Num > 9999 {
		return false
	}
	if !auth.ValidColor(a.Color) {
		a.Color = "#888888"
	}
	return a.Instance == "" || wire.ValidHost(strings.ToLower(a.Instance))
}

func authorOf(u *store.User) author { return author{Name: u.Name, Num: u.Num, Color: u.Color} }

type postBody struct {
	Ref     int64  `json:"ref"`
	Channel string `json:"channel"`
	From    author `json:"from"`
	Text    string `json:"text"`
	Nonce   string `json:"nonce"`
}

type whisperBody struct {
	Ref  int64  `json:"ref"`
	From author `json:"from"`
	To   string `json:"to"`
	Text string `json:"text"`
}

// CheckRoom implements chat.Federation.
func (s *Service) CheckRoom(ctx context.Context, host, channel string) error {
	_, p, err := s.canAccept(ctx, host)
	if err != nil {
		return err
	}
	if !p.listed(channel) {
		return fail.New(fail.NotFound, "no_such_channel", "%s has no channel %s", host, channel)
	}
	return nil
}

// Follow implements chat.Federation.
func (s *Service) Follow(host, channel string) {
	p := s.runtime(host)
	if p == nil {
		return
	}
	p.mu.Lock()
	p.follows[channel] = true
	c := p.conn
	p.mu.Unlock()
	if c != nil {
		go p.subscribe(c, channel)
	}
}

// Unfollow implements chat.Federation.
func (s *Service) Unfollow(host, channel string) {
	p := s.runtime(host)
	if p == nil {
		return
	}
	p.mu.Lock()
	delete(p.follows, channel)
	delete(p.chatters, channel)
	c := p.conn
	p.mu.Unlock()
	if c != nil {
		c.send("unsub", subBody{Channel: channel})
	}
}

type chattersBody struct {
	Channel  string   `json:"channel"`
	Chatters []string `json:"chatters"`
}

// Chatters implements chat.Federation.
func (s *Service) Chatters(host, channel string, handles []string) {
	p := s.runtime(host)
	if p == nil {
		return
	}
	p.mu.Lock()
	if !p.follows[channel] {
		p.mu.Unlock()
		return
	}
	p.chatters[channel] = handles
	c := p.conn
	p.mu.Unlock()
	if c != nil {
		c.send("chatters", chattersBody{Channel: channel, Chatters: handles})
	}
}

// hearChatters: who is signed in on the peer to one of our rooms it
// follows. Only handles of its own users count (they get its host).
func (c *conn) hearChatters(env *wire.Envelope) {
	var b chattersBody
	if json.Unmarshal(env.Body, &b) != nil || auth.CheckNameFormat(b.Channel) != nil {
		return
	}
	handles := make([]string, 0, min(len(b.Chatters), maxChatters))
	for _, h := range b.Chatters {
		if _, num, err := auth.ParseHandle(h); err == nil && num >= 0 && len(handles) < maxChatters {
			handles = append(handles, h)
		}
	}
	c.mu.Lock()
	_, subscribed := c.subs[strings.ToLower(b.Channel)]
	c.mu.Unlock()
	if subscribed {
		c.p.s.hub.RemoteChatters(c.p.domain, b.Channel, handles)
	}
}

type subBody struct {
	Channel string `json:"channel"`
	After   *int64 `json:"after,omitempty"`
}

// subscribe asks the peer for a room's events after what we have stored.
func (p *peer) subscribe(c *conn, channel string) {
	last, err := p.s.store.LastOffset(c.ctx, channel+"@"+p.domain)
	if err != nil {
		return
	}
	var after *int64
	if last > 0 {
		after = &last
	}
	c.send("sub", subBody{Channel: channel, After: after})
	p.mu.Lock()
	handles, ok := p.chatters[channel]
	p.mu.Unlock()
	if ok { // a new subscription there starts without them
		c.send("chatters", chattersBody{Channel: channel, Chatters: handles})
	}
}

func (p *peer) resubscribe(c *conn) {
	p.mu.Lock()
	rooms := make([]string, 0, len(p.follows))
	for ch := range p.follows {
		rooms = append(rooms, ch)
	}
	p.mu.Unlock()
	for _, ch := range rooms {
		p.subscribe(c, ch)
	}
}

// wireEvent is a room event as it crosses a link; authors carry their
// instance (never empty).
type wireEvent struct {
	Channel  string       `json:"channel"`
	Kind     string       `json:"kind"`
	Message  *wireMessage `json:"message,omitempty"`
	IDs      []int64      `json:"ids,omitempty"`
	Viewers  int          `json:"viewers,omitempty"`
	Chatters []string     `json:"chatters,omitempty"`
	Text     string       `json:"text,omitempty"`
}

type wireMessage struct {
	ID     int64  `json:"id"`
	Offset int64  `json:"offset"`
	From   author `json:"from"`
	Text   string `json:"text"`
	TS     int64  `json:"ts"` // unix ms
}

// hearSub: the peer follows one of our rooms.
func (c *conn) hearSub(env *wire.Envelope) {
	var b subBody
	if json.Unmarshal(env.Body, &b) != nil || auth.CheckNameFormat(b.Channel) != nil {
		return
	}
	sp, err := c.p.s.store.Peer(c.ctx, c.p.domain)
	if err != nil || !sp.Outgoing {
		return
	}
	c.stopSub(b.Channel)
	self := c.p.s.self
	stop, err := c.p.s.hub.Follow(c.ctx, c.p.domain, b.Channel, b.After, func(ev chat.Event) {
		c.send("event", toWire(ev, self))
	})
	if err != nil {
		return
	}
	c.mu.Lock()
	c.subs[strings.ToLower(b.Channel)] = stop
	c.mu.Unlock()
}

func (c *conn) hearUnsub(env *wire.Envelope) {
	var b subBody
	if json.Unmarshal(env.Body, &b) == nil {
		c.stopSub(b.Channel)
	}
}

func (c *conn) stopSub(channel string) {
	c.mu.Lock()
	stop := c.subs[strings.ToLower(channel)]
	delete(c.subs, strings.ToLower(channel))
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
}

func (c *conn) stopSubs() {
	c.mu.Lock()
	subs := c.subs
	c.subs = map[string]func(){}
	c.mu.Unlock()
	for _, stop := range subs {
		stop()
	}
}

// toWire makes an event of our room absolute: our users get our host.
func toWire(ev chat.Event, self string) wireEvent {
	w := wireEvent{Channel: ev.Channel, Kind: ev.Kind, IDs: ev.IDs, Viewers: ev.Viewers, Text: ev.Text}
	for _, h := range ev.Chatters {
		if !strings.Contains(h, "@") {
			h += "@" + self
		}
		w.Chatters = append(w.Chatters, h)
	}
	if m := ev.Message; m != nil {
		name, num, _ := auth.ParseHandle(m.Handle)
		inst := m.Instance
		if inst == "" {
			inst = self
		}
		w.Message = &wireMessage{ID: m.ID, Offset: m.Offset, From: author{Name: name, Num: num, Color: m.Color, Instance: inst}, Text: m.Text, TS: m.TS.UnixMilli()}
	}
	return w
}

// hearEvent: something happened in a room of theirs we follow.
func (c *conn) hearEvent(env *wire.Envelope) {
	s := c.p.s
	if _, _, err := s.canAccept(c.ctx, c.p.domain); err != nil {
		return
	}
	// The peer's own users need no lookup: canAccept just found it linked.
	ev, ok := decodeEvent(env.Body, s.self, func(host string) bool { return host != c.p.domain && s.blocked(c.ctx, host) })
	if ok {
		s.hub.Mirror(c.p.domain, ev)
	}
}

// decodeEvent checks a room event of a peer and writes it as seen here:
// our own users without host, bounded sizes; events authored on a host
// we blocked are dropped.
func decodeEvent(body []byte, self string, blocked func(host string) bool) (chat.Event, bool) {
	var w wireEvent
	if json.Unmarshal(body, &w) != nil || auth.CheckNameFormat(w.Channel) != nil {
		return chat.Event{}, false
	}
	ev := chat.Event{Kind: w.Kind, Channel: w.Channel, Viewers: max(w.Viewers, 0), Text: truncate(w.Text, 500), Chatters: []string{}}
	switch w.Kind {
	case "message":
		m := w.Message
		if m == nil || !m.From.valid() || m.From.Instance == "" || len(m.Text) > maxText || !utf8.ValidString(m.Text) || m.Offset <= 0 {
			return chat.Event{}, false
		}
		inst := strings.ToLower(m.From.Instance)
		if inst == self {
			inst = ""
		} else if blocked(inst) {
			return chat.Event{}, false
		}
		ev.Message = &store.Message{ID: m.ID, Offset: m.Offset, Handle: auth.Handle(m.From.Name, m.From.Num), Color: m.From.Color,
			Instance: inst, Text: m.Text, TS: time.UnixMilli(m.TS).UTC()}
	case "delete":
		ev.IDs = w.IDs[:min(len(w.IDs), 1000)]
	case "presence":
		for _, h := range w.Chatters[:min(len(w.Chatters), maxChatters)] {
			ev.Chatters = append(ev.Chatters, strings.TrimSuffix(truncate(h, 300), "@"+self))
		}
	case "system":
	default:
		return chat.Event{}, false
	}
	return ev, true
}

func (s *Service) blocked(ctx context.Context, host string) bool {
	sp, err := s.store.Peer(ctx, host)
	return err == nil && sp.State == Blocked
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Post implements chat.Federation: the message waits in the outbox (it
// survives a restart) until the home instance has stored or refused it.
func (s *Service) Post(ctx context.Context, host, channel string, from *store.User, text, nonce string) (func(context.Context) (int64, int64, error), error) {
	_, p, err := s.canSend(ctx, host)
	if err != nil {
		return nil, err
	}
	if nonce == "" {
		nonce = randomNonce()
	}
	body, err := json.Marshal(postBody{Channel: channel, From: authorOf(from), Text: text, Nonce: "fw:" + nonce})
	if err != nil {
		return nil, err
	}
	p.outboxMu.Lock() // ids in the order of the calls, waiter set before the pump can answer
	ref, err := s.store.AddOutbox(ctx, host, body, maxOutbox)
	var wait chan reply
	if err == nil {
		wait = p.await(ref)
	}
	p.outboxMu.Unlock()
	if errors.Is(err, store.ErrFull) {
		return nil, fail.New(fail.Unavailable, "peer_unreachable", "%d messages already wait for %s, which cannot be reached; try later", maxOutbox, host)
	}
	if err != nil {
		return nil, err
	}
	if c := p.current(); c != nil {
		c.wakePump()
	}
	return func(ctx context.Context) (int64, int64, error) {
		defer p.unwait(ref)
		select {
		case r := <-wait:
			if r.Code != "" {
				return 0, 0, remoteError(r)
			}
			return r.ID, r.Offset, nil
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		}
	}, nil
}

func randomNonce() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// remoteError turns a peer's refusal into ours, with its code when it is
// one a client knows.
func remoteError(r reply) error {
	kind := fail.Forbidden
	switch r.Code {
	case "user_offline", "user_not_found", "no_such_channel":
		kind = fail.NotFound
	case "rate_limited", "slow_mode", "timed_out":
		kind = fail.TooMany
	case "peer_unreachable", "federation_not_linked":
		kind = fail.Unavailable
	case "invalid_text", "empty", "too_long", "command_not_supported", "invalid_handle":
		kind = fail.Invalid
	}
	code := r.Code
	if !codeRE.MatchString(code) {
		code = "federation_refused"
	}
	return fail.New(kind, code, "%s", truncate(r.Message, 300))
}

func (c *conn) wakePump() {
	select {
	case c.pump <- struct{}{}:
	default:
	}
}

// pumpOutbox sends what waits for the peer, in order, and then whatever
// is added, until the connection ends; what it sent but got no reply for
// is sent again on the next connection (the home drops repeats by nonce).
func (c *conn) pumpOutbox() {
	var last int64
	for {
		items, err := c.p.s.store.Outbox(c.ctx, c.p.domain, last, 64)
		if err != nil {
			return
		}
		for _, it := range items {
			var b postBody
			if json.Unmarshal(it.Body, &b) == nil {
				b.Ref = it.ID
				c.send("post", b)
			}
			last = it.ID
		}
		if len(items) == 64 {
			continue
		}
		select {
		case <-c.ctx.Done():
			return
		case <-c.pump:
		}
	}
}

// hearPost stores a message of the peer's user in one of our rooms.
func (c *conn) hearPost(env *wire.Envelope) {
	var b postBody
	if json.Unmarshal(env.Body, &b) != nil || b.Ref <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	u, err := c.remoteUser(ctx, b.From)
	if err == nil {
		if len(b.Nonce) > 140 || len(b.Text) > maxText {
			err = fail.New(fail.Invalid, "too_long", "the message is too long")
		} else {
			var wait func() (chat.Message, error)
			if wait, err = c.p.s.hub.PostRemote(ctx, u, b.Channel, b.Text, b.Nonce); err == nil {
				// Queued in order; the answer comes when it is stored,
				// while the next post is already being checked.
				go func() {
					m, err := wait()
					if err != nil {
						c.reply(b.Ref, errorReply(err))
						return
					}
					id, _ := strconv.ParseInt(m.ID, 10, 64)
					c.reply(b.Ref, reply{ID: id, Offset: m.Offset})
				}()
				return
			}
		}
	}
	c.reply(b.Ref, errorReply(err))
}

func errorReply(err error) reply {
	if fe, ok := fail.As(err); ok {
		return reply{Code: fe.Code, Message: fe.Message}
	}
	return reply{Code: "internal", Message: "the site could not store it; try again"}
}

// remoteUser is the row of the peer's user here, after checking that we
// accept the peer's users at all.
func (c *conn) remoteUser(ctx context.Context, a author) (*store.User, error) {
	if _, _, err := c.p.s.canAccept(ctx, c.p.domain); err != nil {
		return nil, err
	}
	if !a.valid() {
		return nil, fail.New(fail.Invalid, "invalid_handle", "the sender's handle is not valid")
	}
	return c.p.s.store.RemoteUser(ctx, c.p.domain, a.Name, a.Num, a.Color, "")
}

// Whisper implements chat.Federation. Whispers do not wait in the outbox:
// a peer that cannot be reached now is an error now.
func (s *Service) Whisper(ctx context.Context, host string, from *store.User, to, text string) error {
	_, p, err := s.canSend(ctx, host)
	if err != nil {
		return err
	}
	c := p.current()
	if c == nil {
		return errUnreachable
	}
	ref := p.newRef()
	wait := p.await(ref)
	defer p.unwait(ref)
	c.send("whisper", whisperBody{Ref: ref, From: authorOf(from), To: to, Text: text})
	select {
	case r := <-wait:
		if r.Code != "" {
			return remoteError(r)
		}
		return nil
	case <-time.After(whisperWait):
		return errUnreachable
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *conn) hearWhisper(env *wire.Envelope) {
	var b whisperBody
	if json.Unmarshal(env.Body, &b) != nil || b.Ref >= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	u, err := c.remoteUser(ctx, b.From)
	if err == nil {
		if len(b.Text) > maxText || len(b.To) > 100 {
			err = fail.New(fail.Invalid, "too_long", "the whisper is too long")
		} else if err = c.p.s.hub.WhisperIn(ctx, u, b.To, b.Text); err == nil {
			c.reply(b.Ref, reply{})
			return
		}
	}
	c.reply(b.Ref, errorReply(err))
}
