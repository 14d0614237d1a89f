package chat

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/store"
)

var errNoChannel = fail.New(fail.NotFound, "no_such_channel", "there is no such channel")

func lower(s string) string { return strings.ToLower(s) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// channel looks up a local channel by name. The row is cached for up to
// readCacheTTL: every message needs it.
func (h *Hub) channel(ctx context.Context, name string) (*store.Channel, error) {
	if auth.CheckNameFormat(name) != nil {
		return nil, errNoChannel
	}
	now := h.now()
	if ch, ok := h.chanCache.Get(lower(name), now); ok {
		return &ch, nil // a copy: callers may change it
	}
	ch, err := h.store.Channel(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoChannel
	}
	if err != nil {
		return nil, err
	}
	h.chanCache.Put(lower(name), *ch, now)
	return ch, nil
}

// channelChanged makes the next look-up of a channel read the store: the
// hub changed it.
func (h *Hub) channelChanged(name string) { h.chanCache.Forget(lower(name)) }

// activeBan is the store's ActiveBan, cached for up to readCacheTTL. A
// cached timeout that has run out since is asked again: another ban may
// remain.
func (h *Hub) activeBan(ctx context.Context, channel string, userID int64) (*store.Ban, error) {
	now := h.now()
	key := banKey{channel: lower(channel), userID: userID}
	if b, ok := h.banCache.Get(key, now); ok && (b == nil || b.Expires.IsZero() || b.Expires.After(now)) {
		return b, nil
	}
	b, err := h.store.ActiveBan(ctx, channel, userID, now)
	if err != nil {
		return nil, err
	}
	h.banCache.Put(key, b, now)
	return b, nil
}

// cleanText trims a message and checks its length and characters; control
// characters other than newline and tab are dropped.
func (h *Hub) cleanText(text string) (string, error) {
	if !utf8.ValidString(text) {
		return "", fail.New(fail.Invalid, "invalid_text", "the message is not valid UTF-8")
	}
	text = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return -1
		}
		return r
	}, text)
	text = strings.TrimSpace(text)
	if text == "" {
		return "", fail.New(fail.Invalid, "empty", "the message is empty")
	}
	if n, most := utf8.RuneCountInString(text), int(h.maxLength.Load()); n > most {
		return "", fail.New(fail.Invalid, "too_long", "the message has %d characters; at most %d are allowed", n, most)
	}
	return text, nil
}

// rank is u's moderation rank in ch.
func (h *Hub) rank(ctx context.Context, u *store.User, ch *store.Channel) (int, error) {
	mod, err := h.store.IsChannelMod(ctx, ch.Name, u.ID)
	if err != nil {
		return 0, err
	}
	return auth.ChatRank(u, ch, mod), nil
}

// allowed looks up a channel and u's rank there, and refuses unless the
// rank passes the check.
func (h *Hub) allowed(ctx context.Context, u *store.User, channel string, check func(rank int) bool) (*store.Channel, int, error) {
	ch, err := h.channel(ctx, channel)
	if err != nil {
		return nil, 0, err
	}
	rank, err := h.rank(ctx, u, ch)
	if err != nil {
		return nil, 0, err
	}
	if !check(rank) {
		return nil, 0, errForbidden
	}
	return ch, rank, nil
}

// checkFlood applies the per-user rate to everyone. In a channel, the
// third refusal within ten seconds earns an automatic one-minute timeout,
// which keeps the earlier messages (only a moderator's sanction removes
// them); the channel's moderators and above get no timeout, only the
// refusals.
func (h *Hub) checkFlood(ctx context.Context, u *store.User, ch *store.Channel) error {
	if h.flood.Allow(strconv.FormatInt(u.ID, 10)) {
		return nil
	}
	limited := fail.New(fail.TooMany, "rate_limited", "you are sending messages too fast; slow down")
	if ch == nil || !h.strike(u.ID) {
		return limited
	}
	// Only now look up the rank: a refusal costs no database query.
	rank, err := h.rank(ctx, u, ch)
	if err != nil {
		return err
	}
	if auth.CanModerate(rank) {
		return limited
	}
	until := h.now().Add(time.Minute)
	if err := h.sanction(ctx, nil, u, ch.Name, "timeout", "flooding", until, false); err != nil {
		return err
	}
	return fail.New(fail.TooMany, "timed_out", "you sent too many messages too fast and are timed out for 60 seconds")
}

// checkBan refuses users banned or timed out in the channel (or instance).
func (h *Hub) checkBan(ctx context.Context, u *store.User, channel string) error {
	b, err := h.activeBan(ctx, channel, u.ID)
	if err != nil || b == nil {
		return err
	}
	where := "on this instance"
	if b.Scope != "" {
		where = "in this channel"
	}
	if b.Kind == "timeout" {
		left := max(b.Expires.Sub(h.now()).Round(time.Second), time.Second)
		return fail.New(fail.Forbidden, "timed_out", "you are timed out %s for %s more", where, left)
	}
	msg := "you are banned " + where
	if b.Reason != "" {
		msg += ": " + b.Reason
	}
	return fail.New(fail.Forbidden, "banned", "%s", msg)
}

// Post stores a message from u in a channel and publishes it: render,
// sanitise, store (committed), then publish. A repeated nonce returns the
// first message without storing or publishing again.
func (h *Hub) Post(ctx context.Context, u *store.User, channel, text, nonce string) (Message, error) {
	if isCommand(text) {
		return Message{}, fail.New(fail.Invalid, "command_not_supported", "commands work only in the chat (WebSocket); send plain messages here")
	}
	if host, name, ok := h.remoteName(channel); ok {
		return h.postRemote(ctx, u, host, name, text, nonce)
	}
	return h.post(ctx, u, channel, text, nonce)
}

func (h *Hub) post(ctx context.Context, u *store.User, channel, text, nonce string) (Message, error) {
	wait, err := h.queuePost(ctx, u, channel, text, nonce)
	if err != nil {
		return Message{}, err
	}
	return wait()
}

// queuePost checks a message and hands it to its room's committer; wait
// returns it once stored (or refused by slow mode). Messages queued one
// after the other are stored in that order.
func (h *Hub) queuePost(ctx context.Context, u *store.User, channel, text, nonce string) (wait func() (Message, error), err error) {
	ch, err := h.channel(ctx, channel)
	if err != nil {
		return nil, err
	}
	text, err = h.cleanText(text)
	if err != nil {
		return nil, err
	}
	if err := h.checkFlood(ctx, u, ch); err != nil {
		return nil, err
	}
	if err := h.checkBan(ctx, u, ch.Name); err != nil {
		return nil, err
	}
	var slow time.Duration
	if ch.SlowSeconds > 0 {
		rank, err := h.rank(ctx, u, ch)
		if err != nil {
			return nil, err
		}
		if !auth.CanModerate(rank) {
			slow = time.Duration(ch.SlowSeconds) * time.Second
		}
	}
	req := &postReq{slow: slow, done: make(chan struct{}), m: store.Message{
		Channel: ch.Name, UserID: u.ID, Handle: auth.Handle(u.Name, u.Num), Color: u.Color, Avatar: u.Avatar, Instance: u.Instance,
		Text: text, HTML: h.markup.Render(text), Nonce: nonce,
	}}
	r, err := h.openRoom(ch) // orders the post with joins even if no one here listens
	if err != nil {
		return nil, err
	}
	r.posts <- req
	return func() (Message, error) {
		<-req.done
		h.release(r)
		return req.frame, req.err
	}, nil
}

// catchUpWait bounds how long a history request for a room of a linked
// instance waits for the home's replay.
const catchUpWait = 2 * time.Second

// History returns stored messages: after an offset (oldest first), or the
// most recent ones when after is nil.
// A room of a linked instance answers from its mirror here, brought up to
// date first: the room is followed for the request (when no one here
// follows it already) and the home's replay awaited, for catchUpWait at
// most (the home replays its 50 most recent messages to a mirror that has
// none).
func (h *Hub) History(ctx context.Context, channel string, after *int64, limit int) ([]Message, error) {
	var key string
	if host, name, ok := h.remoteName(channel); ok {
		r, err := h.openRemoteRoom(ctx, host, name)
		if err != nil {
			return nil, err
		}
		defer h.release(r)
		select {
		case <-r.caughtUp:
		case <-time.After(catchUpWait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		key = r.name
	} else {
		ch, err := h.channel(ctx, name)
		if err != nil {
			return nil, err
		}
		key = ch.Name
	}
	var msgs []store.Message
	var err error
	if after == nil {
		msgs, err = h.store.RecentMessages(ctx, key, limit)
	} else {
		msgs, err = h.store.MessagesAfter(ctx, key, *after, limit)
	}
	if err != nil {
		return nil, err
	}
	out := make([]Message, len(msgs))
	for i := range msgs {
		out[i] = messageFrame(&msgs[i])
	}
	return out, nil
}

// findUser resolves a handle typed in a command or whisper.
func (h *Hub) findUser(ctx context.Context, handle string) (*store.User, error) {
	handle = strings.TrimPrefix(strings.TrimSpace(handle), "@")
	notFound := fail.New(fail.NotFound, "user_not_found", "there is no user %s here", truncate(handle, 40))
	handle, host, remote := strings.Cut(handle, "@")
	if remote && (h.fed == nil || !strings.EqualFold(host, h.fed.Self())) {
		return h.findRemoteUser(ctx, handle, host)
	}
	name, num, err := auth.ParseHandle(handle)
	if err != nil {
		return nil, notFound
	}
	u, err := h.store.UserByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && num >= 0 && u.Num != num) {
		return nil, notFound
	}
	return u, err
}

// findRemoteUser resolves name#num@host: a user of another instance known
// here (one who has chatted here), for moderation.
func (h *Hub) findRemoteUser(ctx context.Context, handle, host string) (*store.User, error) {
	if h.fed == nil {
		return nil, errNotLinked
	}
	name, num, err := auth.ParseHandle(handle)
	if err != nil || num < 0 {
		return nil, fail.New(fail.Invalid, "invalid_handle", "a user of another instance is written name#1234@host")
	}
	u, err := h.store.RemoteUserByHandle(ctx, strings.ToLower(host), name, num)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fail.New(fail.NotFound, "user_not_found", "%s@%s has not chatted here", auth.Handle(name, num), truncate(host, 64))
	}
	return u, err
}

// whisper sends a private message to every session of a user, here or on
// a linked instance, and a copy to the sender's sessions.
func (h *Hub) whisper(ctx context.Context, u *store.User, to, text string) error {
	text, err := h.cleanText(text)
	if err != nil {
		return err
	}
	if err := h.checkFlood(ctx, u, nil); err != nil {
		return err
	}
	if err := h.checkBan(ctx, u, ""); err != nil {
		return err
	}
	handle, host, remote := strings.Cut(strings.TrimPrefix(strings.TrimSpace(to), "@"), "@")
	if remote && h.fed != nil && !strings.EqualFold(host, h.fed.Self()) {
		name, num, err := auth.ParseHandle(handle)
		if err != nil || num < 0 {
			return fail.New(fail.Invalid, "invalid_handle", "a user of another instance is written name#1234@host")
		}
		host = strings.ToLower(host)
		if err := h.fed.Whisper(ctx, host, u, auth.Handle(name, num), text); err != nil {
			return err
		}
		copyFrame := whisperFrame{Type: "whisper", From: fromUser(u), To: auth.Handle(name, num) + "@" + host, HTML: h.markup.Render(text), TS: timestamp(h.now())}
		h.bus.Publish(userSubject(u.ID), encode(copyFrame))
		return nil
	}
	target, err := h.findUser(ctx, to)
	if err != nil {
		return err
	}
	if target.Instance != "" {
		return fail.New(fail.Invalid, "invalid_handle", "whisper to %s with its full address", address(target))
	}
	return h.deliverWhisper(ctx, u, target, text)
}

// deliverWhisper gives a whisper to a local user's sessions, and a copy to
// the sender's if the sender is local too.
func (h *Hub) deliverWhisper(ctx context.Context, from, target *store.User, text string) error {
	if !h.online(ctx, target.ID) {
		return fail.New(fail.NotFound, "user_offline", "%s is not online", auth.Handle(target.Name, target.Num))
	}
	frame := encode(whisperFrame{Type: "whisper", From: fromUser(from), To: auth.Handle(target.Name, target.Num), HTML: h.markup.Render(text), TS: timestamp(h.now())})
	h.bus.Publish(userSubject(target.ID), frame)
	if target.ID != from.ID && from.Instance == "" {
		h.bus.Publish(userSubject(from.ID), frame)
	}
	return nil
}

// deleteMessage removes one message on a moderator's request: their own,
// or one whose author ranks below them (the rule of !ban).
func (h *Hub) deleteMessage(ctx context.Context, u *store.User, channel, id string) error {
	ch, rank, err := h.allowed(ctx, u, channel, auth.CanModerate)
	if err != nil {
		return err
	}
	notFound := fail.New(fail.NotFound, "message_not_found", "no such message")
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return notFound
	}
	m, err := h.store.Message(ctx, ch.Name, n)
	if errors.Is(err, store.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return err
	}
	authorRank, err := h.authorRank(ctx, m.UserID, ch)
	if err != nil {
		return err
	}
	if !auth.CanDeleteMessage(rank, authorRank, m.UserID == u.ID) {
		return fail.New(fail.Forbidden, "forbidden", "you cannot delete a message of %s", m.Handle)
	}
	ok, err := h.store.DeleteMessage(ctx, ch.Name, n)
	if err != nil {
		return err
	}
	if !ok {
		return notFound
	}
	if err := h.store.Audit(ctx, store.AuditEntry{ActorID: u.ID, Action: "delete", TargetID: m.UserID, Channel: ch.Name, Detail: "message " + id}); err != nil {
		return err
	}
	h.publishDeletes(ch.Name, []string{id})
	return nil
}

// authorRank is the current rank in ch of a message's author; an author
// who no longer exists (a cleaned-up guest) has none.
func (h *Hub) authorRank(ctx context.Context, userID int64, ch *store.Channel) (int, error) {
	a, err := h.store.User(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return h.rank(ctx, a, ch)
}

var errForbidden = fail.New(fail.Forbidden, "forbidden", "you are not allowed to do that here")

func (h *Hub) publishDeletes(channel string, ids []string) {
	nums := make([]int64, 0, len(ids))
	for _, id := range ids {
		h.bus.Publish("room."+lower(channel), encode(deleteFrame{Type: "delete", Channel: channel, ID: id}))
		if n, err := strconv.ParseInt(id, 10, 64); err == nil {
			nums = append(nums, n)
		}
	}
	h.emitTo(channel, Event{Kind: "delete", IDs: nums})
}

func (h *Hub) publishSystem(channel, text string) {
	h.bus.Publish("room."+lower(channel), encode(systemFrame{Type: "system", Channel: channel, Text: text}))
	h.emitTo(channel, Event{Kind: "system", Text: text})
}
