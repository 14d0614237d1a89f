// Package ttlcache remembers recent answers for a short time, bounded in
// size: so that a check made at every chat action (a token, a channel
// row, a ban) costs no database query, while a change made anywhere is
// seen within the TTL.
package ttlcache

import (
	"sync"
	"time"
)

// Cache maps keys to values for TTL each, holding at most Max entries: a
// full cache drops its stale entries, and starts over if all are fresh.
// Set TTL and Max before use; the zero Cache keeps nothing.
type Cache[K comparable, V any] struct {
	TTL time.Duration
	Max int

	mu sync.Mutex
	m  map[K]entry[V]
}

type entry[V any] struct {
	v  V
	at time.Time
}

func (c *Cache[K, V]) fresh(at, now time.Time) bool {
	age := now.Sub(at)
	return age >= 0 && age < c.TTL
}

// Get returns the value for k if it was put less than TTL before now.
func (c *Cache[K, V]) Get(k K, now time.Time) (V, bool) {
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if !ok || !c.fresh(e.at, now) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// Put remembers v for k as of now.
func (c *Cache[K, V]) Put(k K, v V, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[K]entry[V]{}
	}
	if len(c.m) >= c.Max {
		for k, e := range c.m {
			if !c.fresh(e.at, now) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.Max {
			clear(c.m) // all fresh: a burst of new keys; start over
		}
	}
	c.m[k] = entry[V]{v: v, at: now}
}

// Forget drops one entry: a change made by this process is seen at once.
func (c *Cache[K, V]) Forget(k K) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}

// ForgetIf drops the entries whose value matches.
func (c *Cache[K, V]) ForgetIf(match func(V) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if match(e.v) {
			delete(c.m, k)
		}
	}
}

// Clear drops every entry.
func (c *Cache[K, V]) Clear() {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}

// Len is the number of entries held, fresh or not.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
