package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/loadtest"
)

// TestRelayChainBenchmark is the stream chain's closing-note benchmark
// (issue 11, "Benchmarks" and "Cost of each hop"), run only when
// FEDWAVE_CHAIN_BENCH=1:
//
//	FEDWAVE_CHAIN_BENCH=1 go test -run TestRelayChainBenchmark -v -timeout 30m ./cmd/fedwave
//
// An origin process with --max-viewers 20 and --origin-relays 1, three
// relay processes (r1 fed by the origin with --capacity 60, r2 and r3 fed
// by r1 with --capacity 200, so that either takes the viewers of any relay
// killed), a synthetic publisher and FEDWAVE_CHAIN_VIEWERS (200) chain
// viewers in this process. It reports the join time direct and through a
// relay, the origin's upload copies, CPU per viewer on the origin and on a
// relay, the send→receive delay per depth, loss, and the relink times of
// FEDWAVE_CHAIN_KILLS (10) SIGKILLs of the relay with the most viewers.
func TestRelayChainBenchmark(t *testing.T) {
	if os.Getenv("FEDWAVE_CHAIN_BENCH") == "" {
		t.Skip("set FEDWAVE_CHAIN_BENCH=1 to run the stream chain benchmark")
	}
	nViewers, kills := envInt("FEDWAVE_CHAIN_VIEWERS", 200), envInt("FEDWAVE_CHAIN_KILLS", 10)
	window := time.Duration(envInt("FEDWAVE_CHAIN_WINDOW", 20)) * time.Second
	bitrate := envInt("FEDWAVE_CHAIN_BITRATE", 500_000)

	c := startChainChild(t, "--max-viewers", "20", "--origin-relays", "1")
	c.wait = 2 * time.Minute
	tokens := map[string]string{}
	relays := map[string]*relayProc{}
	flags := map[string][]string{}
	start := func(name string, extra ...string) {
		if tokens[name] == "" { // the first start; a restart keeps the token and flags
			r := c.s.Do("POST", "/api/v1/relays", map[string]string{"name": name}, c.admin)
			tokens[name], _ = r.Body["token"].(string)
			flags[name] = extra
		}
		relays[name] = runRelay(t, c.bin, name, c.s.URL, tokens[name], flags[name]...)
	}
	start("r1", "--capacity", "60")
	c.waitRelays("r1", func(m map[string]relayView) bool { return m["r1"].Connected })
	start("r2", "--capacity", "200") // room for the viewers of any relay killed
	start("r3", "--capacity", "200")
	c.waitRelays("r2 and r3 under r1", func(m map[string]relayView) bool { return m["r2"].Parent == "r1" && m["r3"].Parent == "r1" })
	p, err := loadtest.Publish(context.Background(), loadtest.MediaOptions{WHIP: c.s.URL + "/whip/alice", Key: c.key, Bitrate: bitrate})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	// Joins: the first 40 one at a time (20 direct, 20 through a relay),
	// the rest ten at a time.
	var measuring atomic.Bool
	viewers := make([]*loadtest.ChainViewer, 0, nViewers)
	joinOne := func() *loadtest.ChainViewer {
		v, err := loadtest.WatchChain(context.Background(), loadtest.ChainOptions{WHEP: c.s.URL + "/whep/alice", API: c.api, Measuring: &measuring})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	var direct, relayed []time.Duration
	for range min(40, nViewers) {
		v := joinOne()
		viewers = append(viewers, v)
		c.waitFor("a join", func() bool { return v.State().Playing })
		if s := v.State(); s.Host == c.host {
			direct = append(direct, s.Join)
		} else {
			relayed = append(relayed, s.Join)
		}
	}
	for len(viewers) < nViewers {
		batch := make([]*loadtest.ChainViewer, 0, 10)
		for range min(10, nViewers-len(viewers)) {
			batch = append(batch, joinOne())
		}
		viewers = append(viewers, batch...)
		c.waitPlaying(batch, "a batch of viewers")
	}
	defer func() {
		for _, v := range viewers {
			v.Close()
		}
	}()
	c.viewers = viewers
	c.waitPlaying(viewers, "every viewer")
	t.Logf("join, first video packet: direct p50 %s p99 %s (%d); through a relay p50 %s p99 %s (%d)",
		pct(direct, 0.5), pct(direct, 0.99), len(direct), pct(relayed, 0.5), pct(relayed, 0.99), len(relayed))

	// The measuring window: CPU of each process, delays per depth.
	time.Sleep(2 * time.Second)
	list := c.relayList()
	depth := map[string]int{c.host: 0}
	for name, r := range relays {
		depth[r.host] = 1
		if list[name].Parent != "" {
			depth[r.host] = 2
		}
	}
	procs := map[string]int{"origin": c.pid}
	for name, r := range relays {
		procs[name] = r.cmd.Process.Pid
	}
	before := map[string][2]float64{}
	for name, pid := range procs {
		before[name] = procCPU(pid)
	}
	measuring.Store(true)
	time.Sleep(window)
	measuring.Store(false)
	hosts := map[string]int{}
	byDepth := map[int][]*loadtest.ChainViewer{}
	for _, v := range viewers {
		h := v.State().Host
		hosts[h]++
		byDepth[depth[h]] = append(byDepth[depth[h]], v)
	}
	var tree struct{ Root treeNode }
	getJSON(t, c.s.URL+"/api/v1/channels/alice/tree", c.owner, &tree)
	copies := tree.Root.Viewers // as the origin counts them
	for _, r := range list {
		if r.Connected && r.Parent == "" {
			copies++
		}
	}
	var report strings.Builder
	fmt.Fprintf(&report, "%d viewers, VP8 %d kbit/s + Opus; window %s\n", nViewers, bitrate/1000, window)
	fmt.Fprintf(&report, "origin upload copies %d (%d viewers + %d relay pulls; the viewers say %d are on the origin)\n",
		copies, tree.Root.Viewers, copies-tree.Root.Viewers, hosts[c.host])
	for _, name := range []string{"origin", "r1", "r2", "r3"} {
		cpu := procCPU(procs[name])
		user, sys := (cpu[0]-before[name][0])/window.Seconds(), (cpu[1]-before[name][1])/window.Seconds()
		host, sessions := c.host, copies
		if r := relays[name]; r != nil {
			host = r.host
			sessions = hosts[host]
			for _, o := range list {
				if o.Connected && o.Parent == name {
					sessions++ // a child relay's pull
				}
			}
		}
		fmt.Fprintf(&report, "%-6s depth %d  viewers %3d  sessions %3d  CPU user %.1f%% sys %.1f%% of a core: %.3f%% per session\n",
			name, depth[host], hosts[host], sessions, 100*user, 100*sys, 100*(user+sys)/float64(max(sessions, 1)))
	}

	t.Logf("\n%s", report.String())
	report.Reset()

	// Kills: SIGKILL the relay with the most viewers, wait for every viewer
	// to play again and the tree to be whole, start it again.
	var gaps []time.Duration
	for round := range kills {
		victim := ""
		counts := hostsOf(viewers)
		for name, r := range relays {
			if victim == "" || counts[r.host] > counts[relays[victim].host] {
				victim = name
			}
		}
		r := relays[victim]
		at := time.Now()
		r.kill()
		if !eventually(time.Minute, func() bool {
			for _, v := range viewers {
				if s := v.State(); !s.Playing || s.Host == r.host {
					return false
				}
			}
			return true
		}) {
			t.Errorf("kill %d (%s): not every viewer plays again within a minute:%s", round+1, victim, c.viewerStates())
			break
		}
		var these, answers, media []time.Duration
		for _, v := range viewers {
			for _, rl := range v.State().Relinks {
				if rl.At.After(at) {
					these, answers, media = append(these, rl.Gap), append(answers, rl.Answer), append(media, rl.Media)
				}
			}
		}
		gaps = append(gaps, these...)
		t.Logf("kill %d: %s with %d viewers; %d relinks p50 %s p99 %s max %s (of which the answer p50 %s p99 %s, answer to video p50 %s p99 %s)",
			round+1, victim, counts[r.host], len(these), pct(these, 0.5), pct(these, 0.99), pct(these, 1), pct(answers, 0.5), pct(answers, 0.99), pct(media, 0.5), pct(media, 0.99))
		start(victim)
		c.waitRelays("three relays in the tree", func(m map[string]relayView) bool {
			n := 0
			for _, v := range m {
				if v.Connected {
					n++
				}
			}
			return n == 3
		})
		time.Sleep(8 * time.Second) // the relays' session rate limit refills (all viewers share one address here)
	}
	if kills > 0 {
		fmt.Fprintf(&report, "relink after a SIGKILL: %d relinks over %d kills, p50 %s p99 %s max %s\n", len(gaps), kills, pct(gaps, 0.5), pct(gaps, 0.99), pct(gaps, 1))
	}

	// Close, then the delays (of the window only) and loss.
	var wg sync.WaitGroup
	stats := make([]loadtest.ChainStats, len(viewers))
	for i, v := range viewers {
		wg.Add(1)
		go func() { defer wg.Done(); stats[i] = v.Close() }()
	}
	wg.Wait()
	for d := 0; d <= 2; d++ {
		ps := loadtest.ChainDelays(byDepth[d])
		fmt.Fprintf(&report, "send→receive, %d relays between: %3d viewers  p50 %s  p99 %s  max %s\n", d, len(byDepth[d]), ps.P50, ps.P99, ps.Max)
	}
	var exp, lost int64
	for _, s := range stats {
		exp, lost = exp+s.Expected, lost+s.Lost
	}
	fmt.Fprintf(&report, "loss %d of %d packets (%.4f%%), the kills included\n", lost, exp, 100*float64(lost)/float64(max(exp, 1)))
	t.Logf("\n%s", report.String())
}

// eventually waits up to d for cond.
func eventually(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n >= 0 {
		return n
	}
	return def
}

// pct is the q quantile of ds (sorted in place).
func pct(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(int(q*float64(len(ds))), len(ds)-1)].Round(time.Millisecond)
}

// procCPU is a process's user and system CPU seconds (Linux).
func procCPU(pid int) [2]float64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return [2]float64{}
	}
	_, rest, _ := strings.Cut(string(data), ") ")
	f := strings.Fields(rest)
	if len(f) < 13 {
		return [2]float64{}
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return [2]float64{u / 100, s / 100}
}

// startChainChild is startChainOrigin with the origin a child process
// (`fedwave serve` with flags), so that its CPU is its own.
func startChainChild(t *testing.T, flags ...string) *chainSite {
	t.Helper()
	dir := t.TempDir()
	for _, u := range [][]string{{"boss", "admin"}, {"alice", "streamer"}} {
		if out, err := runCLI(t, "password1\n", "user", "create", u[0], "--role", u[1], "--password-stdin", "--data", dir); err != nil {
			t.Fatalf("%s %v", out, err)
		}
	}
	c := newChainSite(t)
	addr := freeAddr(t)
	base, cmd, _ := startChildAt(t, c.bin, dir, addr, append([]string{"--media-loopback", "--media-rate", "100000", "--auth-rate", "1000"}, flags...)...)
	c.s = &apiClient{t: t, URL: base}
	c.host, c.pid = addr, cmd.Process.Pid
	c.admin, c.owner = loginToken(t, base, "boss"), loginToken(t, base, "alice")
	r := c.s.Do("POST", "/api/v1/channels/alice/stream-key", nil, c.owner)
	c.key, _ = r.Body["streamKey"].(string)
	if r.Status != http.StatusOK && r.Status != http.StatusCreated || c.key == "" {
		t.Fatalf("stream key: %d %s", r.Status, r.Raw)
	}
	return c
}
