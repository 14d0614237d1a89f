package chat

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fedwave/fedwave/internal/store"
)

// maxChatters bounds the chatters list of a presence frame: with thousands
// of viewers it would otherwise be the largest frame of all.
const maxChatters = 200

// room is a channel's chat on this node.
type room struct {
	hub     *Hub
	name    string // the channel's canonical name
	subject string

	// posts feeds the room's committer, which stores messages in batches
	// (one disk sync for all that arrived meanwhile) and publishes them.
	posts chan *postReq

	// sendMu orders storing and publishing with the history replay of a
	// join, so that a joining session sees every offset exactly once.
	sendMu   sync.Mutex
	lastSend map[int64]time.Time // slow mode, under sendMu

	refs int // sessions in the room or joining it, and posts in flight; under hub.mu

	mu           sync.Mutex
	members      map[*Session]member
	followers    map[*follower]bool // other instances following this room
	cancel       func()
	presenceDue  *time.Timer
	lastPresence time.Time

	// A room of another instance (home: its host) mirrors it: no
	// committer, and its presence is the home's (mirrored).
	home, homeName string
	mirrored       []byte
	caughtUp       chan struct{} // closed with the first mirrored presence: the home's replay is in
}

func newRoom(h *Hub, key string) *room {
	return &room{hub: h, name: key, subject: "room." + key, members: map[*Session]member{}, lastSend: map[int64]time.Time{},
		posts: make(chan *postReq, maxBatch)}
}

type member struct {
	userID int64 // 0: anonymous
	handle string
	key    string // who the member is in the channel's audience
	leave  func() // stops counting the member in the audience
	last   int64  // in a remote room, the offset of the last message it was sent
}

// openRoom finds or opens the room of a channel and takes a reference to
// it; release gives it back, and the last release closes the room.
func (h *Hub) openRoom(ch *store.Channel) (*room, error) {
	return h.acquireRoom(strings.ToLower(ch.Name), func(r *room) {
		r.name = ch.Name
		go r.commitLoop()
	})
}

// acquireRoom takes a reference to the room of key, opening it if needed:
// setup prepares a new room (under h.mu) before it subscribes and opens.
func (h *Hub) acquireRoom(key string, setup func(*room)) (*room, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r := h.rooms[key]; r != nil {
		r.refs++
		return r, nil
	}
	r := newRoom(h, key)
	cancel, err := h.bus.Subscribe(r.subject, r.deliver)
	if err != nil {
		return nil, err
	}
	r.cancel, r.refs = cancel, 1
	h.rooms[key] = r
	setup(r)
	return r, nil
}

func (h *Hub) release(r *room) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r.refs--
	if r.refs > 0 {
		return
	}
	delete(h.rooms, strings.ToLower(r.name))
	if r.home != "" {
		h.fed.Unfollow(r.home, r.homeName)
	}
	r.cancel()
	close(r.posts) // no post is in flight: each holds a reference
	r.mu.Lock()
	if r.presenceDue != nil {
		r.presenceDue.Stop()
	}
	r.mu.Unlock()
}

// deliver fans a published frame out to the local members. A remote
// room's messages may come again or late (the home's catch-up after a
// member resumed from its own offset): a member is sent each offset once,
// in order.
func (r *room) deliver(msg []byte) {
	off := int64(-1)
	if r.home != "" {
		off = messageOffset(msg)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for s, m := range r.members {
		if off >= 0 {
			if off <= m.last {
				continue
			}
			m.last = off
			r.members[s] = m
		}
		s.enqueue(msg)
	}
}

// messageOffset is the offset of a message frame; -1 for other frames.
func messageOffset(frame []byte) int64 {
	var f struct {
		Type   string `json:"type"`
		Offset int64  `json:"offset"`
	}
	if json.Unmarshal(frame, &f) != nil || f.Type != "message" {
		return -1
	}
	return f.Offset
}

func (r *room) publish(frame []byte) {
	if err := r.hub.bus.Publish(r.subject, frame); err != nil {
		r.hub.log.Error("publish to room", "room", r.name, "err", err)
	}
}

// add replays history to s and makes it a member. The bulk of the history
// is sent first without holding up the room (waiting for the client to take
// it); then, with new messages held back, the few that arrived meanwhile,
// and s joins. So s sees every offset exactly once, in order.
func (r *room) add(ctx context.Context, s *Session, m member, after *int64) error {
	if after != nil {
		m.last = *after
	}
	wait := func(msg *store.Message) error { m.last = msg.Offset; return s.sendWait(ctx, messageFrame(msg)) }
	now := func(msg *store.Message) error { m.last = msg.Offset; s.send(messageFrame(msg)); return nil }
	unlock, err := r.replay(ctx, after, wait, now)
	if err != nil {
		return err
	}
	defer unlock()
	m.leave = r.hub.audience.Join(r.name, m.key)
	r.mu.Lock()
	r.members[s] = m
	r.mu.Unlock()
	r.presenceChanged()
	return nil
}

// replay sends the history after an offset (or the recent history when
// after is nil): the bulk of it with wait, which may block; then, holding
// back new messages, what arrived meanwhile with now. On success the room
// stays held back until the caller, having made the new listener a member,
// calls unlock: so the listener sees every offset exactly once, in order.
func (r *room) replay(ctx context.Context, after *int64, wait, now func(*store.Message) error) (unlock func(), err error) {
	var last int64
	if after == nil {
		msgs, err := r.hub.store.RecentMessages(ctx, r.name, r.hub.set.History)
		if err != nil {
			return nil, err
		}
		if last, err = sendAll(msgs, 0, wait); err != nil {
			return nil, err
		}
	} else if last, err = r.replayAfter(ctx, *after, wait); err != nil {
		return nil, err
	}
	r.sendMu.Lock()
	if _, err := r.replayAfter(ctx, last, now); err != nil {
		r.sendMu.Unlock()
		return nil, err
	}
	return r.sendMu.Unlock, nil
}

const replayPage = 500

// replayAfter sends every stored message after an offset, page by page,
// and returns the last offset sent (after, if none).
func (r *room) replayAfter(ctx context.Context, after int64, send func(*store.Message) error) (int64, error) {
	last := after
	for {
		msgs, err := r.hub.store.MessagesAfter(ctx, r.name, last, replayPage)
		if err != nil {
			return 0, err
		}
		if last, err = sendAll(msgs, last, send); err != nil || len(msgs) < replayPage {
			return last, err
		}
	}
}

// sendAll sends messages in order and returns the offset of the last one
// (last, if there are none).
func sendAll(msgs []store.Message, last int64, send func(*store.Message) error) (int64, error) {
	for i := range msgs {
		if err := send(&msgs[i]); err != nil {
			return 0, err
		}
		last = msgs[i].Offset
	}
	return last, nil
}

// update changes a member's identity after it signs in.
func (r *room) update(s *Session, m member) {
	m.leave = r.hub.audience.Join(r.name, m.key) // before leaving the old key: the count does not dip
	r.mu.Lock()
	old, ok := r.members[s]
	if ok {
		m.last = old.last
		r.members[s] = m
	}
	r.mu.Unlock()
	if ok {
		old.leave()
	} else {
		m.leave()
	}
	r.presenceChanged()
}

// remove drops s and gives back its reference.
func (r *room) remove(s *Session) {
	r.mu.Lock()
	m, ok := r.members[s]
	delete(r.members, s)
	r.mu.Unlock()
	if ok {
		m.leave()
	}
	r.presenceChanged()
	r.hub.release(r)
}

// chatters returns the handles of the signed-in members.
func (r *room) chatters() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	users := map[int64]string{}
	for _, m := range r.members {
		if m.userID != 0 {
			users[m.userID] = m.handle
		}
	}
	handles := make([]string, 0, len(users))
	for _, h := range users {
		handles = append(handles, h)
	}
	for f := range r.followers {
		handles = append(handles, f.chatters...)
	}
	sort.Strings(handles)
	if len(handles) > maxChatters {
		handles = handles[:maxChatters]
	}
	return handles
}

// presence is the room's presence frame: the channel's audience (watching
// or chatting, each person once) and who is signed in here.
func (r *room) presence() []byte {
	if r.home != "" {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.mirrored != nil {
			return r.mirrored
		}
		return encode(presenceFrame{Type: "presence", Channel: r.name, Chatters: []string{}})
	}
	return encode(presenceFrame{Type: "presence", Channel: r.name, Viewers: r.hub.audience.Count(r.name), Chatters: r.chatters()})
}

// presenceChanged pushes a presence frame at most once a second; a
// remote room tells its home who is signed in here instead (its presence
// is the home's).
func (r *room) presenceChanged() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.presenceDue != nil || (r.home == "" && len(r.members) == 0 && len(r.followers) == 0) {
		return
	}
	wait := time.Second - time.Since(r.lastPresence)
	r.presenceDue = time.AfterFunc(max(wait, 0), func() {
		r.mu.Lock()
		r.presenceDue = nil
		r.lastPresence = time.Now()
		r.mu.Unlock()
		if r.home != "" {
			r.hub.fed.Chatters(r.home, r.homeName, r.chatters())
			return
		}
		r.publish(r.presence())
		r.emit(Event{Kind: "presence", Channel: r.name, Viewers: r.hub.audience.Count(r.name), Chatters: r.chatters()})
	})
}
