package media

import (
	"context"
	"fmt"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/sdptext"
)

// MaxSDP bounds an offer.
const MaxSDP = 64 << 10

// gatherTimeout bounds ICE gathering before an answer (or a pull's offer)
// is sent.
const gatherTimeout = 5 * time.Second

var errBadSDP = fail.New(fail.Invalid, "invalid_sdp", "the body is not a valid SDP offer")

// checkOffer parses an offer before it reaches the WebRTC stack, and
// returns it without the candidates the server must not send to, with
// the number kept.
func (s *Service) checkOffer(offer string) (string, int, error) {
	if len(offer) > MaxSDP {
		return "", 0, fail.New(fail.Invalid, "sdp_too_large", "the SDP offer is larger than %d KiB", MaxSDP>>10)
	}
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer); err != nil || len(d.MediaDescriptions) == 0 {
		return "", 0, errBadSDP
	}
	if err := checkMedia(len(d.MediaDescriptions)); err != nil {
		return "", 0, err
	}
	return s.engine.candidates.filter(offer, MaxCandidates)
}

// negotiate applies an offer and returns the complete answer (all ICE
// candidates included, so clients need no trickle): the one answer
// helper of publishers and viewers.
func (s *Service) negotiate(ctx context.Context, pc *webrtc.PeerConnection, offer string) (string, error) {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fail.New(fail.Invalid, "invalid_sdp", "the SDP offer was refused: %s", truncate(err.Error(), 200))
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fail.New(fail.Invalid, "invalid_sdp", "no answer can be made to this offer: %s", truncate(err.Error(), 200))
	}
	if err := setLocal(ctx, pc, answer); err != nil {
		return "", err
	}
	local := pc.LocalDescription().SDP
	if !sdptext.Accepts(local) {
		return "", fail.New(fail.Invalid, "unsupported_codec", "no media in this offer can be accepted: FedWave takes H.264 or VP8 video and Opus audio")
	}
	return local, nil
}

// setLocal sets a local description and waits for ICE gathering, at most
// gatherTimeout: what is sent then carries every candidate.
func setLocal(ctx context.Context, pc *webrtc.PeerConnection, d webrtc.SessionDescription) error {
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(d); err != nil {
		return fmt.Errorf("set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-time.After(gatherTimeout):
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
