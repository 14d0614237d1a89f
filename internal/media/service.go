package media

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/fedwave/fedwave/internal/audience"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/keyframe"
	"github.com/fedwave/fedwave/internal/sdptext"
)

// MaxSDP bounds an offer.
const MaxSDP = 64 << 10

// gatherTimeout bounds ICE gathering before an answer is sent.
const gatherTimeout = 5 * time.Second

// Service keeps the streams of all channels and their sessions.
type Service struct {
	engine   *Engine
	log      *slog.Logger
	onChange func(channel string) // live state changed (went live, ended)
	audience *audience.Registry   // viewers are counted in their channel's audience

	mu       sync.Mutex
	streams  map[string]*stream // by lower-case channel name
	sessions map[string]*session
	closing  bool     // no more live-state notifications: the site is stopping
	gone     goneList // sessions ended lately
	counters Counters
	notified sync.WaitGroup // notifications in flight; Close waits for them
}

// session is one WHIP publisher or WHEP viewer.
type session struct {
	id      string
	channel string
	who     string                      // the publisher's identity (owner user id); "" for viewers
	allowed func(context.Context) error // whether a publisher may still stream; nil: always
	pc      *webrtc.PeerConnection
	st      *stream
	viewer  bool
	closed  sync.Once
	etag    string // entity tag of the ICE session, under Service.mu
	ended   bool   // under st.mu
	// replacedAt is when another publisher took the channel over, under st.mu.
	replacedAt time.Time
	patch      sync.Mutex // one PATCH at a time
	remote     int        // remote candidates of the current ICE generation, under patch
	leave      func()     // a viewer's: stops counting it in the channel's audience

	// A viewer's tracks (nil where the stream had none; unbound where the
	// offer had none), and the quality it asked for; under mu.
	mu           sync.Mutex
	audio, video *downTrack
	quality      string

	// A publisher counts as live once every track its offer announced has
	// sent media (or a moment after the first did), so that viewers who
	// join at once get audio and video.
	expected map[string]bool
	started  map[string]bool
	firstAt  time.Time
}

// New makes the service. onChange is called (in its own goroutine) when a
// channel goes live or ends. Viewers are counted in aud (nil: nowhere).
func New(engine *Engine, log *slog.Logger, onChange func(channel string), aud *audience.Registry) *Service {
	if log == nil {
		log = slog.Default()
	}
	if aud == nil {
		aud = audience.New(nil)
	}
	return &Service{engine: engine, log: log, onChange: onChange, audience: aud, streams: map[string]*stream{}, sessions: map[string]*session{}}
}

func newID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Service) stream(channel string) *stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(channel)
	st := s.streams[key]
	if st == nil {
		st = newStream(channel, &s.counters)
		s.streams[key] = st
	}
	return st
}

// Counters are the media service's running totals, for /metrics.
type Counters struct {
	Resent           atomic.Int64 // packets sent again on viewers' NACKs
	BacklogDrops     atomic.Int64 // slow viewers' backlogs dropped (they resumed at a keyframe)
	KeyframeRequests atomic.Int64 // keyframe requests (PLI) sent to publishers
}

// Counters returns the running totals.
func (s *Service) Counters() *Counters { return &s.counters }

// Sessions counts the publishers and viewers connected now.
func (s *Service) Sessions() (publishers, viewers int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.sessions {
		if ss.viewer {
			viewers++
		} else {
			publishers++
		}
	}
	return publishers, viewers
}

// Session returns a session's channel, whether it is a viewer, and its
// entity tag (it changes with every ICE restart).
func (s *Service) Session(id string) (channel string, viewer bool, etag string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[id]
	if ss == nil {
		return "", false, "", false
	}
	return ss.channel, ss.viewer, ss.etag, true
}

// Live implements channels.LiveState.
func (s *Service) Live(channel string) (bool, time.Time, int) {
	s.mu.Lock()
	st := s.streams[strings.ToLower(channel)]
	s.mu.Unlock()
	if st == nil {
		return false, time.Time{}, 0
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.live, st.startedAt, len(st.viewers)
}

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
// candidates included, so clients need no trickle).
func (s *Service) negotiate(ctx context.Context, pc *webrtc.PeerConnection, offer string) (string, error) {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fail.New(fail.Invalid, "invalid_sdp", "the SDP offer was refused: %s", truncate(err.Error(), 200))
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fail.New(fail.Invalid, "invalid_sdp", "no answer can be made to this offer: %s", truncate(err.Error(), 200))
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-time.After(gatherTimeout):
	case <-ctx.Done():
		return "", ctx.Err()
	}
	local := pc.LocalDescription().SDP
	if !sdptext.Accepts(local) {
		return "", fail.New(fail.Invalid, "unsupported_codec", "no media in this offer can be accepted: FedWave takes H.264 or VP8 video and Opus audio")
	}
	return local, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

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
	st := s.stream(channel)
	st.mu.Lock()
	old := st.pub
	if old != nil && st.pubWho != who {
		st.mu.Unlock()
		return "", "", fail.New(fail.Conflict, "already_live", "someone is already streaming to this channel")
	}
	st.mu.Unlock()

	pc, err := s.engine.publishers.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", "", err
	}
	ss := &session{id: newID(), channel: st.name, who: who, allowed: allowed, pc: pc, st: st, remote: remote, expected: sdptext.SentTracks(offer, false), started: map[string]bool{}}
	ss.etag = ss.id
	pc.OnTrack(func(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) { s.ingest(ss, remote, recv) })
	pc.OnConnectionStateChange(func(state webrtc.PeerConnectionState) {
		if state == webrtc.PeerConnectionStateFailed || state == webrtc.PeerConnectionStateClosed {
			s.end(ss)
		}
	})
	answer, err = s.negotiate(ctx, pc, offer)
	if err != nil {
		pc.Close()
		return "", "", err
	}
	err = s.register(ss, func() error {
		if st.pub != nil && st.pub != old { // another publisher won the race
			return fail.New(fail.Conflict, "already_live", "someone is already streaming to this channel")
		}
		if old != nil && st.pub == old {
			old.replacedAt = time.Now().UTC()
		}
		st.pub, st.pubWho = ss, who
		return nil
	})
	if err != nil {
		return "", "", err
	}
	if old != nil {
		s.closeSession(old) // the same publisher reconnected: the new session takes over
	}
	return ss.id, answer, nil
}

// ingest stores each packet of one incoming track once and hands it to
// the layer's subscribers, until the publisher goes away.
func (s *Service) ingest(ss *session, remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	st := ss.st
	key := trackKey(remote.Kind(), remote.RID())
	codec := remote.Codec().RTPCodecCapability
	l := st.layerFor(key, codec)
	source := uint32(remote.SSRC())
	st.mu.Lock()
	st.mediaSSRC[key] = source
	st.mu.Unlock()
	go func() { // RTCP must be read for the interceptors (NACK, reports) to work
		rid := remote.RID()
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
	}()
	first := true
	for {
		p, _, err := remote.ReadRTP()
		if err != nil {
			return
		}
		if first {
			first = false
			s.trackStarted(ss, key)
		}
		l.forward(&packet{
			source: source, seq: p.SequenceNumber, ts: p.Timestamp, marker: p.Marker,
			key: l.video && keyframe.Start(codec.MimeType, p.Payload), payload: p.Payload, at: time.Now(),
		})
	}
}

// trackStarted records a track's first packet and goes live when all are
// there, or two seconds after the first (a layer may never come).
func (s *Service) trackStarted(ss *session, key string) {
	st := ss.st
	st.mu.Lock()
	ss.started[key] = true
	all := true
	for k := range ss.expected {
		all = all && ss.started[k]
	}
	if ss.firstAt.IsZero() {
		ss.firstAt = time.Now()
		if !all {
			time.AfterFunc(2*time.Second, func() { s.markLive(ss) })
		}
	}
	st.mu.Unlock()
	if all {
		s.markLive(ss)
	}
}

// markLive: the publisher's media flows. The channel goes live; when it
// was live already (the publisher reconnected), viewers move to the new
// session's layers, in case it sends others.
func (s *Service) markLive(ss *session) {
	st := ss.st
	st.mu.Lock()
	current := st.pub == ss
	changed := !st.live && current
	if changed {
		st.live, st.startedAt = true, time.Now().UTC()
	}
	viewers := make([]*session, 0, len(st.viewers))
	for v := range st.viewers {
		viewers = append(viewers, v)
	}
	st.mu.Unlock()
	if changed {
		s.notify(st.name)
	}
	if current {
		for _, v := range viewers {
			s.follow(v)
		}
	}
}

// notify reports a live-state change, unless the service is closing.
func (s *Service) notify(channel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || s.onChange == nil {
		return
	}
	s.notified.Go(func() { s.onChange(channel) })
}

// Play starts a WHEP session: quality is "high" (default), "low" or
// "audio". The viewer gets an audio and a video track (those the stream
// has); an audio-only viewer's video track stays silent until it switches.
// viewer is the person's key in the channel's audience ("": a key of its
// own).
func (s *Service) Play(ctx context.Context, channel, offer, quality, viewer string) (id, answer string, err error) {
	offer, remote, err := s.checkOffer(offer)
	if err != nil {
		return "", "", err
	}
	if quality, err = checkQuality(quality); err != nil {
		return "", "", err
	}
	st := s.stream(channel)
	st.mu.Lock()
	live := st.live
	st.mu.Unlock()
	if !live {
		return "", "", fail.New(fail.NotFound, "offline", "%s is not live", channel)
	}
	pc, err := s.engine.viewers.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", "", err
	}
	ss := &session{id: newID(), channel: st.name, pc: pc, st: st, viewer: true, quality: quality, remote: remote}
	ss.etag = ss.id
	if viewer == "" {
		viewer = s.audience.Unique()
	}
	ss.leave = s.audience.Join(st.name, viewer) // given back by end, or here on failure
	defer func() {
		if err != nil {
			ss.leave()
		}
	}()
	audio, video := st.pick("high")
	for _, l := range []*layer{audio, video} {
		if l == nil {
			continue
		}
		kind := webrtc.RTPCodecTypeAudio
		if l.video {
			kind = webrtc.RTPCodecTypeVideo
		}
		d := newDownTrack(kind, l.codec, "fedwave-"+st.name, st.writers, st.requestKeyframe, &s.counters)
		sender, err := pc.AddTrack(d)
		if err != nil {
			pc.Close()
			return "", "", fmt.Errorf("add track: %w", err)
		}
		if l.video {
			ss.video = d
		} else {
			ss.audio = d
		}
		go viewerRTCP(st, sender, d)
	}
	pc.OnConnectionStateChange(func(state webrtc.PeerConnectionState) {
		switch state {
		case webrtc.PeerConnectionStateConnected:
			s.follow(ss)
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			s.end(ss)
		}
	})
	answer, err = s.negotiate(ctx, pc, offer)
	if err != nil {
		pc.Close()
		return "", "", err
	}
	err = s.register(ss, func() error {
		st.viewers[ss] = true
		st.writers.resize(len(st.viewers))
		return nil
	})
	if err != nil {
		return "", "", err
	}
	return ss.id, answer, nil
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

// follow points a connected viewer's down-tracks at the layers of its
// quality (before that, their packets would wait for the connection).
func (s *Service) follow(ss *session) {
	if ss.pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
		return
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	audio, video := ss.st.pick(ss.quality)
	if ss.audio != nil && audio != nil {
		ss.audio.follow(audio)
	}
	if ss.video != nil {
		ss.video.follow(video)
	}
}

// SetQuality switches a viewer to another quality on its connection: the
// new video layer starts at its next keyframe, with no gap in the
// numbering; "audio" stops the video packets.
func (s *Service) SetQuality(id, quality string) error {
	quality, err := checkQuality(quality)
	if err != nil {
		return err
	}
	s.mu.Lock()
	ss := s.sessions[id]
	s.mu.Unlock()
	if ss == nil || !ss.viewer {
		return fail.New(fail.NotFound, "no_session", "no such session")
	}
	ss.mu.Lock()
	noVideo := quality != "audio" && (ss.video == nil || !ss.video.bound()) // the stream or the offer has no video
	if !noVideo {
		ss.quality = quality
	}
	ss.mu.Unlock()
	if noVideo {
		return fail.New(fail.Conflict, "no_video", "this session has no video track; start a new one")
	}
	s.follow(ss)
	return nil
}

// viewerRTCP answers a viewer's NACKs from the shared packets and passes
// its keyframe requests on to the publisher.
func viewerRTCP(st *stream, sender *webrtc.RTPSender, d *downTrack) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.TransportLayerNack:
				d.resend(p)
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				st.requestKeyframe()
			}
		}
	}
}

// Stop ends a session (WHIP/WHEP DELETE).
func (s *Service) Stop(id string) bool {
	s.mu.Lock()
	ss := s.sessions[id]
	s.mu.Unlock()
	if ss == nil {
		return false
	}
	s.closeSession(ss)
	return true
}

func (s *Service) closeSession(ss *session) {
	ss.pc.Close() // its state change ends the session
	s.end(ss)
}

var errClosedEarly = fail.New(fail.Invalid, "connection_closed", "the connection closed while it was being set up")

// register makes a negotiated session known by its id, and adds it to
// its stream with add (called under the stream's lock) unless it ended
// meanwhile: its connection can fail or close during the set-up, and end
// may run before, between or after the two steps. A session that did not
// make it is forgotten and closed.
func (s *Service) register(ss *session, add func() error) error {
	s.mu.Lock()
	s.sessions[ss.id] = ss
	s.mu.Unlock()
	st := ss.st
	st.mu.Lock()
	err := errClosedEarly
	if !ss.ended {
		err = add()
	}
	st.mu.Unlock()
	if err != nil {
		s.mu.Lock()
		delete(s.sessions, ss.id)
		s.mu.Unlock()
		s.end(ss)
	}
	return err
}

// end forgets a session; a publisher's end takes the channel offline.
func (s *Service) end(ss *session) {
	ss.closed.Do(func() {
		s.mu.Lock()
		delete(s.sessions, ss.id)
		s.mu.Unlock()
		go ss.pc.Close()
		st := ss.st
		st.mu.Lock()
		ss.ended = true
		gone := goneSession{channel: ss.channel, viewer: ss.viewer, endedAt: time.Now(), replacedAt: ss.replacedAt}
		wasLive := false
		if ss.viewer {
			delete(st.viewers, ss)
			st.writers.resize(len(st.viewers))
		} else if st.pub == ss {
			st.pub, st.pubWho = nil, ""
			wasLive, st.live = st.live, false
		}
		st.mu.Unlock()
		if ss.leave != nil {
			ss.leave()
		}
		s.mu.Lock()
		s.gone.add(ss.id, gone)
		s.mu.Unlock()
		if wasLive {
			s.notify(st.name)
		}
	})
}

// Close ends every session, and returns once the live-state notifications
// already under way are done (they use the database, which closes next).
func (s *Service) Close() {
	s.mu.Lock()
	s.closing = true
	all := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		all = append(all, ss)
	}
	s.mu.Unlock()
	for _, ss := range all {
		s.closeSession(ss)
	}
	s.mu.Lock()
	streams := make([]*stream, 0, len(s.streams))
	for _, st := range s.streams {
		streams = append(streams, st)
	}
	s.mu.Unlock()
	for _, st := range streams {
		st.writers.wait() // every viewer ended: the writers leave
	}
	s.notified.Wait()
}
