package media_test

import (
	"net/http"
	"testing"

	"github.com/pion/dtls/v3"
	"github.com/pion/webrtc/v4"
)

// viewerOffering is a pion viewer whose DTLS offers only these SRTP
// profiles, in this order of its own preference.
func viewerOffering(t *testing.T, profiles ...dtls.SRTPProtectionProfile) *viewer {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetSRTPProtectionProfiles(profiles...)
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return &viewer{pc: pc}
}

// srtpCipher is the SRTP profile pc's connection uses ("" before DTLS).
func srtpCipher(pc *webrtc.PeerConnection) string {
	for _, s := range pc.GetStats() {
		if ts, ok := s.(webrtc.TransportStats); ok && ts.SRTPCipher != "" {
			return ts.SRTPCipher
		}
	}
	return ""
}

// A viewer that offers AES-GCM gets AES-128-GCM (the cheaper cipher for
// the server), even when it would rather have AES-CM; one that offers
// only AES-CM (some browsers, OBS) still watches. Both see video.
func TestSRTPCipherChoice(t *testing.T) {
	s, key, _ := setup(t)
	publish(t, s.URL+"/whip/alpha", key, "vp8")
	waitFor(t, "the channel to go live", func() bool { return live(s) })

	for _, tc := range []struct {
		name    string
		offered []dtls.SRTPProtectionProfile
		want    string
	}{
		{"AES-CM first, GCM too", []dtls.SRTPProtectionProfile{dtls.SRTP_AES128_CM_HMAC_SHA1_80, dtls.SRTP_AEAD_AES_256_GCM, dtls.SRTP_AEAD_AES_128_GCM}, "SRTP_AEAD_AES_128_GCM"},
		{"AES-CM only", []dtls.SRTPProtectionProfile{dtls.SRTP_AES128_CM_HMAC_SHA1_80}, "SRTP_AES128_CM_HMAC_SHA1_80"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := viewerOffering(t, tc.offered...)
			v.receive(t, s.URL+"/whep/alpha")
			if v.res.StatusCode != http.StatusCreated {
				t.Fatalf("WHEP: %d", v.res.StatusCode)
			}
			waitFor(t, "video", func() bool { vi, _ := v.counts(); return vi > 30 })
			if got := srtpCipher(v.pc); got != tc.want {
				t.Fatalf("SRTP cipher %q, want %q", got, tc.want)
			}
		})
	}
}

// Every connection's DTLS certificate is the server's one (made once, not
// per connection), and viewers connect with it.
func TestOneDTLSCertificate(t *testing.T) {
	s, key, _ := setup(t)
	publish(t, s.URL+"/whip/alpha", key, "vp8")
	waitFor(t, "the channel to go live", func() bool { return live(s) })
	var prints []string
	for range 2 {
		v := watch(t, s.URL+"/whep/alpha", false)
		waitFor(t, "video", func() bool { vi, _ := v.counts(); return vi > 30 })
		prints = append(prints, sdpLines(v.pc.RemoteDescription().SDP, "fingerprint")...)
	}
	if len(prints) < 2 || prints[0] != prints[len(prints)-1] {
		t.Fatalf("the answers' fingerprints differ: %q", prints)
	}
}
