package main

import (
	"strings"
	"testing"
)

func TestSimulate(t *testing.T) {
	out, err := runCLI(t, "", "simulate", "--viewers", "500", "--relays", "10", "--churn", "5%/min",
		"--duration", "1m", "--ramp", "10s", "--capacity", "20-200", "--failures", "0.1", "--max-viewers", "10")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"origin upload copies:   max 14 (budget 14)", "viewer depth (hops):", "goals met", "wall time:"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestSimulateCarriers(t *testing.T) {
	out, err := runCLI(t, "", "simulate", "--viewers", "300", "--relays", "0", "--max-viewers", "0", "--churn", "20%/min",
		"--duration", "2m", "--ramp", "10s", "--carriers", "50%", "--vanish", "30%", "--switch-off", "2%/min")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"carriers:               50% of viewers opt in", "without carriers:     origin 300.0 (max 300)", "fed by carriers:", "no picture after vanish:"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestSimulateBadFlagsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"--churn", "5 per minute"},
		{"--churn", "150%/min"},
		{"--capacity", "100"},
		{"--capacity", "200-100"},
		{"--viewers", "-5"},
		{"--carriers", "130%"},
		{"stray"},
	} {
		out, err := runCLI(t, "", append([]string{"simulate"}, args...)...)
		if exitCode(err) != 2 {
			t.Errorf("simulate %v: exit %d, want 2 (%v)\n%s", args, exitCode(err), err, out)
		}
	}
}
