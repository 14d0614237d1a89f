package media

import (
	"context"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/sdptext"
	"github.com/fedwave/fedwave/internal/sfu"
)

// publisher is a WHIP session: the source of its channel's stream.
type publisher struct {
	conn
	who        string                      // the publisher's identity (owner user id)
	allowed    func(context.Context) error // whether it may still stream; nil: always
	replacedAt time.Time                   // when another publisher took over, under Service.mu
	stoppedAt  time.Time                   // when StopChannel ended it, under Service.mu

	// It counts as live once every track its offer announced has sent
	// media (or a moment after the first did), so that viewers who join
	// at once get audio and video.
	expected map[string]bool // set before it is known: read without the lock
	mu       sync.Mutex
	started  map[string]bool
	firstAt  time.Time
	ssrc     map[string]uint32 // incoming SSRC per video track key, for keyframe requests
}

// Sends implements sfu.Source.
func (p *publisher) Sends(key string) bool { return p.expected[key] }

// Keyframe implements sfu.Source: a PLI on every video track.
func (p *publisher) Keyframe() bool {
	p.mu.Lock()
	pkts := make([]rtcp.Packet, 0, len(p.ssrc))
	for _, ssrc := range p.ssrc {
		pkts = append(pkts, &rtcp.PictureLossIndication{MediaSSRC: ssrc})
	}
	p.mu.Unlock()
	if len(pkts) == 0 {
		return false
	}
	p.pc.WriteRTCP(pkts)
	return true
}

var errAlreadyLive = fail.New(fail.Conflict, "already_live", "someone is already streaming to this channel")

// Publish starts a WHIP session for a channel. who identifies the
// publisher: a second publisher is refused unless it is the same one
// reconnecting, who then takes over (viewers keep their connections).
// allowed (nil: always) is asked again every second while the session
// lasts (Run); a refusal ends it.
func (s *Service) Publish(ctx context.Context, channel, who, offer string, allowed func(context.Context) error) (id, answer string, err error) {
	offer, remote, err := s.checkOffer(offer)
	if err != nil {
		return "", "", err
	}
	ch := s.hold(channel)
	defer s.release(ch)
	if ch.remote != nil {
		return "", "", fail.New(fail.Forbidden, "forbidden", "a channel of another instance is published there")
	}
	st := ch.st
	cur := st.Source()
	old, _ := cur.(*publisher)
	if cur != nil && (old == nil || old.who != who) {
		return "", "", errAlreadyLive
	}
	pc, err := s.engine.newPeer(s.engine.publishers)
	if err != nil {
		return "", "", err
	}
	p := &publisher{conn: newConn(ch, pc, remote), who: who, allowed: allowed, expected: sdptext.SentTracks(offer, false), started: map[string]bool{}, ssrc: map[string]uint32{}}
	pc.OnTrack(func(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) { s.ingest(p, remote, recv) })
	pc.OnConnectionStateChange(func(state webrtc.PeerConnectionState) {
		if state == webrtc.PeerConnectionStateFailed || state == webrtc.PeerConnectionStateClosed {
			s.end(p)
		}
	})
	answer, err = s.negotiate(ctx, pc, offer)
	if err != nil {
		pc.Close()
		return "", "", err
	}
	err = s.register(p, func() error {
		now := st.Source()
		if now != nil && now != cur { // another publisher won the race
			return errAlreadyLive
		}
		if !st.SetSource(now, p) {
			return errAlreadyLive
		}
		if old != nil && now == cur {
			old.replacedAt = time.Now().UTC()
		}
		return nil
	})
	if err != nil {
		return "", "", err
	}
	if old != nil {
		s.end(old) // the same publisher reconnected: the new session takes over
	}
	return p.id, answer, nil
}

// ingest feeds one incoming track to its layer until the publisher goes
// away.
func (s *Service) ingest(p *publisher, remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	key := sfu.TrackKey(remote.Kind(), remote.RID())
	l := p.ch.st.Input(key, remote.Codec().RTPCodecCapability)
	ssrc := uint32(remote.SSRC())
	if remote.Kind() == webrtc.RTPCodecTypeVideo {
		p.mu.Lock()
		p.ssrc[key] = ssrc
		p.mu.Unlock()
	}
	go readRTCP(recv, remote.RID())
	first := true
	for {
		pkt, _, err := remote.ReadRTP()
		if err != nil {
			return
		}
		if first {
			first = false
			s.trackStarted(p, key)
		}
		l.Write(ssrc, pkt)
	}
}

// readRTCP reads a receiver's RTCP until it ends: it must be read for the
// interceptors (NACK, reports) to work.
func readRTCP(recv *webrtc.RTPReceiver, rid string) {
	for {
		var err error
		if rid != "" {
			_, _, err = recv.ReadSimulcastRTCP(rid) // ReadRTCP panics in pion on a simulcast receiver
		} else {
			_, _, err = recv.ReadRTCP()
		}
		if err != nil {
			return
		}
	}
}

// trackStarted records a track's first packet and goes live when all are
// there, or two seconds after the first (a layer may never come).
func (s *Service) trackStarted(p *publisher, key string) {
	p.mu.Lock()
	p.started[key] = true
	all := true
	for k := range p.expected {
		all = all && p.started[k]
	}
	if p.firstAt.IsZero() {
		p.firstAt = time.Now()
		if !all {
			time.AfterFunc(2*time.Second, func() { s.markLive(p) })
		}
	}
	p.mu.Unlock()
	if all {
		s.markLive(p)
	}
}

// markLive: the publisher's media flows. The channel goes live; when it
// was live already (the publisher reconnected), viewers move to the new
// session's layers, in case it sends others.
func (s *Service) markLive(p *publisher) {
	if p.ch.st.Live(p) {
		s.notify(p.name)
	}
}
