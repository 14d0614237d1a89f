// Package sim runs the stream chain's placement code (chain.Tree, the very
// code the origin runs) in simulated time against a synthetic population of
// relays and viewers, and reports what the design promises: the origin's
// upload copies, viewers' depth, how many viewers a relay failure hits, how
// long they take to play again, and how often a viewer is moved; with
// carriers (viewers who pass the stream on), how many viewers they feed, how
// often they hand children back and how long those are without picture.
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
//   - With Options.Carriers, viewers who opt in carry the stream to other
//     viewers (browser nodes, see carry.go), and the run is repeated without
//     them for the comparison.
package sim

import (
	"errors"
	"fmt"
	"maps"
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
	Carriers     float64 // fraction of viewers who opt in to carry the stream (browser nodes); 0: none
	Vanish       float64 // fraction of carriers leaving without a goodbye (noticed after the tree's BrowserExpire)
	SwitchOff    float64 // fraction of carriers turning the switch off per minute (they stay, as viewers)
}

// Defaults returns the options of `fedwave simulate` without flags.
func Defaults() Options {
	return Options{
		Viewers: 100000, Relays: 500, Churn: 0.05, Duration: 10 * time.Minute,
		MaxViewers: 20, OriginRelays: chain.DefaultOriginRelays, CapMin: 50, CapMax: 1000,
		Failures: 0.01, Rejoin: 30 * time.Second, Ramp: time.Minute, Step: 250 * time.Millisecond,
		Join: 300 * time.Millisecond, Expire: chain.DefaultExpire, Seed: 1, Vanish: 0.3,
	}
}

func (o Options) validate() error {
	switch {
	case o.Viewers < 0 || o.Viewers > 10_000_000, o.Relays < 0 || o.Relays > 100_000:
		return errors.New("viewers must be 0..10,000,000 and relays 0..100,000")
	case o.Churn < 0 || o.Churn > 1, o.Failures < 0 || o.Failures > 1:
		return errors.New("churn and failures are fractions per minute, 0..1")
	case !(o.Carriers >= 0 && o.Carriers <= 1), !(o.Vanish >= 0 && o.Vanish <= 1), !(o.SwitchOff >= 0 && o.SwitchOff <= 1):
		return errors.New("carriers, vanish and switch-off are fractions, 0..1")
	case o.Duration <= 0 || o.Duration > 24*time.Hour, o.Step <= 0 || o.Step > o.Duration:
		return errors.New("duration must be positive, at most 24h, and at least one step")
	case o.CapMin < 1 || o.CapMax < o.CapMin:
		return errors.New("capacity range must be MIN-MAX with 1 <= MIN <= MAX")
	case o.MaxViewers < 0, o.OriginRelays < 1, o.Rejoin < 0, o.Ramp < 0, o.Join < 0, o.Expire <= 0:
		return errors.New("max viewers, origin relays, rejoin, ramp, join and expire must not be negative (origin relays and expire positive)")
	}
	return nil
}

type viewer struct {
	i       int    // index in sim.viewers; -1 once gone
	id      string // its id in the browser tree
	carries bool   // opted in
	loss    float64
	parent  *viewer // the carrier feeding it, when placed on one
	kids    []*viewer
	goneAt  time.Time        // a carrier that vanished without a goodbye
	gaps    *[]time.Duration // where its time without picture is recorded; nil: relay relinks
	relay   string           // "" = the origin, when placed
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
	at  time.Time
	v   *viewer
	r   string
	via *viewer // the carrier, when placed on one
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

	byID        map[string]*viewer // carriers and viewers placed on one
	nextID      int
	goodbyeGaps []time.Duration
	vanishGaps  []time.Duration
	samples     int // steps sampled for means, after the ramp
	copies      [2]float64
	fedSum      float64 // viewers with picture from a carrier, summed over fedSamples
	fedSamples  int
}

// Run simulates and reports; with carriers, it also runs the same
// population without them, for the comparison.
func Run(o Options) (Report, error) {
	if err := o.validate(); err != nil {
		return Report{}, fmt.Errorf("simulate: %w", err)
	}
	rep := run(o)
	if o.Carriers > 0 {
		base := o
		base.Carriers = 0
		b := run(base)
		rep.Without = &Copies{OriginMax: b.OriginCopiesMax, OriginMean: b.OriginCopiesMean, ServerMean: b.ServerCopiesMean, Refused: b.Refused, Playing: b.Playing}
	}
	return rep, nil
}

func run(o Options) Report {
	s := &sim{
		o:      o,
		rng:    rand.New(rand.NewPCG(o.Seed, 0x5eed)),
		tree:   chain.New(chain.Config{MaxViewers: o.MaxViewers, OriginRelays: o.OriginRelays, Expire: o.Expire}),
		t0:     time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		relays: map[string]*relay{},
		byID:   map[string]*viewer{},
	}
	s.now = s.t0
	s.rep.Options = o
	if o.MaxViewers > 0 {
		s.rep.Budget = o.MaxViewers + o.OriginRelays
	}
	s.start()
	end := s.now.Add(o.Duration)
	for step := 0; s.now.Before(end); step++ {
		s.step(step)
		s.now = s.now.Add(o.Step)
	}
	s.finish()
	return s.rep
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
	s.carriers()
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
		// gives up on it (modelled as Expire). In id order: the order they
		// post again decides which of them a carrier takes, and the same
		// seed must give the same run.
		lost := slices.Collect(maps.Keys(r.viewers))
		slices.SortFunc(lost, func(a, b *viewer) int { return strings.Compare(a.id, b.id) })
		for _, v := range lost {
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
		v := s.arrive()
		s.viewers = append(s.viewers, v)
		s.waiting = append(s.waiting, v)
	}
}

func (s *sim) remove(v *viewer) {
	s.leave(v)
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
	if p := v.parent; p != nil {
		p.kids = slices.DeleteFunc(p.kids, func(k *viewer) bool { return k == v })
		v.parent = nil
	} else if v.relay == "" {
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
		if s.placeOnCarrier(v) {
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
		if v.i < 0 || !v.placed || v.relay != c.r || v.parent != c.via || v.playing {
			continue
		}
		if c.via != nil && (c.via.i < 0 || !c.via.goneAt.IsZero()) {
			continue // its carrier vanished: it waits to be handed back
		}
		v.playing = true
		if c.r != "" {
			s.relays[c.r].playing++
		}
		if !v.lostAt.IsZero() {
			s.relinked(v, c.at)
		}
	}
	s.connects = s.connects[i:]
}

// sample records the origin's copies each step and viewers' depths each
// 10 simulated seconds after the ramp.
func (s *sim) sample(step int) {
	nodes := s.tree.Relays()
	fed, relayed := 0, 0
	depth := map[string]int{}
	for _, n := range nodes {
		if n.Depth == 1 {
			fed++
		}
		if n.Depth > 1 {
			relayed++ // a copy from its parent relay
		}
		depth[n.Name] = n.Depth
	}
	s.rep.OriginCopiesMax = max(s.rep.OriginCopiesMax, s.origin+fed)
	if s.now.Sub(s.t0) < s.o.Ramp {
		return
	}
	for _, name := range s.names {
		relayed += len(s.relays[name].viewers)
	}
	s.samples++
	s.copies[0] += float64(s.origin + fed)
	s.copies[1] += float64(s.origin + fed + relayed)
	every := max(int(10*time.Second/s.o.Step), 1)
	if step%every != 0 {
		return
	}
	for _, v := range s.viewers {
		if !v.pictured() {
			continue
		}
		bhops, top := v.top()
		hops := 1 + bhops
		if top.relay != "" {
			hops += depth[top.relay]
		}
		if bhops > 0 {
			s.fedSum++
		}
		s.rep.BrowserHopsMax = max(s.rep.BrowserHopsMax, bhops)
		for len(s.depths) <= hops {
			s.depths = append(s.depths, 0)
		}
		s.depths[hops]++
	}
	s.fedSamples++
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
		if v.pictured() {
			r.Playing++
		}
	}
	if s.samples > 0 {
		r.OriginCopiesMean = s.copies[0] / float64(s.samples)
		r.ServerCopiesMean = s.copies[1] / float64(s.samples)
	}
	if s.fedSamples > 0 {
		r.FedByCarriers = s.fedSum / float64(s.fedSamples)
	}
	r.GoodbyeGap = pcts(s.goodbyeGaps)
	r.VanishGap = pcts(s.vanishGaps)
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
