// Package sim runs the stream chain's placement code (chain.Tree, the very
// code the origin runs) in simulated time against a synthetic population of
// relays and viewers, and reports what the design promises: the origin's
// upload copies, viewers' depth, how many viewers a relay failure hits, how
// long they take to play again, and how often a viewer is moved.
//
// The model, in steps of Options.Step (the heartbeat interval):
//   - Relays join at the start with a capacity drawn log-uniformly from
//     [CapMin, CapMax], a round trip and a loss of their own; a fifth of them
//     are flaky and carry most failures. Each step every live relay sends a
//     heartbeat with its connected viewers, then the tree Ticks.
//   - A relay failure is a SIGKILL: its heartbeats stop; the tree notices at
//     its next Tick past Expire and re-parents the failed relay's children;
//     each child relay plays again Join after that (it pulls from its new
//     parent). The failed relay's own viewers notice after Expire too (the
//     player's media timeout, modelled equal), post to the origin again
//     avoiding that relay, and play Join after their new placement. A failed
//     relay comes back after Rejoin.
//   - Viewers arrive evenly over Ramp, then Churn of them per minute leave
//     and as many arrive. A viewer placed on a relay that has died but is not
//     yet expired fails to connect and retries after Expire; a refused viewer
//     (503) retries after a second.
//   - A viewer "moves without a failure upstream" when a relay on its path
//     changes parent while no relay on the path failed: rebalancing.
package sim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/fedwave/fedwave/internal/chain"
)

// Options describe the population and the origin's settings.
type Options struct {
	Viewers      int           // viewers at steady state
	Relays       int           // relays at the start
	Churn        float64       // fraction of viewers replaced per minute
	Duration     time.Duration // simulated time
	MaxViewers   int           // viewers the origin serves itself (--max-viewers)
	OriginRelays int           // relays the origin feeds itself
	CapMin       int           // relay capacity range (viewers + child relays), log-uniform
	CapMax       int
	Failures     float64       // fraction of relays failing (SIGKILL) per minute
	Rejoin       time.Duration // a failed relay comes back after this
	Ramp         time.Duration // viewers arrive evenly over this time at the start
	Step         time.Duration // heartbeat and tick interval
	Join         time.Duration // placement (or re-parenting) to playing: WHEP, ICE, DTLS, first keyframe
	Expire       time.Duration // the tree's Expire, and the player's media timeout
	Seed         uint64
}

// Defaults returns the options of `fedwave simulate` without flags.
func Defaults() Options {
	return Options{
		Viewers: 100000, Relays: 500, Churn: 0.05, Duration: 10 * time.Minute,
		MaxViewers: 20, OriginRelays: chain.DefaultOriginRelays, CapMin: 50, CapMax: 1000,
		Failures: 0.01, Rejoin: 30 * time.Second, Ramp: time.Minute, Step: 250 * time.Millisecond,
		Join: 300 * time.Millisecond, Expire: chain.DefaultExpire, Seed: 1,
	}
}

func (o Options) validate() error {
	switch {
	case o.Viewers < 0 || o.Viewers > 10_000_000, o.Relays < 0 || o.Relays > 100_000:
		return errors.New("viewers must be 0..10,000,000 and relays 0..100,000")
	case o.Churn < 0 || o.Churn > 1, o.Failures < 0 || o.Failures > 1:
		return errors.New("churn and failures are fractions per minute, 0..1")
	case o.Duration <= 0 || o.Duration > 24*time.Hour, o.Step <= 0 || o.Step > o.Duration:
		return errors.New("duration must be positive, at most 24h, and at least one step")
	case o.CapMin < 1 || o.CapMax < o.CapMin:
		return errors.New("capacity range must be MIN-MAX with 1 <= MIN <= MAX")
	case o.MaxViewers < 0, o.OriginRelays < 1, o.Rejoin < 0, o.Ramp < 0, o.Join < 0, o.Expire <= 0:
		return errors.New("max viewers, origin relays, rejoin, ramp, join and expire must not be negative (origin relays and expire positive)")
	}
	return nil
}

// Report is what a run measured.
type Report struct {
	Options
	Budget            int // MaxViewers + OriginRelays
	OriginCopiesMax   int // the most upload copies the origin ever sent (its viewers + relays it fed)
	DepthP50          int // viewers' hops from the origin (1 = served by the origin)
	DepthP99          int
	DepthMax          int
	RelayFailures     int
	AffectedP50       int // viewers below a failed relay (its own and its descendants')
	AffectedMax       int
	Relinks           int           // viewers that lost video to a failure and played again
	RelinkP50         time.Duration // failure to playing again
	RelinkP99         time.Duration
	RelinkMax         time.Duration
	Refused           int // placements answered 503 (retried)
	Misplaced         int // placements on a relay already dead but not yet expired
	RelayMoves        int // parent changes by rebalancing
	ViewerMoves       int // viewer path changes without a failure upstream
	MaxMovesPerMinute int // the most such moves of one viewer within a minute
	Playing           int // viewers playing at the end
}

// Goals lists the promises a run broke: origin copies within the budget,
// depth p99 at most 6, no viewer moved twice within a minute without a
// failure upstream.
func (r Report) Goals() []string {
	var bad []string
	if r.OriginCopiesMax > r.Budget {
		bad = append(bad, fmt.Sprintf("origin copies %d > budget %d", r.OriginCopiesMax, r.Budget))
	}
	if r.DepthP99 > 6 {
		bad = append(bad, fmt.Sprintf("depth p99 %d > 6", r.DepthP99))
	}
	if r.MaxMovesPerMinute > 1 {
		bad = append(bad, fmt.Sprintf("a viewer moved %d times in a minute without a failure upstream", r.MaxMovesPerMinute))
	}
	return bad
}

func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "simulated %v: %d viewers (churn %.3g%%/min, ramp %v), %d relays (capacity %d-%d, failures %.3g%%/min, back after %v)\n",
		r.Duration, r.Viewers, r.Churn*100, r.Ramp, r.Relays, r.CapMin, r.CapMax, r.Failures*100, r.Rejoin)
	fmt.Fprintf(&b, "origin: --max-viewers %d, %d relay copies; expire %v, heartbeat %v, join %v, seed %d\n",
		r.MaxViewers, r.OriginRelays, r.Expire, r.Step, r.Join, r.Seed)
	fmt.Fprintf(&b, "origin upload copies:   max %d (budget %d)\n", r.OriginCopiesMax, r.Budget)
	fmt.Fprintf(&b, "viewer depth (hops):    p50 %d, p99 %d, max %d\n", r.DepthP50, r.DepthP99, r.DepthMax)
	fmt.Fprintf(&b, "relay failures:         %d; viewers affected per failure p50 %d, max %d\n", r.RelayFailures, r.AffectedP50, r.AffectedMax)
	fmt.Fprintf(&b, "relink (failure→play):  %d viewers, p50 %v, p99 %v, max %v (detection: expiry after Expire + up to one heartbeat; then re-placement or re-parenting + join)\n",
		r.Relinks, r.RelinkP50, r.RelinkP99, r.RelinkMax)
	fmt.Fprintf(&b, "placements refused:     %d (503, retried after 1s); on a dead relay not yet expired: %d\n", r.Refused, r.Misplaced)
	fmt.Fprintf(&b, "rebalancing:            %d relay moves; %d viewer moves without a failure upstream, at most %d per viewer per minute\n",
		r.RelayMoves, r.ViewerMoves, r.MaxMovesPerMinute)
	fmt.Fprintf(&b, "playing at the end:     %d\n", r.Playing)
	if bad := r.Goals(); len(bad) > 0 {
		fmt.Fprintf(&b, "GOALS MISSED: %s\n", strings.Join(bad, "; "))
	} else {
		b.WriteString("goals met: origin copies within budget, depth p99 <= 6, no viewer moved twice a minute without a failure upstream\n")
	}
	return b.String()
}

type viewer struct {
	i       int    // index in sim.viewers
	relay   string // "" = the origin, when placed
	placed  bool
	playing bool
	retry   time.Time // when a waiting viewer posts again
	avoid   string
	lostAt  time.Time // zero, or when it lost video to a failure
	moves   []time.Time
}

type relay struct {
	name     string
	capacity int
	rtt      time.Duration
	loss     float64
	weight   float64 // share of the failures
	up       bool
	downAt   time.Time
	playing  int // viewers connected (heartbeat count)
	viewers  map[*viewer]struct{}
	parent   string
	attached bool
	broken   time.Time // failure time of its parent, until re-parented
}

type pending struct {
	at time.Time
	v  *viewer
	r  string
}

type sim struct {
	o        Options
	rng      *rand.Rand
	tree     *chain.Tree
	t0, now  time.Time
	relays   map[string]*relay
	names    []string
	viewers  []*viewer
	waiting  []*viewer
	connects []pending // in time order
	origin   int       // viewers placed on the origin
	rep      Report
	affected []int
	relinks  []time.Duration
	depths   []int // histogram: hops -> viewer samples
	leaves   float64
}

// Run simulates and reports.
func Run(o Options) (Report, error) {
	if err := o.validate(); err != nil {
		return Report{}, fmt.Errorf("simulate: %w", err)
	}
	s := &sim{
		o:      o,
		rng:    rand.New(rand.NewPCG(o.Seed, 0x5eed)),
		tree:   chain.New(chain.Config{MaxViewers: o.MaxViewers, OriginRelays: o.OriginRelays, Expire: o.Expire}),
		t0:     time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		relays: map[string]*relay{},
	}
	s.now = s.t0
	s.rep.Options = o
	s.rep.Budget = o.MaxViewers + o.OriginRelays
	s.start()
	end := s.now.Add(o.Duration)
	for step := 0; s.now.Before(end); step++ {
		s.step(step)
		s.now = s.now.Add(o.Step)
	}
	s.finish()
	return s.rep, nil
}

func (s *sim) start() {
	for i := range s.o.Relays {
		lo, hi := math.Log(float64(s.o.CapMin)), math.Log(float64(s.o.CapMax))
		r := &relay{
			name:     fmt.Sprintf("relay%04d", i),
			capacity: int(math.Round(math.Exp(lo + s.rng.Float64()*(hi-lo)))),
			rtt:      time.Duration(10+s.rng.IntN(140)) * time.Millisecond,
			loss:     s.rng.Float64() * 0.01,
			weight:   0.25,
			up:       true,
			viewers:  map[*viewer]struct{}{},
		}
		if s.rng.IntN(5) == 0 { // flaky: 20% of relays, 80% of failures
			r.weight, r.loss = 4, r.loss+0.02
		}
		s.relays[r.name] = r
		s.names = append(s.names, r.name)
		s.tree.Join(r.name, r.capacity, s.now)
	}
	s.sync(s.tree.Tick(s.now))
}

func (s *sim) step(step int) {
	s.fail()
	for _, name := range s.names {
		r := s.relays[name]
		if !r.up && s.now.Sub(r.downAt) >= s.o.Rejoin {
			r.up = true
			s.tree.Join(name, r.capacity, s.now)
		}
		if r.up {
			tp := float64(r.playing) * 2.5e6 * (1 - r.loss)
			s.tree.Heard(name, r.playing, chain.Measure{RTT: r.rtt, Loss: r.loss, Throughput: tp}, s.now)
		}
	}
	s.sync(s.tree.Tick(s.now))
	s.churn()
	s.place()
	s.connect()
	s.sample(step)
}

// fail kills relays at random, weighted by their flakiness.
func (s *sim) fail() {
	p := s.o.Failures * s.o.Step.Minutes()
	var snap map[string][]string
	for _, name := range s.names {
		r := s.relays[name]
		if !r.up || s.rng.Float64() >= p*r.weight {
			continue
		}
		if snap == nil {
			snap = s.children()
		}
		r.up, r.downAt = false, s.now
		r.parent, r.attached = "", false
		s.rep.RelayFailures++
		hit := 0
		s.walk(snap, name, func(d *relay) { hit += len(d.viewers) })
		s.affected = append(s.affected, hit)
		for _, c := range snap[name] {
			if cr := s.relays[c]; cr.broken.IsZero() {
				cr.broken = s.now
			}
		}
		// Its own viewers stop playing now and post again once their player
		// gives up on it (modelled as Expire).
		for v := range r.viewers {
			s.unplace(v)
			v.lostAt, v.avoid, v.retry = s.now, name, s.now.Add(s.o.Expire)
			s.waiting = append(s.waiting, v)
		}
		r.broken = time.Time{}
	}
}

// children maps each relay to its child relays as the tree has them now.
func (s *sim) children() map[string][]string {
	m := map[string][]string{}
	for _, n := range s.tree.Relays() {
		if n.Depth > 0 {
			m[n.Parent] = append(m[n.Parent], n.Name)
		}
	}
	return m
}

// walk visits name and every relay below it.
func (s *sim) walk(kids map[string][]string, name string, f func(*relay)) {
	stack := []string{name}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		f(s.relays[n])
		stack = append(stack, kids[n]...)
	}
}

// sync applies a Tick's moves: a relay re-parented after its parent failed
// plays again Join later (a relink for every viewer below it); any other
// parent change is rebalancing, which moves every viewer below it.
func (s *sim) sync(moved []string) {
	var snap map[string][]string
	for _, name := range moved {
		r := s.relays[name]
		parent, ok := s.tree.Parent(name)
		was, wasAttached := r.parent, r.attached
		r.parent, r.attached = parent, ok
		if !ok || !r.up {
			continue
		}
		if snap == nil {
			snap = s.children()
		}
		switch {
		case !r.broken.IsZero():
			lost := r.broken
			r.broken = time.Time{}
			s.walk(snap, name, func(d *relay) {
				for v := range d.viewers {
					if v.playing {
						s.relinks = append(s.relinks, s.now.Add(s.o.Join).Sub(lost))
					}
				}
			})
		case wasAttached && was != parent && s.alive(was):
			s.rep.RelayMoves++
			s.walk(snap, name, func(d *relay) {
				for v := range d.viewers {
					s.moved(v)
				}
			})
		}
	}
}

func (s *sim) alive(parent string) bool {
	if parent == "" {
		return true
	}
	p := s.relays[parent]
	return p != nil && p.up
}

// moved records a viewer's path change without a failure upstream. Several
// relays above one viewer moving in the same tick count once.
func (s *sim) moved(v *viewer) {
	if n := len(v.moves); n > 0 && v.moves[n-1].Equal(s.now) {
		return
	}
	keep := v.moves[:0]
	for _, at := range v.moves {
		if s.now.Sub(at) < time.Minute {
			keep = append(keep, at)
		}
	}
	v.moves = append(keep, s.now)
	s.rep.ViewerMoves++
	s.rep.MaxMovesPerMinute = max(s.rep.MaxMovesPerMinute, len(v.moves))
}

// churn makes viewers leave and arrive.
func (s *sim) churn() {
	perStep := s.o.Step.Seconds()
	target := s.o.Viewers
	elapsed := s.now.Sub(s.t0)
	if s.o.Ramp > 0 && elapsed < s.o.Ramp {
		target = int(float64(s.o.Viewers) * float64(elapsed+s.o.Step) / float64(s.o.Ramp))
	}
	s.leaves += float64(len(s.viewers)) * s.o.Churn * perStep / 60
	for ; s.leaves >= 1 && len(s.viewers) > 0; s.leaves-- {
		s.remove(s.viewers[s.rng.IntN(len(s.viewers))])
	}
	for len(s.viewers) < target {
		v := &viewer{i: len(s.viewers), retry: s.now}
		s.viewers = append(s.viewers, v)
		s.waiting = append(s.waiting, v)
	}
}

func (s *sim) remove(v *viewer) {
	s.unplace(v)
	last := s.viewers[len(s.viewers)-1]
	s.viewers[v.i], last.i = last, v.i
	s.viewers = s.viewers[:len(s.viewers)-1]
	v.i = -1 // gone: dropped from waiting and connects lazily
}

func (s *sim) unplace(v *viewer) {
	if !v.placed {
		return
	}
	if v.relay == "" {
		s.origin--
	} else if r := s.relays[v.relay]; r != nil {
		delete(r.viewers, v)
		if v.playing {
			r.playing--
		}
	}
	v.placed, v.playing, v.relay = false, false, ""
}

// place posts every waiting viewer whose time has come to the origin.
func (s *sim) place() {
	keep := s.waiting[:0]
	for _, v := range s.waiting {
		if v.i < 0 {
			continue
		}
		if s.now.Before(v.retry) {
			keep = append(keep, v)
			continue
		}
		name, ok := s.tree.Place(s.origin, v.avoid, s.now)
		switch {
		case !ok:
			s.rep.Refused++
			v.retry = s.now.Add(time.Second)
			keep = append(keep, v)
		case name != "" && !s.relays[name].up:
			s.rep.Misplaced++
			v.avoid, v.retry = name, s.now.Add(s.o.Expire)
			keep = append(keep, v)
		default:
			v.placed, v.relay = true, name
			if name == "" {
				s.origin++
			} else {
				s.relays[name].viewers[v] = struct{}{}
			}
			s.connects = append(s.connects, pending{at: s.now.Add(s.o.Join), v: v, r: name})
		}
	}
	s.waiting = keep
}

// connect starts the viewers whose join time has passed.
func (s *sim) connect() {
	i := 0
	for ; i < len(s.connects) && !s.now.Before(s.connects[i].at); i++ {
		c := s.connects[i]
		v := c.v
		if v.i < 0 || !v.placed || v.relay != c.r || v.playing {
			continue
		}
		v.playing = true
		if c.r != "" {
			s.relays[c.r].playing++
		}
		if !v.lostAt.IsZero() {
			s.relinks = append(s.relinks, c.at.Sub(v.lostAt))
			v.lostAt, v.avoid = time.Time{}, ""
		}
	}
	s.connects = s.connects[i:]
}

// sample records the origin's copies each step and viewers' depths each
// 10 simulated seconds after the ramp.
func (s *sim) sample(step int) {
	nodes := s.tree.Relays()
	fed := 0
	depth := map[string]int{}
	for _, n := range nodes {
		if n.Depth == 1 {
			fed++
		}
		depth[n.Name] = n.Depth
	}
	s.rep.OriginCopiesMax = max(s.rep.OriginCopiesMax, s.origin+fed)
	every := max(int(10*time.Second/s.o.Step), 1)
	if s.now.Sub(s.t0) < s.o.Ramp || step%every != 0 {
		return
	}
	for _, v := range s.viewers {
		if !v.playing {
			continue
		}
		hops := 1
		if v.relay != "" {
			hops = depth[v.relay] + 1
		}
		for len(s.depths) <= hops {
			s.depths = append(s.depths, 0)
		}
		s.depths[hops]++
	}
}

func (s *sim) finish() {
	r := &s.rep
	r.DepthP50, r.DepthP99, r.DepthMax = histPct(s.depths, 0.5), histPct(s.depths, 0.99), len(s.depths)-1
	r.DepthMax = max(r.DepthMax, 0)
	slices.Sort(s.affected)
	if n := len(s.affected); n > 0 {
		r.AffectedP50, r.AffectedMax = s.affected[n/2], s.affected[n-1]
	}
	slices.Sort(s.relinks)
	if n := len(s.relinks); n > 0 {
		r.Relinks = n
		r.RelinkP50, r.RelinkP99, r.RelinkMax = s.relinks[n/2], s.relinks[min(n*99/100, n-1)], s.relinks[n-1]
	}
	for _, v := range s.viewers {
		if v.playing {
			r.Playing++
		}
	}
}

// histPct is the q-quantile of a histogram indexed by value.
func histPct(h []int, q float64) int {
	total := 0
	for _, c := range h {
		total += c
	}
	if total == 0 {
		return 0
	}
	need := int(math.Ceil(q * float64(total)))
	for v, c := range h {
		if need -= c; need <= 0 {
			return v
		}
	}
	return len(h) - 1
}
