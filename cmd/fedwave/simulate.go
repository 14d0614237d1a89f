package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/fedwave/fedwave/internal/chain/sim"
)

// simulate runs the stream chain's placement code against a synthetic
// population in simulated time (see internal/chain/sim for the model).
func simulate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := sim.Defaults()
	churn, failures, capacity := "5%/min", "1%/min", fmt.Sprintf("%d-%d", o.CapMin, o.CapMax)
	carriers, vanish, switchOff := "0%", fmt.Sprintf("%g%%", o.Vanish*100), "0%/min"
	fs.IntVar(&o.Viewers, "viewers", o.Viewers, "viewers at steady state")
	fs.IntVar(&o.Relays, "relays", o.Relays, "relays")
	fs.StringVar(&churn, "churn", churn, "viewers replaced per minute: N%/min")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "simulated time")
	fs.IntVar(&o.MaxViewers, "max-viewers", o.MaxViewers, "viewers the origin serves itself")
	fs.IntVar(&o.OriginRelays, "origin-relays", o.OriginRelays, "relays the origin feeds itself")
	fs.StringVar(&capacity, "capacity", capacity, "relay capacity range MIN-MAX (viewers + child relays), drawn log-uniformly")
	fs.StringVar(&failures, "failures", failures, "relays killed per minute: N%/min (a fifth of the relays are flaky and take 80% of them)")
	fs.DurationVar(&o.Rejoin, "rejoin", o.Rejoin, "a killed relay comes back after this")
	fs.DurationVar(&o.Ramp, "ramp", o.Ramp, "viewers arrive evenly over this time at the start")
	fs.DurationVar(&o.Step, "heartbeat", o.Step, "heartbeat and tick interval (the simulation step)")
	fs.DurationVar(&o.Join, "join", o.Join, "placement to playing (WHEP, ICE, DTLS, first keyframe), and a relay's re-pull from a new parent")
	fs.DurationVar(&o.Expire, "expire", o.Expire, "a silent relay is dropped after this; players give up on a dead relay after the same time")
	fs.Uint64Var(&o.Seed, "seed", o.Seed, "random seed")
	fs.StringVar(&carriers, "carriers", carriers, "viewers who opt in to carry the stream to other viewers: N% (reports the run without them too)")
	fs.StringVar(&vanish, "vanish", vanish, "carriers leaving without a goodbye: N%")
	fs.StringVar(&switchOff, "switch-off", switchOff, "carriers turning the switch off (staying as viewers): N%/min")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("simulate: unexpected argument %q", fs.Arg(0))
	}
	var err error
	if o.Churn, err = perMinute(churn); err != nil {
		return usageErr("simulate: --churn: %v", err)
	}
	if o.Failures, err = perMinute(failures); err != nil {
		return usageErr("simulate: --failures: %v", err)
	}
	if o.Carriers, err = perMinute(carriers); err != nil {
		return usageErr("simulate: --carriers: %v", err)
	}
	if o.Vanish, err = perMinute(vanish); err != nil {
		return usageErr("simulate: --vanish: %v", err)
	}
	if o.SwitchOff, err = perMinute(switchOff); err != nil {
		return usageErr("simulate: --switch-off: %v", err)
	}
	lo, hi, ok := strings.Cut(capacity, "-")
	if o.CapMin, err = strconv.Atoi(lo); err != nil || !ok {
		return usageErr("simulate: --capacity wants MIN-MAX, e.g. 50-1000")
	}
	if o.CapMax, err = strconv.Atoi(hi); err != nil {
		return usageErr("simulate: --capacity wants MIN-MAX, e.g. 50-1000")
	}
	start := time.Now()
	rep, err := sim.Run(o)
	if err != nil {
		return usageErr("%v", err)
	}
	fmt.Fprint(stdout, rep)
	fmt.Fprintf(stdout, "wall time:              %v\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// perMinute parses a rate "5%/min" (or "5%", or "0.05") into a fraction.
func perMinute(s string) (float64, error) {
	s = strings.TrimSuffix(strings.TrimSpace(s), "/min")
	pct := strings.HasSuffix(s, "%")
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("want a rate like 5%%/min: %w", err)
	}
	if pct {
		f /= 100
	}
	if f < 0 || f > 1 {
		return 0, fmt.Errorf("rate %q out of 0..100%%/min", s)
	}
	return f, nil
}
