package media

import (
	"context"
	"fmt"
	"sync"

	"github.com/pion/webrtc/v4"

	"github.com/fedwave/fedwave/internal/audience"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/sfu"
)

// viewer is a WHEP session: its connection sends what its sfu.Viewer's
// down-tracks queue.
type viewer struct {
	conn
	v     *sfu.Viewer
	leave func() // stops counting it in the channel's audience
	node  bool   // a linked instance or a relay pulling, not a person

	// A remote channel's viewer holds a pull of its quality; under qmu,
	// which orders quality changes and the end.
	qmu     sync.Mutex
	quality string
	gone    bool
}

// Play starts a WHEP session: quality is "high" (default), "low" or
// "audio". The viewer gets an audio and a video track (those the stream
// has); an audio-only viewer's video track stays silent until it switches.
// viewer is the person's key in the channel's audience ("": a key of its
// own). A linked instance's channel (name@host) is pulled from there.
func (s *Service) Play(ctx context.Context, channel, offer, quality, viewerKey string) (id, answer string, err error) {
	offer, remote, err := s.checkOffer(offer)
	if err != nil {
		return "", "", err
	}
	if quality, err = checkQuality(quality); err != nil {
		return "", "", err
	}
	if _, _, ok := s.remoteOf(channel); ok && s.fed.Peers == nil {
		return "", "", errNotLinked
	}
	ch := s.hold(channel)
	defer s.release(ch)
	st := ch.st
	if ch.remote != nil {
		if err := ch.remote.want(ctx, quality); err != nil {
			return "", "", err
		}
	} else if live, _, _ := st.State(); !live {
		return "", "", fail.New(fail.NotFound, "offline", "%s is not live", channel)
	}
	pc, err := s.engine.newPeer(s.engine.viewers)
	if err != nil {
		if ch.remote != nil {
			ch.remote.unwant(quality)
		}
		return "", "", err
	}
	vw := &viewer{conn: newConn(ch, pc, remote), v: st.NewViewer(quality), quality: quality, node: audience.IsPeer(viewerKey)}
	defer func() {
		if err != nil {
			vw.release()
		}
	}()
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
	s.reportRemote(ch)
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

// viewerEnded takes an ended viewer out of its stream and audience, and
// gives back its hold on a remote channel's pull.
func (s *Service) viewerEnded(vw *viewer) {
	vw.ch.st.Leave(vw.v)
	vw.leave()
	if vw.release() {
		s.reportRemote(vw.ch)
	}
}

// release gives back a remote channel viewer's hold on its pull, once;
// it reports whether it did.
func (vw *viewer) release() bool {
	if vw.ch.remote == nil {
		return false
	}
	vw.qmu.Lock()
	defer vw.qmu.Unlock()
	if vw.gone {
		return false
	}
	vw.gone = true
	vw.ch.remote.unwant(vw.quality)
	return true
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
// numbering; "audio" stops the video packets. On a remote channel the
// pull of the new quality starts (the viewer stays on what is there
// until it comes) and the old one ends when nobody uses it.
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
	r := vw.ch.remote
	if r == nil {
		if !vw.v.SetQuality(quality) {
			return errNoVideo
		}
		return nil
	}
	vw.qmu.Lock()
	defer vw.qmu.Unlock()
	if vw.gone || vw.quality == quality {
		return nil
	}
	if !vw.v.SetQuality(quality) {
		return errNoVideo
	}
	old := vw.quality
	vw.quality = quality
	r.use(quality)
	r.unwant(old)
	return nil
}
