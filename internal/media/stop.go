package media

import (
	"strings"
	"time"
)

// StopChannel ends a channel's publisher now (an admin or moderator
// stopping a stream) and reports whether there was one. Nothing stops the
// owner from going live again: a client asking about the ended session
// learns that it was stopped, so that it does not reconnect by itself.
func (s *Service) StopChannel(name string) bool {
	now := time.Now()
	s.mu.Lock()
	var pubs []*publisher
	for _, ss := range s.sessions {
		if p, ok := ss.(*publisher); ok && strings.EqualFold(p.name, name) {
			p.stoppedAt = now
			pubs = append(pubs, p)
		}
	}
	s.mu.Unlock()
	for _, p := range pubs {
		s.end(p)
	}
	return len(pubs) > 0
}
