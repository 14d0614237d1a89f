package auth

import (
	"time"

	"github.com/fedwave/fedwave/internal/ttlcache"
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
// tokens that verified get an entry. Users are copied in and out: callers
// may keep or change what they get.
type authCache struct {
	c ttlcache.Cache[string, Session]
}

func newAuthCache() *authCache {
	return &authCache{c: ttlcache.Cache[string, Session]{TTL: authCacheTTL, Max: authCacheMax}}
}

func (c *authCache) get(raw string, now time.Time) (*Session, bool) {
	s, ok := c.c.Get(raw, now)
	if !ok {
		return nil, false
	}
	u := *s.User
	s.User = &u
	return &s, true
}

func (c *authCache) put(raw string, s *Session, now time.Time) {
	u := *s.User
	c.c.Put(raw, Session{User: &u, Claims: s.Claims, Token: s.Token}, now)
}

// forget drops the entries that match, so that a change made by this
// process is seen at once.
func (c *authCache) forget(match func(*Session) bool) {
	c.c.ForgetIf(func(s Session) bool { return match(&s) })
}
