package media

import (
	"context"
	"fmt"

	"github.com/pion/webrtc/v4"

	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/sfu"
)

// viewer is a WHEP session: its connection sends what its sfu.Viewer's
// down-tracks queue.
type viewer struct {
	conn
	v     *sfu.Viewer
	leave func() // stops counting it in the channel's audience
}

// Play starts a WHEP session: quality is "high" (default), "low" or
// "audio". The viewer gets an audio and a video track (those the stream
// has); an audio-only viewer's video track stays silent until it switches.
// viewer is the person's key in the channel's audience ("": a key of its
// own).
func (s *Service) Play(ctx context.Context, channel, offer, quality, viewerKey string) (id, answer string, err error) {
	offer, remote, err := s.checkOffer(offer)
	if err != nil {
		return "", "", err
	}
	if quality, err = checkQuality(quality); err != nil {
		return "", "", err
	}
	ch := s.hold(channel)
	defer s.release(ch)
	st := ch.st
	if live, _, _ := st.State(); !live {
		return "", "", fail.New(fail.NotFound, "offline", "%s is not live", channel)
	}
	pc, err := s.engine.viewers.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", "", err
	}
	vw := &viewer{conn: newConn(ch, pc, remote), v: st.NewViewer(quality)}
	if viewerKey == "" {
		viewerKey = s.audience.Unique()
	}
	vw.leave = s.audience.Join(st.Name(), viewerKey) // given back by end, or here on failure
	defer func() {
		if err != nil {
			vw.leave()
		}
	}()
	audio, video := vw.v.Tracks()
	for _, d := range []*sfu.DownTrack{audio, video} {
		if d == nil {
			continue
		}
		sender, err := pc.AddTrack(d)
		if err != nil {
			pc.Close()
			return "", "", fmt.Errorf("add track: %w", err)
		}
		go feedback(sender, d)
	}
	pc.OnConnectionStateChange(func(state webrtc.PeerConnectionState) {
		switch state {
		case webrtc.PeerConnectionStateConnected:
			vw.v.Start()
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			s.end(vw)
		}
	})
	answer, err = s.negotiate(ctx, pc, offer)
	if err != nil {
		pc.Close()
		return "", "", err
	}
	if err = s.register(vw, func() error { st.Join(vw.v); return nil }); err != nil {
		return "", "", err
	}
	return vw.id, answer, nil
}

// feedback passes a viewer's RTCP to its down-track until the connection
// ends.
func feedback(sender *webrtc.RTPSender, d *sfu.DownTrack) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		d.Feedback(pkts)
	}
}

// viewerEnded takes an ended viewer out of its stream and audience.
func (s *Service) viewerEnded(vw *viewer) {
	vw.ch.st.Leave(vw.v)
	vw.leave()
}

func checkQuality(q string) (string, error) {
	switch q {
	case "":
		return "high", nil
	case "high", "low", "audio":
		return q, nil
	}
	return "", fail.New(fail.Invalid, "invalid_quality", "quality is high, low or audio")
}

var errNoVideo = fail.New(fail.Conflict, "no_video", "this session has no video track; start a new one")

// SetQuality switches a viewer to another quality on its connection: the
// new video layer starts at its next keyframe, with no gap in the
// numbering; "audio" stops the video packets.
func (s *Service) SetQuality(id, quality string) error {
	quality, err := checkQuality(quality)
	if err != nil {
		return err
	}
	s.mu.Lock()
	vw, _ := s.sessions[id].(*viewer)
	s.mu.Unlock()
	if vw == nil {
		return fail.New(fail.NotFound, "no_session", "no such session")
	}
	if !vw.v.SetQuality(quality) {
		return errNoVideo
	}
	return nil
}
