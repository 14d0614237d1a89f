package chain

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

const bitrate = 2e6

var good = BrowserMeasure{Throughput: bitrate, Bitrate: bitrate, Loss: 0.001}

// carriers makes steady carriers of stream "s" with room for 2 children:
// joined at t0, heard well every 250 ms until the returned time.
func carriers(tr *Tree, ids ...string) time.Time {
	for _, id := range ids {
		tr.JoinBrowser(id, "s", 2, t0)
	}
	now := t0
	for now.Sub(t0) < tr.Config().BrowserSteady {
		now = now.Add(250 * time.Millisecond)
		for _, id := range ids {
			tr.HeardBrowser(id, good, now)
		}
	}
	return now
}

func bnodes(tr *Tree) map[string]BrowserNode {
	m := map[string]BrowserNode{}
	for _, n := range tr.Browsers("", t0) {
		m[n.ID] = n
	}
	return m
}

// checkBrowsers asserts the browser rules on a snapshot: links agree both
// ways, no cycles, parents are carriers of the same stream and never server
// relays, at most BrowserChildren children, at most BrowserDepth hops, and
// no node that neither carries nor is fed by a carrier.
func checkBrowsers(t *testing.T, tr *Tree) {
	t.Helper()
	cfg := tr.Config()
	m := bnodes(tr)
	relays := nodes(tr)
	for id, n := range m {
		if _, ok := relays[id]; ok {
			t.Fatalf("%s is both a relay and a browser node", id)
		}
		if !n.Carries && n.Parent == "" {
			t.Fatalf("%s neither carries nor is fed by a carrier, yet is tracked", id)
		}
		if len(n.Children) > cfg.BrowserChildren {
			t.Fatalf("%s feeds %d viewers, cap %d", id, len(n.Children), cfg.BrowserChildren)
		}
		if n.Hops > cfg.BrowserDepth {
			t.Fatalf("%s at %d browser hops, cap %d", id, n.Hops, cfg.BrowserDepth)
		}
		for _, k := range n.Children {
			if c, ok := m[k]; !ok || c.Parent != id {
				t.Fatalf("%s lists child %s whose parent is %q", id, k, c.Parent)
			}
		}
		hops := 0
		for cur := n; cur.Parent != ""; hops++ {
			p, ok := m[cur.Parent]
			if !ok || !p.Carries || p.Stream != n.Stream || !slices.Contains(p.Children, cur.ID) {
				t.Fatalf("%s: parent %s of %s is %+v", id, cur.Parent, cur.ID, p)
			}
			if hops > len(m) {
				t.Fatalf("cycle through %s", id)
			}
			cur = p
		}
		if hops != n.Hops {
			t.Fatalf("%s says %d hops, has %d", id, n.Hops, hops)
		}
	}
	// The index of carriers with a free slot matches the nodes.
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for id, n := range tr.browsers {
		open := n.carries && len(n.kids) < min(n.room, cfg.BrowserChildren)
		if tr.open[n.stream][n] != open {
			t.Fatalf("%s: open %v, indexed %v", id, open, tr.open[n.stream][n])
		}
	}
	for stream, set := range tr.open {
		for n := range set {
			if tr.browsers[n.id] != n || n.stream != stream {
				t.Fatalf("index holds %s (%s), not a node of %s", n.id, n.stream, stream)
			}
		}
		if len(set) == 0 {
			t.Fatalf("empty index of %s kept", stream)
		}
	}
}

func TestBrowserSteadinessGate(t *testing.T) {
	tr := New(Config{})
	tr.JoinBrowser("a", "s", 2, t0)
	now := t0
	heard := func(d time.Duration, m BrowserMeasure) {
		for end := now.Add(d); now.Before(end); {
			now = now.Add(250 * time.Millisecond)
			tr.HeardBrowser("a", m, now)
		}
	}
	place := func() bool {
		p, ok := tr.PlaceChild("s", "kid", now)
		if ok {
			if p != "a" {
				t.Fatalf("placed on %q", p)
			}
			tr.LeaveBrowser("kid")
		}
		return ok
	}
	heard(19*time.Second, good)
	if place() {
		t.Fatal("a carrier of 19 s took a child (steady after 20 s)")
	}
	heard(time.Second, good)
	if !place() {
		t.Fatal("a carrier steady for 20 s took no child")
	}
	// Too slow a download for the stream: no children for 20 s after it
	// recovers.
	heard(3*time.Second, BrowserMeasure{Throughput: bitrate / 2, Bitrate: bitrate})
	heard(2*time.Second, good) // the smoothed throughput climbs back
	if place() {
		t.Fatal("a carrier that could not keep up with the stream took a child")
	}
	heard(25*time.Second, good)
	if !place() {
		t.Fatal("a carrier good again for 25 s took no child")
	}
	// Loss.
	heard(2*time.Second, BrowserMeasure{Throughput: bitrate, Bitrate: bitrate, Loss: 0.2})
	heard(10*time.Second, good)
	if place() {
		t.Fatal("a carrier with recent loss took a child")
	}
	heard(25*time.Second, good)
	if !place() {
		t.Fatal("a carrier without loss for 25 s took no child")
	}
	// Silent past BrowserExpire: no child even before ExpireBrowsers runs.
	now = now.Add(tr.Config().BrowserExpire + time.Millisecond)
	if place() {
		t.Fatal("a silent carrier took a child")
	}
	// Switch off: no children; on again: the clock starts over.
	tr.HeardBrowser("a", good, now)
	tr.StopCarrying("a")
	tr.JoinBrowser("a", "s", 2, now)
	heard(10*time.Second, good)
	if place() {
		t.Fatal("a carrier that just turned the switch back on took a child")
	}
	if _, ok := tr.PlaceChild("other", "kid", now); ok {
		t.Fatal("a carrier of another stream was given a child")
	}
}

func TestBrowserChildCap(t *testing.T) {
	for _, tc := range []struct{ room, cfg, want int }{{10, 0, 2}, {1, 0, 1}, {0, 0, 0}, {10, 4, 4}, {-3, 0, 0}} {
		tr := New(Config{BrowserChildren: tc.cfg})
		tr.JoinBrowser("a", "s", tc.room, t0)
		now := carriers(tr, "a")
		tr.JoinBrowser("a", "s", tc.room, now) // keeps its clock, takes the room
		got := 0
		for i := range 10 {
			if _, ok := tr.PlaceChild("s", fmt.Sprint("v", i), now); ok {
				got++
			}
		}
		if got != tc.want {
			t.Errorf("room %d, BrowserChildren %d: %d children, want %d", tc.room, tc.cfg, got, tc.want)
		}
		checkBrowsers(t, tr)
	}
}

func TestBrowserDepthCap(t *testing.T) {
	tr := New(Config{BrowserChildren: 1})
	now := carriers(tr, "a", "b", "c")
	// All fed by a server: b goes below a, c below b, then nothing fits.
	if p, _ := tr.PlaceChild("s", "b", now); p != "a" {
		t.Fatalf("b under %q, want a", p)
	}
	if p, _ := tr.PlaceChild("s", "c", now); p != "b" {
		t.Fatalf("c under %q, want b", p)
	}
	if p, ok := tr.PlaceChild("s", "d", now); ok {
		t.Fatalf("d placed under %q at 3 browser hops", p)
	}
	checkBrowsers(t, tr)

	for _, depth := range []int{1, 2} {
		tr := New(Config{BrowserChildren: 1, BrowserDepth: depth})
		now := carriers(tr, "a", "b")
		if _, ok := tr.PlaceChild("s", "b", now); !ok {
			t.Fatal("b not placed below a")
		}
		p, ok := tr.PlaceChild("s", "v", now)
		if want := depth == 2; ok != want || ok && p != "b" {
			t.Fatalf("BrowserDepth %d: v under %q (%v)", depth, p, ok)
		}
		checkBrowsers(t, tr)
	}

	// A carrier with a child does not fit below a carrier at one hop: its
	// child would sit at three.
	tr = New(Config{BrowserChildren: 1})
	now = carriers(tr, "y", "q", "x")
	tr.PlaceChild("s", "q", now) // under x or y: the other keeps its slot
	m := bnodes(tr)
	host := m["q"].Parent
	other := map[string]string{"x": "y", "y": "x"}[host]
	if p, _ := tr.PlaceChild("s", "k", now); p != other {
		t.Fatalf("k under %q, want %s", p, other)
	}
	if p, ok := tr.PlaceChild("s", other, now); ok {
		t.Fatalf("%s with a child placed under %q, its child at 3 hops", other, p)
	}
	checkBrowsers(t, tr)
}

// TestBrowserSubtreeMovesWhole: a carrier moves with its children, only
// where they stay within the depth, and never below its own descendants.
func TestBrowserSubtreeMovesWhole(t *testing.T) {
	tr := New(Config{})
	now := carriers(tr, "x")
	tr.PlaceChild("s", "k1", now)
	tr.PlaceChild("s", "k2", now)
	tr.JoinBrowser("a", "s", 2, now)
	tr.JoinBrowser("k1", "s", 2, now) // x's child turns the switch on
	for end := now.Add(21 * time.Second); now.Before(end); {
		now = now.Add(250 * time.Millisecond)
		for _, id := range []string{"a", "x", "k1"} {
			tr.HeardBrowser(id, good, now)
		}
	}
	// a (fed by a server) takes x, which keeps its children.
	if p, ok := tr.PlaceChild("s", "x", now); !ok || p != "a" {
		t.Fatalf("x moved under %q (%v), want a", p, ok)
	}
	m := bnodes(tr)
	if !slices.Equal(m["x"].Children, []string{"k1", "k2"}) || m["k1"].Hops != 2 {
		t.Fatalf("x's subtree did not move whole: %+v", m)
	}
	checkBrowsers(t, tr)
	// a leaves: x is handed back with its children; the only steady carrier
	// with room is x's own child k1, which it must never go below.
	if got := tr.LeaveBrowser("a"); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("a handed back %v, want [x]", got)
	}
	if p, ok := tr.PlaceChild("s", "x", now); ok {
		t.Fatalf("x placed under %q, its own child", p)
	}
	m = bnodes(tr)
	if m["x"].Parent != "" || !slices.Equal(m["x"].Children, []string{"k1", "k2"}) {
		t.Fatalf("x after a failed placement: %+v", m["x"])
	}
	checkBrowsers(t, tr)
	// Deep enough for k1 to take x's subtree, were it not x's own.
	tr = New(Config{BrowserDepth: 5})
	now = carriers(tr, "x")
	tr.PlaceChild("s", "k1", now)
	tr.JoinBrowser("k1", "s", 2, t0)
	now = now.Add(21 * time.Second)
	tr.HeardBrowser("x", good, now)
	tr.HeardBrowser("k1", good, now)
	if p, ok := tr.PlaceChild("s", "x", now); ok {
		t.Fatalf("x placed under %q, its own child", p)
	}
	checkBrowsers(t, tr)
}

func TestBrowserHandback(t *testing.T) {
	tr := New(Config{BrowserChildren: 3})
	now := carriers(tr, "a", "b", "c")
	// b and c under a; viewers under b and c.
	tr.LeaveBrowser("b")
	tr.LeaveBrowser("c")
	now = now.Add(time.Second)
	tr.JoinBrowser("a", "s", 3, now)
	tr.HeardBrowser("a", good, now)
	tr.PlaceChild("s", "v1", now) // a
	tr.JoinBrowser("b", "s", 2, t0)
	tr.JoinBrowser("c", "s", 2, t0)
	for _, id := range []string{"b", "c"} {
		if p, _ := tr.PlaceChild("s", id, now); p != "a" {
			t.Fatalf("%s under %q", id, p)
		}
		tr.HeardBrowser(id, good, now) // measured now: steady from t0+20s on the clock below
	}
	now = now.Add(21 * time.Second)
	for _, id := range []string{"a", "b", "c"} {
		tr.HeardBrowser(id, good, now)
	}
	for _, v := range []string{"v2", "v3", "v4"} {
		if p, ok := tr.PlaceChild("s", v, now); !ok || p == "a" {
			t.Fatalf("%s under %q (%v), want b or c", v, p, ok)
		}
	}
	checkBrowsers(t, tr)
	m := bnodes(tr)
	bKids := m["b"].Children

	// Switch off: b's children come back at once; b stays a's child.
	if got := tr.StopCarrying("b"); !slices.Equal(got, bKids) {
		t.Fatalf("switch off handed back %v, want %v", got, bKids)
	}
	m = bnodes(tr)
	if m["b"].Parent != "a" || m["b"].Carries || len(m["b"].Children) != 0 {
		t.Fatalf("b after switch off: %+v", m["b"])
	}
	for _, k := range bKids {
		if _, ok := m[k]; ok {
			t.Fatalf("handed-back %s still tracked", k)
		}
	}
	checkBrowsers(t, tr)

	// Leave: a's children come back, the carrier c first (it keeps its own).
	cKids := m["c"].Children
	got := tr.LeaveBrowser("a")
	if want := []string{"c", "b", "v1"}; !slices.Equal(got, want) {
		t.Fatalf("leave handed back %v, want %v", got, want)
	}
	m = bnodes(tr)
	if m["c"].Parent != "" || !slices.Equal(m["c"].Children, cKids) {
		t.Fatalf("c lost its subtree: %+v", m["c"])
	}
	if _, ok := m["a"]; ok {
		t.Fatal("a left but is listed")
	}
	checkBrowsers(t, tr)

	// Stall: c not heard from; its children come back, in the order given.
	silent := now.Add(tr.Config().BrowserExpire)
	if st, or := tr.ExpireBrowsers(silent); st != nil || or != nil {
		t.Fatalf("expired at exactly BrowserExpire: %v %v", st, or)
	}
	st, or := tr.ExpireBrowsers(silent.Add(time.Millisecond))
	if !slices.Equal(st, []string{"c"}) || !slices.Equal(or, cKids) {
		t.Fatalf("expired %v handing back %v; want [c] and %v", st, or, cKids)
	}
	if len(tr.Browsers("", now)) != 0 {
		t.Fatalf("left over: %+v", tr.Browsers("", now))
	}
	if tr.LeaveBrowser("nobody") != nil || tr.StopCarrying("nobody") != nil {
		t.Fatal("unknown ids handed back viewers")
	}
}

// TestBrowserStalledChainHandsBackOnce: a stalled carrier below a stalled
// carrier is reported stalled, not as an orphan to place.
func TestBrowserStalledChainHandsBackOnce(t *testing.T) {
	tr := New(Config{})
	now := carriers(tr, "a")
	tr.JoinBrowser("b", "s", 2, t0)
	tr.PlaceChild("s", "b", now)
	tr.PlaceChild("s", "v", now)
	st, or := tr.ExpireBrowsers(now.Add(time.Minute))
	if !slices.Equal(st, []string{"a", "b"}) || !slices.Equal(or, []string{"v"}) {
		t.Fatalf("stalled %v, orphans %v; want [a b] and [v]", st, or)
	}
	checkBrowsers(t, tr)
}

// TestBrowsersLeaveRelaysAlone: browser nodes never feed server relays, and
// the relays' tree behaves the same with or without them.
func TestBrowsersLeaveRelaysAlone(t *testing.T) {
	plain := New(Config{MaxViewers: 2, OriginRelays: 2})
	mixed := New(Config{MaxViewers: 2, OriginRelays: 2})
	rng := rand.New(rand.NewPCG(5, 6))
	now := t0
	for step := range 2000 {
		now = now.Add(250 * time.Millisecond)
		name := fmt.Sprintf("r%d", rng.IntN(8))
		for _, tr := range []*Tree{plain, mixed} {
			switch step % 4 {
			case 0:
				tr.Join(name, 30, now)
			case 1:
				tr.Heard(name, step%7, Measure{RTT: 20 * time.Millisecond}, now)
			case 2:
				if step%40 == 2 {
					tr.Leave(name, true, now)
				}
			case 3:
				tr.Tick(now)
			}
		}
		// Browsers on the mixed tree only; a relay's name is refused.
		id := fmt.Sprintf("b%d", rng.IntN(12))
		mixed.JoinBrowser(id, "s", 2, t0)
		mixed.HeardBrowser(id, good, now)
		mixed.PlaceChild("s", fmt.Sprint("v", step%30), now)
		if _, known := nodes(mixed)[name]; known {
			mixed.JoinBrowser(name, "s", 2, t0)
			if p, ok := mixed.PlaceChild("s", name, now); ok {
				t.Fatalf("relay %s placed below browser %s", name, p)
			}
			if _, ok := bnodes(mixed)[name]; ok {
				t.Fatalf("relay %s became a browser node", name)
			}
		}
		if p, ok := mixed.Place(2, "", now); ok && p != "" {
			if _, relay := nodes(mixed)[p]; !relay {
				t.Fatalf("Place sent a viewer to %s, not a relay", p)
			}
		}
		plain.Place(2, "", now)
		if a, b := plain.Relays(), mixed.Relays(); !slices.Equal(a, b) {
			t.Fatalf("step %d: relays differ with browsers:\n%+v\n%+v", step, a, b)
		}
		checkTree(t, mixed)
		checkBrowsers(t, mixed)
	}
}

// TestBrowserNoCycles runs random sequences of every browser event and
// checks the rules after each one, and that a child only ever lands on a
// steady carrier.
func TestBrowserNoCycles(t *testing.T) {
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 11))
		tr := New(Config{BrowserSteady: 5 * time.Second, BrowserChildren: 1 + rng.IntN(3), BrowserDepth: 1 + rng.IntN(6)})
		now := t0
		id := func() string { return fmt.Sprintf("b%d", rng.IntN(25)) }
		stream := func() string { return []string{"s", "s", "t"}[rng.IntN(3)] }
		for range 1500 {
			now = now.Add(time.Duration(rng.IntN(600)) * time.Millisecond)
			switch k := rng.IntN(12); {
			case k < 2:
				tr.JoinBrowser(id(), stream(), rng.IntN(4), now)
			case k < 5:
				m := good
				if rng.IntN(10) == 0 {
					m.Loss = 0.5
				}
				tr.HeardBrowser(id(), m, now)
			case k < 8:
				s, v := stream(), id()
				if p, ok := tr.PlaceChild(s, v, now); ok {
					if n := bnodes(tr)[p]; !tr.steadyAt(p, now) || n.Stream != s {
						t.Fatalf("seed %d: %s placed under %+v, not a steady carrier of %s", seed, v, n, s)
					}
				}
			case k < 9:
				tr.LeaveBrowser(id())
			case k < 10:
				tr.StopCarrying(id())
			default:
				_, orphans := tr.ExpireBrowsers(now)
				for _, o := range orphans {
					tr.PlaceChild(stream(), o, now)
				}
			}
			checkBrowsers(t, tr)
		}
	}
}

func (t *Tree) steadyAt(id string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.browsers[id]
	return n != nil && t.steady(n, now)
}

// TestBrowserConcurrentUse drives browser and relay calls from several
// goroutines; run with -race.
func TestBrowserConcurrentUse(t *testing.T) {
	tr := New(Config{MaxViewers: 1, BrowserSteady: time.Second})
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			now := t0
			for i := range 400 {
				now = now.Add(50 * time.Millisecond)
				id := fmt.Sprintf("b%d", (g*5+i)%11)
				switch i % 8 {
				case 0:
					tr.JoinBrowser(id, "s", 2, now)
				case 1, 2:
					tr.HeardBrowser(id, good, now)
				case 3:
					tr.PlaceChild("s", id, now)
				case 4:
					tr.Browsers("s", now)
					tr.Join(fmt.Sprint("r", g), 20, now)
				case 5:
					if i%40 == 5 {
						tr.LeaveBrowser(id)
					}
					tr.Tick(now)
				case 6:
					if i%56 == 6 {
						tr.StopCarrying(id)
					}
				case 7:
					tr.ExpireBrowsers(now)
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
	checkBrowsers(t, tr)
	checkTree(t, tr)
}

// TestDropChild: a child that lost its carrier is fed by a server again;
// the carrier has its slot back; a carrying child stays a carrier with its
// own children.
func TestDropChild(t *testing.T) {
	tr := New(Config{})
	now := carriers(tr, "a")
	if p, ok := tr.PlaceChild("s", "v", now); !ok || p != "a" {
		t.Fatalf("v placed on %q %v, want a", p, ok)
	}
	if p := tr.DropChild("v"); p != "a" {
		t.Fatalf("DropChild(v) = %q, want a", p)
	}
	if _, ok := bnodes(tr)["v"]; ok {
		t.Error("a dropped viewer that does not carry is still tracked")
	}
	if p := tr.DropChild("v"); p != "" {
		t.Errorf("DropChild of a viewer fed by a server = %q, want \"\"", p)
	}
	// a carrier b fed by a, feeding c: dropped, it keeps c.
	tr.JoinBrowser("b", "s", 2, t0)
	for now2 := t0; now2.Before(now); now2 = now2.Add(250 * time.Millisecond) {
		tr.HeardBrowser("b", good, now2)
	}
	tr.HeardBrowser("a", good, now)
	tr.HeardBrowser("b", good, now)
	if p, ok := tr.PlaceChild("s", "b", now); !ok || p != "a" {
		t.Fatalf("b placed on %q %v, want a", p, ok)
	}
	if p, ok := tr.PlaceChild("s", "c", now); !ok {
		t.Fatalf("c not placed (%q)", p)
	}
	c := bnodes(tr)["c"].Parent
	if p := tr.DropChild("b"); p != "a" {
		t.Fatalf("DropChild(b) = %q, want a", p)
	}
	m := bnodes(tr)
	if b := m["b"]; !b.Carries || b.Parent != "" || b.Hops != 0 {
		t.Errorf("b after the drop: %+v, want a carrier fed by a server", b)
	}
	if m["c"].Parent != c {
		t.Errorf("c's parent changed from %q to %q", c, m["c"].Parent)
	}
	if len(m["a"].Children) > 1 || slices.Contains(m["a"].Children, "b") {
		t.Errorf("a still feeds %v", m["a"].Children)
	}
	checkBrowsers(t, tr)
}
