package media

import "time"

// Ended sessions are remembered for a while, so that a client asking
// about one learns what happened to it: a publisher replaced by another
// source (a takeover) is told so, and stops reconnecting rather than
// taking the channel back; ending an ended session is no error.
const (
	goneFor = 10 * time.Minute
	maxGone = 1024 // memory stays bounded whatever the churn
)

type goneSession struct {
	channel    string
	viewer     bool
	endedAt    time.Time
	replacedAt time.Time // zero unless another publisher took over
	stoppedAt  time.Time // zero unless an admin or moderator stopped it
}

// goneList is a bounded first-in first-out memory of ended sessions,
// under Service.mu.
type goneList struct {
	byID  map[string]goneSession
	order []string // ids, oldest first
}

func (g *goneList) add(id string, s goneSession) {
	if g.byID == nil {
		g.byID = map[string]goneSession{}
	}
	drop := 0
	for ; drop < len(g.order); drop++ {
		old := g.order[drop]
		if s.endedAt.Sub(g.byID[old].endedAt) <= goneFor && len(g.order)-drop < maxGone {
			break
		}
		delete(g.byID, old)
	}
	g.order = append(g.order[drop:], id)
	g.byID[id] = s
}

// Ended reports on a session that ended lately: its channel, whether it
// was a viewer, and when another publisher replaced it (zero if it ended
// otherwise).
func (s *Service) Ended(id string) (channel string, viewer bool, replacedAt time.Time, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.gone.byID[id]
	if !ok || time.Since(g.endedAt) > goneFor {
		return "", false, time.Time{}, false
	}
	return g.channel, g.viewer, g.replacedAt, true
}

// StoppedAt reports when a publisher's session that ended lately was
// stopped by StopChannel (zero if it ended otherwise, or is not known).
func (s *Service) StoppedAt(id string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.gone.byID[id]
	if !ok || g.viewer || time.Since(g.endedAt) > goneFor {
		return time.Time{}
	}
	return g.stoppedAt
}
