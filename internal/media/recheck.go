package media

import (
	"context"
	"time"

	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/sfu"
)

// recheckEvery is how often live publishers' right to stream is asked
// again. A role change can come from another process (the command line
// writes the database), so there is no event to wait for: a second keeps
// a demoted streamer's stream from lasting, at two small queries per
// publisher.
const recheckEvery = time.Second

// Run asks every publisher's allowed check again, every recheckEvery,
// until ctx ends, and ends the sessions refused; it also forgets the
// streams idle for idleAfter, and moves viewers off paused layers.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(recheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.recheck(ctx)
		s.sweep(time.Now())
		s.checkLayers(time.Now())
	}
}

// checkLayers serves the viewers of a simulcast layer that went silent
// from a layer still sending (sfu.Stream.CheckLayers).
func (s *Service) checkLayers(now time.Time) {
	s.mu.Lock()
	streams := make([]*sfu.Stream, 0, len(s.channels))
	for _, ch := range s.channels {
		streams = append(streams, ch.st)
	}
	s.mu.Unlock()
	for _, st := range streams {
		st.CheckLayers(now)
	}
}

func (s *Service) recheck(ctx context.Context) {
	s.mu.Lock()
	var pubs []*publisher
	for _, ss := range s.sessions {
		if p, ok := ss.(*publisher); ok && p.allowed != nil {
			pubs = append(pubs, p)
		}
	}
	s.mu.Unlock()
	for _, ss := range pubs {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := ss.allowed(cctx)
		cancel()
		if err == nil || ctx.Err() != nil {
			continue
		}
		// Only a refusal ends the stream; a database hiccup does not.
		if fe, ok := fail.As(err); ok && (fe.Kind == fail.Forbidden || fe.Kind == fail.NotFound || fe.Kind == fail.Unauthorized) {
			s.log.Info("publisher stopped: no longer allowed to stream", "channel", ss.name, "code", fe.Code)
			s.end(ss)
			continue
		}
		s.log.Warn("check a publisher's right to stream", "channel", ss.name, "err", err)
	}
}
