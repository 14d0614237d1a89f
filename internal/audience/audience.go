// Package audience counts the people on a channel: one number for
// everyone watching the stream (WHEP) or reading the chat (WebSocket), so
// that a person with the player and the chat open counts once.
//
// Each connection joins with a key naming the person behind it: "u:ID" for
// a signed-in user, "v:…" for a browser's anonymous viewer cookie (the
// player's and the chat's requests carry the same one), or a key unique to
// the connection when nothing names the person (a bot, a WHEP client
// without cookies). The channel's count is the number of distinct keys.
package audience

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Registry holds the keys of every channel's connections.
type Registry struct {
	onChange func(channel string) // the count of a channel may have changed
	anon     atomic.Uint64

	mu       sync.Mutex
	channels map[string]map[string]int // lower-case channel -> key -> connections
	// elsewhere are people counted by linked instances on their own
	// sites: lower-case channel -> instance -> people.
	elsewhere map[string]map[string]int
}

// New makes a registry; onChange (may be nil) is called, outside any lock
// of the registry, after a channel's count changed.
func New(onChange func(channel string)) *Registry {
	return &Registry{onChange: onChange, channels: map[string]map[string]int{}, elsewhere: map[string]map[string]int{}}
}

// PeerKey names the connection through which a linked instance pulls a
// stream for its own viewers: it is not a person, so it is not counted
// (the instance reports its people with Elsewhere).
func PeerKey(host string) string { return peerPrefix + host }

const peerPrefix = "peer:"

// RelayKey names the connection through which a relay of the stream
// chain pulls a stream: not a person either (the relay reports its
// people, with Elsewhere under "relay:NAME").
func RelayKey(name string) string { return peerPrefix + "relay:" + name }

// IsPeer reports whether a key names a linked instance or a relay.
func IsPeer(key string) bool { return strings.HasPrefix(key, peerPrefix) }

// Elsewhere records how many people a linked instance counts on channel
// (watching or chatting there); 0 removes the instance's count.
func (r *Registry) Elsewhere(channel, instance string, n int) {
	ch := strings.ToLower(channel)
	r.mu.Lock()
	counts := r.elsewhere[ch]
	old := counts[instance]
	switch {
	case n > 0 && counts == nil:
		r.elsewhere[ch] = map[string]int{instance: n}
	case n > 0:
		counts[instance] = n
	case counts != nil:
		delete(counts, instance)
		if len(counts) == 0 {
			delete(r.elsewhere, ch)
		}
	}
	r.mu.Unlock()
	if old != max(n, 0) {
		r.changed(channel)
	}
}

// Elsewheres returns the people counted elsewhere on channel, by
// instance (or "relay:NAME").
func (r *Registry) Elsewheres(channel string) map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, n := range r.elsewhere[strings.ToLower(channel)] {
		out[k] = n
	}
	return out
}

// UserKey names a signed-in user.
func UserKey(id int64) string { return "u:" + strconv.FormatInt(id, 10) }

// BrowserKey names an anonymous browser by its viewer cookie.
func BrowserKey(cookie string) string { return "v:" + cookie }

// Unique returns a key no other connection has.
func (r *Registry) Unique() string { return "c:" + strconv.FormatUint(r.anon.Add(1), 10) }

// Join counts a connection with key on channel until leave is called
// (leave may be called more than once).
func (r *Registry) Join(channel, key string) (leave func()) {
	ch := strings.ToLower(channel)
	r.mu.Lock()
	keys := r.channels[ch]
	if keys == nil {
		keys = map[string]int{}
		r.channels[ch] = keys
	}
	keys[key]++
	changed := keys[key] == 1
	r.mu.Unlock()
	if changed {
		r.changed(channel)
	}
	var once sync.Once
	return func() { once.Do(func() { r.leave(channel, ch, key) }) }
}

func (r *Registry) leave(channel, ch, key string) {
	r.mu.Lock()
	keys := r.channels[ch]
	keys[key]--
	changed := keys[key] == 0
	if changed {
		delete(keys, key)
		if len(keys) == 0 {
			delete(r.channels, ch)
		}
	}
	r.mu.Unlock()
	if changed {
		r.changed(channel)
	}
}

func (r *Registry) changed(channel string) {
	if r.onChange != nil {
		r.onChange(channel)
	}
}

// Count is the number of distinct people on channel.
func (r *Registry) Count(channel string) int {
	ch := strings.ToLower(channel)
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for key := range r.channels[ch] {
		if !strings.HasPrefix(key, peerPrefix) {
			n++
		}
	}
	for _, c := range r.elsewhere[ch] {
		n += c
	}
	return n
}
