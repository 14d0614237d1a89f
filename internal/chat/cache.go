package chat

import (
	"sync"
	"time"
)

// Bounds of the hub's read caches.
const (
	// readCacheTTL is how stale a cached channel row or ban answer may be:
	// a change made elsewhere (the web API, another process writing the
	// database) is seen within it, like the auth service's cache. The hub
	// forgets entries at once when it makes the change itself.
	readCacheTTL = time.Second
	// readCacheMax bounds each cache; a full cache drops stale entries,
	// and starts over if all are fresh.
	readCacheMax = 16384
)

// ttlCache remembers recent answers of a store read for readCacheTTL, so
// that every chat message does not cost a database query per check.
type ttlCache[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]cached[V]
}

type cached[V any] struct {
	v  V
	at time.Time
}

func (c *ttlCache[K, V]) get(k K, now time.Time) (V, bool) {
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if !ok || !freshAt(e.at, now) {
		var zero V
		return zero, false
	}
	return e.v, true
}

func freshAt(at, now time.Time) bool {
	age := now.Sub(at)
	return age >= 0 && age < readCacheTTL
}

func (c *ttlCache[K, V]) put(k K, v V, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[K]cached[V]{}
	}
	if len(c.m) >= readCacheMax {
		for k, e := range c.m {
			if !freshAt(e.at, now) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= readCacheMax {
			clear(c.m)
		}
	}
	c.m[k] = cached[V]{v: v, at: now}
}

// forget drops one entry.
func (c *ttlCache[K, V]) forget(k K) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}

// forgetAll drops every entry.
func (c *ttlCache[K, V]) forgetAll() {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}

// banKey names an ActiveBan answer: a user in a channel ("" for the
// instance).
type banKey struct {
	channel string
	userID  int64
}
