package chain

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// beat sends every connected relay a heartbeat with its current viewers.
func beat(tr *Tree, now time.Time) {
	for _, n := range tr.Relays() {
		if n.Connected {
			tr.Heard(n.Name, n.Viewers, Measure{RTT: 20 * time.Millisecond}, now)
		}
	}
}

func nodes(tr *Tree) map[string]Node {
	m := map[string]Node{}
	for _, n := range tr.Relays() {
		m[n.Name] = n
	}
	return m
}

// checkTree asserts the structural invariants: every relay in the tree
// reaches the origin through connected relays at the depth it says, children
// counts match, and the origin feeds at most its budget.
func checkTree(t *testing.T, tr *Tree) {
	t.Helper()
	m := nodes(tr)
	kids := map[string]int{}
	for _, n := range m {
		if n.Depth > 0 {
			kids[n.Parent]++
		}
		if !n.Connected && n.Depth != 0 {
			t.Fatalf("disconnected %s at depth %d", n.Name, n.Depth)
		}
		if n.Depth == 0 {
			continue
		}
		cur, hops := n, 0
		for cur.Parent != "" {
			p, ok := m[cur.Parent]
			if !ok || !p.Connected || p.Depth != cur.Depth-1 {
				t.Fatalf("%s: parent %s of %s is %+v", n.Name, cur.Parent, cur.Name, p)
			}
			cur = p
			if hops++; hops > len(m) {
				t.Fatalf("cycle through %s", n.Name)
			}
		}
		if cur.Depth != 1 {
			t.Fatalf("%s reaches the origin through %s at depth %d", n.Name, cur.Name, cur.Depth)
		}
	}
	if kids[""] > tr.Config().OriginRelays {
		t.Fatalf("origin feeds %d relays, budget %d", kids[""], tr.Config().OriginRelays)
	}
	for name, n := range m {
		if n.Depth > 0 && n.Children != kids[name] {
			t.Fatalf("%s says %d children, has %d", name, n.Children, kids[name])
		}
	}
}

func TestPlaceOriginThenRelays(t *testing.T) {
	tests := []struct {
		name      string
		max       int
		relays    int
		originHas int
		want      string
		wantOK    bool
	}{
		{"no limit", 0, 1, 1000, "", true},
		{"origin has room", 5, 1, 4, "", true},
		{"origin full, a relay", 5, 1, 5, "r0", true},
		{"origin full, no relay", 5, 0, 5, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(Config{MaxViewers: tc.max})
			for i := range tc.relays {
				tr.Join(fmt.Sprintf("r%d", i), 10, t0)
			}
			got, ok := tr.Place(tc.originHas, "", t0)
			if got != tc.want || ok != tc.wantOK {
				t.Fatalf("Place = %q, %v; want %q, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestPlaceRespectsCapacityAndReservations(t *testing.T) {
	tr := New(Config{MaxViewers: 1, Reserve: 3 * time.Second})
	tr.Join("a", 10, t0) // 2 slots kept for child relays: 8 viewers
	for i := range 8 {
		if r, ok := tr.Place(1, "", t0); r != "a" || !ok {
			t.Fatalf("placement %d: %q %v", i, r, ok)
		}
	}
	if r, ok := tr.Place(1, "", t0); ok {
		t.Fatalf("9th viewer placed on %q beyond capacity", r)
	}
	// The heartbeat counts the 8 viewers: their reservations become viewers,
	// the relay stays full.
	now := t0.Add(500 * time.Millisecond)
	tr.Heard("a", 8, Measure{}, now)
	if n := nodes(tr)["a"]; n.Load != 8 {
		t.Fatalf("load after heartbeat %d, want 8", n.Load)
	}
	if _, ok := tr.Place(1, "", now); ok {
		t.Fatal("placed on a relay whose heartbeat says it is full")
	}
	// Three leave: room for three.
	tr.Heard("a", 5, Measure{}, now)
	for i := range 3 {
		if _, ok := tr.Place(1, "", now); !ok {
			t.Fatalf("placement %d after departures refused", i)
		}
	}
	if _, ok := tr.Place(1, "", now); ok {
		t.Fatal("placed beyond capacity with reservations pending")
	}
	// Viewers placed but never connected: the reservations lapse.
	later := now.Add(3 * time.Second)
	tr.Heard("a", 5, Measure{}, later)
	if _, ok := tr.Place(1, "", later); !ok {
		t.Fatal("lapsed reservations still hold the slots")
	}
}

func TestPlaceSpreadsABurst(t *testing.T) {
	tr := New(Config{MaxViewers: 1})
	tr.Join("a", 50, t0)
	tr.Join("b", 50, t0)
	got := map[string]int{}
	for range 20 {
		r, _ := tr.Place(1, "", t0)
		got[r]++
	}
	if got["a"] < 8 || got["b"] < 8 {
		t.Fatalf("a burst of 20 went %v; want it spread", got)
	}
}

func TestPlaceAvoid(t *testing.T) {
	tr := New(Config{MaxViewers: 1})
	tr.Join("a", 100, t0)
	if r, ok := tr.Place(1, "a", t0); ok {
		t.Fatalf("the only relay was to be avoided, got %q", r)
	}
	tr.Join("b", 10, t0)
	for range 5 {
		if r, _ := tr.Place(1, "a", t0); r != "b" {
			t.Fatalf("placed on %q, want b (a avoided)", r)
		}
	}
}

func TestExpiry(t *testing.T) {
	tr := New(Config{MaxViewers: 1, OriginRelays: 1, Expire: time.Second})
	tr.Join("top", 100, t0)
	tr.Join("mid", 100, t0)
	tr.Join("leaf", 100, t0)
	if p, _ := tr.Parent("mid"); p != "top" {
		t.Fatalf("mid under %q, want top", p)
	}
	tr.Tick(t0)
	// top goes silent; the others keep beating.
	now := t0
	for range 4 {
		now = now.Add(400 * time.Millisecond)
		tr.Heard("mid", 0, Measure{}, now)
		tr.Heard("leaf", 0, Measure{}, now)
	}
	if r, _ := tr.Place(1, "", now); r == "top" {
		t.Fatal("placed on a relay not heard from for longer than Expire")
	}
	moved := tr.Tick(now)
	if fmt.Sprint(moved) != "[leaf mid]" {
		t.Fatalf("moved %v, want top's children [leaf mid]", moved)
	}
	pm, _ := tr.Parent("mid")
	pl, _ := tr.Parent("leaf")
	if !(pm == "" && pl == "mid" || pm == "leaf" && pl == "") {
		t.Fatalf("after top expired: mid under %q, leaf under %q; want one under the origin, the other under it", pm, pl)
	}
	if _, ok := tr.Parent("top"); ok {
		t.Fatal("an expired relay still has a parent")
	}
	n := nodes(tr)["top"]
	if n.Connected || n.Failures != 1 {
		t.Fatalf("expired top: %+v", n)
	}
	checkTree(t, tr)
	// A heartbeat brings it back, low.
	tr.Heard("top", 0, Measure{}, now)
	if p, ok := tr.Parent("top"); !ok || p == "" {
		t.Fatalf("returning relay placed under %q (%v), want under a relay", p, ok)
	}
	checkTree(t, tr)
}

func TestLeaveMovesChildrenUpNeverBelow(t *testing.T) {
	tr := New(Config{OriginRelays: 1})
	for i := range 12 {
		tr.Join(fmt.Sprintf("r%02d", i), 40, t0)
	}
	tr.Tick(t0)
	top := ""
	for _, n := range tr.Relays() {
		if n.Depth == 1 {
			top = n.Name
		}
	}
	before := nodes(tr)
	now := t0.Add(time.Second)
	beat(tr, now)
	tr.Leave(top, true, now)
	moved := tr.Tick(now)
	checkTree(t, tr)
	want := 0
	for _, n := range before {
		if n.Parent == top {
			want++
		}
	}
	if len(moved) != want {
		t.Fatalf("moved %v, want the %d children of %s", moved, want, top)
	}
	after := nodes(tr)
	for _, name := range moved {
		if after[name].Depth == 0 {
			t.Fatalf("%s left without a parent", name)
		}
	}
	// One of them took the freed origin slot.
	if after[moved[0]].Depth != 1 && after[moved[len(moved)-1]].Depth != 1 {
		t.Fatalf("no orphan took the origin slot: %v", after)
	}
}

func TestForget(t *testing.T) {
	tr := New(Config{OriginRelays: 1})
	tr.Join("a", 40, t0)
	tr.Join("b", 40, t0)
	tr.Join("c", 40, t0)
	tr.Forget("a")
	if _, ok := tr.Parent("a"); ok {
		t.Fatal("a forgotten relay has a parent")
	}
	if _, ok := nodes(tr)["a"]; ok {
		t.Fatal("a forgotten relay is still listed")
	}
	checkTree(t, tr)
	if n := nodes(tr); n["b"].Depth+n["c"].Depth != 3 {
		t.Fatalf("after forgetting the top: %+v", n)
	}
	tr.Leave("b", false, t0)
	tr.Heard("b", 0, Measure{}, t0) // a heartbeat that crossed the goodbye
	if _, ok := tr.Parent("b"); ok {
		t.Fatal("a late heartbeat revived a relay that said goodbye")
	}
	tr.Join("b", 40, t0)
	if _, ok := tr.Parent("b"); !ok {
		t.Fatal("Join did not bring b back")
	}
	checkTree(t, tr)
	tr.Forget("nobody")
	tr.Leave("nobody", true, t0)
	tr.Heard("nobody", 3, Measure{}, t0)
	if len(tr.Relays()) != 2 {
		t.Fatal("unknown names created relays")
	}
}

func TestDepthIsLogarithmic(t *testing.T) {
	for _, n := range []int{10, 100, 500} {
		tr := New(Config{})
		for i := range n {
			tr.Join(fmt.Sprintf("r%03d", i), 20+i%200, t0)
		}
		deepest := 0
		for _, nd := range tr.Relays() {
			deepest = max(deepest, nd.Depth)
		}
		if limit := 1 + int(math.Ceil(math.Log2(float64(n)))); deepest > limit {
			t.Fatalf("%d relays: depth %d, want at most %d", n, deepest, limit)
		}
		checkTree(t, tr)
	}
}

// TestBetterRelaysSitHigher runs a population where a third of the relays
// fail often; after a while with rebalancing the steady ones hold the top.
func TestBetterRelaysSitHigher(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tr := New(Config{OriginRelays: 2})
	const n = 30
	flaky := func(i int) bool { return i%3 == 0 }
	down := map[string]time.Time{}
	now := t0
	for i := range n {
		tr.Join(fmt.Sprintf("r%02d", i), 40, now)
	}
	for step := range 20 * 60 * 4 { // 20 minutes in 250 ms steps
		now = t0.Add(time.Duration(step) * 250 * time.Millisecond)
		for i := range n {
			name := fmt.Sprintf("r%02d", i)
			if at, ok := down[name]; ok {
				if now.Sub(at) > 20*time.Second {
					delete(down, name)
					tr.Join(name, 40, now)
				}
				continue
			}
			if flaky(i) && rng.Float64() < 0.002 { // about every 2 minutes
				down[name] = now
				continue
			}
			tr.Heard(name, 0, Measure{RTT: 30 * time.Millisecond, Throughput: 1e6}, now)
		}
		tr.Tick(now)
		checkTree(t, tr)
	}
	var sum [2]float64
	var cnt [2]int
	for _, nd := range tr.Relays() {
		var i int
		fmt.Sscanf(nd.Name, "r%d", &i)
		if nd.Depth == 0 {
			continue
		}
		k := 0
		if flaky(i) {
			k = 1
		}
		sum[k] += float64(nd.Depth)
		cnt[k]++
		if nd.Depth == 1 && flaky(i) {
			t.Errorf("flaky %s feeds from the origin", nd.Name)
		}
	}
	steady, shaky := sum[0]/float64(cnt[0]), sum[1]/float64(cnt[1])
	if steady >= shaky {
		t.Fatalf("steady relays at mean depth %.2f, flaky ones at %.2f: want the steady higher", steady, shaky)
	}
}

// TestNoCycles runs random sequences of every event and checks after each
// one that the relays form a tree within the origin's budget.
func TestNoCycles(t *testing.T) {
	for seed := range uint64(30) {
		rng := rand.New(rand.NewPCG(seed, 7))
		tr := New(Config{MaxViewers: 3, OriginRelays: 1 + rng.IntN(3), Expire: time.Second, Rebalance: 5 * time.Second})
		now := t0
		name := func() string { return fmt.Sprintf("r%d", rng.IntN(15)) }
		for range 600 {
			now = now.Add(time.Duration(rng.IntN(800)) * time.Millisecond)
			switch k := rng.IntN(10); {
			case k < 3:
				tr.Join(name(), 1+rng.IntN(20), now)
			case k < 4:
				tr.Leave(name(), rng.IntN(2) == 0, now)
			case k < 5 && rng.IntN(4) == 0:
				tr.Forget(name())
			case k < 7:
				tr.Heard(name(), rng.IntN(10), Measure{RTT: time.Duration(rng.IntN(300)) * time.Millisecond, Loss: rng.Float64() / 10, Throughput: rng.Float64() * 1e7}, now)
			case k < 8:
				tr.Place(3, name(), now)
			default:
				tr.Tick(now)
			}
			checkTree(t, tr)
		}
	}
}

// TestRebalanceHysteresis: without failures, a relay changes parent at most
// once per Rebalance period, however the scores move.
func TestRebalanceHysteresis(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	tr := New(Config{OriginRelays: 2})
	now := t0
	parent := map[string]string{}
	last := map[string]time.Time{}
	for i := range 40 {
		name := fmt.Sprintf("r%02d", i)
		now = now.Add(3 * time.Second) // joining at different times gives different scores
		tr.Join(name, 30+rng.IntN(100), now)
		p, _ := tr.Parent(name)
		parent[name] = p
		for j := range i {
			tr.Heard(fmt.Sprintf("r%02d", j), 0, Measure{RTT: 20 * time.Millisecond}, now)
		}
		tr.Tick(now)
	}
	moves := 0
	for step := range 15 * 60 * 4 {
		now = now.Add(250 * time.Millisecond)
		// Every 3 minutes the good and the bad half trade places: a strong
		// pull to rebalance, all the time.
		bad := int(now.Sub(t0)/(3*time.Minute)) % 2
		for i := range 40 {
			m := Measure{RTT: time.Duration(5+rng.IntN(50)) * time.Millisecond, Loss: rng.Float64() * 0.01, Throughput: 1e7}
			if i%2 == bad {
				m = Measure{RTT: 500 * time.Millisecond, Loss: 0.2, Throughput: 1e6}
			}
			tr.Heard(fmt.Sprintf("r%02d", i), 0, m, now)
		}
		for _, m := range tr.Tick(now) {
			p, ok := tr.Parent(m)
			if !ok {
				t.Fatalf("step %d: %s lost its parent without a failure", step, m)
			}
			if at, ok := last[m]; ok && now.Sub(at) < time.Minute {
				t.Fatalf("%s moved at %v and again at %v", m, at.Sub(t0), now.Sub(t0))
			}
			last[m] = now
			parent[m] = p
			moves++
		}
		checkTree(t, tr)
	}
	if moves == 0 {
		t.Fatal("no rebalancing happened: the test proves nothing")
	}
	t.Logf("%d rebalancing moves", moves)
}

// TestConcurrentUse drives one tree from several goroutines, as the origin's
// handlers and its ticker do; run with -race.
func TestConcurrentUse(t *testing.T) {
	tr := New(Config{MaxViewers: 1})
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			now := t0
			for i := range 300 {
				now = now.Add(10 * time.Millisecond)
				name := fmt.Sprintf("r%d", (g*7+i)%9)
				switch i % 6 {
				case 0:
					tr.Join(name, 50, now)
				case 1:
					tr.Heard(name, i%20, Measure{RTT: time.Millisecond}, now)
				case 2:
					tr.Place(1, "", now)
				case 3:
					tr.Tick(now)
				case 4:
					tr.Relays()
					tr.Parent(name)
				case 5:
					if i%60 == 5 {
						tr.Leave(name, g%2 == 0, now)
					}
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
	checkTree(t, tr)
}

func TestExpireCappedByContract(t *testing.T) {
	if got := New(Config{Expire: time.Minute}).Config().Expire; got != MaxExpire {
		t.Fatalf("Expire %v, want capped at %v", got, MaxExpire)
	}
	if got := New(Config{}).Config().Expire; got != DefaultExpire {
		t.Fatalf("Expire %v, want the default %v", got, DefaultExpire)
	}
}

// TestNewRelaysStartLow: a relay that just joined does not take a free
// origin slot from relays that have been up for longer; the next rebalance
// lifts the best settled relay into it.
func TestNewRelaysStartLow(t *testing.T) {
	tr := New(Config{OriginRelays: 2})
	now := t0
	tr.Join("a", 100, now)
	tr.Join("b", 100, now)
	tr.Join("c", 100, now) // all new at the start: fill the tree as they come
	run := func(d time.Duration) {
		for end := now.Add(d); now.Before(end); {
			now = now.Add(250 * time.Millisecond)
			beat(tr, now)
			tr.Tick(now)
		}
	}
	run(5 * time.Minute)
	if p, _ := tr.Parent("c"); p == "" {
		t.Fatal("setup: c should sit under a relay")
	}
	tr.Leave("b", false, now)
	tr.Join("d", 1000, now)
	if p, ok := tr.Parent("d"); !ok || p == "" {
		t.Fatalf("new relay d under %q (%v); want under a relay, not the origin", p, ok)
	}
	run(2 * time.Minute)
	if p, _ := tr.Parent("c"); p != "" {
		t.Fatalf("the freed origin slot did not go to c, up for 5 minutes (c under %q)", p)
	}
	checkTree(t, tr)
}
