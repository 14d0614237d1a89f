package media_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// A publisher sending two simulcast layers (as browsers do) is forwarded as
// two layers: viewers of high and low each get video, and a viewer switches
// layers on its connection with no gap in its sequence numbers. (Reading a
// simulcast receiver's RTCP the plain way once crashed the server.)
func TestSimulcastLayers(t *testing.T) {
	s, key, _ := setup(t)
	pc := newPeer(t)
	vp8 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}
	high, _ := webrtc.NewTrackLocalStaticRTP(vp8, "video", "pub", webrtc.WithRTPStreamID("h"))
	low, _ := webrtc.NewTrackLocalStaticRTP(vp8, "video", "pub", webrtc.WithRTPStreamID("l"))
	tr, err := pc.AddTransceiverFromTrack(high, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Sender().AddEncoding(low); err != nil {
		t.Fatal(err)
	}
	if res := exchange(t, pc, s.URL+"/whip/alpha", key); res.StatusCode != http.StatusCreated {
		t.Fatalf("WHIP with simulcast: %d", res.StatusCode)
	}
	// Tag the packets the way a browser does: mid and rid header extensions,
	// with the ids the answer agreed on.
	var midID, ridID uint8
	for _, e := range tr.Sender().GetParameters().HeaderExtensions {
		switch e.URI {
		case "urn:ietf:params:rtp-hdrext:sdes:mid":
			midID = uint8(e.ID)
		case "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id":
			ridID = uint8(e.ID)
		}
	}
	if midID == 0 || ridID == 0 {
		t.Fatal("the answer did not accept the mid and rid header extensions")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // synthetic VP8 frames on both layers, one packet each: a keyframe every tenth, the layer's rid last
		tick := time.NewTicker(33 * time.Millisecond)
		defer tick.Stop()
		for seq := uint16(0); ctx.Err() == nil; seq++ {
			for rid, track := range map[string]*webrtc.TrackLocalStaticRTP{"h": high, "l": low} {
				frame := byte(0x00) // P bit clear: a keyframe
				if seq%10 != 0 {
					frame = 0x01
				}
				p := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: seq + 1000*uint16(rid[0]), Timestamp: uint32(seq)*3000 + 7777*uint32(rid[0])},
					Payload: []byte{0x10, frame, 0x9d, 0x01, 0x2a, rid[0]}}
				p.SetExtension(midID, []byte(tr.Mid()))
				p.SetExtension(ridID, []byte(rid))
				track.WriteRTP(p)
			}
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
	}()
	waitFor(t, "live", func() bool { return live(s) })
	viewers := map[string]*viewer{}
	for _, q := range []string{"high", "low"} {
		v := watch(t, s.URL+"/whep/alpha?quality="+q, false)
		if v.res.StatusCode != http.StatusCreated {
			t.Fatalf("WHEP %s: %d", q, v.res.StatusCode)
		}
		waitFor(t, q+" layer video", func() bool { vi, _ := v.counts(); return vi > 20 })
		viewers[q] = v
	}
	if got := layersSeen(viewers["high"]); got != "h" {
		t.Fatalf("the high viewer got layers %q", got)
	}
	if got := layersSeen(viewers["low"]); got != "l" {
		t.Fatalf("the low viewer got layers %q", got)
	}

	// The high viewer switches to low and back on its connection.
	v := viewers["high"]
	layerURL := v.res.Header.Get("Location") + "/layer"
	if !strings.Contains(strings.Join(v.res.Header.Values("Link"), ","), `rel="urn:ietf:params:whep:ext:core:layer"`) {
		t.Fatalf("no layer link in %v", v.res.Header.Values("Link"))
	}
	for _, c := range []struct{ quality, want string }{{"low", "hl"}, {"high", "hlh"}} {
		if r := s.Do("POST", layerURL, map[string]string{"quality": c.quality}, ""); r.Status != http.StatusNoContent {
			t.Fatalf("switch to %s: %d %s", c.quality, r.Status, r.Raw)
		}
		waitFor(t, "the switch to "+c.quality, func() bool { return layersSeen(v) == c.want })
	}
	before, _ := v.counts()
	waitFor(t, "more video", func() bool { vi, _ := v.counts(); return vi > before+20 })
	video := v.settledVideo()
	checkContinuous(t, "video across layer switches", video)
	for i := 1; i < len(video); i++ {
		if d := int32(video[i].Timestamp - video[i-1].Timestamp); d <= 0 && video[i].SequenceNumber == video[i-1].SequenceNumber+1 {
			t.Fatalf("timestamp went from %d to %d at a layer switch", video[i-1].Timestamp, video[i].Timestamp)
		}
	}

	// Audio only: the video stops on the same connection.
	if r := s.Do("POST", layerURL, map[string]string{"quality": "audio"}, ""); r.Status != http.StatusNoContent {
		t.Fatalf("switch to audio: %d", r.Status)
	}
	time.Sleep(300 * time.Millisecond) // what was already on its way
	stopped, _ := v.counts()
	time.Sleep(500 * time.Millisecond)
	if now, _ := v.counts(); now != stopped {
		t.Fatalf("%d video packets after switching to audio only", now-stopped)
	}
	// The publisher reconnects without simulcast: the viewer moves to the
	// one layer the new session sends.
	if r := s.Do("POST", layerURL, map[string]string{"quality": "high"}, ""); r.Status != http.StatusNoContent {
		t.Fatalf("switch back to high: %d", r.Status)
	}
	waitFor(t, "video again", func() bool { vi, _ := v.counts(); return vi > stopped+10 })
	if pub := publish(t, s.URL+"/whip/alpha", key, "vp8"); pub.res.StatusCode != http.StatusCreated {
		t.Fatalf("reconnect without simulcast: %d", pub.res.StatusCode)
	}
	cancel() // the old publisher's packets stop
	// The synthetic frames above are 6 bytes long, the file's longer.
	fromFile := func() (n int) {
		v.mu.Lock()
		defer v.mu.Unlock()
		for _, p := range v.video {
			if len(p.Payload) > 6 {
				n++
			}
		}
		return n
	}
	waitFor(t, "video from the reconnected publisher", func() bool { return fromFile() > 30 })
	video = v.settledVideo()
	checkContinuous(t, "video across a reconnect without simulcast", video)

	for body, want := range map[string]int{`{"quality":"ultra"}`: 400, `{"quality":"low","x":1}`: 400} {
		if r := s.Do("POST", layerURL, body, ""); r.Status != want {
			t.Errorf("layer %s: %d, want %d", body, r.Status, want)
		}
	}
	if r := s.Do("POST", "/whep/alpha/nosuchsession/layer", map[string]string{"quality": "low"}, ""); r.Status != 404 {
		t.Errorf("layer of no session: %d", r.Status)
	}
}

// layersSeen lists the layers a viewer got video from, in order, each run
// once ("hl": high, then low).
func layersSeen(v *viewer) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var seen []byte
	for _, p := range v.video {
		if n := len(p.Payload); n > 0 && (len(seen) == 0 || seen[len(seen)-1] != p.Payload[n-1]) {
			seen = append(seen, p.Payload[n-1])
		}
	}
	return string(seen)
}
