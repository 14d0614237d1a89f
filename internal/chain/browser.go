package chain

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Defaults for the zero browser fields of Config.
const (
	DefaultBrowserSteady   = 20 * time.Second
	DefaultBrowserChildren = 2
	DefaultBrowserDepth    = 2
	DefaultBrowserRate     = 0.9
	DefaultBrowserLoss     = 0.02
	DefaultBrowserExpire   = time.Second
)

// BrowserMeasure is what the origin knows of a carrier's link at one of its
// heartbeats.
type BrowserMeasure struct {
	// Throughput is the carrier's download, bits/s, sustained: what the
	// origin (or its server relay) sent it, or what its receiver reports
	// say it received when a carrier feeds it.
	Throughput float64
	// Bitrate is the stream's bitrate, bits/s, that a carrier must keep up
	// with (Throughput >= Config.BrowserRate × Bitrate); 0 skips the check.
	Bitrate float64
	// Loss is 0..1: the worse of its own receiver reports and what its
	// children report of the frames it forwards.
	Loss float64
}

// BrowserNode is a snapshot of one browser node: a carrier, or a viewer a
// carrier feeds.
type BrowserNode struct {
	ID, Stream string
	Parent     string   // the carrier feeding it; "" = a server (origin or relay)
	Children   []string // the viewers it feeds, sorted
	Carries    bool     // opted in (the switch is on)
	Steady     bool     // may take children now
	Hops       int      // browser hops between it and its server: 0 = fed by a server
}

// bnode is a browser node. A viewer fed by a server that does not carry is
// no node: the tree knows carriers and whom they feed, nothing more.
type bnode struct {
	id, stream string
	parent     *bnode // nil: fed by a server
	kids       []*bnode
	carries    bool
	room       int       // children it offered, at most BrowserChildren
	since      time.Time // carrying since
	heard      time.Time
	bad        time.Time // last heartbeat whose measures were not good enough
	measured   bool
	tput, loss float64 // smoothed
}

func (c *Config) browserDefaults() {
	if c.BrowserSteady <= 0 {
		c.BrowserSteady = DefaultBrowserSteady
	}
	if c.BrowserChildren <= 0 {
		c.BrowserChildren = DefaultBrowserChildren
	}
	if c.BrowserDepth <= 0 {
		c.BrowserDepth = DefaultBrowserDepth
	}
	if c.BrowserRate <= 0 || math.IsNaN(c.BrowserRate) {
		c.BrowserRate = DefaultBrowserRate
	}
	if c.BrowserLoss <= 0 || math.IsNaN(c.BrowserLoss) {
		c.BrowserLoss = DefaultBrowserLoss
	}
	if c.BrowserExpire <= 0 {
		c.BrowserExpire = DefaultBrowserExpire
	}
	c.BrowserExpire = min(c.BrowserExpire, MaxExpire)
}

// JoinBrowser records that viewer id of stream turned the switch on,
// offering room children (capped at Config.BrowserChildren, whatever it
// claims). It stays where it is fed (a server, or the carrier feeding it) and
// takes children only once steady. Called again, it updates room; an id
// already known for another stream, or naming a server relay, is ignored.
func (t *Tree) JoinBrowser(id, stream string, room int, now time.Time) {
	if id == "" || stream == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.relays[id] != nil {
		return
	}
	n := t.browsers[id]
	if n == nil {
		n = &bnode{id: id, stream: stream}
		t.browsers[id] = n
	}
	if n.stream != stream {
		return
	}
	n.room = min(max(room, 0), t.cfg.BrowserChildren)
	n.heard = now
	if !n.carries {
		n.carries, n.since, n.measured, n.bad = true, now, false, time.Time{}
	}
	t.index(n)
}

// HeardBrowser records a carrier's heartbeat and what was measured of it.
// Unknown ids and viewers that do not carry are ignored.
func (t *Tree) HeardBrowser(id string, m BrowserMeasure, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.browsers[id]
	if n == nil || !n.carries {
		return
	}
	n.heard = now
	tp, loss := finite(m.Throughput), min(finite(m.Loss), 1)
	const a = 0.2
	if !n.measured {
		n.tput, n.loss, n.measured = tp, loss, true
	} else {
		n.tput += a * (tp - n.tput)
		n.loss += a * (loss - n.loss)
	}
	need := finite(m.Bitrate) * t.cfg.BrowserRate
	if n.loss > t.cfg.BrowserLoss || n.tput < need {
		n.bad = now
	}
}

// finite maps NaN, infinities and negatives to 0.
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0
	}
	return f
}

// steady reports whether carrier n may take a child now: heard within
// BrowserExpire, carrying and measured good for BrowserSteady.
func (t *Tree) steady(n *bnode, now time.Time) bool {
	return n.carries && n.measured && now.Sub(n.heard) <= t.cfg.BrowserExpire &&
		now.Sub(n.since) >= t.cfg.BrowserSteady && (n.bad.IsZero() || now.Sub(n.bad) >= t.cfg.BrowserSteady)
}

// PlaceChild says which carrier of stream feeds viewer: the steady carrier
// with a free child slot at the fewest browser hops, the most spare slots
// among equals (then the longest carrying, then the id). ok is false when
// none fits: the viewer goes to a server (Place), and the tree forgets it
// unless it carries. A carrier moves with its whole subtree, never below one
// of its own descendants, and only where the subtree stays within
// BrowserDepth hops. Server relays' names are never placed.
func (t *Tree) PlaceChild(stream, viewer string, now time.Time) (carrier string, ok bool) {
	if stream == "" || viewer == "" {
		return "", false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.relays[viewer] != nil {
		return "", false
	}
	v := t.browsers[viewer]
	if v != nil && v.stream != stream {
		return "", false
	}
	height := 0
	if v != nil {
		height = v.height()
	}
	var best *bnode
	var bestHops, bestSpare int
	for n := range t.open[stream] {
		spare := min(n.room, t.cfg.BrowserChildren) - len(n.kids)
		if spare <= 0 || n == v || !t.steady(n, now) {
			continue
		}
		hops := n.hops()
		if hops+1+height > t.cfg.BrowserDepth || (v != nil && n.below(v)) {
			continue
		}
		if best == nil || hops < bestHops || hops == bestHops && (spare > bestSpare ||
			spare == bestSpare && (n.since.Before(best.since) || n.since.Equal(best.since) && n.id < best.id)) {
			best, bestHops, bestSpare = n, hops, spare
		}
	}
	if best == nil {
		if v != nil {
			t.toServer(v)
		}
		return "", false
	}
	if v == nil {
		v = &bnode{id: viewer, stream: stream}
		t.browsers[viewer] = v
	}
	t.detach(v)
	v.parent = best
	best.kids = append(best.kids, v)
	t.index(best)
	return best.id, true
}

// LeaveBrowser records that a browser node left (said goodbye, or its
// control channel closed): it returns the viewers it fed, to hand back at
// once (to a server or, through PlaceChild, another carrier). Carriers among
// them keep their own children.
func (t *Tree) LeaveBrowser(id string) (orphans []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.browsers[id]
	if n == nil {
		return nil
	}
	orphans = t.handback(n, nil)
	t.detach(n)
	t.forget(n)
	return orphans
}

// StopCarrying records that a carrier turned the switch off: it returns
// the viewers it fed, to hand back at once. It stays a viewer (fed where it
// is).
func (t *Tree) StopCarrying(id string) (orphans []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.browsers[id]
	if n == nil || !n.carries {
		return nil
	}
	orphans = t.handback(n, nil)
	n.carries = false
	t.index(n)
	if n.parent == nil {
		t.forget(n)
	}
	return orphans
}

// DropChild records that viewer id is no longer fed by its carrier (it
// said the carrier stopped feeding it): it is fed by a server again, and
// forgotten unless it carries. It returns the carrier it left ("" if it had
// none).
func (t *Tree) DropChild(id string) (parent string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.browsers[id]
	if n == nil || n.parent == nil {
		return ""
	}
	parent = n.parent.id
	t.toServer(n)
	return parent
}

// toServer: n is fed by a server now. A viewer that does not carry is no
// node then, and is forgotten.
func (t *Tree) toServer(n *bnode) {
	t.detach(n)
	if !n.carries {
		t.forget(n)
	}
}

// ExpireBrowsers drops the carriers not heard from for BrowserExpire (they
// stalled or vanished without a goodbye) and returns them and the viewers
// they fed, to hand back at once, both sorted as LeaveBrowser's orphans. A
// stalled carrier fed by a stalled one is listed as stalled, not orphaned.
func (t *Tree) ExpireBrowsers(now time.Time) (stalled, orphans []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	gone := map[*bnode]bool{}
	for _, n := range t.browsers {
		if n.carries && now.Sub(n.heard) > t.cfg.BrowserExpire {
			gone[n] = true
			stalled = append(stalled, n.id)
		}
	}
	slices.Sort(stalled)
	for _, id := range stalled {
		n := t.browsers[id]
		orphans = append(orphans, t.handback(n, gone)...)
	}
	for _, id := range stalled {
		n := t.browsers[id]
		t.detach(n)
		t.forget(n)
	}
	return stalled, orphans
}

// handback unlinks n's children, except those in skip, and returns them:
// the tallest subtrees first (the hardest to fit elsewhere), then by id.
// Children that do not carry are forgotten: they are no nodes until placed
// on a carrier again.
func (t *Tree) handback(n *bnode, skip map[*bnode]bool) []string {
	kids := slices.Clone(n.kids)
	slices.SortFunc(kids, func(a, b *bnode) int {
		return cmp.Or(cmp.Compare(b.height(), a.height()), cmp.Compare(a.id, b.id))
	})
	var out []string
	for _, k := range kids {
		t.detach(k)
		if skip[k] {
			continue
		}
		if !k.carries {
			t.forget(k)
		}
		out = append(out, k.id)
	}
	return out
}

// Browsers returns a snapshot at now of the browser nodes of stream (all
// streams for ""), the fewest hops first, then by id.
func (t *Tree) Browsers(stream string, now time.Time) []BrowserNode {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []BrowserNode
	for _, n := range t.browsers {
		if stream != "" && n.stream != stream {
			continue
		}
		b := BrowserNode{ID: n.id, Stream: n.stream, Carries: n.carries, Steady: t.steady(n, now), Hops: n.hops()}
		if n.parent != nil {
			b.Parent = n.parent.id
		}
		for _, k := range n.kids {
			b.Children = append(b.Children, k.id)
		}
		slices.Sort(b.Children)
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b BrowserNode) int { return cmp.Or(cmp.Compare(a.Hops, b.Hops), cmp.Compare(a.ID, b.ID)) })
	return out
}

// detach unlinks n from its parent: it is fed by a server.
func (t *Tree) detach(n *bnode) {
	if p := n.parent; p != nil {
		p.kids = slices.DeleteFunc(p.kids, func(k *bnode) bool { return k == n })
		n.parent = nil
		t.index(p)
	}
}

// forget drops n from the tree.
func (t *Tree) forget(n *bnode) {
	delete(t.browsers, n.id)
	t.index(n)
}

// index keeps t.open: the carriers with a free child slot, by stream, so
// that PlaceChild looks at those only (most carriers are full).
func (t *Tree) index(n *bnode) {
	open := n.carries && len(n.kids) < min(n.room, t.cfg.BrowserChildren) && t.browsers[n.id] == n
	set := t.open[n.stream]
	switch {
	case open && set == nil:
		t.open[n.stream] = map[*bnode]bool{n: true}
	case open:
		set[n] = true
	case set != nil:
		delete(set, n)
		if len(set) == 0 {
			delete(t.open, n.stream)
		}
	}
}

// hops is the number of browser hops between n and its server.
func (n *bnode) hops() int {
	h := 0
	for p := n.parent; p != nil; p = p.parent {
		h++
	}
	return h
}

// height is the number of browser hops below n to its deepest descendant.
func (n *bnode) height() int {
	h := 0
	for _, k := range n.kids {
		h = max(h, 1+k.height())
	}
	return h
}

// below reports whether n is v or one of v's descendants.
func (n *bnode) below(v *bnode) bool {
	for p := n; p != nil; p = p.parent {
		if p == v {
			return true
		}
	}
	return false
}
