package sim

import (
	"fmt"
	"time"

	"github.com/fedwave/fedwave/internal/chain"
)

// The browser part of the model (Options.Carriers > 0):
//   - A viewer opts in ("help carry this stream") with probability
//     Carriers when it arrives, offering 2 children. A fifth of the carriers
//     have a poor link (3-10% loss) and never become steady; the others lose
//     under 1%. Each step every carrier sends a heartbeat: its download is
//     the stream's bitrate less its loss while it has picture, 0 while it has
//     none (so a carrier that relinks is not steady again for
//     BrowserSteady), then the tree expires silent carriers.
//   - A new or handed-back viewer goes to a carrier when the tree has one
//     (PlaceChild), else to a server (Place); it plays Join later, and has
//     picture while every carrier above it has.
//   - Viewers leave at the Churn rate, carriers included (exponential
//     sessions, a mean of 1/Churn minutes). A carrier leaving says goodbye
//     (its children are handed back at once), except a Vanish share of them
//     that just go silent: the tree notices after BrowserExpire. A child
//     handed back is without picture from its parent's departure until it
//     plays again from its new parent or server; a carrier's children wait
//     with it while it relinks (they stay below it).
//   - SwitchOff of the carriers per minute turn the switch off: their
//     children are handed back at once, as on a goodbye, and they stay as
//     viewers where they are.
const stream = "live"

// carrierBitrate is the stream's bitrate in the model, bits/s.
const carrierBitrate = 2.5e6

// arrive makes a new viewer, opted in with probability Carriers.
func (s *sim) arrive() *viewer {
	s.nextID++
	v := &viewer{i: len(s.viewers), id: fmt.Sprintf("v%d", s.nextID), retry: s.now}
	if s.o.Carriers > 0 && s.rng.Float64() < s.o.Carriers {
		v.carries = true
		v.loss = s.rng.Float64() * 0.01
		if s.rng.IntN(5) == 0 {
			v.loss = 0.03 + s.rng.Float64()*0.07
		}
		s.byID[v.id] = v
		s.tree.JoinBrowser(v.id, stream, 2, s.now)
	}
	return v
}

// leave takes a departing viewer out of the browser tree: a goodbye hands
// its children back now; a carrier that vanishes stays in the tree, silent,
// until ExpireBrowsers notices.
func (s *sim) leave(v *viewer) {
	if s.o.Carriers == 0 {
		return
	}
	if v.carries && s.rng.Float64() < s.o.Vanish {
		v.goneAt = s.now
		return
	}
	for _, id := range s.tree.LeaveBrowser(v.id) {
		s.handback(s.byID[id], s.now, &s.goodbyeGaps)
	}
	delete(s.byID, v.id)
}

// carriers sends every carrier's heartbeat, then expires the silent ones and
// hands their children back.
func (s *sim) carriers() {
	if s.o.Carriers == 0 {
		return
	}
	off := s.o.SwitchOff * s.o.Step.Minutes()
	for _, v := range s.viewers {
		if !v.carries {
			continue
		}
		if off > 0 && s.rng.Float64() < off {
			s.switchOff(v)
			continue
		}
		tp := 0.0
		if v.pictured() {
			tp = carrierBitrate * (1 - v.loss)
		}
		s.tree.HeardBrowser(v.id, chain.BrowserMeasure{Throughput: tp, Bitrate: carrierBitrate, Loss: v.loss}, s.now)
	}
	stalled, orphans := s.tree.ExpireBrowsers(s.now)
	for _, id := range orphans {
		o := s.byID[id]
		lost := s.now
		if o != nil && o.parent != nil && !o.parent.goneAt.IsZero() {
			lost = o.parent.goneAt
		}
		s.handback(o, lost, &s.vanishGaps)
	}
	for _, id := range stalled {
		delete(s.byID, id)
	}
}

// switchOff turns v's switch off: its children come back at once.
func (s *sim) switchOff(v *viewer) {
	v.carries = false
	s.rep.SwitchedOff++
	for _, id := range s.tree.StopCarrying(v.id) {
		s.handback(s.byID[id], s.now, &s.goodbyeGaps)
	}
	if v.parent == nil {
		delete(s.byID, v.id)
	}
}

// handback puts an orphan back to the waiting line: it lost picture at
// lost (unless it had lost it before).
func (s *sim) handback(o *viewer, lost time.Time, gaps *[]time.Duration) {
	if o == nil || o.i < 0 {
		return
	}
	s.rep.Handbacks++
	s.unplace(o)
	if o.lostAt.IsZero() {
		o.lostAt, o.gaps = lost, gaps
	}
	o.retry = s.now
	s.waiting = append(s.waiting, o)
}

// placeOnCarrier gives v a carrier if the tree has one for it.
func (s *sim) placeOnCarrier(v *viewer) bool {
	if s.o.Carriers == 0 {
		return false
	}
	id, ok := s.tree.PlaceChild(stream, v.id, s.now)
	if !ok {
		if !v.carries {
			delete(s.byID, v.id)
		}
		return false
	}
	p := s.byID[id]
	if !p.goneAt.IsZero() {
		s.rep.CarrierMisplaced++ // it will be handed back when the tree expires p
	}
	s.byID[v.id] = v
	v.placed, v.parent = true, p
	p.kids = append(p.kids, v)
	s.connects = append(s.connects, pending{at: s.now.Add(s.o.Join), v: v, via: p})
	return true
}

// pictured reports whether v has picture: it plays, and so does every
// carrier above it.
func (v *viewer) pictured() bool {
	for p := v; p != nil; p = p.parent {
		if !p.playing || !p.goneAt.IsZero() || (p != v && p.i < 0) {
			return false
		}
	}
	return true
}

// hops is v's browser hops and the server feeding its top carrier.
func (v *viewer) top() (hops int, server *viewer) {
	for v.parent != nil {
		v = v.parent
		hops++
	}
	return hops, v
}

// relinked records how long v (and the viewers it carries, who waited with
// it) were without picture.
func (s *sim) relinked(v *viewer, at time.Time) {
	gaps := v.gaps
	if gaps == nil {
		gaps = &s.relinks
	}
	d := at.Sub(v.lostAt)
	var walk func(*viewer)
	walk = func(x *viewer) {
		*gaps = append(*gaps, d)
		for _, k := range x.kids {
			if k.pictured() {
				walk(k)
			}
		}
	}
	walk(v)
	v.lostAt, v.avoid, v.gaps = time.Time{}, "", nil
}
