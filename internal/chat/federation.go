package chat

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/store"
)

// Federation is what chat needs of the links with other instances.
// Channels of another instance are named "name@host" here.
type Federation interface {
	// Self is this instance's host.
	Self() string
	// CheckRoom fails unless a room of host may be joined here (a linked
	// peer whose content we accept).
	CheckRoom(ctx context.Context, host, channel string) error
	// Follow starts mirroring a room of host into this instance, from the
	// last offset stored here; Unfollow stops it. Neither blocks: the hub
	// calls them as the room opens and closes.
	Follow(host, channel string)
	Unfollow(host, channel string)
	// Post queues a local user's message for its room's home instance (in
	// the order of the calls); wait returns its home id and offset once
	// stored there.
	Post(ctx context.Context, host, channel string, from *store.User, text, nonce string) (wait func(context.Context) (id, offset int64, err error), err error)
	// Whisper delivers a local user's whisper to a user of host.
	Whisper(ctx context.Context, host string, from *store.User, to, text string) error
	// Chatters tells a room's home who is signed in to it here (handles
	// without host), so that its presence lists them; called when that
	// changes, at most once a second per room.
	Chatters(host, channel string, handles []string)
}

// Event is what happens in a room, as told to the instances that follow it.
type Event struct {
	Kind     string         // "message", "delete", "presence" or "system"
	Channel  string         // the room's channel name at home
	Message  *store.Message // message: as stored at home (ID is its home id)
	IDs      []int64        // delete
	Viewers  int            // presence
	Chatters []string       // presence: handles, with @host for users of other instances
	Text     string         // system
}

// follower is another instance following a local room.
type follower struct {
	host     string
	fn       func(Event)
	chatters []string // who is signed in to the room there, with @host
}

// emit tells the room's followers; fn must not block.
func (r *room) emit(ev Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for f := range r.followers {
		f.fn(ev)
	}
}

func (h *Hub) emitTo(channel string, ev Event) {
	h.mu.Lock()
	r := h.rooms[lower(channel)]
	h.mu.Unlock()
	if r != nil && r.home == "" {
		ev.Channel = r.name
		r.emit(ev)
	}
}

// Follow makes instance host a follower of a local room: fn gets the
// history after an offset (or the recent history), then every event, in
// order, until stop. fn must not block.
func (h *Hub) Follow(ctx context.Context, host, channel string, after *int64, fn func(Event)) (stop func(), err error) {
	if after != nil && *after < 0 {
		return nil, fail.New(fail.Invalid, "invalid_offset", "an offset is 0 or more")
	}
	ch, err := h.channel(ctx, channel)
	if err != nil {
		return nil, err
	}
	r, err := h.openRoom(ch)
	if err != nil {
		return nil, err
	}
	send := func(m *store.Message) error {
		fn(Event{Kind: "message", Channel: r.name, Message: m})
		return nil
	}
	unlock, err := r.replay(ctx, after, send, send)
	if err != nil {
		h.release(r)
		return nil, err
	}
	f := &follower{host: host, fn: fn}
	r.mu.Lock()
	if r.followers == nil {
		r.followers = map[*follower]bool{}
	}
	r.followers[f] = true
	r.mu.Unlock()
	unlock()
	// The follower's site shows the room's presence from the start.
	fn(Event{Kind: "presence", Channel: r.name, Viewers: h.audience.Count(r.name), Chatters: r.chatters()})
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			delete(r.followers, f)
			r.mu.Unlock()
			r.presenceChanged() // its chatters leave the list
			h.release(r)
		})
	}, nil
}

// RemoteChatters sets who is signed in to a local room on instance host
// (handles without host; at most maxChatters are kept), as its follower
// reported them: the room's presence lists them with @host.
func (h *Hub) RemoteChatters(host, channel string, handles []string) {
	h.mu.Lock()
	r := h.rooms[lower(channel)]
	h.mu.Unlock()
	if r == nil || r.home != "" {
		return
	}
	list := make([]string, 0, min(len(handles), maxChatters))
	for _, hd := range handles[:min(len(handles), maxChatters)] {
		list = append(list, hd+"@"+host)
	}
	r.mu.Lock()
	for f := range r.followers {
		if f.host == host {
			f.chatters = list
		}
	}
	r.mu.Unlock()
	r.presenceChanged()
}

// PostRemote queues a message of another instance's user (from is its
// row here) for a local room, with the room's rules for everyone: bans,
// flood limits, slow mode. Messages queued in turn are stored in turn;
// wait returns the message once stored.
func (h *Hub) PostRemote(ctx context.Context, from *store.User, channel, text, nonce string) (wait func() (Message, error), err error) {
	if isCommand(text) {
		return nil, fail.New(fail.Invalid, "command_not_supported", "commands are typed on the channel's own site")
	}
	return h.queuePost(ctx, from, channel, text, nonce)
}

// WhisperIn delivers a whisper from another instance's user to a local
// user, with the rules of local whispers.
func (h *Hub) WhisperIn(ctx context.Context, from *store.User, to, text string) error {
	text, err := h.cleanText(text)
	if err != nil {
		return err
	}
	target, err := h.findUser(ctx, to)
	if err != nil {
		return err
	}
	if target.Instance != "" {
		return fail.New(fail.NotFound, "user_not_found", "there is no user %s here", truncate(to, 40))
	}
	if err := h.checkFlood(ctx, from, nil); err != nil {
		return err
	}
	if err := h.checkBan(ctx, from, ""); err != nil {
		return err
	}
	return h.deliverWhisper(ctx, from, target, text)
}

// remoteName splits "name@host" naming another instance's channel; a
// name without host, or with this instance's, is local.
func (h *Hub) remoteName(channel string) (host, name string, ok bool) {
	name, host, found := strings.Cut(channel, "@")
	if !found || h.fed == nil || strings.EqualFold(host, h.fed.Self()) {
		return "", name, false
	}
	return strings.ToLower(host), name, true
}

var errNotLinked = fail.New(fail.Unavailable, "federation_not_linked", "this instance is not linked to that one")

// openRemoteRoom finds or opens the room mirroring a channel of host.
func (h *Hub) openRemoteRoom(ctx context.Context, host, name string) (*room, error) {
	if h.fed == nil {
		return nil, errNotLinked
	}
	if auth.CheckNameFormat(name) != nil {
		return nil, errNoChannel
	}
	if err := h.fed.CheckRoom(ctx, host, name); err != nil {
		return nil, err
	}
	return h.acquireRoom(strings.ToLower(name)+"@"+host, func(r *room) {
		r.home, r.homeName = host, strings.ToLower(name)
		r.caughtUp = make(chan struct{})
		h.fed.Follow(host, r.homeName)
	})
}

// Mirror applies an event of a followed room of host: its messages are
// stored with their home offsets and rendered here (never trusting the
// peer's HTML). Events of rooms no one here follows are dropped.
func (h *Hub) Mirror(host string, ev Event) {
	h.mu.Lock()
	r := h.rooms[strings.ToLower(ev.Channel)+"@"+strings.ToLower(host)]
	h.mu.Unlock()
	if r == nil || r.home == "" {
		return
	}
	ctx := context.Background()
	r.sendMu.Lock()
	defer r.sendMu.Unlock()
	switch ev.Kind {
	case "message":
		m := *ev.Message
		m.Channel, m.HTML = r.name, h.markup.Render(m.Text)
		if err := h.store.MirrorMessages(ctx, []store.Message{m}); err != nil {
			h.log.Error("mirror message", "room", r.name, "err", err)
			return
		}
		r.publish(encode(messageFrame(&m)))
	case "delete":
		if err := h.store.DeleteMirrored(ctx, r.name, ev.IDs); err != nil {
			h.log.Error("mirror delete", "room", r.name, "err", err)
			return
		}
		for _, id := range ev.IDs {
			r.publish(encode(deleteFrame{Type: "delete", Channel: r.name, ID: strconv.FormatInt(id, 10)}))
		}
	case "presence":
		frame := encode(presenceFrame{Type: "presence", Channel: r.name, Viewers: ev.Viewers, Chatters: ev.Chatters})
		r.mu.Lock()
		if r.mirrored == nil {
			close(r.caughtUp) // the home sends presence right after its replay
		}
		r.mirrored = frame
		r.mu.Unlock()
		r.publish(frame)
	case "system":
		r.publish(encode(systemFrame{Type: "system", Channel: r.name, Text: ev.Text}))
	}
}

// maxPending bounds a connection's messages waiting for another instance.
const maxPending = 64

// sendRemote posts into a room of another instance. The checks of this
// instance (flood limit, instance bans) come first; the home instance
// applies its own. The ack (or error) comes when the home has stored the
// message, which may be after the link comes back: meanwhile the
// connection goes on.
func (s *Session) sendRemote(ctx context.Context, u *store.User, host, name string, f inFrame, nonce string) error {
	h := s.hub
	if isCommand(f.Text) {
		return h.remoteCommand(ctx, s, u, f.Text)
	}
	text, err := h.checkRemoteSend(ctx, u, host, name, f.Text)
	if err != nil {
		return err
	}
	if s.pending.Add(1) > maxPending {
		s.pending.Add(-1)
		return fail.New(fail.TooMany, "too_many_pending", "%d messages are still waiting for %s; wait for them", maxPending, host)
	}
	wait, err := h.fed.Post(ctx, host, name, u, text, nonce)
	if err != nil {
		s.pending.Add(-1)
		return err
	}
	go func() {
		defer s.pending.Add(-1)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-s.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		id, offset, err := wait(ctx)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				s.sendError(err, f.Nonce)
			}
			return
		}
		s.send(ackFrame{Type: "ack", Nonce: validNonce(f.Nonce), ID: strconv.FormatInt(id, 10), Offset: offset})
	}()
	return nil
}

// checkRemoteSend applies this instance's rules to a message for another
// instance's room (its length, the sender's flood limit and instance
// bans), and returns the cleaned text; the home applies its own.
func (h *Hub) checkRemoteSend(ctx context.Context, u *store.User, host, name, text string) (string, error) {
	text, err := h.cleanText(text)
	if err != nil {
		return "", err
	}
	if err := h.checkFlood(ctx, u, nil); err != nil {
		return "", err
	}
	if err := h.checkBan(ctx, u, ""); err != nil {
		return "", err
	}
	return text, h.fed.CheckRoom(ctx, host, name)
}

// postRemote posts into a room of another instance and waits for the
// home's answer (for the REST API; the WebSocket does not wait).
func (h *Hub) postRemote(ctx context.Context, u *store.User, host, name, text, nonce string) (Message, error) {
	text, err := h.checkRemoteSend(ctx, u, host, name, text)
	if err != nil {
		return Message{}, err
	}
	wait, err := h.fed.Post(ctx, host, name, u, text, nonce)
	if err != nil {
		return Message{}, err
	}
	id, offset, err := wait(ctx)
	if err != nil {
		return Message{}, err
	}
	return Message{Type: "message", Channel: name + "@" + host, ID: strconv.FormatInt(id, 10), Offset: offset,
		From: fromUser(u), HTML: h.markup.Render(text), TS: timestamp(h.now())}, nil
}

// remoteCommand runs what can be typed in another instance's room here:
// whispers and help. Moderation is done on the channel's own site.
func (h *Hub) remoteCommand(ctx context.Context, s *Session, u *store.User, text string) error {
	name, rest, _ := strings.Cut(strings.TrimSpace(text)[1:], " ")
	switch strings.ToLower(name) {
	case "w":
		to, msg, ok := strings.Cut(strings.TrimSpace(rest), " ")
		if !ok || strings.TrimSpace(msg) == "" {
			return usage("w")
		}
		return h.whisper(ctx, u, to, msg)
	case "help":
		s.system("", "In a room of another site you can whisper here (!w name#1234[@host] text); other commands are typed on the channel's own site.")
		return nil
	}
	return fail.New(fail.Invalid, "remote_command", "!%s works only on the channel's own site", truncate(name, 32))
}

// findLocalUser resolves a handle to a user of this instance: roles and
// moderator rights are given at home.
func (h *Hub) findLocalUser(ctx context.Context, handle string) (*store.User, error) {
	u, err := h.findUser(ctx, handle)
	if err == nil && u.Instance != "" {
		return nil, fail.New(fail.Invalid, "remote_user", "%s gets roles on their own site", address(u))
	}
	return u, err
}

// address is how a user is named on this instance: name#num, with @host
// for users of other instances.
func address(u *store.User) string {
	if u.Instance != "" {
		return auth.Handle(u.Name, u.Num) + "@" + u.Instance
	}
	return auth.Handle(u.Name, u.Num)
}
