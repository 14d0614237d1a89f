package auth

import (
	"sync"
	"time"
)

// Bounds of the Authenticate cache.
const (
	// authCacheTTL is how stale an answer may be: a revocation, role change
	// or deletion made anywhere, even by another process writing the
	// database (`fedwave user role`), is seen within it.
	authCacheTTL = time.Second
	authCacheMax = 16384
)

// authCache remembers recent Authenticate answers by raw token, so that
// checking a token at every chat action costs no database query. Only
// tokens that verified get an entry.
type authCache struct {
	mu sync.Mutex
	m  map[string]cachedSession
}

type cachedSession struct {
	sess Session
	at   time.Time
}

// get returns a copy of a fresh entry: callers may keep or change it.
func (c *authCache) get(raw string, now time.Time) (*Session, bool) {
	c.mu.Lock()
	e, ok := c.m[raw]
	c.mu.Unlock()
	if !ok || !fresh(e, now) {
		return nil, false
	}
	u := *e.sess.User
	return &Session{User: &u, Claims: e.sess.Claims, Token: e.sess.Token}, true
}

func fresh(e cachedSession, now time.Time) bool {
	age := now.Sub(e.at)
	return age >= 0 && age < authCacheTTL
}

func (c *authCache) put(raw string, s *Session, now time.Time) {
	u := *s.User
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]cachedSession{}
	}
	if len(c.m) >= authCacheMax {
		for k, e := range c.m {
			if !fresh(e, now) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= authCacheMax {
			clear(c.m) // all fresh: a burst of new tokens; start over
		}
	}
	c.m[raw] = cachedSession{sess: Session{User: &u, Claims: s.Claims, Token: s.Token}, at: now}
}

// forget drops the entries that match, so that a change made by this
// process is seen at once.
func (c *authCache) forget(match func(*Session) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if match(&e.sess) {
			delete(c.m, k)
		}
	}
}
