package media

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/sdptext"
	"github.com/fedwave/fedwave/internal/sfu"
)

const (
	// pullStart bounds a pull's start, from its offer to its media.
	pullStart = 15 * time.Second
	// trackGrace: a pull is ready when every track its answer sends has
	// media, or this long after the first (A's stream may lack one).
	trackGrace = 2 * time.Second
	// deleteTimeout bounds the DELETE that ends a pull's WHEP session.
	deleteTimeout = 5 * time.Second
)

// pull is a WHEP session of this instance on a linked instance's channel,
// at one quality: a client peer connection, recvonly audio and video,
// that feeds the remote's stream. It reconnects until stopped.
type pull struct {
	r       *remote
	quality string
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	kick    chan struct{} // ends the connection, to make it again at once
	last    atomic.Int64  // unix nanoseconds of the last packet

	// ready is closed once the first connection has media, or failed
	// (err; the pull then ends).
	ready     chan struct{}
	err       error
	readyOnce sync.Once

	mu      sync.Mutex
	pc      *webrtc.PeerConnection // the current connection, for keyframe requests
	video   uint32                 // its video SSRC, 0 before media
	attempt context.CancelFunc     // ends the current connection or its making
}

// errKicked ends a connection (or its making) that repull replaced.
var errKicked = errors.New("told to pull again")

// again ends the current connection, or the attempt to make one, and
// makes it again at once (the parent changed). An attempt stuck on a
// parent that froze would otherwise hold the pull for pullStart.
func (p *pull) again() {
	p.mu.Lock()
	if p.attempt != nil {
		p.attempt()
	}
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func newPull(r *remote, quality string) *pull {
	ctx, cancel := context.WithCancel(context.Background())
	return &pull{r: r, quality: quality, ctx: ctx, cancel: cancel, done: make(chan struct{}), kick: make(chan struct{}, 1), ready: make(chan struct{})}
}

// stop ends the pull and waits for it.
func (p *pull) stop() {
	p.cancel()
	<-p.done
}

func (p *pull) setReady(err error) {
	p.readyOnce.Do(func() {
		p.err = err
		close(p.ready)
	})
}

func (p *pull) started() bool {
	select {
	case <-p.ready:
		return p.err == nil
	default:
		return false
	}
}

// run connects, and connects again with a growing wait (retryFirst
// doubling to retryMax, from the start again after a connection that
// had media) when the connection ends, until stopped. A first connection
// that fails ends the pull: the viewers waiting for it are told why.
func (p *pull) run() {
	defer close(p.done)
	wait := retryFirst
	for {
		hadMedia, err := p.connect()
		if p.ctx.Err() != nil {
			p.setReady(errClosing)
			return
		}
		if !p.started() && !errors.Is(err, errKicked) {
			p.setReady(startError(p.r.host, err))
			p.r.drop(p)
			return
		}
		if hadMedia {
			wait = retryFirst
		}
		p.r.s.log.Info("remote stream pull ended; retrying", "channel", p.r.channel, "host", p.r.host, "quality", p.quality, "in", wait, "err", err)
		select {
		case <-p.ctx.Done():
			return
		case <-p.kick: // told where to pull from now: no wait
		case <-time.After(wait):
			wait = min(2*wait, retryMax)
		}
	}
}

// startError is what the viewers waiting for a pull that failed to
// start get: the peer's own refusal or Do's fail.Error as they are,
// anything else as peer_unreachable.
func startError(host string, err error) error {
	if _, ok := fail.As(err); ok {
		return err
	}
	return fail.New(fail.BadGateway, "peer_unreachable", "the stream could not be pulled from %s", host)
}

// connect makes one connection and returns when it ends; hadMedia says
// whether it got its tracks.
func (p *pull) connect() (hadMedia bool, err error) {
	s, r := p.r.s, p.r
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	p.mu.Lock()
	p.attempt = cancel
	p.mu.Unlock()
	defer func() {
		if ctx.Err() != nil && p.ctx.Err() == nil {
			err = errKicked
		}
	}()
	pc, err := s.engine.newPeer(s.engine.pulls)
	if err != nil {
		return false, err
	}
	defer pc.Close()
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return false, fmt.Errorf("add transceiver: %w", err)
		}
	}
	ended := make(chan struct{})
	var endOnce sync.Once
	pc.OnConnectionStateChange(func(state webrtc.PeerConnectionState) {
		if state == webrtc.PeerConnectionStateFailed || state == webrtc.PeerConnectionStateClosed {
			endOnce.Do(func() { close(ended) })
		}
	})
	tracks := make(chan string, 2)
	pc.OnTrack(func(t *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		go readRTCP(recv, "")
		p.read(pc, t, tracks)
	})
	p.mu.Lock()
	p.pc, p.video = pc, 0
	p.mu.Unlock()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return false, fmt.Errorf("create offer: %w", err)
	}
	if err := setLocal(ctx, pc, offer); err != nil {
		return false, err
	}
	answer, location, err := p.post(ctx, pc.LocalDescription().SDP)
	if err != nil {
		return false, err
	}
	defer func() {
		// Only a pull being stopped says goodbye. A connection made again
		// left a home that stalled, failed or is no longer the parent: a
		// DELETE to a dead host would hold the reconnection up for
		// deleteTimeout (the relink budget is a second), and a live home
		// drops the session when the connection closes.
		if p.ctx.Err() != nil {
			p.delete(location)
		}
	}()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return false, fail.New(fail.BadGateway, "peer_unreachable", "the answer of %s was refused: %s", r.host, truncate(err.Error(), 200))
	}
	if err := p.waitTracks(ctx, answer, tracks, ended); err != nil {
		return false, err
	}
	p.setReady(nil)
	r.st.Live(r) // the viewers move to the layers there are now
	return true, p.wait(ctx, ended)
}

// wait returns when the connection ends, is stopped or kicked, or (with
// Federation.Stall) brings no packet for that long.
func (p *pull) wait(ctx context.Context, ended <-chan struct{}) error {
	var tick <-chan time.Time
	stall := p.r.s.fed.Stall
	if stall > 0 {
		t := time.NewTicker(stall / 4)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ended:
			return errors.New("the connection ended")
		case <-ctx.Done():
			return ctx.Err()
		case now := <-tick:
			if now.Sub(time.Unix(0, p.last.Load())) > stall {
				return fmt.Errorf("no packet for %v", stall)
			}
		}
	}
}

// post sends the offer to the channel's home and returns its answer and
// the session's Location.
func (p *pull) post(ctx context.Context, offer string) (answer, location string, err error) {
	path := "/whep/" + url.PathEscape(p.r.channel) + "?quality=" + p.quality
	ctx, cancel := context.WithTimeout(ctx, pullStart)
	defer cancel()
	res, err := p.r.s.fed.Peers.Do(ctx, p.r.host, http.MethodPost, path, "application/sdp", []byte(offer))
	if err != nil {
		return "", "", err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, MaxSDP+1))
	if err != nil {
		return "", "", fail.New(fail.BadGateway, "peer_unreachable", "%s answered in part: %s", p.r.host, truncate(err.Error(), 120))
	}
	if res.StatusCode != http.StatusCreated {
		return "", "", refusal(p.r.host, res.StatusCode, body)
	}
	location = res.Header.Get("Location")
	if len(body) > MaxSDP || location == "" {
		return "", "", fail.New(fail.BadGateway, "peer_unreachable", "%s answered the pull without a session", p.r.host)
	}
	return string(body), location, nil
}

// refusal is the error for a home's answer other than 201: its channel
// being offline or unknown is told as such; anything else is the peer's
// failure.
func refusal(host string, status int, body []byte) error {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	json.Unmarshal(body, &e)
	if status == http.StatusNotFound && (e.Error.Code == "offline" || e.Error.Code == "not_found") {
		return fail.New(fail.NotFound, e.Error.Code, "%s", truncate(e.Error.Message, 200))
	}
	return fail.New(fail.BadGateway, "peer_unreachable", "%s refused the pull (%d %s)", host, status, truncate(e.Error.Code, 60))
}

// delete ends the pull's session on its home; a home gone away drops it
// anyway when the connection ends.
func (p *pull) delete(location string) {
	ctx, cancel := context.WithTimeout(context.Background(), deleteTimeout)
	defer cancel()
	res, err := p.r.s.fed.Peers.Do(ctx, p.r.host, http.MethodDelete, location, "", nil)
	if err != nil {
		return
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 4<<10))
	res.Body.Close()
}

// waitTracks waits until every track the answer sends has media (or
// trackGrace after the first): then the viewers' down-tracks can take
// their codecs.
func (p *pull) waitTracks(ctx context.Context, answer string, tracks <-chan string, ended <-chan struct{}) error {
	want := sdptext.SentTracks(answer, true)
	if p.quality == "audio" {
		delete(want, "video/") // the home's video track stays silent
	}
	start := time.NewTimer(pullStart)
	defer start.Stop()
	var grace <-chan time.Time
	for got := 0; got < len(want); {
		select {
		case k := <-tracks:
			if want[sdpKey(k)] {
				got++
			}
			if grace == nil {
				grace = time.After(trackGrace)
			}
		case <-grace:
			return nil
		case <-start.C:
			return fail.New(fail.BadGateway, "peer_unreachable", "no media came from %s", p.r.host)
		case <-ended:
			return fail.New(fail.BadGateway, "peer_unreachable", "the connection to %s failed", p.r.host)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// sdpKey maps a layer key of this pull to the key SentTracks gives the
// answer's track ("video/" for the home's single video track).
func sdpKey(k string) string {
	if k == "audio" {
		return k
	}
	return "video/"
}

// read feeds one track of the connection to the stream until it ends.
// Video goes to the layer "video/"+quality; audio to the audio layer
// while this pull is the one whose audio is forwarded.
func (p *pull) read(pc *webrtc.PeerConnection, t *webrtc.TrackRemote, tracks chan<- string) {
	video := t.Kind() == webrtc.RTPCodecTypeVideo
	if video && p.quality == "audio" {
		return
	}
	key := "audio"
	if video {
		key = "video/" + p.quality
	}
	l := p.r.st.Input(key, t.Codec().RTPCodecCapability)
	ssrc := uint32(t.SSRC())
	if video {
		p.mu.Lock()
		if p.pc == pc {
			p.video = ssrc
		}
		p.mu.Unlock()
	}
	first := true
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		p.last.Store(time.Now().UnixNano())
		if first {
			first = false
			select {
			case tracks <- key:
			default:
			}
		}
		if !video && !p.audioSource() {
			continue
		}
		l.Write(ssrc, pkt)
	}
}

// audioSource reports whether this pull's audio feeds the stream: the
// first pull to have audio does, until it ends.
func (p *pull) audioSource() bool {
	cur := p.r.audio.Load()
	if cur == nil && p.r.audio.CompareAndSwap(nil, p) {
		return true
	}
	return cur == p
}

// keyframe asks the home for a keyframe on the pull's video (a PLI, which
// the home rate-limits and passes on to its source).
func (p *pull) keyframe() bool {
	p.mu.Lock()
	pc, ssrc := p.pc, p.video
	p.mu.Unlock()
	if pc == nil || ssrc == 0 {
		return false
	}
	pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
	return true
}

var _ sfu.Source = (*remote)(nil)
