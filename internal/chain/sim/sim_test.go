package sim

import (
	"testing"
	"time"
)

// TestSmallPopulationMeetsGoals runs the simulator small, as CI can afford,
// and checks the promises: the origin within its upload budget, viewers
// within 6 hops, nobody moved twice a minute without a failure upstream,
// and every viewer playing again after relay failures.
func TestSmallPopulationMeetsGoals(t *testing.T) {
	o := Defaults()
	o.Viewers, o.Relays, o.Duration, o.Ramp = 3000, 60, 4*time.Minute, 20*time.Second
	o.CapMin, o.CapMax = 20, 400
	o.Failures = 0.1 // a failure every 10 s or so: relinks to measure, scores that move, rebalancing, so that relinks are measured
	r, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + r.String())
	if bad := r.Goals(); len(bad) > 0 {
		t.Fatalf("goals missed: %v", bad)
	}
	if r.OriginCopiesMax < o.MaxViewers {
		t.Fatalf("origin copies %d: the origin did not even serve its own %d viewers", r.OriginCopiesMax, o.MaxViewers)
	}
	if r.DepthP50 < 2 {
		t.Fatalf("depth p50 %d: the viewers did not go through relays", r.DepthP50)
	}
	if r.RelayMoves == 0 || r.ViewerMoves == 0 {
		t.Fatal("no rebalancing: the stability goal was not exercised")
	}
	if r.RelayFailures == 0 || r.Relinks == 0 {
		t.Fatalf("%d failures, %d relinks: the run measured no relink", r.RelayFailures, r.Relinks)
	}
	if limit := o.Expire + 2*o.Step + o.Join + time.Second; r.RelinkP50 > limit {
		t.Fatalf("relink p50 %v, want within %v", r.RelinkP50, limit)
	}
	if r.Playing < o.Viewers*95/100 {
		t.Fatalf("%d of %d viewers playing at the end", r.Playing, o.Viewers)
	}
}

func TestRejectsBadOptions(t *testing.T) {
	for _, mod := range []func(*Options){
		func(o *Options) { o.Viewers = -1 },
		func(o *Options) { o.Churn = 2 },
		func(o *Options) { o.CapMin, o.CapMax = 10, 5 },
		func(o *Options) { o.Duration = 0 },
		func(o *Options) { o.Step = 0 },
		func(o *Options) { o.OriginRelays = 0 },
		func(o *Options) { o.Carriers = 1.5 },
		func(o *Options) { o.Vanish = -0.1 },
	} {
		o := Defaults()
		mod(&o)
		if _, err := Run(o); err == nil {
			t.Errorf("accepted %+v", o)
		}
	}
}
