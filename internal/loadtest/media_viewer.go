package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/fedwave/fedwave/internal/keyframe"
)

// mediaViewer is one WHEP viewer: it joins, then counts and times every
// packet of its tracks (trackStats) until it is closed.
type mediaViewer struct {
	n         int
	measuring *atomic.Bool
	pc        *webrtc.PeerConnection
	location  string
	postAt    time.Time
	answerAt  time.Time                 // the answer came back
	connAt    atomic.Pointer[time.Time] // the connection (ICE and DTLS) came up
	gotVideo  chan struct{}             // closed at the first video packet
	err       atomic.Pointer[error]

	mu      sync.Mutex
	closing bool
	reading map[webrtc.RTPCodecType]bool // a second track of a kind is drained, not counted
	readers sync.WaitGroup

	// Written by the track readers only; read after they have ended.
	video, audio trackStats
}

func (v *mediaViewer) fail(err error) {
	v.err.CompareAndSwap(nil, &err)
}

// watch connects a viewer and waits for its first video packet.
func (r *mediaRun) watch(ctx context.Context, api *webrtc.API, v *mediaViewer) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		v.fail(err)
		return
	}
	v.pc = pc
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			v.fail(err)
			return
		}
	}
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		v.mu.Lock()
		if v.closing {
			v.mu.Unlock()
			return
		}
		v.readers.Add(1)
		counted := !v.reading[t.Kind()]
		v.reading[t.Kind()] = true
		v.mu.Unlock()
		defer v.readers.Done()
		v.read(t, counted)
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			now := time.Now()
			v.connAt.CompareAndSwap(nil, &now)
		case webrtc.PeerConnectionStateFailed:
			v.fail(errors.New("connection failed"))
		}
	})
	sdp, err := offer(ctx, pc)
	if err != nil {
		v.fail(err)
		return
	}
	// A refusal may mean the stream is not live yet: try again for a while.
	deadline := time.Now().Add(joinTimeout)
	var answer string
	for {
		v.postAt = time.Now()
		var status int
		answer, v.location, status, err = r.exchange(ctx, r.o.WHEP, r.o.WHEPKey, sdp)
		if err == nil {
			break
		}
		temporary := status == http.StatusNotFound || status == http.StatusConflict || status == http.StatusTooEarly ||
			status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests
		if !temporary || time.Now().After(deadline) || !sleepCtx(ctx, 250*time.Millisecond) {
			v.fail(err)
			return
		}
	}
	v.answerAt = time.Now()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		v.fail(fmt.Errorf("the answer: %w", err))
		return
	}
	t := time.NewTimer(joinTimeout)
	defer t.Stop()
	select {
	case <-v.gotVideo:
	case <-t.C:
		v.fail(fmt.Errorf("no video within %s (connection %s)", joinTimeout, pc.ConnectionState()))
	case <-ctx.Done():
		v.fail(ctx.Err())
	}
}

// close deletes the session and closes the connection, then waits for the
// track readers.
func (r *mediaRun) closeViewer(v *mediaViewer) {
	v.mu.Lock()
	if v.closing {
		v.mu.Unlock()
		return
	}
	v.closing = true
	v.mu.Unlock()
	r.remove(v.location, r.o.WHEPKey)
	if v.pc != nil {
		v.pc.Close()
	}
	v.readers.Wait()
}

// closeAll closes the viewers, a few at a time.
func (r *mediaRun) closeAll(viewers []*mediaViewer) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 20)
	for _, v := range viewers {
		if v == nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r.closeViewer(v)
		}()
	}
	wg.Wait()
}

// read counts a track's packets until the connection closes.
func (v *mediaViewer) read(t *webrtc.TrackRemote, counted bool) {
	isVideo := t.Kind() == webrtc.RTPCodecTypeVideo
	st := &v.audio
	switch {
	case !counted:
		st, isVideo = &trackStats{}, false
	case isVideo:
		st = &v.video
	}
	mime := t.Codec().MimeType
	buf := make([]byte, 1600)
	var pkt rtp.Packet
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrShortBuffer) {
				v.mu.Lock()
				closing := v.closing
				v.mu.Unlock()
				if !closing {
					v.fail(fmt.Errorf("read %s: %w", t.Kind(), err))
				}
			}
			if errors.Is(err, io.ErrShortBuffer) {
				continue
			}
			return
		}
		now := time.Now()
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		st.add(&pkt, n, now, v.measuring.Load())
		if !isVideo {
			continue
		}
		if st.packets == 1 {
			st.joinedAt = now
			close(v.gotVideo)
		}
		if pkt.Marker {
			st.frames++
		}
		if keyframe.Start(mime, pkt.Payload) && (!st.keySeen || pkt.Timestamp != st.lastKeyTS) {
			st.keySeen, st.lastKeyTS = true, pkt.Timestamp
			st.keyframes++
		}
	}
}

// trackStats counts one received track.
type trackStats struct {
	packets, bytes  int64
	late            int64 // packets that came after one with a higher sequence number: reordered or resent after a loss
	started         bool
	baseExt, maxExt int64 // extended sequence numbers
	first, last     time.Time
	delay, delayAll delayHist // in the measuring window, all
	counterMin      uint32    // embedded frame counters
	counterMax      uint32
	counted         bool

	// video
	joinedAt          time.Time
	frames, keyframes int64
	keySeen           bool
	lastKeyTS         uint32
}

func (s *trackStats) add(p *rtp.Packet, size int, now time.Time, measuring bool) {
	s.packets++
	s.bytes += int64(size)
	s.last = now
	if !s.started {
		s.started, s.first = true, now
		s.baseExt, s.maxExt = int64(p.SequenceNumber), int64(p.SequenceNumber)
	} else {
		ext := s.maxExt + int64(int16(p.SequenceNumber-uint16(s.maxExt)))
		if ext < s.maxExt {
			s.late++
		}
		s.maxExt = max(s.maxExt, ext)
		s.baseExt = min(s.baseExt, ext)
	}
	if sent, counter, ok := readStamp(p.Payload); ok {
		d := now.Sub(time.Unix(0, sent))
		s.delayAll.add(d)
		if measuring {
			s.delay.add(d)
		}
		if !s.counted {
			s.counted, s.counterMin, s.counterMax = true, counter, counter
		}
		s.counterMin, s.counterMax = min(s.counterMin, counter), max(s.counterMax, counter)
	}
}

func (s *trackStats) expected() int64 {
	if !s.started {
		return 0
	}
	return s.maxExt - s.baseExt + 1
}
