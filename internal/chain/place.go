package chain

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// setParent links r under parent (or unlinks it), keeping the children
// counts, and records the change for Tick.
func (t *Tree) setParent(r *entry, parent string, attached bool) {
	if r.attached == attached && r.parent == parent {
		return
	}
	if r.attached {
		t.adjust(r.parent, -1)
	}
	r.parent, r.attached = parent, attached
	if attached {
		t.adjust(parent, +1)
	}
	t.pending[r.name] = true
}

func (t *Tree) adjust(parent string, d int) {
	if parent == "" {
		t.fed += d
	} else if p := t.relays[parent]; p != nil {
		p.children += d
	}
}

// depths recomputes every relay's depth: 0 for a relay not linked to the
// origin through connected relays.
func (t *Tree) depths() {
	for _, r := range t.order {
		r.depth = -1
	}
	var depth func(r *entry, hops int) int
	depth = func(r *entry, hops int) int {
		switch {
		case r.depth >= 0:
			return r.depth
		case !r.connected || !r.attached || hops > len(t.order):
			r.depth = 0
		case r.parent == "":
			r.depth = 1
		default:
			p := t.relays[r.parent]
			if p == nil {
				r.depth = 0
			} else if d := depth(p, hops+1); d > 0 {
				r.depth = d + 1
			} else {
				r.depth = 0
			}
		}
		return r.depth
	}
	for _, r := range t.order {
		depth(r, 0)
	}
}

// below reports whether r is a descendant of (or is) a: linking a under r
// would close a cycle.
func (t *Tree) below(r, a *entry) bool {
	for hops := 0; r != nil && hops <= len(t.order); hops++ {
		if r == a {
			return true
		}
		if !r.attached || r.parent == "" {
			return false
		}
		r = t.relays[r.parent]
	}
	return r != nil // a loop: treat as below, never link into it
}

// attach gives r the highest free slot: the origin if it feeds fewer than
// OriginRelays (unless r is a newcomer), else the shallowest relay with a
// child slot (its quota), the better scored among equals, never one of r's
// descendants. Without a quota slot anywhere, any relay with room will do;
// without room, r waits unattached and Tick tries again.
func (t *Tree) attach(r *entry, now time.Time) {
	defer t.depths()
	origin := t.fed < t.cfg.OriginRelays
	if origin && !t.newcomer(r, now) {
		t.setParent(r, "", true)
		return
	}
	for _, strict := range []bool{true, false} {
		var best *entry
		for _, p := range t.order {
			if p == r || p.depth == 0 || !t.fresh(p, now) || !t.childRoom(p, strict) || t.below(p, r) {
				continue
			}
			if best == nil || p.depth < best.depth || (p.depth == best.depth && p.score > best.score) {
				best = p
			}
		}
		if best != nil {
			t.setParent(r, best.name, true)
			return
		}
	}
	t.setParent(r, "", origin)
}

// newcomer reports whether r joined within the last Rebalance period while
// a relay up for longer is in the tree: then r starts below the others, and
// a free origin slot waits for the next rebalance to lift the best settled
// relay into it. New relays earn their way up.
func (t *Tree) newcomer(r *entry, now time.Time) bool {
	if now.Sub(r.since) >= t.cfg.Rebalance {
		return false
	}
	for _, p := range t.order {
		if p != r && p.depth > 0 && t.fresh(p, now) && now.Sub(p.since) >= t.cfg.Rebalance {
			return true
		}
	}
	return false
}

// childRoom reports whether p can take one more child relay; strict also
// holds it to its quota.
func (t *Tree) childRoom(p *entry, strict bool) bool {
	if strict && p.children >= t.quota(p) {
		return false
	}
	return p.load() < p.capacity
}

// quota is how many child relays p takes: 2 to 16 by capacity (a tenth), the better
// relays (by score, relative to the best) the more. Its viewers leave room
// for them.
func (t *Tree) quota(p *entry) int {
	top := min(max(p.capacity/10, 2), 16, p.capacity/2)
	low := min(2, top)
	return low + int(math.Round(float64(top-low)*t.rel(p)))
}

// rel is p's score relative to the best connected relay's.
func (t *Tree) rel(p *entry) float64 {
	if t.best <= 0 {
		return 1
	}
	return min(p.score/t.best, 1)
}

// scores recomputes every connected relay's score and the best one.
func (t *Tree) scores(now time.Time) {
	t.bestTP = 0
	for _, r := range t.order {
		i := 0
		for i < len(r.fails) && now.Sub(r.fails[i]) > failureMemory {
			i++
		}
		r.fails = r.fails[i:]
		if r.connected {
			t.bestTP = max(t.bestTP, r.tput)
		}
	}
	t.best = 0
	for _, r := range t.order {
		if r.connected {
			r.score = t.scoreOf(r, now)
			t.best = max(t.best, r.score)
		}
	}
}

// scoreOf rates a relay from 0 to 1 on what the origin measured: uptime
// (new relays start low), recent failures, and once heartbeats came in, its
// sustained throughput (relative to the best relay's), round trip and the
// loss its viewers report (which weighs at most half, as the relay says it).
func (t *Tree) scoreOf(r *entry, now time.Time) float64 {
	up := max(now.Sub(r.since).Seconds(), 0)
	s := up / (up + uptimeHalf.Seconds())
	s /= float64(1 + len(r.fails))
	if r.measured {
		s *= 1 - 0.5*min(r.loss*10, 1)
		s *= 1 - 0.3*min(r.rtt/0.5, 1)
		if t.bestTP > 0 {
			s *= 0.5 + 0.5*min(r.tput/t.bestTP, 1)
		}
	}
	return s
}

// byScore returns the relays matching keep, best score first.
func (t *Tree) byScore(keep func(*entry) bool) []*entry {
	var out []*entry
	for _, r := range t.order {
		if keep(r) {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b *entry) int { return cmp.Compare(b.score, a.score) })
	return out
}

// rebalance runs at most once per Config.Rebalance, and touches only relays
// that have not moved (or joined) within that period: it first lifts relays
// into free slots closer to the origin (the best first), then swaps a
// clearly better relay with a worse one above it. All its moves happen in
// this one call, so a viewer's path changes at most once per period.
func (t *Tree) rebalance(now time.Time) {
	if t.lastBal.IsZero() {
		t.lastBal = now
		return
	}
	if now.Sub(t.lastBal) < t.cfg.Rebalance {
		return
	}
	t.lastBal = now
	settled := func(r *entry) bool {
		return t.fresh(r, now) && r.depth > 0 && now.Sub(r.moved) >= t.cfg.Rebalance
	}
	for _, r := range t.byScore(settled) {
		if settled(r) {
			t.lift(r, now)
		}
	}
	swaps := 1 + len(t.order)/32
	for range swaps {
		if !t.swapOnce(now, settled) {
			break
		}
	}
}

// lift moves r to a free slot at least one level higher, if there is one.
func (t *Tree) lift(r *entry, now time.Time) {
	if r.depth == 1 {
		return
	}
	if t.fed < t.cfg.OriginRelays {
		t.setParent(r, "", true)
		r.moved = now
		t.depths()
		return
	}
	var best *entry
	for _, p := range t.order {
		if p.depth == 0 || p.depth+1 >= r.depth || !t.fresh(p, now) || !t.childRoom(p, true) || t.below(p, r) {
			continue
		}
		if best == nil || p.depth < best.depth || (p.depth == best.depth && p.score > best.score) {
			best = p
		}
	}
	if best != nil {
		t.setParent(r, best.name, true)
		r.moved = now
		t.depths()
	}
}

// swapOnce finds the worst settled relay that sits above a clearly better
// settled one (the best below it), and exchanges their places (parent and children): the tree's
// shape stays, only the two labels change, so it stays a tree.
func (t *Tree) swapOnce(now time.Time, settled func(*entry) bool) bool {
	ok := t.byScore(settled)
	// below[d]: the best settled relay at depth d or deeper.
	deepest := 0
	for _, r := range ok {
		deepest = max(deepest, r.depth)
	}
	below := make([]*entry, deepest+2)
	for _, r := range ok {
		if below[r.depth] == nil {
			below[r.depth] = r
		}
	}
	for d := deepest - 1; d >= 1; d-- {
		if b := below[d+1]; b != nil && (below[d] == nil || b.score > below[d].score) {
			below[d] = b
		}
	}
	var hi, lo *entry // hi: the worse relay above; lo: the better one below
	for _, p := range slices.Backward(ok) {
		r := below[p.depth+1]
		if r == nil || r.score < p.score*1.5+0.1 {
			continue
		}
		if p.children > r.capacity-r.viewers-len(r.res) || r.children > p.capacity-p.viewers-len(p.res) {
			continue
		}
		hi, lo = p, r
		break
	}
	if hi == nil {
		return false
	}
	swap := func(name string) string {
		switch name {
		case hi.name:
			return lo.name
		case lo.name:
			return hi.name
		}
		return name
	}
	type link struct {
		r      *entry
		parent string
	}
	var links []link
	for _, x := range t.order {
		switch {
		case x == hi:
			links = append(links, link{x, swap(lo.parent)})
		case x == lo:
			links = append(links, link{x, swap(hi.parent)})
		case x.attached && (x.parent == hi.name || x.parent == lo.name):
			links = append(links, link{x, swap(x.parent)})
		}
	}
	for _, l := range links {
		t.setParent(l.r, l.parent, true)
		l.r.moved = now
	}
	t.depths()
	return true
}
