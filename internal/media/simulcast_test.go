package media_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// A publisher sending two simulcast layers (as browsers do) is forwarded as
// two layers: viewers of high and low each get video. (Reading a simulcast
// receiver's RTCP the plain way once crashed the server.)
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
	go func() { // synthetic VP8 frames on both layers: one packet each, keyframes
		tick := time.NewTicker(33 * time.Millisecond)
		defer tick.Stop()
		for seq := uint16(0); ctx.Err() == nil; seq++ {
			for rid, track := range map[string]*webrtc.TrackLocalStaticRTP{"h": high, "l": low} {
				p := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: seq, Timestamp: uint32(seq) * 3000},
					Payload: []byte{0x10, 0x00, 0x9d, 0x01, 0x2a, 1, 2, 3}}
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
	for _, q := range []string{"high", "low"} {
		v := watch(t, s.URL+"/whep/alpha?quality="+q, false)
		if v.res.StatusCode != http.StatusCreated {
			t.Fatalf("WHEP %s: %d", q, v.res.StatusCode)
		}
		waitFor(t, q+" layer video", func() bool { vi, _ := v.counts(); return vi > 20 })
	}
}
