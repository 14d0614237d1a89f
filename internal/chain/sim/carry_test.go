package sim

import (
	"reflect"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/chain"
)

// small is a population CI can afford: 300 viewers, half of them carriers,
// sessions of 5 minutes on average, the origin serving everyone it must.
func small() Options {
	o := Defaults()
	o.Viewers, o.Relays, o.MaxViewers = 300, 0, 0
	o.Duration, o.Ramp, o.Churn = 4*time.Minute, 20*time.Second, 0.2
	o.Carriers, o.Vanish = 0.5, 0.3
	return o
}

func TestCarriersAccounting(t *testing.T) {
	o := small()
	r, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + r.String())
	if r.Without == nil {
		t.Fatal("no run without carriers to compare with")
	}
	// Every viewer is fed by a server or a carrier: the copies the servers
	// send and the viewers carriers feed add up to the audience.
	if sum := r.ServerCopiesMean + r.FedByCarriers; sum < 0.95*float64(o.Viewers) || sum > 1.02*float64(o.Viewers) {
		t.Fatalf("server copies %.1f + fed by carriers %.1f = %.1f, want about %d viewers", r.ServerCopiesMean, r.FedByCarriers, sum, o.Viewers)
	}
	if r.FedByCarriers < 0.2*float64(o.Viewers) {
		t.Fatalf("carriers fed %.1f viewers: the browser nodes were hardly used", r.FedByCarriers)
	}
	if r.Without.ServerMean < 0.97*float64(o.Viewers) || r.ServerCopiesMean > r.Without.ServerMean-r.FedByCarriers*0.9 {
		t.Fatalf("server copies %.1f with carriers, %.1f without: the carriers' viewers were not taken off the servers", r.ServerCopiesMean, r.Without.ServerMean)
	}
	if r.BrowserHopsMax < 1 || r.BrowserHopsMax > chain.DefaultBrowserDepth {
		t.Fatalf("browser hops up to %d, want 1..%d", r.BrowserHopsMax, chain.DefaultBrowserDepth)
	}
	if r.Handbacks == 0 || r.GoodbyeGap.N == 0 || r.VanishGap.N == 0 {
		t.Fatalf("%d handed back, gaps %v / %v: churn did not exercise hand-backs", r.Handbacks, r.GoodbyeGap, r.VanishGap)
	}
	// A goodbye hands the children back at once: they play again Join later.
	if r.GoodbyeGap.P50 != o.Join {
		t.Fatalf("after a goodbye, p50 %v without picture, want the join time %v", r.GoodbyeGap.P50, o.Join)
	}
	// A carrier that vanishes is noticed after BrowserExpire (and at most a
	// heartbeat more), then its children join elsewhere.
	lo, hi := chain.DefaultBrowserExpire+o.Join, chain.DefaultBrowserExpire+2*o.Step+o.Join
	if g := r.VanishGap; g.P50 <= lo || g.P99 > hi {
		t.Fatalf("after a vanish, %v without picture, want within (%v, %v]", g, lo, hi)
	}
	if r.Playing < o.Viewers*95/100 {
		t.Fatalf("%d of %d viewers with picture at the end", r.Playing, o.Viewers)
	}
	again, _ := Run(o)
	if !reflect.DeepEqual(r, again) {
		t.Fatalf("the same seed gave two reports:\n%v\n%v", r, again)
	}
}

// TestCarriersGoodbyeOrVanish: which gap a hand-back is counted in follows
// how its carrier left (or switched off).
func TestCarriersGoodbyeOrVanish(t *testing.T) {
	for _, vanish := range []float64{0, 1} {
		o := small()
		o.Duration, o.Vanish = 2*time.Minute, vanish
		r, err := Run(o)
		if err != nil {
			t.Fatal(err)
		}
		if vanish == 0 && (r.VanishGap.N != 0 || r.GoodbyeGap.N == 0) || vanish == 1 && (r.GoodbyeGap.N != 0 || r.VanishGap.N == 0) {
			t.Fatalf("vanish %v: goodbye gaps %v, vanish gaps %v", vanish, r.GoodbyeGap, r.VanishGap)
		}
	}
	// Switching off hands children back at once, like a goodbye.
	o := small()
	o.Duration, o.Vanish, o.SwitchOff = 2*time.Minute, 1, 0.1
	r, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	if r.SwitchedOff == 0 || r.GoodbyeGap.N == 0 || r.GoodbyeGap.P50 != o.Join {
		t.Fatalf("%d switched off; children without picture %v, want p50 %v", r.SwitchedOff, r.GoodbyeGap, o.Join)
	}
}

// TestCarriersWithRelays: carriers below server relays keep the relays'
// promises, and take load off the relays rather than the origin, whose
// budget is full either way.
func TestCarriersWithRelays(t *testing.T) {
	o := small()
	o.Viewers, o.Relays, o.MaxViewers, o.OriginRelays = 1000, 4, 20, 4
	o.CapMin, o.CapMax, o.Failures = 300, 600, 0.2
	r, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + r.String())
	if bad := r.Goals(); len(bad) > 0 {
		t.Fatalf("goals missed: %v", bad)
	}
	if r.OriginCopiesMax > r.Budget || r.FedByCarriers == 0 || r.ServerCopiesMean >= r.Without.ServerMean {
		t.Fatalf("origin max %d (budget %d), fed by carriers %.1f, server copies %.1f vs %.1f without",
			r.OriginCopiesMax, r.Budget, r.FedByCarriers, r.ServerCopiesMean, r.Without.ServerMean)
	}
	if r.RelayFailures == 0 || r.Relinks == 0 {
		t.Fatalf("%d relay failures, %d relinks: relay failures not exercised", r.RelayFailures, r.Relinks)
	}
	if again, _ := Run(o); !reflect.DeepEqual(r, again) {
		t.Fatalf("the same seed gave two reports:\n%v\n%v", r, again)
	}
}

func TestCarriersOffChangesNothing(t *testing.T) {
	o := small()
	o.Carriers = 0
	r, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	if r.Without != nil || r.FedByCarriers != 0 || r.Handbacks != 0 || r.BrowserHopsMax != 0 {
		t.Fatalf("carriers off, yet: %+v", r)
	}
	if r.ServerCopiesMean < 0.97*float64(o.Viewers) {
		t.Fatalf("server copies %.1f for %d viewers", r.ServerCopiesMean, o.Viewers)
	}
}
