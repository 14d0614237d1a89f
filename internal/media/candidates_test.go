package media_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/config"
)

// listenUDP is a loopback UDP listener that stands for an internal
// service: the media port must not probe it.
func listenUDP(t *testing.T) (*net.UDPConn, int) {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, c.LocalAddr().(*net.UDPAddr).Port
}

// stunWithin reads from c until a STUN message arrives (true) or the
// wait is over (false).
func stunWithin(t *testing.T, c *net.UDPConn, wait time.Duration) bool {
	t.Helper()
	buf := make([]byte, 1500)
	c.SetReadDeadline(time.Now().Add(wait))
	for {
		n, _, err := c.ReadFromUDP(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		if n >= 20 && binary.BigEndian.Uint32(buf[4:8]) == 0x2112A442 { // the STUN magic cookie
			return true
		}
	}
}

// rawViewerOffer is a WHEP offer whose only candidate points at port on
// 127.0.0.1, with its ICE ufrag and pwd.
func rawViewerOffer(t *testing.T, port int) (offer, ufrag, pwd string) {
	t.Helper()
	pc := newPeer(t)
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	added := false
	for _, line := range strings.SplitAfter(o.SDP, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "a=candidate:") || t == "a=end-of-candidates" {
			continue
		}
		b.WriteString(line)
		if strings.HasPrefix(t, "a=mid:") && !added {
			fmt.Fprintf(&b, "a=candidate:1 1 udp 2130706431 127.0.0.1 %d typ host\r\n", port)
			added = true
		}
	}
	return b.String(), sdpLines(o.SDP, "ice-ufrag")[0], sdpLines(o.SDP, "ice-pwd")[0]
}

// probeViewer starts a WHEP session with a candidate for offerPort in its
// offer, and trickles one for tricklePort.
func probeViewer(t *testing.T, s *apptest.Server, offerPort, tricklePort int) {
	t.Helper()
	offer, ufrag, pwd := rawViewerOffer(t, offerPort)
	req, _ := http.NewRequest("POST", s.URL+"/whep/alpha", strings.NewReader(offer))
	req.Header.Set("Content-Type", "application/sdp")
	r := s.Send(req)
	if r.Status != http.StatusCreated {
		t.Fatalf("WHEP offer with a loopback candidate: %d %s", r.Status, r.Raw)
	}
	frag := fmt.Sprintf("a=ice-ufrag:%s\r\na=ice-pwd:%s\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=candidate:2 1 udp 2130706431 127.0.0.1 %d typ host\r\n", ufrag, pwd, tricklePort)
	req, _ = http.NewRequest("PATCH", s.URL+r.Header.Get("Location"), strings.NewReader(frag))
	req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
	if r := s.Send(req); r.Status != http.StatusNoContent {
		t.Fatalf("trickle PATCH: %d %s", r.Status, r.Raw)
	}
}

// A viewer's candidates for loopback (standing for any internal address)
// in its offer and in a trickle PATCH make the media port send nothing
// there, unless the server runs with --media-loopback, where they are
// the way to reach peers on the same machine.
func TestCandidatesToInternalAddressesNotChecked(t *testing.T) {
	for _, loopback := range []bool{true, false} {
		t.Run(fmt.Sprintf("media-loopback=%v", loopback), func(t *testing.T) {
			s, key, _ := setup(t, func(c *config.Config) { c.MediaLoopback = loopback })
			publish(t, s.URL+"/whip/alpha", key, "vp8")
			waitFor(t, "the channel to go live", func() bool { return live(s) })
			offerL, offerPort := listenUDP(t)
			trickleL, tricklePort := listenUDP(t)
			probeViewer(t, s, offerPort, tricklePort)
			if loopback { // the control: checks do come where they are allowed
				if !stunWithin(t, offerL, 15*time.Second) || !stunWithin(t, trickleL, 15*time.Second) {
					t.Fatal("with --media-loopback, no connectivity check reached the loopback candidates")
				}
				return
			}
			// The control above sees checks within a few hundred
			// milliseconds; nothing may come here.
			if stunWithin(t, offerL, 3*time.Second) {
				t.Error("the media port sent STUN to a loopback candidate of the offer")
			}
			if stunWithin(t, trickleL, time.Second) {
				t.Error("the media port sent STUN to a trickled loopback candidate")
			}
		})
	}
}

// An offer or trickle that would give a session more than 32 candidates
// is refused, and so is an offer with more than 16 m-lines, on WHIP and
// WHEP alike.
func TestCandidateAndMediaBounds(t *testing.T) {
	s, key, _ := setup(t)
	publish(t, s.URL+"/whip/alpha", key, "vp8")
	waitFor(t, "the channel to go live", func() bool { return live(s) })
	_, port := listenUDP(t)
	cands := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "a=candidate:%d 1 udp %d 127.0.0.1 %d typ host\r\n", i+10, 2130706431-i, port)
		}
		return b.String()
	}
	send := func(method, path, ctype, body string) *apptest.Response {
		req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Authorization", "Bearer "+key)
		return s.Send(req)
	}

	offer, ufrag, _ := rawViewerOffer(t, port)
	many := strings.Replace(offer, "a=mid:0\r\n", "a=mid:0\r\n"+cands(32), 1)
	if r := send("POST", "/whep/alpha", "application/sdp", many); r.Status != 400 || r.ErrorCode() != "too_many_candidates" {
		t.Fatalf("an offer with 33 candidates: %d %s", r.Status, r.Raw)
	}
	r := send("POST", "/whep/alpha", "application/sdp", offer)
	if r.Status != http.StatusCreated {
		t.Fatalf("an offer with one candidate: %d %s", r.Status, r.Raw)
	}
	loc := r.Header.Get("Location")
	trickle := func(n int) *apptest.Response {
		return send("PATCH", loc, "application/trickle-ice-sdpfrag", "a=ice-ufrag:"+ufrag+"\r\na=mid:0\r\n"+cands(n))
	}
	if r := trickle(32); r.Status != 400 || r.ErrorCode() != "too_many_candidates" {
		t.Fatalf("trickling 32 more candidates: %d %s", r.Status, r.Raw)
	}
	if r := trickle(31); r.Status != http.StatusNoContent {
		t.Fatalf("trickling up to 32 candidates: %d %s", r.Status, r.Raw)
	}
	if r := trickle(1); r.Status != 400 || r.ErrorCode() != "too_many_candidates" {
		t.Fatalf("a 33rd candidate: %d %s", r.Status, r.Raw)
	}

	var o strings.Builder
	o.WriteString("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n" +
		"a=fingerprint:sha-256 " + strings.Repeat("AB:", 31) + "AB\r\na=setup:actpass\r\n")
	for i := range 17 {
		fmt.Fprintf(&o, "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:%d\r\na=recvonly\r\na=rtpmap:111 opus/48000/2\r\n", i)
	}
	for _, path := range []string{"/whip/alpha", "/whep/alpha"} {
		if r := send("POST", path, "application/sdp", o.String()); r.Status != 400 || r.ErrorCode() != "too_many_media" {
			t.Errorf("POST %s with 17 m-lines: %d %s", path, r.Status, r.Raw)
		}
	}
}
