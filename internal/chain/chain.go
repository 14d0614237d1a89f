// Package chain places relays and viewers in the stream chain: a tree rooted at
// the origin whose interior nodes are relays, one tree for the whole origin (a
// relay's parent is the same for every channel). It decides from what the
// origin measures (throughput, loss, round trip, uptime, failures) where a
// relay sits and where a new viewer goes once the origin serves its
// --max-viewers; it does no I/O and takes the time as an argument, so the
// simulator runs the very same code in simulated time.
//
// Invariants, whatever the order of calls: the parent links form a tree (a
// relay never feeds its own ancestor); a relay's load (direct viewers, child
// relays, reserved placements) stays within its capacity; the origin feeds at
// most Config.OriginRelays relays. Stability: rebalancing happens at most once
// per Config.Rebalance, all of its moves in one Tick, so without a failure
// upstream no relay (and so no viewer's path) changes more often than that.
//
// Use: the origin calls Join when a relay's control channel opens, Heard at
// each heartbeat, Leave when it closes, Forget when its token is revoked,
// Place for each viewer's WHEP post, and Tick every heartbeat interval,
// sending each relay Tick returns its new Parent (ok false: stop pulling).
//
// Browser nodes. Viewers who turned on "help carry this stream" (carriers)
// are nodes of the same tree, below the server nodes (the origin and server
// relays), one subtree per stream. The relays' tree never sees them: a
// browser never feeds a server relay, and a carrier's children are viewers
// (which may carry in turn). Rules, on top of the tree's invariants (no
// cycles: a carrier never goes below its own descendants):
//   - a carrier takes children only once steady: carrying for
//     Config.BrowserSteady with, all that time, its download at least
//     BrowserRate of the stream's bitrate and its smoothed loss at most
//     BrowserLoss (HeardBrowser's measures), and heard within BrowserExpire;
//   - at most BrowserChildren children each, whatever it offers;
//   - at most BrowserDepth browser hops in a row below a server node;
//   - the tree knows which viewers each carrier feeds, and hands them back
//     at once when it leaves (LeaveBrowser), turns the switch off
//     (StopCarrying) or stalls (ExpireBrowsers); carriers among them keep
//     their own subtrees, which move as a whole.
//
// Use: JoinBrowser when a viewer turns the switch on, HeardBrowser at each of
// its heartbeats, PlaceChild for a viewer of that stream (ok false: it goes
// to a server, through Place), LeaveBrowser when a browser node's control
// channel closes, StopCarrying on the switch off, and ExpireBrowsers every
// heartbeat interval; each returns the orphans to place again.
package chain

import (
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults for the zero fields of Config.
const (
	DefaultOriginRelays = 4
	DefaultExpire       = 750 * time.Millisecond
	MaxExpire           = 2 * time.Second // the contract: no placement on a relay silent for 2 s
	DefaultReserve      = 5 * time.Second
	DefaultRebalance    = time.Minute
	// failureMemory is how long a failure counts against a relay's score.
	failureMemory = time.Hour
	// uptimeHalf is the uptime at which a relay's uptime factor reaches one
	// half: new relays start low and earn promotion over tens of minutes.
	uptimeHalf = 5 * time.Minute
)

// Config sets the tree's budget and timings.
type Config struct {
	MaxViewers   int           // viewers the origin serves itself; 0 = no limit (relays unused for viewers)
	OriginRelays int           // relays the origin feeds itself (its upload copies for relays); <=0: DefaultOriginRelays
	Expire       time.Duration // a relay not heard from this long gets no viewers or children; <=0: DefaultExpire; at most MaxExpire
	Reserve      time.Duration // how long a placement holds a slot until the relay's heartbeats count the viewer; <=0: DefaultReserve
	Rebalance    time.Duration // at most one rebalance per this period (the hysteresis); <=0: DefaultRebalance

	// Browser nodes (carriers); each zero field takes its Default.
	BrowserSteady   time.Duration // a carrier takes children once carrying and measured good this long
	BrowserChildren int           // children per carrier at most, whatever it offers
	BrowserDepth    int           // browser hops in a row below a server node at most
	BrowserRate     float64       // a carrier's download must reach this share of the stream's bitrate
	BrowserLoss     float64       // a carrier's smoothed loss must stay at or below this (0..1)
	BrowserExpire   time.Duration // a carrier not heard from this long is dropped; at most MaxExpire
}

// Measure is what the origin measured of a relay at a heartbeat (never what
// the relay claims about itself, except Loss which it relays from its
// viewers' RTCP receiver reports, and which therefore weighs at most half of
// the score).
type Measure struct {
	RTT        time.Duration // heartbeat round trip
	Loss       float64       // 0..1, toward its viewers
	Throughput float64       // bits/s it sent, sustained
}

// Node is a snapshot of one relay.
type Node struct {
	Name, Parent   string    // Parent "" = the origin (or no parent when Depth is 0)
	Depth          int       // 1 = fed by the origin; 0 = not in the tree (disconnected or waiting for a slot)
	Capacity, Load int       // Load: its viewers + child relays + reserved placements
	Viewers        int       // direct viewers, as its last heartbeat said
	Children       int       // child relays
	Connected      bool      // joined and not expired
	Since          time.Time // connected since (uptime)
	Failures       int       // disconnects without a goodbye within the last hour
	Score          float64   // 0..1; higher sits higher and takes more children
}

// Tree is the chain of one origin. It is safe for concurrent use.
type Tree struct {
	cfg Config

	mu      sync.Mutex
	relays  map[string]*entry
	order   []*entry // by name, so that ties break the same way every run
	fed     int      // relays the origin feeds
	best    float64  // best score among connected relays, for relative quotas
	bestTP  float64  // best throughput, to weigh throughput relatively
	pending map[string]bool
	lastBal time.Time

	browsers map[string]*bnode          // carriers and the viewers they feed, by viewer id
	open     map[string]map[*bnode]bool // carriers with a free child slot, by stream
}

type entry struct {
	name      string
	parent    string // "" = the origin, when attached
	attached  bool
	depth     int
	children  int
	capacity  int
	viewers   int
	res       []time.Time // reservation expiry times, oldest first
	connected bool
	left      bool // Leave was called: only Join brings it back, not a late heartbeat
	since     time.Time
	heard     time.Time
	moved     time.Time // last parent change (or join)
	fails     []time.Time
	measured  bool
	rtt       float64 // seconds, smoothed
	loss      float64 // smoothed
	tput      float64 // bits/s, smoothed
	score     float64
}

// New returns an empty tree.
func New(cfg Config) *Tree {
	if cfg.OriginRelays <= 0 {
		cfg.OriginRelays = DefaultOriginRelays
	}
	if cfg.Expire <= 0 {
		cfg.Expire = DefaultExpire
	}
	cfg.Expire = min(cfg.Expire, MaxExpire)
	if cfg.Reserve <= 0 {
		cfg.Reserve = DefaultReserve
	}
	if cfg.Rebalance <= 0 {
		cfg.Rebalance = DefaultRebalance
	}
	if cfg.MaxViewers < 0 {
		cfg.MaxViewers = 0
	}
	cfg.browserDefaults()
	return &Tree{cfg: cfg, relays: map[string]*entry{}, pending: map[string]bool{}, browsers: map[string]*bnode{}, open: map[string]map[*bnode]bool{}}
}

// Config returns the configuration with its defaults filled in.
func (t *Tree) Config() Config { return t.cfg }

// Join records that a relay (re)connected with room for capacity viewers and
// child relays, and gives it a parent at once (read it with Parent). A relay
// that is already connected keeps its place and takes the new capacity.
func (t *Tree) Join(name string, capacity int, now time.Time) {
	if name == "" {
		return
	}
	capacity = max(capacity, 0)
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.relays[name]
	if r == nil {
		r = &entry{name: name}
		t.relays[name] = r
		i, _ := slices.BinarySearchFunc(t.order, name, func(a *entry, n string) int { return strings.Compare(a.name, n) })
		t.order = slices.Insert(t.order, i, r)
	}
	r.capacity = capacity
	r.heard = now
	r.left = false
	if r.connected {
		return
	}
	r.connected = true
	r.since, r.moved = now, now
	r.viewers, r.res = 0, nil
	r.score = t.scoreOf(r, now)
	t.attach(r, now)
}

// Leave records that a relay disconnected; failed means without a clean
// goodbye, which counts against its score. Its child relays get new parents
// here (never one of their own descendants); Tick reports them as moved.
func (t *Tree) Leave(name string, failed bool, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r := t.relays[name]; r != nil {
		t.leave(r, failed, now)
		r.left = true
	}
}

// Forget drops a relay for good (its token was revoked or deleted); its child
// relays get new parents as in Leave.
func (t *Tree) Forget(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.relays[name]
	if r == nil {
		return
	}
	t.leave(r, false, r.heard)
	delete(t.relays, name)
	delete(t.pending, name)
	t.order = slices.DeleteFunc(t.order, func(x *entry) bool { return x == r })
}

// Heard records a heartbeat: the relay's direct viewer count and what the
// origin measured of it. A heartbeat from a relay that Tick expired brings it
// back (it had a network hiccup longer than Expire), placed as a new relay;
// after Leave only Join does (a late heartbeat does not revive it).
func (t *Tree) Heard(name string, viewers int, m Measure, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.relays[name]
	if r == nil || r.left {
		return
	}
	if !r.connected {
		r.connected = true
		r.since, r.moved = now, now
		r.viewers, r.res = 0, nil
		t.attach(r, now)
	}
	r.heard = now
	viewers = max(viewers, 0)
	// Viewers that arrived since the last heartbeat are (most likely) the
	// ones placed here: their reservations are now counted by viewers.
	if d := viewers - r.viewers; d > 0 {
		r.res = r.res[min(d, len(r.res)):]
	}
	r.viewers = viewers
	t.measure(r, m)
}

// measure folds a heartbeat's measures into the relay's smoothed ones.
func (t *Tree) measure(r *entry, m Measure) {
	const a = 0.2
	rtt := max(m.RTT.Seconds(), 0)
	loss := m.Loss
	if math.IsNaN(loss) || loss < 0 {
		loss = 0
	}
	loss = min(loss, 1)
	tp := m.Throughput
	if math.IsNaN(tp) || math.IsInf(tp, 0) || tp < 0 {
		tp = 0
	}
	if !r.measured {
		r.rtt, r.loss, r.tput, r.measured = rtt, loss, tp, true
		return
	}
	r.rtt += a * (rtt - r.rtt)
	r.loss += a * (loss - r.loss)
	r.tput += a * (tp - r.tput)
}

// Tick expires relays not heard from for Expire (their children get new
// parents), gives a parent to relays that were waiting for a slot, and
// rebalances at most once per Config.Rebalance. It returns the relays whose
// parent changed (or who lost theirs) since the previous Tick, including
// through Join, Leave and Forget, sorted by name.
func (t *Tree) Tick(now time.Time) (moved []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range t.order {
		r.prune(now)
		if r.connected && now.Sub(r.heard) > t.cfg.Expire {
			t.leave(r, true, now)
		}
	}
	t.scores(now)
	for _, r := range t.byScore(func(r *entry) bool { return r.connected && !r.attached }) {
		t.attach(r, now)
	}
	t.depths()
	t.rebalance(now)
	for name := range t.pending {
		moved = append(moved, name)
	}
	clear(t.pending)
	slices.Sort(moved)
	return moved
}

// Parent returns the relay's parent: "" for the origin. ok is false if the
// relay is unknown, not connected, or waiting for a slot (it should not pull).
func (t *Tree) Parent(name string) (parent string, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.relays[name]
	if r == nil || !r.connected || !r.attached {
		return "", false
	}
	return r.parent, true
}

// Place says where a new viewer goes: "" (ok) when the origin serves it
// (originViewers < MaxViewers, or no limit); else the relay with room that
// sits highest, the one with the most spare room (weighed by score) among
// equals; ok is false when everything is full (the origin answers 503).
// avoid names a relay the viewer just lost. A placement reserves a slot on
// the relay until its heartbeats count the viewer (or Config.Reserve
// passes), so a burst of viewers is spread instead of all sent to one relay.
func (t *Tree) Place(originViewers int, avoid string, now time.Time) (relay string, ok bool) {
	if t.cfg.MaxViewers == 0 || originViewers < t.cfg.MaxViewers {
		return "", true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var best *entry
	var bestW float64
	for _, r := range t.order {
		if r.depth == 0 || (best != nil && r.depth > best.depth) || r.name == avoid || !t.fresh(r, now) {
			continue
		}
		r.prune(now)
		spare := r.capacity - r.viewers - len(r.res) - max(t.quota(r), r.children)
		if spare <= 0 {
			continue
		}
		w := float64(spare) * (0.5 + t.rel(r))
		if best == nil || r.depth < best.depth || (r.depth == best.depth && w > bestW) {
			best, bestW = r, w
		}
	}
	if best == nil {
		return "", false
	}
	best.res = append(best.res, now.Add(t.cfg.Reserve))
	return best.name, true
}

// Relays returns a snapshot of every known relay, shallowest first.
func (t *Tree) Relays() []Node {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Node, 0, len(t.order))
	for _, r := range t.order {
		n := Node{
			Name: r.name, Depth: r.depth, Capacity: r.capacity, Viewers: r.viewers, Children: r.children,
			Load: r.load(), Connected: r.connected, Since: r.since, Failures: len(r.fails), Score: r.score,
		}
		if r.attached {
			n.Parent = r.parent
		}
		out = append(out, n)
	}
	slices.SortStableFunc(out, func(a, b Node) int {
		da, db := a.Depth, b.Depth
		if da == 0 {
			da = math.MaxInt
		}
		if db == 0 {
			db = math.MaxInt
		}
		return da - db
	})
	return out
}

func (r *entry) load() int { return r.viewers + r.children + len(r.res) }

// prune drops expired reservations.
func (r *entry) prune(now time.Time) {
	i := 0
	for i < len(r.res) && !now.Before(r.res[i]) {
		i++
	}
	r.res = r.res[i:]
}

// fresh reports whether the relay may take viewers or children.
func (t *Tree) fresh(r *entry, now time.Time) bool {
	return r.connected && now.Sub(r.heard) <= t.cfg.Expire
}

// leave takes a relay out of the tree and re-parents its children.
func (t *Tree) leave(r *entry, failed bool, now time.Time) {
	if !r.connected {
		return
	}
	r.connected = false
	if failed {
		r.fails = append(r.fails, now)
	}
	r.viewers, r.res = 0, nil
	t.setParent(r, "", false)
	delete(t.pending, r.name)
	orphans := t.byScore(func(c *entry) bool { return c.attached && c.parent == r.name })
	for _, c := range orphans {
		t.setParent(c, "", false)
	}
	t.depths()
	for _, c := range orphans {
		c.moved = now
		t.attach(c, now)
		t.pending[c.name] = true
	}
	t.depths()
}
