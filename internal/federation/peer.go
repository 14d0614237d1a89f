package federation

import (
	"context"
	"sync"
	"time"

	"github.com/fedwave/fedwave/internal/store"
)

// peer is the runtime state of a known instance: its connection, what it
// told us (switches, channels) and what we wait for from it.
type peer struct {
	s      *Service
	domain string
	ctx    context.Context
	cancel context.CancelFunc

	outboxMu sync.Mutex // orders adding to the outbox

	mu       sync.Mutex
	conn     *conn
	lastErr  string
	rtt      time.Duration
	theirIn  bool // their switches as they last told us
	theirOut bool
	listing  []remoteChannel
	follows  map[string]bool      // their rooms our chat mirrors
	chatters map[string][]string  // who is signed in here to those rooms, as last told
	reported map[string]int       // people here on their channels, as last told
	counted  map[string]bool      // our channels they reported people on
	waiters  map[int64]chan reply // requests waiting for their reply
	nextRef  int64                // for requests that are not in the outbox (negative)
	running  bool                 // the link loop runs
}

type reply struct {
	ID      int64  `json:"id,omitempty"`
	Offset  int64  `json:"offset,omitempty"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

func (s *Service) runtime(domain string) *peer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peers[domain]
}

// ensure makes the runtime peer of a stored one, and starts its link loop
// when there is a link to keep (linked, or asked by us).
func (s *Service) ensure(sp *store.Peer) *peer {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.peers[sp.Domain]
	if p == nil {
		p = &peer{s: s, domain: sp.Domain, theirIn: true, theirOut: true,
			follows: map[string]bool{}, chatters: map[string][]string{}, reported: map[string]int{}, counted: map[string]bool{}, waiters: map[int64]chan reply{}}
		p.ctx, p.cancel = context.WithCancel(s.ctx)
		s.peers[sp.Domain] = p
	}
	if s.closed || (sp.State != Linked && sp.State != PendingOut) || s.self >= sp.Domain {
		return p // the instance whose host sorts first dials: one connection per pair
	}
	p.mu.Lock()
	start := !p.running
	p.running = true
	p.mu.Unlock()
	if start {
		s.spawnLocked(p.run)
	}
	return p
}

// forget drops a peer's runtime state: its connection ends, its channels
// leave our lists, the people it counted leave our audiences.
func (s *Service) forget(domain string) {
	s.mu.Lock()
	p := s.peers[domain]
	delete(s.peers, domain)
	s.mu.Unlock()
	if p != nil {
		p.shutdown()
		p.clearListing()
		p.clearCounts()
	}
}

func (p *peer) shutdown() {
	p.cancel()
	p.mu.Lock()
	c := p.conn
	p.mu.Unlock()
	if c != nil {
		c.close("unlinked")
	}
}

func (p *peer) status() (connected bool, lastErr string, rttMs float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn != nil {
		rttMs = float64(p.rtt.Microseconds()) / 1000
	}
	return p.conn != nil, p.lastErr, rttMs
}

func (p *peer) setError(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil {
		p.lastErr = ""
	} else {
		p.lastErr = err.Error()
	}
}

func (p *peer) current() *conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conn
}

func (p *peer) theirIncoming() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.theirIn
}

func (p *peer) theirOutgoing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.theirOut
}

// await registers a waiter for the reply to ref.
func (p *peer) await(ref int64) chan reply {
	ch := make(chan reply, 1)
	p.mu.Lock()
	p.waiters[ref] = ch
	p.mu.Unlock()
	return ch
}

func (p *peer) unwait(ref int64) {
	p.mu.Lock()
	delete(p.waiters, ref)
	p.mu.Unlock()
}

func (p *peer) resolve(ref int64, r reply) {
	p.mu.Lock()
	ch := p.waiters[ref]
	delete(p.waiters, ref)
	p.mu.Unlock()
	if ch != nil {
		ch <- r
	}
}

func (p *peer) newRef() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nextRef--
	return p.nextRef
}

// backoff between connection attempts: 0.5 s doubling to 10 s.
func backoff(attempt int) time.Duration {
	d := 500 * time.Millisecond << min(attempt, 5)
	return min(d, 10*time.Second)
}

// run keeps dialling the peer while the link lasts, with backoff; a dial
// that connected returns when the connection ends.
func (p *peer) run() {
	defer func() {
		p.mu.Lock()
		p.running = false
		p.mu.Unlock()
	}()
	for attempt := 0; ; {
		if err := p.dial(); err != nil {
			p.setError(err)
			attempt++
		} else {
			attempt = 0
		}
		select {
		case <-p.ctx.Done():
			return
		case <-time.After(backoff(attempt)):
		}
	}
}
