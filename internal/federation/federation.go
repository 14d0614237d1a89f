// Package federation links FedWave instances: admins link two sites, and
// their viewers then watch and chat on each other's channels, whisper
// across, and see each other's channels listed. Each pair of linked
// instances holds one WebSocket for real-time traffic; every request and
// every frame on it is signed with the sender's Ed25519 key (package wire).
// PROTOCOL.md beside this file describes the wire.
package federation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/fedwave/fedwave/internal/audience"
	"github.com/fedwave/fedwave/internal/channels"
	"github.com/fedwave/fedwave/internal/chat"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/federation/wire"
	"github.com/fedwave/fedwave/internal/store"
)

// Peer states (CONTRACT §6).
const (
	PendingOut = "pending_out"
	PendingIn  = "pending_in"
	Linked     = "linked"
	Blocked    = "blocked"
)

// Hub is what federation needs of the chat.
type Hub interface {
	Follow(ctx context.Context, host, channel string, after *int64, fn func(chat.Event)) (stop func(), err error)
	RemoteChatters(host, channel string, handles []string)
	PostRemote(ctx context.Context, from *store.User, channel, text, nonce string) (wait func() (chat.Message, error), err error)
	WhisperIn(ctx context.Context, from *store.User, to, text string) error
	Mirror(host string, ev chat.Event)
	Announce(view channels.View)
}

// Deps is what the service needs.
type Deps struct {
	Store        store.Store
	Key          *wire.Key
	PublicURL    string        // this instance's base URL; its host[:port] names it
	Name         func() string // display name, read when shown (the site's setting); "" or nil: the host
	Version      string
	AllowPrivate bool // --federation-allow-private
	// Local lists this instance's channels, for linked peers.
	Local    func(ctx context.Context) ([]channels.View, error)
	Audience *audience.Registry
	Log      *slog.Logger
	Now      func() time.Time
}

// Service runs this instance's links.
type Service struct {
	store        store.Store
	key          *wire.Key
	self         string
	publicURL    string
	name         func() string
	version      string
	allowPrivate bool
	local        func(ctx context.Context) ([]channels.View, error)
	audience     *audience.Registry
	log          *slog.Logger
	now          func() time.Time
	client       *http.Client
	verify       *wire.Verifier // requests and frames of known peers
	verifyNew    *wire.Verifier // link requests, checked with the key the sender publishes
	newKeys      sync.Map       // host -> key fetched for a link request being checked

	hub Hub

	mu      sync.Mutex
	peers   map[string]*peer // runtime state of known peers, by domain
	ctx     context.Context  // lives until Close
	stop    context.CancelFunc
	wg      sync.WaitGroup
	closed  bool
	listing chan struct{} // our channels changed: tell the peers
}

// New builds the service; Attach the chat hub before Run.
func New(d Deps) (*Service, error) {
	// The host that names us, spelt as peers spell it (lower case, no
	// default port): signatures cover it.
	_, self, err := wire.CheckPeerURL(strings.TrimSuffix(d.PublicURL, "/"), true)
	if err != nil {
		return nil, fmt.Errorf("federation needs the public URL of this site, got %q: %w", d.PublicURL, err)
	}
	s := &Service{
		store: d.Store, key: d.Key, self: self, publicURL: strings.TrimSuffix(d.PublicURL, "/"),
		name: d.Name, version: d.Version, allowPrivate: d.AllowPrivate, local: d.Local, audience: d.Audience,
		log: d.Log, now: d.Now, client: wire.NewClient(d.AllowPrivate),
		peers: map[string]*peer{}, listing: make(chan struct{}, 1),
	}
	if s.name == nil {
		s.name = func() string { return "" }
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.audience == nil {
		s.audience = audience.New(nil)
	}
	s.verify = wire.NewVerifier(s.self, s.peerKey, s.now)
	s.verifyNew = wire.NewVerifier(s.self, s.fetchedKey, s.now)
	s.ctx, s.stop = context.WithCancel(context.Background())
	return s, nil
}

// Attach gives the service the chat hub (which needs the service too).
func (s *Service) Attach(h Hub) { s.hub = h }

// Self is this instance's host.
func (s *Service) Self() string { return s.self }

// displayName is the name other sites show for this one: the site's
// name setting, else its host.
func (s *Service) displayName() string {
	if n := s.name(); n != "" {
		return n
	}
	return s.self
}

// Run keeps the links up until ctx ends or Close.
func (s *Service) Run(ctx context.Context) {
	peers, err := s.store.Peers(ctx)
	if err != nil && ctx.Err() == nil {
		s.log.Error("federation: load peers", "err", err)
	}
	for i := range peers {
		s.ensure(&peers[i])
	}
	s.spawn(s.announceLoop)
	select {
	case <-ctx.Done():
	case <-s.ctx.Done():
	}
}

// spawn runs f in a goroutine that Close waits for, unless the service
// is closing.
func (s *Service) spawn(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spawnLocked(f)
}

// spawnLocked is spawn with s.mu held: Close sets closed under it before
// waiting, so no goroutine is added while it waits.
func (s *Service) spawnLocked(f func()) {
	if s.closed {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// Close ends every link and waits for its goroutines.
func (s *Service) Close() {
	s.mu.Lock()
	s.closed = true
	for _, p := range s.peers {
		p.shutdown()
	}
	s.mu.Unlock()
	s.stop()
	s.wg.Wait()
}

// View is a peer as the API shows it (CONTRACT §6).
type View struct {
	Domain    string    `json:"domain"`
	URL       string    `json:"url"`
	Name      string    `json:"name"`
	State     string    `json:"state"`
	Incoming  bool      `json:"incoming"`
	Outgoing  bool      `json:"outgoing"`
	Connected bool      `json:"connected"`
	LastError string    `json:"lastError"`
	Since     time.Time `json:"since"`
	RTTMs     float64   `json:"rttMs"`
}

func (s *Service) view(sp *store.Peer) View {
	v := View{Domain: sp.Domain, URL: sp.URL, Name: sp.Name, State: sp.State, Incoming: sp.Incoming, Outgoing: sp.Outgoing, Since: sp.Since}
	if p := s.runtime(sp.Domain); p != nil {
		v.Connected, v.LastError, v.RTTMs = p.status()
	}
	return v
}

// Peers lists every known peer.
func (s *Service) Peers(ctx context.Context) ([]View, error) {
	ps, err := s.store.Peers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]View, 0, len(ps))
	for i := range ps {
		out = append(out, s.view(&ps[i]))
	}
	return out, nil
}

var (
	errNotLinked   = fail.New(fail.Unavailable, "federation_not_linked", "this site is not linked with that one")
	errRefused     = fail.New(fail.Forbidden, "federation_refused", "the link with that site does not allow this")
	errUnreachable = fail.New(fail.Unavailable, "peer_unreachable", "that site cannot be reached right now; try again later")
	errNoPeer      = fail.New(fail.NotFound, "peer_not_found", "no such linked site")
)

// linkedPeer returns a peer that is linked, or the error that says why not.
func (s *Service) linkedPeer(ctx context.Context, host string) (*store.Peer, error) {
	sp, err := s.store.Peer(ctx, host)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNotLinked
	}
	if err != nil {
		return nil, err
	}
	switch sp.State {
	case Linked:
		return sp, nil
	case Blocked:
		return nil, errRefused
	}
	return nil, errNotLinked
}

// canSend checks that something of ours may go to host: linked, our
// outgoing switch on and, as far as we know, their incoming one.
func (s *Service) canSend(ctx context.Context, host string) (*store.Peer, *peer, error) {
	sp, err := s.linkedPeer(ctx, host)
	if err != nil {
		return nil, nil, err
	}
	p := s.runtime(host)
	if !sp.Outgoing || p == nil || !p.theirIncoming() {
		return nil, nil, errRefused
	}
	return sp, p, nil
}

// canAccept checks that something of host's may be accepted here: linked,
// our incoming switch on and, as far as we know, their outgoing one.
func (s *Service) canAccept(ctx context.Context, host string) (*store.Peer, *peer, error) {
	sp, err := s.linkedPeer(ctx, host)
	if err != nil {
		return nil, nil, err
	}
	p := s.runtime(host)
	if !sp.Incoming || p == nil || !p.theirOutgoing() {
		return nil, nil, errRefused
	}
	return sp, p, nil
}
