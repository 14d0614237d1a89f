package wire

import (
	"crypto/ed25519"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/fedwave/fedwave/internal/fail"
)

// MaxSkew is how far a request's or envelope's time may be from the
// receiver's clock, either way. It also bounds how long an id is remembered.
const MaxSkew = 60 * time.Second

// replayCapacity bounds the replay cache: ids seen within the skew window.
const replayCapacity = 100_000

// The error codes of a refused request or envelope.
const (
	codeBadSignature = "bad_signature"
	codeStale        = "stale"
	codeReplayed     = "replayed"
	codeNotLinked    = "federation_not_linked"
)

// Verifier checks signed requests and envelopes: signature by the key that
// lookup returns for the sender host, timestamp within MaxSkew of now, id not
// seen before within the skew window, target host equal to self. It is safe
// for concurrent use.
type Verifier struct {
	self   string
	lookup func(host string) (ed25519.PublicKey, error)
	now    func() time.Time
	seen   replayCache
}

// NewVerifier makes a Verifier for the instance named self. lookup returns
// the key of a linked peer, or an error (a *fail.Error is passed on as is; no
// key and no error means not linked); it is called concurrently and only for
// messages that are well formed and fresh. now is the clock; nil means
// time.Now. self is this instance's name in canonical form (see
// CheckPeerURL: the host it returns for this instance's public URL).
func NewVerifier(self string, lookup func(host string) (ed25519.PublicKey, error), now func() time.Time) *Verifier {
	if now == nil {
		now = time.Now
	}
	return &Verifier{self: self, lookup: lookup, now: now, seen: newReplayCache(replayCapacity)}
}

// VerifyRequest checks a signed request and returns the sender host; body is
// the full body already read (size-limited by the caller). Errors are
// *fail.Error with the codes bad_signature, stale, replayed and
// federation_not_linked, or lookup's own error.
func (v *Verifier) VerifyRequest(r *http.Request, body []byte) (string, error) {
	p, problem := parseHeaders(r.Header)
	if problem != "" {
		return "", badSignature("%s", problem)
	}
	msg := requestString(r.Method, r.URL.RequestURI(), v.self, p.signedHeaders, body)
	if err := v.check(p.from, p.id, p.millis, msg, p.sig); err != nil {
		return "", err
	}
	return p.from, nil
}

// check is what requests and envelopes share once parsed: the clock (cheap,
// first), the sender's key, the signature, then the replay cache, which only
// ever records authentic ids so that nobody else can fill it.
func (v *Verifier) check(from, id string, millis int64, msg, sig []byte) error {
	now := v.now().UnixMilli()
	if d := now - millis; d > MaxSkew.Milliseconds() || d < -MaxSkew.Milliseconds() {
		return fail.New(fail.Unauthorized, codeStale, "signed at %d, %d ms from now (at most %v)", millis, d, MaxSkew)
	}
	if from == v.self {
		return badSignature("sender %s is this instance", from)
	}
	key, err := v.lookup(from)
	if err != nil {
		if _, ok := fail.As(err); ok {
			return err
		}
		return fmt.Errorf("key of %s: %w", from, err)
	}
	if len(key) != ed25519.PublicKeySize {
		return fail.New(fail.Forbidden, codeNotLinked, "%s is not linked with this instance", from)
	}
	if !ed25519.Verify(key, msg, sig) {
		return badSignature("signature does not match (wrong key, or changed in transit)")
	}
	switch v.seen.add(from+" "+id, millis, now) {
	case seenBefore:
		return fail.New(fail.Unauthorized, codeReplayed, "id %s from %s was seen before", id, from)
	case seenMaybe:
		return fail.New(fail.Unauthorized, codeStale, "signed at %d, too old to tell whether it is new", millis)
	}
	return nil
}

func badSignature(format string, args ...any) error {
	return fail.New(fail.Unauthorized, codeBadSignature, format, args...)
}

// replayCache remembers the ids of authentic messages until they are stale.
// It is bounded: when full it forgets the oldest entry and raises a floor,
// refusing anything signed at or before the forgotten entry's time, so that a
// flood can cost freshness but never reopen a replay.
type replayCache struct {
	mu       sync.Mutex
	capacity int
	ids      map[string]struct{}
	queue    []replayEntry // arrival order; queue[head] is the oldest
	head     int
	floor    int64 // ms; messages signed at or before it are refused
}

type replayEntry struct {
	key    string
	millis int64
}

type seenResult int

const (
	seenNew    seenResult = iota
	seenBefore            // the id is in the cache
	seenMaybe             // at or below the floor: its id may have been forgotten
)

func newReplayCache(capacity int) replayCache {
	return replayCache{capacity: capacity, ids: map[string]struct{}{}}
}

// add records key, signed at millis, now being now (both ms).
func (c *replayCache) add(key string, millis, now int64) seenResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.ids[key]; ok {
		return seenBefore
	}
	if millis <= c.floor {
		return seenMaybe
	}
	// Entries stale by now go without raising the floor: a message signed
	// at their time is refused as stale anyway. Arrival order is not time
	// order, so this is lazy; the floor covers what it misses.
	for c.head < len(c.queue) && now-c.queue[c.head].millis > MaxSkew.Milliseconds() {
		c.pop()
	}
	if len(c.queue)-c.head >= c.capacity {
		c.floor = max(c.floor, c.pop().millis)
	}
	c.queue = append(c.queue, replayEntry{key, millis})
	c.ids[key] = struct{}{}
	return seenNew
}

// pop forgets the oldest entry; the queue is compacted once half of it is
// spent, so each entry is copied at most once on average.
func (c *replayCache) pop() replayEntry {
	e := c.queue[c.head]
	c.queue[c.head] = replayEntry{}
	delete(c.ids, e.key)
	c.head++
	if c.head >= 1024 && c.head*2 >= len(c.queue) {
		n := copy(c.queue, c.queue[c.head:])
		clear(c.queue[n:])
		c.queue, c.head = c.queue[:n], 0
	}
	return e
}
