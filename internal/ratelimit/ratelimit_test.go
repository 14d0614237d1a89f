package ratelimit

import (
	"testing"
	"time"
)

func TestKeyed(t *testing.T) {
	k := New(1, 2)
	for i := range 2 {
		if !k.Allow("a") {
			t.Fatalf("event %d of the burst refused", i+1)
		}
	}
	if k.Allow("a") {
		t.Fatal("third event within the burst window allowed")
	}
	if !k.Allow("b") {
		t.Fatal("keys share a bucket")
	}
	// Idle buckets are forgotten once they would be full again.
	k.buckets["a"].seen = time.Now().Add(-time.Hour)
	k.lastPrune = time.Time{}
	k.Allow("c")
	if _, ok := k.buckets["a"]; ok {
		t.Fatal("idle bucket kept")
	}
}

func TestSetLimit(t *testing.T) {
	k := New(0.001, 5)
	k.Allow("a")
	k.SetLimit(0.001, 1)
	for _, key := range []string{"a", "b"} {
		if !k.Allow(key) || k.Allow(key) {
			t.Fatalf("%s: a burst lowered to 1 does not allow exactly one", key)
		}
	}
}

func TestEvery(t *testing.T) {
	for _, c := range []struct {
		k     *Keyed
		want  time.Duration
		retry string
	}{
		{PerMinute(30), 2 * time.Second, "2"},
		{PerMinute(10), 6 * time.Second, "6"},
		{PerMinute(40), 1500 * time.Millisecond, "2"},
		{New(20, 60), 50 * time.Millisecond, "1"},
		{New(0, 1), time.Minute, "60"},
	} {
		if got := c.k.Every(); got != c.want {
			t.Errorf("%v a second: every %v, want %v", c.k.limit, got, c.want)
		}
		if got := c.k.RetryAfter(); got != c.retry {
			t.Errorf("%v a second: Retry-After %q, want %q", c.k.limit, got, c.retry)
		}
	}
}
