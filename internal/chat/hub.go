// Package chat is FedWave's real-time chat: rooms per channel, durable and
// ordered history, whispers, commands and moderation, flood control and
// presence. It speaks the frames of CONTRACT §4 but knows nothing of
// WebSockets: the web layer feeds a Session the frames it reads and writes
// out what the Session queues.
package chat

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fedwave/fedwave/internal/audience"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/bus"
	"github.com/fedwave/fedwave/internal/channels"
	"github.com/fedwave/fedwave/internal/ratelimit"
	"github.com/fedwave/fedwave/internal/store"
	"github.com/fedwave/fedwave/internal/ttlcache"
)

// Authenticator checks the token of an auth frame.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (*auth.Session, error)
}

// Renderer turns message text into safe HTML.
type Renderer interface {
	Render(text string) string
}

// ChannelService is what commands need of channels (!title, !status).
type ChannelService interface {
	Get(ctx context.Context, name string) (channels.View, error)
	Update(ctx context.Context, u *store.User, name string, p channels.Patch) (channels.View, error)
}

// Roles changes instance roles (!mkstreamer).
type Roles interface {
	SetRole(ctx context.Context, userID int64, role auth.Role) error
}

// Settings are the instance's chat settings.
type Settings struct {
	MaxLength   int           // characters per message (default 500)
	History     int           // messages replayed on a join without offset (default 50)
	Retention   time.Duration // how long messages are kept (default 7 days)
	QueueLength int           // frames queued per connection before it counts as slow (default 64)
	Burst       int           // messages a user may send at once (default 5)
	PerSecond   float64       // and then per second (default 1)
}

func (s *Settings) defaults() {
	if s.MaxLength <= 0 {
		s.MaxLength = 500
	}
	if s.History <= 0 {
		s.History = 50
	}
	if s.Retention <= 0 {
		s.Retention = 7 * 24 * time.Hour
	}
	if s.QueueLength <= 0 {
		// The kernel's socket buffer holds far more; frames wait here only
		// once it is full, so this is enough for a client that is keeping up.
		s.QueueLength = 64
	}
	if s.Burst <= 0 {
		s.Burst = 5
	}
	if s.PerSecond <= 0 {
		s.PerSecond = 1
	}
}

// Deps is what the hub needs.
type Deps struct {
	Store    store.Store
	Auth     Authenticator
	Roles    Roles
	Channels ChannelService
	Markup   Renderer
	Bus      bus.Bus
	// Audience counts the people on each channel, with the stream's
	// viewers (nil: chat members only).
	Audience *audience.Registry
	Log      *slog.Logger
	Settings Settings
	Now      func() time.Time
	// Federation carries rooms, messages and whispers to and from linked
	// instances (nil: names with @host are refused).
	Federation Federation
}

// Hub holds this node's chat state: rooms with local members and the
// sessions of each signed-in user.
type Hub struct {
	store    store.Store
	auth     Authenticator
	roles    Roles
	channels ChannelService
	markup   Renderer
	bus      bus.Bus
	audience *audience.Registry
	fed      Federation
	log      *slog.Logger
	set      Settings
	now      func() time.Time
	flood    *ratelimit.Keyed
	// maxLength is set.MaxLength as changed since by SetLimits; read at
	// every message, so an atomic load rather than a lock.
	maxLength atomic.Int64

	// Read caches of what every message checks (see cache.go).
	chanCache ttlcache.Cache[string, store.Channel] // by lower-case name
	banCache  ttlcache.Cache[banKey, *store.Ban]    // nil: not banned

	mu       sync.Mutex
	rooms    map[string]*room            // by lower-case channel name
	users    map[int64]map[*Session]bool // signed-in local sessions
	userSubs map[int64]func()            // bus subscriptions for users' whispers
	sessions map[*Session]bool
	strikes  map[int64][]time.Time // recent flood refusals per user
	closed   bool
	wg       sync.WaitGroup // one per open session

	cancelLive func()

	stored atomic.Int64 // messages stored here since the start, for /metrics
}

// New builds a hub.
func New(d Deps) (*Hub, error) {
	d.Settings.defaults()
	h := &Hub{
		store: d.Store, auth: d.Auth, roles: d.Roles, channels: d.Channels, markup: d.Markup, bus: d.Bus,
		audience: d.Audience, fed: d.Federation, log: d.Log, set: d.Settings, now: d.Now,
		flood:     ratelimit.New(d.Settings.PerSecond, d.Settings.Burst),
		chanCache: ttlcache.Cache[string, store.Channel]{TTL: readCacheTTL, Max: readCacheMax},
		banCache:  ttlcache.Cache[banKey, *store.Ban]{TTL: readCacheTTL, Max: readCacheMax},
		rooms:     map[string]*room{},
		users:     map[int64]map[*Session]bool{},
		userSubs:  map[int64]func(){},
		sessions:  map[*Session]bool{},
		strikes:   map[int64][]time.Time{},
	}
	h.maxLength.Store(int64(d.Settings.MaxLength))
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.audience == nil {
		h.audience = audience.New(nil)
	}
	if h.now == nil {
		h.now = time.Now
	}
	var err error
	h.cancelLive, err = h.bus.Subscribe("live", h.toEverySession)
	if err != nil {
		return nil, err
	}
	return h, nil
}

// SetLimits changes the message length and the per-user rate from the
// next message on, in open connections too (the site settings).
func (h *Hub) SetLimits(maxLength int, perSecond float64, burst int) {
	if maxLength <= 0 || perSecond <= 0 || burst <= 0 {
		return
	}
	h.maxLength.Store(int64(maxLength))
	h.flood.SetLimit(perSecond, burst)
}

// Connect opens a session for a new connection; sess is nil when the
// connection is not (yet) signed in (a cookie signs it in at once). The
// session keeps sess's token and checks it again at every action. from is
// the client's address; browser is the anonymous viewer cookie of a browser
// ("" if none), so that its player and its chat count as one person.
// onClose, if set, is called once when the server closes the session (too
// slow, shutting down), as Done is closed.
func (h *Hub) Connect(sess *auth.Session, from, browser string, onClose func()) (*Session, error) {
	anonKey := h.audience.Unique()
	if browser != "" {
		anonKey = audience.BrowserKey(browser)
	}
	s := &Session{hub: h, from: from, anonKey: anonKey, out: make(chan []byte, h.set.QueueLength), urgent: make(chan struct{}, 1), done: make(chan struct{}), rooms: map[string]*room{}, onClose: onClose}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, errors.New("chat is shutting down")
	}
	h.sessions[s] = true
	h.wg.Add(1)
	h.mu.Unlock()
	if sess != nil {
		s.signIn(sess)
	}
	return s, nil
}

// Close ends every session with "going away" and waits (until ctx ends) for
// them to finish what they were doing.
func (h *Hub) Close(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	for s := range h.sessions {
		s.kill(CloseGoingAway, "the server is restarting")
	}
	h.mu.Unlock()
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	h.cancelLive()
	return nil
}

// Stored counts the messages stored here since the start (the admin
// overview's chat rate, /metrics).
func (h *Hub) Stored() int64 { return h.stored.Load() }

// Announce sends a live frame (a channel went live, changed or ended) to
// every connected client.
func (h *Hub) Announce(view channels.View) {
	h.bus.Publish("live", encode(liveFrame{Type: "live", Channel: view}))
}

func (h *Hub) toEverySession(msg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.sessions {
		s.enqueue(msg)
	}
}

// PresenceChanged pushes a channel's presence frame (at most once a
// second) to its chat: its audience changed outside the chat.
func (h *Hub) PresenceChanged(channel string) {
	h.mu.Lock()
	r := h.rooms[strings.ToLower(channel)]
	h.mu.Unlock()
	if r != nil {
		r.presenceChanged()
	}
}

// Cleanup removes messages older than the retention period and forgets
// old flood strikes.
func (h *Hub) Cleanup(ctx context.Context) error {
	h.mu.Lock()
	for id, ts := range h.strikes {
		if len(ts) == 0 || h.now().Sub(ts[len(ts)-1]) > 10*time.Second {
			delete(h.strikes, id)
		}
	}
	h.mu.Unlock()
	_, err := h.store.DeleteMessagesBefore(ctx, h.now().Add(-h.set.Retention))
	return err
}

func userSubject(id int64) string { return "user." + strconv.FormatInt(id, 10) }

// addUserSession records a signed-in session, subscribing to the user's
// subject for the first one.
func (h *Hub) addUserSession(id int64, s *Session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.users[id]
	if set == nil {
		set = map[*Session]bool{}
		h.users[id] = set
		cancel, err := h.bus.Subscribe(userSubject(id), func(msg []byte) { h.toUser(id, msg) })
		if err != nil {
			h.log.Error("subscribe user subject", "err", err)
		} else {
			h.userSubs[id] = cancel
		}
	}
	set[s] = true
}

func (h *Hub) removeUserSession(id int64, s *Session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.users[id]
	delete(set, s)
	if len(set) == 0 {
		delete(h.users, id)
		if cancel := h.userSubs[id]; cancel != nil {
			delete(h.userSubs, id)
			cancel()
		}
	}
}

func (h *Hub) toUser(id int64, msg []byte) {
	for _, s := range h.signedIn(context.Background(), id) {
		s.enqueue(msg)
	}
}

func (h *Hub) online(ctx context.Context, id int64) bool {
	return len(h.signedIn(ctx, id)) > 0
}

// signedIn returns the local sessions of user id whose sign-in still
// holds: one whose token was revoked since (a logout in another tab) does
// not receive whispers, even if it never acts again.
func (h *Hub) signedIn(ctx context.Context, id int64) []*Session {
	h.mu.Lock()
	all := make([]*Session, 0, len(h.users[id]))
	for s := range h.users[id] {
		all = append(all, s)
	}
	h.mu.Unlock()
	valid := all[:0]
	for _, s := range all {
		if s.signedInAs(ctx, id) {
			valid = append(valid, s)
		}
	}
	return valid
}

// strike records a flood refusal and reports whether the user has earned an
// automatic timeout (3 refusals within 10 s).
func (h *Hub) strike(id int64) bool {
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	kept := h.strikes[id][:0]
	for _, t := range h.strikes[id] {
		if now.Sub(t) < 10*time.Second {
			kept = append(kept, t)
		}
	}
	kept = append(kept, now)
	if len(kept) >= 3 {
		delete(h.strikes, id)
		return true
	}
	h.strikes[id] = kept
	return false
}

func (h *Hub) endSession(s *Session) {
	h.mu.Lock()
	delete(h.sessions, s)
	h.mu.Unlock()
	h.wg.Done()
}

// CanModerate reports whether u may moderate a channel's chat (for showing
// the moderation menu; every action is checked again when it is asked for).
func (h *Hub) CanModerate(ctx context.Context, u *store.User, channel string) bool {
	_, _, err := h.allowed(ctx, u, channel, auth.CanModerate)
	return err == nil
}
