package media

import (
	"context"
	"fmt"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/sdptext"
)

// Patch applies an RFC 8840 SDP fragment to a session (WHIP/WHEP PATCH).
// With the session's ICE credentials, or none, it trickles candidates and
// returns "". With new credentials it is an ICE restart (RFC 9725
// §4.3.2): the fragment's credentials and candidates replace the old, and
// it returns the server's new ones as a fragment, with the session's new
// entity tag.
func (s *Service) Patch(ctx context.Context, id, frag string) (reply, etag string, err error) {
	s.mu.Lock()
	found := s.sessions[id]
	s.mu.Unlock()
	if found == nil {
		return "", "", fail.New(fail.NotFound, "no_session", "no such session")
	}
	ss := found.base()
	ss.patch.Lock() // one fragment at a time: a restart changes what the next one is checked against
	defer ss.patch.Unlock()
	rd := ss.pc.RemoteDescription()
	if rd == nil {
		return "", "", fail.New(fail.Conflict, "not_ready", "the session is not negotiated yet")
	}
	ufrag, pwd := sdptext.Value(frag, "ice-ufrag"), sdptext.Value(frag, "ice-pwd")
	if ufrag == "" || ufrag == sdptext.Value(rd.SDP, "ice-ufrag") {
		return "", "", s.addCandidates(ss, frag, ss.remote)
	}
	if pwd == "" {
		return "", "", fail.New(fail.Invalid, "invalid_ice_restart", "an ICE restart needs a=ice-ufrag and a=ice-pwd")
	}
	if _, _, err := s.engine.candidates.filter(frag, MaxCandidates); err != nil {
		return "", "", err // refused before the restart changes anything
	}
	offer := sdptext.RestartOffer(rd.SDP, ufrag, pwd)
	if err := ss.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", "", fail.New(fail.Invalid, "invalid_ice_restart", "the ICE restart was refused: %s", truncate(err.Error(), 200))
	}
	answer, err := ss.pc.CreateAnswer(nil)
	if err != nil {
		return "", "", fmt.Errorf("ICE restart answer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(ss.pc)
	if err := ss.pc.SetLocalDescription(answer); err != nil {
		return "", "", fmt.Errorf("ICE restart answer: %w", err)
	}
	if err := s.addCandidates(ss, frag, 0); err != nil {
		return "", "", err
	}
	select {
	case <-gathered:
	case <-time.After(gatherTimeout):
	case <-ctx.Done():
		return "", "", ctx.Err()
	}
	etag = newID()
	s.mu.Lock()
	ss.etag = etag
	s.mu.Unlock()
	return sdptext.ICEFragment(ss.pc.LocalDescription().SDP), etag, nil
}

// addCandidates adds a fragment's a=candidate lines that the policy
// allows to the had candidates of the session's ICE generation: all of
// them, or none when that makes more than MaxCandidates. Called under
// ss.patch.
func (s *Service) addCandidates(ss *conn, frag string, had int) error {
	frag, n, err := s.engine.candidates.filter(frag, MaxCandidates-had)
	if err != nil {
		return err
	}
	ss.remote = had + n
	for _, c := range sdptext.Candidates(frag) {
		if err := ss.pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: c}); err != nil {
			return fail.New(fail.Invalid, "invalid_candidate", "the candidate was refused: %s", truncate(err.Error(), 120))
		}
	}
	return nil
}
