package media_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

// Real WebRTC peers for the tests: a publisher that sends the testdata
// files in real time, and a viewer that records what it receives.

func newPeer(t *testing.T) *webrtc.PeerConnection {
	t.Helper()
	return newPeerWith(t, webrtc.Configuration{})
}

func newPeerWith(t *testing.T, conf webrtc.Configuration, first ...interceptor.Factory) *webrtc.PeerConnection {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	if len(first) > 0 {
		// They see packets after SRTP, which would take a retransmission
		// of one they drop for a replay.
		se.DisableSRTPReplayProtection(true)
	}
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	// What a simulcast sender tags its layers with.
	for _, ext := range []string{"urn:ietf:params:rtp-hdrext:sdes:mid", "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"} {
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: ext}, webrtc.RTPCodecTypeVideo); err != nil {
			t.Fatal(err)
		}
	}
	// Interceptors as a browser has them: NACKs recover packets a busy
	// machine drops on loopback.
	ir := &interceptor.Registry{}
	for _, f := range first { // nearest the network
		ir.Add(f)
	}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		t.Fatal(err)
	}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir))
	pc, err := api.NewPeerConnection(conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// exchange posts pc's complete offer to url and applies the answer; it
// returns the response (Location etc.) or the failed one.
func exchange(t *testing.T, pc *webrtc.PeerConnection, url, token string) *http.Response {
	t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return exchangeHeader(t, pc, url, h)
}

// exchangeHeader is exchange with the request's headers (a token, a cookie).
func exchangeHeader(t *testing.T, pc *webrtc.PeerConnection, url string, h http.Header) *http.Response {
	t.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-done
	req, _ := http.NewRequest("POST", url, strings.NewReader(pc.LocalDescription().SDP))
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/sdp")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(body)) // for the caller to read the error
	if res.StatusCode != http.StatusCreated {
		t.Logf("POST %s: %d %s", url, res.StatusCode, body)
		return res
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		t.Fatal(err)
	}
	return res
}

// publisher sends a video file (vp8.ivf or h264.h264) and opus.ogg until
// ctx ends.
type publisher struct {
	pc     *webrtc.PeerConnection
	res    *http.Response
	cancel context.CancelFunc
	done   sync.WaitGroup
}

func publish(t *testing.T, url, token, codec string) *publisher {
	t.Helper()
	pc := newPeer(t)
	mime := webrtc.MimeTypeVP8
	if codec == "h264" {
		mime = webrtc.MimeTypeH264
	}
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: mime}, "video", "pub")
	if err != nil {
		t.Fatal(err)
	}
	audio, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", "pub")
	for _, tr := range []webrtc.TrackLocal{video, audio} {
		if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	p := &publisher{pc: pc}
	p.res = exchange(t, pc, url, token)
	if p.res.StatusCode != http.StatusCreated {
		return p
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.done.Add(2)
	go func() { defer p.done.Done(); sendVideo(ctx, video, codec) }()
	go func() { defer p.done.Done(); sendAudio(ctx, audio) }()
	t.Cleanup(p.stop)
	return p
}

func (p *publisher) stop() {
	if p.cancel != nil {
		p.cancel()
		p.done.Wait()
	}
	p.pc.Close()
}

func sendVideo(ctx context.Context, track *webrtc.TrackLocalStaticSample, codec string) {
	tick := time.NewTicker(time.Second / 15)
	defer tick.Stop()
	for ctx.Err() == nil {
		data, _ := os.ReadFile("testdata/vp8.ivf")
		if codec == "h264" {
			data, _ = os.ReadFile("testdata/h264.h264")
		}
		next := videoFrames(data, codec)
		for {
			frame, err := next()
			if err != nil {
				break
			}
			if track.WriteSample(media.Sample{Data: frame, Duration: time.Second / 15}) != nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}
}

// videoFrames yields whole frames: IVF frames, or H.264 access units (the
// NALs up to and including each slice).
func videoFrames(data []byte, codec string) func() ([]byte, error) {
	if codec != "h264" {
		r, _, err := ivfreader.NewWith(strings.NewReader(string(data)))
		if err != nil {
			return func() ([]byte, error) { return nil, err }
		}
		return func() ([]byte, error) { f, _, err := r.ParseNextFrame(); return f, err }
	}
	r, err := h264reader.NewReader(strings.NewReader(string(data)))
	if err != nil {
		return func() ([]byte, error) { return nil, err }
	}
	return func() ([]byte, error) {
		var au []byte
		for {
			nal, err := r.NextNAL()
			if err != nil {
				if len(au) > 0 {
					return au, nil
				}
				return nil, err
			}
			au = append(au, 0, 0, 0, 1)
			au = append(au, nal.Data...)
			if nal.UnitType == h264reader.NalUnitTypeCodedSliceIdr || nal.UnitType == h264reader.NalUnitTypeCodedSliceNonIdr {
				return au, nil
			}
		}
	}
}

func sendAudio(ctx context.Context, track *webrtc.TrackLocalStaticSample) {
	for ctx.Err() == nil {
		f, err := os.Open("testdata/opus.ogg")
		if err != nil {
			return
		}
		ogg, _, err := oggreader.NewWith(f)
		if err != nil {
			f.Close()
			return
		}
		tick := time.NewTicker(20 * time.Millisecond)
		var last uint64
		for {
			page, hdr, err := ogg.ParseNextPage()
			if errors.Is(err, io.EOF) || err != nil {
				break
			}
			dur := time.Duration(hdr.GranulePosition-last) * time.Millisecond / 48
			last = hdr.GranulePosition
			if track.WriteSample(media.Sample{Data: page, Duration: dur}) != nil {
				tick.Stop()
				f.Close()
				return
			}
			select {
			case <-ctx.Done():
				tick.Stop()
				f.Close()
				return
			case <-tick.C:
			}
		}
		tick.Stop()
		f.Close()
	}
}

// viewer receives a channel over WHEP and keeps every packet.
type viewer struct {
	pc  *webrtc.PeerConnection
	res *http.Response

	mu    sync.Mutex
	video []*rtp.Packet
	audio []*rtp.Packet
	mime  string
}

func watch(t *testing.T, url string, audioOnly bool) *viewer {
	t.Helper()
	v := &viewer{pc: newPeer(t)}
	v.receiveKinds(t, url, audioOnly)
	return v
}

// receive sets up v's peer connection (made by the caller) and connects.
func (v *viewer) receive(t *testing.T, url string) { v.receiveKinds(t, url, false) }

func (v *viewer) receiveKinds(t *testing.T, url string, audioOnly bool) {
	t.Helper()
	if !audioOnly {
		v.pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	}
	v.pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	v.pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			v.mu.Lock()
			if tr.Kind() == webrtc.RTPCodecTypeVideo {
				v.video = append(v.video, p)
				v.mime = tr.Codec().MimeType
			} else {
				v.audio = append(v.audio, p)
			}
			v.mu.Unlock()
		}
	})
	v.res = exchange(t, v.pc, url, "")
}

// waitFor polls until cond holds (at most 15 s).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitLonger(t, what, 15*time.Second, cond)
}

// waitLonger is waitFor with another limit.
func waitLonger(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settledVideo returns the video packets received so far, once those lost
// on the way up to the newest have come again (NACK), or after 10 s: the
// caller's checkContinuous then names what is missing.
func (v *viewer) settledVideo() []*rtp.Packet {
	v.mu.Lock()
	newest := v.video[len(v.video)-1].SequenceNumber
	v.mu.Unlock()
	var pkts []*rtp.Packet
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		v.mu.Lock()
		pkts = pkts[:0]
		for _, p := range v.video {
			if int16(p.SequenceNumber-newest) <= 0 {
				pkts = append(pkts, p)
			}
		}
		v.mu.Unlock()
		if _, gap := firstGap(pkts); !gap || time.Now().After(deadline) {
			return pkts
		}
	}
}

func (v *viewer) counts() (video, audio int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.video), len(v.audio)
}
