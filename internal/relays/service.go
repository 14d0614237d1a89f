// Package relays is the origin's side of the stream chain (CONTRACT §5a):
// the relays an admin allowed, their control links, where each pulls
// from, where a viewer the origin cannot serve goes, and the tree of a
// channel. Package relay is the other side, the `fedwave relay` process;
// package chain decides the placements.
package relays

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fedwave/fedwave/internal/audience"
	"github.com/fedwave/fedwave/internal/chain"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/store"
)

// Media is what the origin's media service tells the chain.
type Media interface {
	People() int // persons served here, all channels
}

// Config builds the service.
type Config struct {
	Store      store.Relays
	Media      Media
	Audience   *audience.Registry // relays' people are counted in their channels
	PublicURL  string
	MaxViewers int // persons the origin serves itself; 0: no limit
	// OriginRelays is how many relays the origin feeds itself (0: the
	// chain's default).
	OriginRelays int
	Log          *slog.Logger
}

// expire is how long the origin places on a relay it has not heard from.
const expire = 2 * time.Second

// Service keeps the relays of this origin.
type Service struct {
	cfg  Config
	tree *chain.Tree
	// inflight counts viewers admitted here whose session is being set
	// up: with Media.People they make the origin's count, so that a burst
	// does not overshoot MaxViewers.
	inflight atomic.Int64

	mu    sync.Mutex
	links map[string]*link // connected relays, by lower-case name
}

// New makes the service; Run keeps the tree.
func New(cfg Config) *Service {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	// A relay is dropped from the tree (its children moved) after expire
	// without a heartbeat (CONTRACT §5a: 2 s). A dead relay's link closes
	// at once, so this is for frozen ones; shorter, relays flapped under
	// load (late heartbeats), each flap moving their whole subtree.
	tree := chain.New(chain.Config{MaxViewers: cfg.MaxViewers, OriginRelays: cfg.OriginRelays, Expire: expire})
	return &Service{cfg: cfg, tree: tree, links: map[string]*link{}}
}

// Run expires silent relays and tells the relays whose parent changed,
// until ctx ends.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(Heartbeat / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.tree.Tick(now)
			s.reassign(now)
		}
	}
}

// View is a relay as the API shows it.
type View struct {
	Name      string `json:"name"`
	URL       string `json:"url"`
	State     string `json:"state"` // connected, disconnected, revoked
	Connected bool   `json:"connected"`
	Viewers   int    `json:"viewers"`
	Capacity  int    `json:"capacity"`
	Uptime    int64  `json:"uptime"` // seconds connected, 0 when not
	Parent    string `json:"parent,omitempty"`
}

var relayName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// Create allows a new relay and returns it with its token, which is not
// kept (only hashes of it are).
func (s *Service) Create(ctx context.Context, name string) (View, string, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if !relayName.MatchString(name) {
		return View{}, "", fail.New(fail.Invalid, "invalid_name", "a relay's name is 1 to 32 lower-case letters, digits and dashes")
	}
	token, hash, key := NewToken()
	err := s.cfg.Store.CreateRelay(ctx, &store.Relay{Name: name, TokenHash: hash, TicketKey: key})
	if errors.Is(err, store.ErrConflict) {
		return View{}, "", fail.New(fail.Conflict, "relay_exists", "there is already a relay named %s", name)
	}
	if err != nil {
		return View{}, "", err
	}
	s.cfg.Log.Info("relay created", "relay", name)
	return View{Name: name, State: "disconnected"}, token, nil
}

// List returns every relay, revoked ones included.
func (s *Service) List(ctx context.Context) ([]View, error) {
	rows, err := s.cfg.Store.Relays(ctx)
	if err != nil {
		return nil, err
	}
	nodes := map[string]chain.Node{}
	for _, n := range s.tree.Relays() {
		nodes[n.Name] = n
	}
	out := make([]View, 0, len(rows))
	for _, r := range rows {
		v := View{Name: r.Name, State: "disconnected"}
		if !r.RevokedAt.IsZero() {
			v.State = "revoked"
		} else if l := s.link(r.Name); l != nil {
			v.State, v.Connected, v.URL, v.Capacity = "connected", true, l.url, l.capacity
			v.Uptime = int64(time.Since(l.since) / time.Second)
			v.Viewers = l.people()
			v.Parent = nodes[r.Name].Parent
		}
		out = append(out, v)
	}
	return out, nil
}

// Revoke takes a relay's token away; a connected relay is told and
// dropped at once.
func (s *Service) Revoke(ctx context.Context, name string) error {
	name = strings.ToLower(name)
	err := s.cfg.Store.RevokeRelay(ctx, name, time.Now())
	if errors.Is(err, store.ErrNotFound) {
		return fail.New(fail.NotFound, "not_found", "no relay named %s", name)
	}
	if err != nil {
		return err
	}
	s.tree.Forget(name)
	if l := s.link(name); l != nil {
		l.revoke("the origin revoked this relay's token")
	}
	s.cfg.Log.Info("relay revoked", "relay", name)
	return nil
}

var errToken = fail.New(fail.Unauthorized, "invalid_relay_token", "the relay token is not valid")

// relay finds the relay of a token; a revoked one is refused.
func (s *Service) relay(ctx context.Context, token string) (*store.Relay, error) {
	if !IsToken(token) {
		return nil, errToken
	}
	r, err := s.cfg.Store.RelayByToken(ctx, HashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errToken
	}
	if err != nil {
		return nil, err
	}
	if !r.RevokedAt.IsZero() {
		return nil, fail.New(fail.Unauthorized, "relay_revoked", "this relay's token was revoked by the origin's admin")
	}
	return r, nil
}

// Admit checks the bearer of a relay pulling a stream from the origin and
// returns its audience key: a relay is not a person and not counted
// against MaxViewers.
func (s *Service) Admit(ctx context.Context, token string) (string, error) {
	r, err := s.relay(ctx, token)
	if err != nil {
		return "", err
	}
	return audience.RelayKey(r.Name), nil
}

// Place decides where a person who asks the origin for a channel's
// stream is served. location "" means here: release must be called once
// the session is set up or failed. Otherwise location is the relay's
// WHEP URL with the viewer's ticket. avoid names a relay (by name or
// host) the viewer just lost. A full chain is fail.Unavailable.
func (s *Service) Place(channel, quality, avoid string) (location string, release func(), err error) {
	here := s.cfg.Media.People() + int(s.inflight.Load())
	avoided := s.avoided(avoid)
	name, ok := s.tree.Place(here, avoided, time.Now())
	if !ok && avoided != "" {
		// The relay the viewer lost is the only one with room: it is
		// back (a hiccup) or about to be dropped (then the viewer stalls
		// and asks again); either beats refusing the viewer.
		name, ok = s.tree.Place(here, "", time.Now())
	}
	if !ok {
		return "", nil, fail.New(fail.Unavailable, "origin_full", "this stream has as many viewers as it can serve now; try again shortly")
	}
	if name == "" {
		s.inflight.Add(1)
		var once sync.Once
		return "", func() { once.Do(func() { s.inflight.Add(-1) }) }, nil
	}
	l := s.link(name)
	if l == nil { // it left between the two looks
		return "", nil, fail.New(fail.Unavailable, "origin_full", "no relay can take this viewer now; try again shortly")
	}
	q := url.Values{}
	if quality != "" {
		q.Set("quality", quality)
	}
	q.Set("ticket", Ticket{Kind: "viewer", Relay: l.name, Channel: channel, Expires: time.Now().Add(viewerTicketFor).Unix()}.Sign(l.key))
	return l.url + "/whep/" + url.PathEscape(channel) + "?" + q.Encode(), nil, nil
}

// avoided maps what a viewer says it lost (a relay's name or the host of
// its URL) to the relay's name.
func (s *Service) avoided(avoid string) string {
	if avoid == "" {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, l := range s.links {
		if strings.EqualFold(avoid, name) || strings.EqualFold(avoid, hostOf(l.url)) {
			return name
		}
	}
	return ""
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

func (s *Service) link(name string) *link {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.links[strings.ToLower(name)]
}
