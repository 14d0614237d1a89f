package sim

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Report is what a run measured.
type Report struct {
	Options
	Budget            int // MaxViewers + OriginRelays; 0 when MaxViewers is 0 (no limit)
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

	OriginCopiesMean float64 // the origin's upload copies, mean over the run after the ramp
	ServerCopiesMean float64 // all servers' (origin and relays) upload copies, mean after the ramp
	Without          *Copies // the same population without carriers (set when Carriers > 0)
	FedByCarriers    float64 // viewers with picture from a carrier, mean after the ramp
	BrowserHopsMax   int     // the most browser hops above a viewer
	Handbacks        int     // viewers handed back by a carrier leaving, stalling or switching off
	SwitchedOff      int     // carriers that turned the switch off
	CarrierMisplaced int     // placements on a carrier that had vanished, not yet expired
	GoodbyeGap       Gaps    // a child's time without picture after its carrier said goodbye or switched off
	VanishGap        Gaps    // the same after its carrier vanished (noticed after BrowserExpire)
}

// Copies is what the servers sent, for the comparison without carriers.
type Copies struct {
	OriginMax              int
	OriginMean, ServerMean float64
	Refused, Playing       int // placements refused (503); viewers playing at the end
}

// Gaps summarises durations.
type Gaps struct {
	N             int
	P50, P99, Max time.Duration
}

func (g Gaps) String() string {
	return fmt.Sprintf("%d, p50 %v, p99 %v, max %v", g.N, g.P50, g.P99, g.Max)
}

func pcts(d []time.Duration) Gaps {
	slices.Sort(d)
	n := len(d)
	if n == 0 {
		return Gaps{}
	}
	return Gaps{N: n, P50: d[n/2], P99: d[min(n*99/100, n-1)], Max: d[n-1]}
}

// Goals lists the promises a run broke: origin copies within the budget,
// depth p99 at most 6, no viewer moved twice within a minute without a
// failure upstream.
func (r Report) Goals() []string {
	var bad []string
	if r.Budget > 0 && r.OriginCopiesMax > r.Budget {
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
	if r.Budget > 0 {
		fmt.Fprintf(&b, "origin upload copies:   max %d (budget %d)\n", r.OriginCopiesMax, r.Budget)
	} else {
		fmt.Fprintf(&b, "origin upload copies:   max %d (no --max-viewers)\n", r.OriginCopiesMax)
	}
	fmt.Fprintf(&b, "viewer depth (hops):    p50 %d, p99 %d, max %d\n", r.DepthP50, r.DepthP99, r.DepthMax)
	fmt.Fprintf(&b, "relay failures:         %d; viewers affected per failure p50 %d, max %d\n", r.RelayFailures, r.AffectedP50, r.AffectedMax)
	fmt.Fprintf(&b, "relink (failure→play):  %d viewers, p50 %v, p99 %v, max %v (detection: expiry after Expire + up to one heartbeat; then re-placement or re-parenting + join)\n",
		r.Relinks, r.RelinkP50, r.RelinkP99, r.RelinkMax)
	fmt.Fprintf(&b, "placements refused:     %d (503, retried after 1s); on a dead relay not yet expired: %d\n", r.Refused, r.Misplaced)
	fmt.Fprintf(&b, "rebalancing:            %d relay moves; %d viewer moves without a failure upstream, at most %d per viewer per minute\n",
		r.RelayMoves, r.ViewerMoves, r.MaxMovesPerMinute)
	fmt.Fprintf(&b, "playing at the end:     %d\n", r.Playing)
	if r.Carriers > 0 {
		r.carriers(&b)
	}
	if bad := r.Goals(); len(bad) > 0 {
		fmt.Fprintf(&b, "GOALS MISSED: %s\n", strings.Join(bad, "; "))
	} else {
		b.WriteString("goals met: origin copies within budget, depth p99 <= 6, no viewer moved twice a minute without a failure upstream\n")
	}
	return b.String()
}

func (r Report) carriers(b *strings.Builder) {
	mins := r.Duration.Minutes()
	fmt.Fprintf(b, "carriers:               %.3g%% of viewers opt in, %.3g%% of departures without goodbye, %.3g%%/min switch off; viewers leave %.3g%%/min (mean session %.3g min)\n",
		r.Carriers*100, r.Vanish*100, r.SwitchOff*100, r.Churn*100, 1/max(r.Churn, 1e-9))
	fmt.Fprintf(b, "upload copies, mean:    origin %.1f, all servers %.1f", r.OriginCopiesMean, r.ServerCopiesMean)
	if w := r.Without; w != nil {
		fmt.Fprintf(b, "\n  without carriers:     origin %.1f (max %d), all servers %.1f; %d refused, %d playing at the end", w.OriginMean, w.OriginMax, w.ServerMean, w.Refused, w.Playing)
	}
	b.WriteString("\n")
	fmt.Fprintf(b, "fed by carriers:        %.1f viewers (mean); at most %d browser hops\n", r.FedByCarriers, r.BrowserHopsMax)
	fmt.Fprintf(b, "handed back:            %d viewers, %.1f/min; placed on a vanished carrier: %d; switched off: %d\n",
		r.Handbacks, float64(r.Handbacks)/mins, r.CarrierMisplaced, r.SwitchedOff)
	fmt.Fprintf(b, "no picture after goodbye or switch-off: %v\n", r.GoodbyeGap)
	fmt.Fprintf(b, "no picture after vanish:  %v\n", r.VanishGap)
}
