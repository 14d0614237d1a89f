package chat

import "time"

// Bounds of the hub's read caches.
const (
	// readCacheTTL is how stale a cached channel row or ban answer may be:
	// a change made elsewhere (the web API, another process writing the
	// database) is seen within it, like the auth service's cache. The hub
	// forgets entries at once when it makes the change itself.
	readCacheTTL = time.Second
	// readCacheMax bounds each cache (ttlcache: a full cache drops stale
	// entries, and starts over if all are fresh).
	readCacheMax = 16384
)

// banKey names an ActiveBan answer: a user in a channel ("" for the
// instance).
type banKey struct {
	channel string
	userID  int64
}
