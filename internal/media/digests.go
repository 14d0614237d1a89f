package media

import (
	"context"
	"strings"
	"sync"

	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/sfu"
)

// MaxDigestSubscribers bounds the digest feeds of one channel: each costs
// the stream a queue and a send per frame.
const MaxDigestSubscribers = 64

// Digest is the digest of one encoded frame of a channel's stream.
type Digest = sfu.Digest

// Digests feeds the digests of the frames of a local channel's stream,
// computed once per stream as its packets arrive, from now on until ctx
// ends or cancel is called (then the channel closes). A viewer fed by a
// fellow viewer checks the frames it gets against them. A linked
// instance's channel has none here: its origin digests it.
func (s *Service) Digests(ctx context.Context, channel string) (digests <-chan Digest, cancel func(), err error) {
	if _, _, ok := s.remoteOf(channel); ok {
		return nil, nil, fail.New(fail.NotFound, "not_found", "the digests of %s are at its origin", channel)
	}
	ch := s.hold(channel)
	defer s.release(ch)
	s.mu.Lock()
	if ch.digestFeeds >= MaxDigestSubscribers {
		s.mu.Unlock()
		return nil, nil, fail.New(fail.TooMany, "too_many_subscribers", "too many digest feeds of %s", channel)
	}
	ch.digestFeeds++
	s.mu.Unlock()
	in, stop := ch.st.SubscribeDigests()
	done := make(chan struct{})
	var once sync.Once
	cancel = func() { once.Do(func() { close(done) }) }
	go func() {
		select {
		case <-ctx.Done():
		case <-done:
		}
		stop()
		s.mu.Lock()
		ch.digestFeeds--
		s.mu.Unlock()
	}()
	return in, cancel, nil
}

// Keyframe asks the publisher of a local channel for a keyframe (a viewer
// fed by a fellow viewer can only start at one); it does nothing for a
// channel that is not here or is a linked instance's.
func (s *Service) Keyframe(channel string) {
	s.mu.Lock()
	ch := s.channels[strings.ToLower(channel)]
	s.mu.Unlock()
	if ch == nil || ch.remote != nil {
		return
	}
	ch.st.RequestKeyframe()
}
