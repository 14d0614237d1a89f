package loadtest

// The pion setup and the WHIP/WHEP signalling (one HTTP exchange of
// complete offer and answer) shared by the publisher and the viewers.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"

	"github.com/fedwave/fedwave/internal/pionlog"
)

var videoFeedback = []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}

func videoCodec(codec string) (webrtc.RTPCodecParameters, error) {
	switch codec {
	case "", "vp8":
		return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback}, PayloadType: 96}, nil
	case "h264":
		return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", RTCPFeedback: videoFeedback}, PayloadType: 102}, nil
	}
	return webrtc.RTPCodecParameters{}, fmt.Errorf("codec %q: want vp8 or h264", codec)
}

var opusCodec = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}, PayloadType: 111}

// newAPI makes a pion API for loopback-capable UDP4 peers; publish registers
// just the codecs sent, viewers take pion's defaults.
func newAPI(video *webrtc.RTPCodecParameters, log *slog.Logger) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if video != nil {
		if err := me.RegisterCodec(*video, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, err
		}
		if err := me.RegisterCodec(opusCodec, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, err
		}
	} else if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled) // one socket less per peer
	// pion's default SRTP replay window (64 packets) refuses a
	// retransmission that comes later than that, so a lost video packet
	// stays lost in a keyframe burst; browsers keep 1024.
	se.SetSRTPReplayProtectionWindow(1024)
	se.LoggerFactory = pionlog.Factory{Log: log}
	std, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	se.SetNet(bigBuffers{std})
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// bigBuffers opens the peers' UDP sockets with 4 MiB buffers (capped by
// the kernel's net.core.rmem_max and wmem_max): with a hundred viewers in
// one process, a late read loop overflowed the default ~200 KiB and the
// report counted the load generator's drops as the server's.
type bigBuffers struct{ *stdnet.Net }

func (n bigBuffers) ListenUDP(network string, addr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, addr)
	if u, ok := c.(*net.UDPConn); ok {
		u.SetReadBuffer(4 << 20)
		u.SetWriteBuffer(4 << 20)
	}
	return c, err
}

// exchange posts a complete offer and returns the answer and the session
// URL. On a refusal, status tells whether it may be temporary (stream not
// live yet).
func (r *mediaRun) exchange(ctx context.Context, endpoint, token, offer string) (answer, location string, status int, err error) {
	req, err := http.NewRequestWithContext(ctx, "POST", endpoint, strings.NewReader(offer))
	if err != nil {
		return "", "", 0, err
	}
	req.Header.Set("Content-Type", "application/sdp")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := r.client.Do(req)
	if err != nil {
		return "", "", 0, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return "", "", res.StatusCode, err
	}
	if res.StatusCode != http.StatusCreated {
		return "", "", res.StatusCode, fmt.Errorf("POST %s: %s: %s", endpoint, res.Status, truncate(strings.TrimSpace(string(body)), 200))
	}
	if loc := res.Header.Get("Location"); loc != "" {
		base := res.Request.URL // after redirects: a relay's session is the relay's
		if u, err := base.Parse(loc); err == nil {
			location = u.String()
		}
	}
	return string(body), location, res.StatusCode, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// remove DELETEs a WHIP/WHEP session.
func (r *mediaRun) remove(location, token string) {
	if location == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "DELETE", location, nil)
	if err != nil {
		return
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := r.client.Do(req)
	if err != nil {
		r.logf("DELETE %s: %v", location, err)
		return
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if res.StatusCode >= 300 {
		r.logf("DELETE %s: %s", location, res.Status)
	}
}

// offer makes pc's complete offer (ICE gathering done: no trickle needed).
func offer(ctx context.Context, pc *webrtc.PeerConnection) (string, error) {
	o, err := pc.CreateOffer(nil)
	if err != nil {
		return "", err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(o); err != nil {
		return "", err
	}
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-gathered:
	case <-t.C:
		return "", errors.New("ICE gathering did not complete")
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return pc.LocalDescription().SDP, nil
}

// connected waits for pc to connect.
func connected(ctx context.Context, pc *webrtc.PeerConnection, timeout time.Duration) error {
	ch := make(chan webrtc.PeerConnectionState, 1)
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		select {
		case ch <- s:
		default:
		}
	})
	t := time.NewTimer(timeout)
	defer t.Stop()
	for pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
		select {
		case s := <-ch:
			if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
				return fmt.Errorf("connection %s", s)
			}
		case <-t.C:
			return fmt.Errorf("not connected after %s (state %s)", timeout, pc.ConnectionState())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
