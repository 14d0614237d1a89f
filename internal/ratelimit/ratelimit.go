// Package ratelimit keeps one token bucket per key (an IP address, a user),
// forgetting keys that have been idle long enough to be full again.
package ratelimit

import (
	"math"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Keyed is a set of token buckets, one per key. It is safe for concurrent use.
type Keyed struct {
	limit rate.Limit
	burst int

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastPrune time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// New makes buckets that refill at perSecond and hold burst tokens.
func New(perSecond float64, burst int) *Keyed {
	return &Keyed{limit: rate.Limit(perSecond), burst: burst, buckets: map[string]*bucket{}}
}

// PerMinute makes buckets that allow n events a minute, all of them at once.
func PerMinute(n int) *Keyed { return New(float64(n)/60, n) }

// Allow takes a token from key's bucket, reporting whether there was one.
func (k *Keyed) Allow(key string) bool {
	now := time.Now()
	k.mu.Lock()
	defer k.mu.Unlock()
	if now.Sub(k.lastPrune) > time.Minute {
		k.prune(now)
	}
	b, ok := k.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(k.limit, k.burst)}
		k.buckets[key] = b
	}
	b.seen = now
	return b.lim.AllowN(now, 1)
}

// prune drops buckets idle long enough to have refilled completely: a new
// bucket for that key would behave the same.
func (k *Keyed) prune(now time.Time) {
	k.lastPrune = now
	full := time.Duration(float64(k.burst) / float64(k.limit) * float64(time.Second))
	for key, b := range k.buckets {
		if now.Sub(b.seen) > full {
			delete(k.buckets, key)
		}
	}
}

// Every is how long a refused caller waits for its next event: the time
// one event takes to come back into an empty bucket.
func (k *Keyed) Every() time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.limit <= 0 {
		return time.Minute
	}
	return time.Duration(float64(time.Second) / float64(k.limit))
}

// RetryAfter is Every as an HTTP Retry-After value: whole seconds,
// rounded up, at least one.
func (k *Keyed) RetryAfter() string {
	return strconv.Itoa(max(1, int(math.Ceil(k.Every().Seconds()))))
}

// SetLimit changes the rate and burst of every bucket, the existing ones
// included (a setting changed while people are sending), keeping what
// each has left.
func (k *Keyed) SetLimit(perSecond float64, burst int) {
	now := time.Now()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.limit, k.burst = rate.Limit(perSecond), burst
	for _, b := range k.buckets {
		b.lim.SetLimitAt(now, k.limit)
		b.lim.SetBurstAt(now, burst)
	}
}
