package loadtest

// A stream chain viewer (CONTRACT §5a) that behaves as the player does: it
// posts to the origin's WHEP URL, follows the 307 to a relay, and when no
// video came for Stall it drops its session and posts to the origin again
// with ?avoid=<the host it lost>. It records each relink and which host
// serves it, so the chain's tests and benchmarks share one viewer.

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/fedwave/fedwave/internal/keyframe"
)

// ChainOptions sets up a chain viewer.
type ChainOptions struct {
	WHEP string // the origin's WHEP URL of the channel
	// Stall is how long without a video packet ends a session; default
	// 500 ms, the player's.
	Stall time.Duration
	// JoinGrace is how long a new session may take to bring its first video
	// packet before it counts as stalled; default 3 s.
	JoinGrace time.Duration
	API       *webrtc.API  // shared by many viewers (NewViewerAPI); default one of its own
	Client    *http.Client // must follow redirects; default one with a 3 s timeout (a frozen relay never answers)
	// Measuring, if set, limits the delay histogram to the packets that
	// arrive while it is true (a benchmark's window).
	Measuring *atomic.Bool
	Log       *slog.Logger
}

// Relink is one move of a viewer whose session stalled.
type Relink struct {
	From, To string        // hosts that served it
	Gap      time.Duration // last video packet before the stall to the first fresh one after
	At       time.Time     // the first video packet after
	// Of Gap: the origin's (and relay's) answer to the post that ended it,
	// and from that answer to the first video packet.
	Answer, Media time.Duration
}

// ChainState is a viewer's state now.
type ChainState struct {
	Host    string // the host serving the current session ("" none yet)
	Playing bool   // a keyframe came on the current session and video is flowing
	Relinks []Relink
	Err     string        // the last error of a post, if any
	Join    time.Duration // start to the first video packet (0: not yet)
}

// ChainStats is what a closed viewer measured over all its sessions.
type ChainStats struct {
	Join     time.Duration // first post to first video packet (0: never)
	Packets  int64         // video and audio
	Expected int64         // sequence number spans, summed over sessions
	Lost     int64
	Relinks  []Relink
}

// ChainViewer is one viewer; it runs until Close.
type ChainViewer struct {
	o      ChainOptions
	cancel context.CancelFunc
	done   chan struct{}
	start  time.Time

	lastVideo atomic.Int64 // unix ns of the last fresh video packet, any session
	// newest is the latest send stamp of a video packet seen (unix ns): a
	// packet stamped earlier is not fresh. A relay's cached run from the
	// last keyframe is replayed to a new session; if the viewer saw it
	// already (its relay stalled and it came back to it), it is not the
	// stream playing again.
	newest atomic.Int64

	mu      sync.Mutex
	host    string
	cur     *chainSession
	relinks []Relink
	lastErr string
	joined  time.Time
	// prevHost served the session before the current one: a relink's From.
	prevHost string
	delay    delayHist // merged from closed sessions
	stats    ChainStats
}

// chainSession is one WHEP session of a viewer.
type chainSession struct {
	pc       *webrtc.PeerConnection
	location string
	host     string
	posted   time.Time
	answered time.Time
	readers  sync.WaitGroup
	keyframe atomic.Bool
	videoAt  atomic.Int64 // unix ns of the last fresh video packet of this session

	mu           sync.Mutex
	closing      bool
	reading      map[webrtc.RTPCodecType]bool
	video, audio trackStats
}

// NewViewerAPI makes a pion API for viewers, to share among many.
func NewViewerAPI(log *slog.Logger) (*webrtc.API, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return newAPI(nil, log)
}

// WatchChain starts a viewer; it keeps watching (and relinking) until
// Close or ctx ends.
func WatchChain(ctx context.Context, o ChainOptions) (*ChainViewer, error) {
	if o.Stall <= 0 {
		o.Stall = 500 * time.Millisecond
	}
	if o.JoinGrace <= 0 {
		o.JoinGrace = 3 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 3 * time.Second}
	}
	if o.API == nil {
		api, err := NewViewerAPI(o.Log)
		if err != nil {
			return nil, err
		}
		o.API = api
	}
	if _, err := url.Parse(o.WHEP); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	v := &ChainViewer{o: o, cancel: cancel, done: make(chan struct{}), start: time.Now()}
	go v.run(ctx)
	return v, nil
}

// run keeps a session up: post, watch for a stall, post again avoiding
// the host that stalled.
func (v *ChainViewer) run(ctx context.Context) {
	defer close(v.done)
	avoid := ""
	backoff := retryFirst
	for ctx.Err() == nil {
		s, err := v.join(ctx, avoid)
		if err != nil {
			v.setErr(err)
			if !sleepCtx(ctx, retryWait(err, backoff)) {
				return
			}
			backoff = min(2*backoff, retryMax)
			continue
		}
		backoff = retryFirst
		v.watch(ctx, s)
		avoid = s.host
		v.end(s)
	}
}

// A refused or failed post is tried again after a growing, jittered wait
// (at most the origin's Retry-After): hundreds of viewers of a relay that
// died post at once, and must not keep a full origin busy answering 503.
const (
	retryFirst = 100 * time.Millisecond
	retryMax   = 2 * time.Second
)

func retryWait(err error, backoff time.Duration) time.Duration {
	var pe *PostError
	if errors.As(err, &pe) && pe.RetryAfter > 0 {
		backoff = min(backoff, pe.RetryAfter)
	}
	return backoff/2 + rand.N(backoff/2+1)
}

// watch returns when the session stalled or ctx ended.
func (v *ChainViewer) watch(ctx context.Context, s *chainSession) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			last := s.videoAt.Load()
			if last == 0 {
				if now.Sub(s.answered) > v.o.JoinGrace {
					return
				}
				continue
			}
			if now.Sub(time.Unix(0, last)) > v.o.Stall {
				return
			}
		}
	}
}

// join posts an offer to the origin, following its redirect, and starts
// reading the tracks of the session it gets.
func (v *ChainViewer) join(ctx context.Context, avoid string) (*chainSession, error) {
	pc, err := v.o.API.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	s := &chainSession{pc: pc, reading: map[webrtc.RTPCodecType]bool{}}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			pc.Close()
			return nil, err
		}
	}
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			return
		}
		s.readers.Add(1)
		counted := !s.reading[t.Kind()]
		s.reading[t.Kind()] = true
		s.mu.Unlock()
		defer s.readers.Done()
		v.read(s, t, counted)
	})
	sdp, err := offer(ctx, pc)
	if err != nil {
		pc.Close()
		return nil, err
	}
	s.posted = time.Now()
	answer, err := v.post(ctx, s, avoid, sdp)
	if err == nil {
		s.answered = time.Now() // before the tracks can start
		err = pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer})
	}
	if err != nil {
		v.end(s)
		return nil, err
	}
	v.mu.Lock()
	v.host, v.cur = s.host, s
	v.mu.Unlock()
	return s, nil
}

// post sends the offer to the origin (avoiding a host) and returns the
// answer; the session URL and host are those of the final URL after the
// origin's 307.
func (v *ChainViewer) post(ctx context.Context, s *chainSession, avoid, sdp string) (string, error) {
	u, _ := url.Parse(v.o.WHEP)
	if avoid != "" {
		q := u.Query()
		q.Set("avoid", avoid)
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(sdp))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/sdp")
	res, err := v.o.Client.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusCreated {
		pe := &PostError{Status: res.StatusCode, Body: truncate(string(body), 200)}
		if secs, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && secs > 0 {
			pe.RetryAfter = time.Duration(min(secs, 60)) * time.Second
		}
		return "", pe
	}
	final := res.Request.URL
	s.host = final.Host
	if loc, err := final.Parse(res.Header.Get("Location")); err == nil && res.Header.Get("Location") != "" {
		s.location = loc.String()
	}
	return string(body), nil
}

// PostError is a refused WHEP post.
type PostError struct {
	Status     int
	Body       string
	RetryAfter time.Duration // the server's Retry-After, 0 if none
}

func (e *PostError) Error() string { return "WHEP post: " + strconv.Itoa(e.Status) + " " + e.Body }

// read counts a track's packets until the session closes.
func (v *ChainViewer) read(s *chainSession, t *webrtc.TrackRemote, counted bool) {
	isVideo := t.Kind() == webrtc.RTPCodecTypeVideo
	st := &s.audio
	switch {
	case !counted:
		st, isVideo = &trackStats{}, false
	case isVideo:
		st = &s.video
	}
	mime := t.Codec().MimeType
	buf := make([]byte, 1600)
	var pkt rtp.Packet
	for {
		n, _, err := t.Read(buf)
		if errors.Is(err, io.ErrShortBuffer) {
			continue
		}
		if err != nil {
			return
		}
		now := time.Now()
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		st.add(&pkt, n, now, v.o.Measuring == nil || v.o.Measuring.Load())
		if !isVideo {
			continue
		}
		if keyframe.Start(mime, pkt.Payload) {
			s.keyframe.Store(true)
		}
		if !v.fresh(pkt.Payload) {
			continue
		}
		if s.videoAt.Swap(now.UnixNano()) == 0 {
			v.firstVideo(s, now)
		}
		v.lastVideo.Store(now.UnixNano())
	}
}

// fresh reports whether a video payload is newer than any seen before; an
// unstamped one (not the synthetic publisher's) counts as fresh.
func (v *ChainViewer) fresh(payload []byte) bool {
	sent, _, ok := readStamp(payload)
	if !ok {
		return true
	}
	for {
		old := v.newest.Load()
		if sent <= old {
			return false
		}
		if v.newest.CompareAndSwap(old, sent) {
			return true
		}
	}
}

// firstVideo records the join, or the relink a session's first fresh
// video packet ends.
func (v *ChainViewer) firstVideo(s *chainSession, now time.Time) {
	last := v.lastVideo.Load()
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.joined.IsZero() {
		v.joined = now
		return
	}
	v.relinks = append(v.relinks, Relink{From: v.prevHost, To: s.host, Gap: now.Sub(time.Unix(0, last)), At: now,
		Answer: s.answered.Sub(s.posted), Media: now.Sub(s.answered)})
}

// end closes a session (deleting it where it was, without waiting on a
// dead host) and folds its counts into the viewer's.
func (v *ChainViewer) end(s *chainSession) {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	if s.location != "" {
		go v.remove(s.location)
	}
	s.pc.Close()
	s.readers.Wait()
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.cur == s {
		v.cur = nil
		v.prevHost = s.host
	}
	for _, st := range []*trackStats{&s.video, &s.audio} {
		v.stats.Packets += st.packets
		exp := st.expected()
		v.stats.Expected += exp
		v.stats.Lost += max(exp-st.packets, 0)
		v.delay.merge(&st.delay)
	}
}

func (v *ChainViewer) remove(location string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, location, nil)
	if err != nil {
		return
	}
	if res, err := v.o.Client.Do(req); err == nil {
		res.Body.Close()
	}
}

func (v *ChainViewer) setErr(err error) {
	v.mu.Lock()
	v.lastErr = err.Error()
	v.mu.Unlock()
}

// State is the viewer's state now. Playing means the current session had
// a keyframe (a picture can be decoded) and its last fresh video packet is
// at most Stall old.
func (v *ChainViewer) State() ChainState {
	v.mu.Lock()
	defer v.mu.Unlock()
	st := ChainState{Host: v.host, Relinks: append([]Relink(nil), v.relinks...), Err: v.lastErr}
	if !v.joined.IsZero() {
		st.Join = v.joined.Sub(v.start)
	}
	if s := v.cur; s != nil && s.keyframe.Load() {
		last := s.videoAt.Load()
		st.Playing = last != 0 && time.Since(time.Unix(0, last)) <= v.o.Stall
	}
	return st
}

// Close stops the viewer, ends its session and returns what it measured.
func (v *ChainViewer) Close() ChainStats {
	v.cancel()
	<-v.done
	v.mu.Lock()
	defer v.mu.Unlock()
	st := v.stats
	st.Relinks = append([]Relink(nil), v.relinks...)
	if !v.joined.IsZero() {
		st.Join = v.joined.Sub(v.start)
	}
	return st
}

// ChainDelays is the send→receive delay over the packets of closed
// viewers (those of the Measuring window, if it was set).
func ChainDelays(viewers []*ChainViewer) Percentiles {
	var h delayHist
	for _, v := range viewers {
		v.mu.Lock()
		h.merge(&v.delay)
		v.mu.Unlock()
	}
	return h.percentiles()
}
