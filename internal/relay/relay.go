// Package relay is the `fedwave relay` process: it joins an origin's
// stream chain over a control link, pulls each of the origin's channels
// from the parent the origin assigns (the origin or another relay) while
// it has viewers of it, and serves WHEP to the viewers and child relays
// the origin placed here. Package relays is the origin's side.
package relay

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/fedwave/fedwave/internal/audience"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/media"
	"github.com/fedwave/fedwave/internal/relays"
	"github.com/fedwave/fedwave/internal/web"
)

// Config is what `fedwave relay` is told.
type Config struct {
	Origin        string // the origin's base URL
	Token         string // the relay token the origin's admin made
	HTTPAddr      string // where WHEP is served
	PublicURL     string // how viewers reach it (default: from HTTPAddr)
	MediaPort     int
	MediaLoopback bool
	Capacity      int // viewers (and child relays) it takes
	Log           *slog.Logger
	// Listening, if set, is told the HTTP address once bound (tests).
	Listening func(addr string)
}

// stall is how long a pull may bring no packet before it is made again
// (its parent died): the budget of the relink.
const stall = 700 * time.Millisecond

// Relay is a running relay.
type Relay struct {
	cfg    Config
	origin *url.URL
	key    string // its ticket key, from its token
	media  *media.Service
	up     *upstream
	used   *nonces

	mu        sync.Mutex
	connected bool
}

// Run runs a relay until ctx ends, or the origin revokes it (an error
// saying so).
func Run(ctx context.Context, cfg Config) error {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	origin, err := url.Parse(strings.TrimRight(cfg.Origin, "/"))
	if err != nil || (origin.Scheme != "http" && origin.Scheme != "https") || origin.Host == "" {
		return fmt.Errorf("--origin must be the origin's http(s) URL")
	}
	if !relays.IsToken(cfg.Token) {
		return fmt.Errorf("--token must be a relay token (rl_…) made on the origin")
	}
	if cfg.Capacity <= 0 {
		cfg.Capacity = 100
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return err
	}
	defer ln.Close()
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://" + ln.Addr().String()
	}
	engine, err := media.NewEngine(media.EngineConfig{Port: cfg.MediaPort, Loopback: cfg.MediaLoopback, Log: cfg.Log})
	if err != nil {
		return err
	}
	defer engine.Close()
	r := &Relay{cfg: cfg, origin: origin, key: relays.TicketKey(cfg.Token), used: newNonces()}
	r.up = &upstream{origin: origin.String(), token: cfg.Token, client: &http.Client{Timeout: 20 * time.Second}}
	r.media = media.New(engine, cfg.Log, nil, nil, media.Federation{Peers: r.up, Origin: origin.Host, Stall: stall})
	defer r.media.Close()

	srv := &http.Server{Handler: web.NewRelay(web.RelayDeps{Media: r.media, Admit: r.admit, Healthy: r.isConnected, MediaRate: 600, Log: cfg.Log}),
		ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if cfg.Listening != nil {
		cfg.Listening(ln.Addr().String())
	}
	cfg.Log.Info("relay serving", "url", cfg.PublicURL, "origin", origin.String(), "capacity", cfg.Capacity)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	linked := make(chan error, 1)
	go func() { linked <- r.link(ctx) }()
	select {
	case err = <-linked:
	case err = <-served:
	case <-ctx.Done():
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	srv.Shutdown(sctx)
	return err
}

func (r *Relay) isConnected() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.connected
}

func (r *Relay) setConnected(c bool) {
	r.mu.Lock()
	r.connected = c
	r.mu.Unlock()
}

var errNotPlaced = fail.New(fail.Forbidden, "not_placed", "this relay serves only viewers the origin sent here; ask the origin for the stream")

// admit checks that the origin placed the requester here: a viewer's
// ticket for this channel, used once, or a child relay's ticket.
func (r *Relay) admit(req *http.Request, channel string) (string, error) {
	t, err := relays.Verify(r.key, req.URL.Query().Get("ticket"), time.Now())
	if err != nil {
		return "", errNotPlaced
	}
	switch t.Kind {
	case "relay":
		return audience.RelayKey(t.Child), nil
	case "viewer":
		if !strings.EqualFold(t.Channel, channel) || !r.used.use(t.Nonce, time.Unix(t.Expires, 0)) {
			return "", errNotPlaced
		}
		return "", nil
	}
	return "", errNotPlaced
}

// upstream sends a relay's requests to its current parent: to the origin
// with the relay's token, to a parent relay with the ticket the origin
// gave for it (the token never leaves for another relay).
type upstream struct {
	origin string
	token  string
	client *http.Client

	mu     sync.Mutex
	parent relays.Parent
}

// set changes the parent; it reports whether it changed.
func (u *upstream) set(p relays.Parent) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	changed := p.URL != u.parent.URL || p.Name != u.parent.Name
	u.parent = p
	return changed
}

var errNoParent = fail.New(fail.Unavailable, "no_parent", "this relay has no parent to pull from yet")

// Do implements media.Peers.
func (u *upstream) Do(ctx context.Context, _, method, path, contentType string, body []byte) (*http.Response, error) {
	u.mu.Lock()
	p := u.parent
	u.mu.Unlock()
	if p.URL == "" {
		return nil, errNoParent
	}
	target, err := url.Parse(p.URL + path)
	if err != nil {
		return nil, err
	}
	if p.Name != "" && method == http.MethodPost {
		q := target.Query()
		q.Set("ticket", p.Ticket)
		target.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, target.String(), strings.NewReader(string(body)))
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if p.Name == "" {
		req.Header.Set("Authorization", "Bearer "+u.token)
	}
	res, err := u.client.Do(req)
	if err != nil {
		return nil, fail.New(fail.BadGateway, "peer_unreachable", "the parent %s cannot be reached", p.URL)
	}
	return res, nil
}

// nonces remembers the viewer tickets used, until they expire.
type nonces struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func newNonces() *nonces { return &nonces{seen: map[string]time.Time{}} }

// use reports whether a nonce is new, and remembers it.
func (n *nonces) use(nonce string, expires time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := time.Now()
	if len(n.seen) > 1000 {
		for k, e := range n.seen {
			if now.After(e) {
				delete(n.seen, k)
			}
		}
	}
	if _, ok := n.seen[nonce]; ok || nonce == "" {
		return false
	}
	n.seen[nonce] = expires
	return true
}
