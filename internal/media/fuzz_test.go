package media

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// fuzzService is a real media service on a loopback port: fuzzed offers
// and fragments go through the whole WebRTC stack, as from a client.
func fuzzService(f *testing.F) *Service {
	engine, err := NewEngine(EngineConfig{ListenIP: "127.0.0.1", Loopback: true, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	s := New(engine, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, nil, Federation{})
	f.Cleanup(func() { s.Close(); engine.Close() })
	return s
}

// browserOffer is an offer as a publisher makes it: VP8 and Opus, complete.
func browserOffer(f *testing.F) string {
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		f.Fatal(err)
	}
	defer pc.Close()
	for _, c := range []webrtc.RTPCodecCapability{{MimeType: webrtc.MimeTypeVP8}, {MimeType: webrtc.MimeTypeOpus}} {
		track, _ := webrtc.NewTrackLocalStaticRTP(c, strings.Split(c.MimeType, "/")[0], "fuzz")
		if _, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			f.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		f.Fatal(err)
	}
	return offer.SDP
}

// Any offer gets an answer or a clear error, never a crash.
func FuzzPublishOffer(f *testing.F) {
	s := fuzzService(f)
	offer := browserOffer(f)
	f.Add(offer)
	f.Add(strings.ReplaceAll(offer, "VP8", "AV1"))
	f.Add(strings.ReplaceAll(offer, "a=ice-ufrag:", "a=ice-ufrag-x:"))
	f.Add(offer[:len(offer)/2])
	f.Add("v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n")
	f.Fuzz(func(t *testing.T, offer string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if id, _, err := s.Publish(ctx, "fuzz", "owner", offer, nil); err == nil {
			s.Stop(id)
		}
	})
}

// Any PATCH fragment, trickle or ICE restart, is applied or refused,
// never a crash.
func FuzzPatch(f *testing.F) {
	s := fuzzService(f)
	offer := browserOffer(f)
	f.Add("a=ice-ufrag:x\r\na=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n")
	f.Add("a=ice-ufrag:newone\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=candidate:1 1 udp 1 10.0.0.1 9 typ host\r\n")
	f.Add("a=ice-ufrag:newone\r\na=ice-pwd:\r\n")
	f.Add("a=candidate:garbage\r\na=end-of-candidates\r\n")
	f.Fuzz(func(t *testing.T, frag string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		id, _, err := s.Publish(ctx, "fuzz", "owner", offer, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Stop(id)
		s.Patch(ctx, id, frag)
	})
}
