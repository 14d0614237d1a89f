package media_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/config"
	"github.com/fedwave/fedwave/internal/udptest"
)

func setup(t *testing.T, opts ...func(*config.Config)) (s *apptest.Server, key, ownerTok string) {
	t.Helper()
	s = apptest.Start(t, opts...)
	s.CreateUser("alpha", "password1", auth.RoleStreamer)
	ownerTok = s.Login("alpha", "password1")
	r := s.Do("POST", "/api/v1/channels/alpha/stream-key", nil, ownerTok)
	return s, r.Body["streamKey"].(string), ownerTok
}

func live(s *apptest.Server) bool {
	ch, _ := s.Do("GET", "/api/v1/channels/alpha", nil, "").Body["channel"].(map[string]any)
	return ch["live"] == true
}

// checkContinuous fails on a gap in sequence numbers: every number from the
// first to the last arrived (retransmissions may reorder them).
func checkContinuous(t *testing.T, what string, pkts []*rtp.Packet) {
	t.Helper()
	if missing, gap := firstGap(pkts); gap {
		t.Fatalf("%s: sequence number %d never arrived (%d packets from %d)", what, missing, len(pkts), pkts[0].SequenceNumber)
	}
}

// firstGap returns a sequence number between the first packet's and the
// highest that is not among pkts.
func firstGap(pkts []*rtp.Packet) (missing uint16, gap bool) {
	if len(pkts) == 0 {
		return 0, false
	}
	seen := map[uint16]bool{}
	var ext, maxExt int64 // sequence numbers unwrapped across 65535 -> 0
	prev := pkts[0].SequenceNumber
	for _, p := range pkts {
		ext += int64(int16(p.SequenceNumber - prev))
		prev = p.SequenceNumber
		maxExt = max(maxExt, ext)
		seen[p.SequenceNumber] = true
	}
	first := pkts[0].SequenceNumber
	for i := int64(0); i <= maxExt; i++ {
		if !seen[first+uint16(i)] {
			return first + uint16(i), true
		}
	}
	return 0, false
}

// keyframes counts the frames a decoder could start from.
func keyframes(pkts []*rtp.Packet, mime string) int {
	n := 0
	for _, p := range pkts {
		if strings.EqualFold(mime, "video/VP8") {
			var d codecs.VP8Packet
			payload, err := d.Unmarshal(p.Payload)
			if err == nil && d.S == 1 && d.PID == 0 && len(payload) > 0 && payload[0]&1 == 0 {
				n++
			}
			continue
		}
		// H.264: an IDR slice alone, in a STAP-A or starting a FU-A.
		if len(p.Payload) < 2 {
			continue
		}
		switch typ := p.Payload[0] & 0x1f; {
		case typ == 5:
			n++
		case typ == 28 && p.Payload[1]&0x80 != 0 && p.Payload[1]&0x1f == 5:
			n++
		case typ == 24 && strings.Contains(string(p.Payload), "\x65"):
			n++
		}
	}
	return n
}

func TestPublishAndWatch(t *testing.T) {
	for _, codec := range []string{"vp8", "h264"} {
		t.Run(codec, func(t *testing.T) {
			s, key, _ := setup(t)
			ws := s.Dial("")
			pub := publish(t, s.URL+"/whip/alpha", key, codec)
			if pub.res.StatusCode != http.StatusCreated {
				t.Fatalf("WHIP: %d", pub.res.StatusCode)
			}
			loc := pub.res.Header.Get("Location")
			if !strings.HasPrefix(loc, "/whip/alpha/") || pub.res.Header.Get("ETag") == "" {
				t.Fatalf("WHIP headers: %v", pub.res.Header)
			}
			waitFor(t, "the channel to go live", func() bool { return live(s) })
			if f := ws.Expect("live"); f["channel"].(map[string]any)["live"] != true {
				t.Fatalf("live frame %v", f)
			}

			v := watch(t, s.URL+"/whep/alpha", false)
			if v.res.StatusCode != http.StatusCreated {
				t.Fatalf("WHEP: %d", v.res.StatusCode)
			}
			waitFor(t, "video and audio", func() bool { vi, au := v.counts(); return vi > 60 && au > 50 })
			video := v.settledVideo()
			v.mu.Lock()
			mime := v.mime
			v.mu.Unlock()
			if !strings.EqualFold(mime, "video/"+codec) {
				t.Fatalf("viewer got %s, want %s", mime, codec)
			}
			checkContinuous(t, "video", video)
			if keyframes(video, mime) == 0 {
				t.Fatal("no keyframe reached the viewer: nothing to decode from")
			}
			if ch := s.Do("GET", "/api/v1/channels/alpha", nil, "").Body["channel"].(map[string]any); ch["viewers"].(float64) < 1 || ch["startedAt"] == nil {
				t.Fatalf("channel while live: %v", ch)
			}
			metrics := string(s.Do("GET", "/metrics", nil, "").Raw)
			for _, want := range []string{"\nfedwave_media_publishers 1\n", "\nfedwave_media_viewers 1\n", "\nfedwave_media_keyframe_requests_total "} {
				if !strings.Contains(metrics, want) {
					t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
				}
			}

			// The publisher reconnects (same key): it takes over, and the
			// viewer's numbering carries on without a gap.
			before, _ := v.counts()
			pub2 := publish(t, s.URL+"/whip/alpha", key, codec)
			if pub2.res.StatusCode != http.StatusCreated {
				t.Fatalf("reconnect: %d", pub2.res.StatusCode)
			}
			pub.stop()
			waitFor(t, "video after the reconnect", func() bool { vi, _ := v.counts(); return vi > before+60 })
			video = v.settledVideo()
			checkContinuous(t, "video across a publisher reconnect", video)

			// DELETE ends the stream for everyone.
			req, _ := http.NewRequest("DELETE", s.URL+pub2.res.Header.Get("Location"), nil)
			req.Header.Set("Authorization", "Bearer wrong")
			if r := s.Send(req); r.Status != 401 {
				t.Fatalf("DELETE with a wrong key: %d", r.Status)
			}
			req.Header.Set("Authorization", "Bearer "+key)
			if r := s.Send(req); r.Status != 200 {
				t.Fatalf("DELETE: %d %s", r.Status, r.Raw)
			}
			waitFor(t, "the channel to go offline", func() bool { return !live(s) })
		})
	}
}

func TestAudioOnlyViewerGetsNoVideo(t *testing.T) {
	s, key, _ := setup(t)
	publish(t, s.URL+"/whip/alpha", key, "vp8")
	waitFor(t, "live", func() bool { return live(s) })
	v := watch(t, s.URL+"/whep/alpha?quality=audio", false)
	waitFor(t, "audio", func() bool { _, au := v.counts(); return au > 50 })
	if vi, _ := v.counts(); vi != 0 {
		t.Fatalf("an audio-only viewer got %d video packets", vi)
	}
	// An offer with no video at all, at the default quality: the video
	// track the server has for it is never negotiated, and never written.
	a := watch(t, s.URL+"/whep/alpha", true)
	waitFor(t, "audio (audio-only offer)", func() bool { _, au := a.counts(); return au > 50 })
	if r := s.Do("POST", a.res.Header.Get("Location")+"/layer", map[string]string{"quality": "low"}, ""); r.Status != 409 {
		t.Fatalf("layer switch of an audio-only offer: %d %s", r.Status, r.Raw)
	}
	if vi, _ := a.counts(); vi != 0 {
		t.Fatalf("an audio-only offer got %d video packets", vi)
	}
}

// Starting sessions is rate-limited per address (each is a peer
// connection): beyond --media-rate a minute, 429.
func TestMediaRateLimit(t *testing.T) {
	s := apptest.Start(t, func(c *config.Config) { c.MediaRate = 2 })
	statuses := []int{}
	for range 3 {
		req, _ := http.NewRequest("POST", s.URL+"/whep/nobody", strings.NewReader("v=0"))
		req.Header.Set("Content-Type", "application/sdp")
		statuses = append(statuses, s.Send(req).Status)
	}
	if statuses[0] == 429 || statuses[1] == 429 || statuses[2] != 429 {
		t.Fatalf("three WHEP offers with a limit of 2 a minute: %v", statuses)
	}
}

func TestWHIPRefusals(t *testing.T) {
	s, key, ownerTok := setup(t)
	s.CreateUser("bob", "password1", auth.RoleUser)
	bobTok := s.Login("bob", "password1")
	post := func(path, token, ctype, body string) *apptest.Response {
		req, _ := http.NewRequest("POST", s.URL+path, strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return s.Send(req)
	}
	r := post("/whip/alpha", "", "application/sdp", "v=0")
	if r.Status != 401 || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("no key: %d %v", r.Status, r.Header)
	}
	if r := post("/whip/alpha", "sk_wrong", "application/sdp", "v=0"); r.Status != 401 {
		t.Fatalf("wrong key: %d", r.Status)
	}
	if r := post("/whip/alpha", bobTok, "application/sdp", "v=0"); r.Status != 403 {
		t.Fatalf("another user's token: %d", r.Status)
	}
	if r := post("/whip/nobody", key, "application/sdp", "v=0"); r.Status != 404 {
		t.Fatalf("unknown channel: %d", r.Status)
	}
	for name, body := range map[string]string{
		"garbage":   "hello",
		"no media":  "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",
		"enormous":  "v=0\r\n" + strings.Repeat("a=x:"+strings.Repeat("y", 1000)+"\r\n", 100),
		"bad codec": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 98\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:sha-256 " + strings.Repeat("AB:", 31) + "AB\r\na=setup:actpass\r\na=rtpmap:98 VP9/90000\r\n",
	} {
		if r := post("/whip/alpha", ownerTok, "application/sdp", body); r.Status != 400 {
			t.Errorf("%s SDP: %d %s", name, r.Status, r.Raw)
		}
	}
	if r := post("/whip/alpha", key, "text/plain", "v=0"); r.Status != 400 {
		t.Fatalf("wrong content type: %d", r.Status)
	}
	if r := post("/whep/alpha", "", "application/sdp", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"); r.Status != 404 {
		t.Fatalf("watching an offline channel: %d %s", r.Status, r.Raw)
	}
	req, _ := http.NewRequest("GET", s.URL+"/whip/alpha", nil)
	if r := s.Send(req); r.Status != 405 {
		t.Fatalf("GET on WHIP: %d", r.Status)
	}
	req, _ = http.NewRequest("OPTIONS", s.URL+"/whip/alpha", nil)
	req.Header.Set("Origin", "https://studio.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	if r := s.Send(req); r.Status/100 != 2 || r.Header.Get("Access-Control-Allow-Origin") == "" {
		t.Fatalf("CORS preflight: %d %v", r.Status, r.Header)
	}
}

// A viewer that may only use TURN relay candidates still watches, with the
// credentials /api/v1/ice hands out.
func TestViewerBehindTURN(t *testing.T) {
	s := apptest.Start(t, func(c *config.Config) { c.TURNPort, c.TURNLoopback = udptest.FreePort(t), true })
	s.CreateUser("alpha", "password1", auth.RoleStreamer)
	key := s.Do("POST", "/api/v1/channels/alpha/stream-key", nil, s.Login("alpha", "password1")).Body["streamKey"].(string)
	pub := publish(t, s.URL+"/whip/alpha", key, "vp8")
	if links := pub.res.Header.Values("Link"); len(links) == 0 || !strings.Contains(links[0], `rel="ice-server"`) || !strings.Contains(links[0], "credential=") {
		t.Fatalf("WHIP answer without TURN Link headers: %v", links)
	}
	waitFor(t, "live", func() bool { return live(s) })

	ice := s.Do("GET", "/api/v1/ice", nil, "").Body["iceServers"].([]any)
	if len(ice) != 1 {
		t.Fatalf("ice servers %v", ice)
	}
	srv := ice[0].(map[string]any)
	var urls []string
	for _, u := range srv["urls"].([]any) {
		urls = append(urls, u.(string))
	}
	v := &viewer{pc: newPeerWith(t, webrtc.Configuration{
		ICEServers:         []webrtc.ICEServer{{URLs: urls, Username: srv["username"].(string), Credential: srv["credential"].(string)}},
		ICETransportPolicy: webrtc.ICETransportPolicyRelay,
	})}
	v.receive(t, s.URL+"/whep/alpha")
	// Relay-only ICE tries every pair through TURN (the server's private
	// addresses are refused by the relay policy); on a busy machine with the
	// race detector that takes a while.
	waitLonger(t, "video through the relay", 45*time.Second, func() bool { vi, _ := v.counts(); return vi > 30 })
	if !strings.Contains(v.pc.LocalDescription().SDP, "typ relay") || strings.Contains(v.pc.LocalDescription().SDP, "typ host") {
		t.Fatal("the viewer was not relay-only")
	}
}

func TestTricklePatch(t *testing.T) {
	s, key, _ := setup(t)
	pub := publish(t, s.URL+"/whip/alpha", key, "vp8")
	loc := s.URL + pub.res.Header.Get("Location")
	ufrag := ""
	for _, line := range strings.Split(pub.pc.LocalDescription().SDP, "\n") {
		if u, ok := strings.CutPrefix(strings.TrimSpace(line), "a=ice-ufrag:"); ok {
			ufrag = u
			break
		}
	}
	patch := func(etag, ctype, body string) int {
		req, _ := http.NewRequest("PATCH", loc, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", ctype)
		if etag != "" {
			req.Header.Set("If-Match", etag)
		}
		return s.Send(req).Status
	}
	frag := "a=ice-ufrag:" + ufrag + "\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n"
	if st := patch(pub.res.Header.Get("ETag"), "application/trickle-ice-sdpfrag", frag); st != 204 {
		t.Fatalf("trickle: %d", st)
	}
	if st := patch(`"other"`, "application/trickle-ice-sdpfrag", frag); st != 412 {
		t.Fatalf("wrong If-Match: %d", st)
	}
	if st := patch("", "application/sdp", frag); st != 400 {
		t.Fatalf("wrong content type: %d", st)
	}
	if st := patch("*", "application/trickle-ice-sdpfrag", "a=ice-ufrag:newone\r\n"); st != 400 {
		t.Fatalf("ICE restart without a password: %d", st)
	}
	if st := patch("", "application/trickle-ice-sdpfrag", "a=ice-ufrag:"+ufrag+"\r\na=end-of-candidates\r\n"); st != 204 {
		t.Fatalf("end of candidates: %d", st)
	}
}

// dropper loses every 25th incoming video packet the first time it comes,
// before the viewer's NACK generator sees it: as a lossy network would.
type dropper struct {
	interceptor.NoOp
	mu      sync.Mutex
	dropped map[uint16]bool
}

func (d *dropper) NewInterceptor(string) (interceptor.Interceptor, error) { return d, nil }

func (d *dropper) BindRemoteStream(info *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	if !strings.HasPrefix(info.MimeType, "video/") {
		return r
	}
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, a, err := r.Read(b, a)
			if err != nil || n < 4 {
				return n, a, err
			}
			seq := uint16(b[2])<<8 | uint16(b[3])
			d.mu.Lock()
			drop := seq%25 == 0 && !d.dropped[seq]
			if drop {
				d.dropped[seq] = true
			}
			d.mu.Unlock()
			if !drop {
				return n, a, nil
			}
		}
	})
}

func (d *dropper) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.dropped)
}

// Packets a viewer loses are sent again when it asks (NACK), from the
// packets the server shares between viewers: its stream has no gap.
func TestLostPacketsResent(t *testing.T) {
	s, key, _ := setup(t)
	publish(t, s.URL+"/whip/alpha", key, "vp8")
	waitFor(t, "live", func() bool { return live(s) })
	drop := &dropper{dropped: map[uint16]bool{}}
	v := &viewer{pc: newPeerWith(t, webrtc.Configuration{}, drop)}
	v.receive(t, s.URL+"/whep/alpha")
	waitFor(t, "video", func() bool { vi, _ := v.counts(); return vi > 200 })
	video := v.settledVideo()
	if drop.count() < 5 {
		t.Fatalf("only %d packets dropped", drop.count())
	}
	checkContinuous(t, "video with lost packets", video)
}

// sdpLines returns the values of an SDP text's a=NAME: lines.
func sdpLines(sdpText, name string) []string {
	var out []string
	for _, line := range strings.Split(sdpText, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "a="+name+":"); ok {
			out = append(out, v)
		}
	}
	return out
}

// A publisher restarts ICE over PATCH (RFC 9725 §4.3.2): it gets the
// server's new credentials and candidates and a new ETag, and its media
// carries on to the viewer over the new ICE session.
func TestICERestart(t *testing.T) {
	s, key, _ := setup(t)
	pub := publish(t, s.URL+"/whip/alpha", key, "vp8")
	waitFor(t, "live", func() bool { return live(s) })
	v := watch(t, s.URL+"/whep/alpha", false)
	waitFor(t, "video", func() bool { vi, _ := v.counts(); return vi > 30 })

	offer, err := pub.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pub.pc)
	if err := pub.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	local := pub.pc.LocalDescription().SDP
	frag := "a=ice-ufrag:" + sdpLines(local, "ice-ufrag")[0] + "\r\na=ice-pwd:" + sdpLines(local, "ice-pwd")[0] + "\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n"
	for _, c := range sdpLines(local, "candidate") {
		frag += "a=candidate:" + c + "\r\n"
	}
	req, _ := http.NewRequest("PATCH", s.URL+pub.res.Header.Get("Location"), strings.NewReader(frag))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
	req.Header.Set("If-Match", "*")
	res := s.Send(req)
	if res.Status != 200 || res.Header.Get("Content-Type") != "application/trickle-ice-sdpfrag" {
		t.Fatalf("ICE restart: %d %s", res.Status, res.Raw)
	}
	oldAnswer := pub.pc.RemoteDescription().SDP
	etag, reply := res.Header.Get("ETag"), string(res.Raw)
	ufrag, pwd, cands := sdpLines(reply, "ice-ufrag"), sdpLines(reply, "ice-pwd"), sdpLines(reply, "candidate")
	if etag == "" || etag == pub.res.Header.Get("ETag") || len(ufrag) != 1 || len(pwd) != 1 || len(cands) == 0 ||
		ufrag[0] == sdpLines(oldAnswer, "ice-ufrag")[0] {
		t.Fatalf("ICE restart answer: ETag %s, fragment %q", etag, reply)
	}
	var answer strings.Builder
	for _, line := range strings.SplitAfter(oldAnswer, "\n") {
		switch t := strings.TrimSpace(line); {
		case strings.HasPrefix(t, "a=ice-ufrag:"):
			answer.WriteString("a=ice-ufrag:" + ufrag[0] + "\r\n")
		case strings.HasPrefix(t, "a=ice-pwd:"):
			answer.WriteString("a=ice-pwd:" + pwd[0] + "\r\n")
		case strings.HasPrefix(t, "a=candidate:"):
		default:
			answer.WriteString(line)
		}
	}
	if err := pub.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer.String()}); err != nil {
		t.Fatal(err)
	}
	for _, c := range cands {
		if err := pub.pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: "candidate:" + c}); err != nil {
			t.Fatal(err)
		}
	}
	// The old ICE credentials are gone on both ends: media that still
	// flows flows over the new session.
	before, _ := v.counts()
	waitFor(t, "video after the ICE restart", func() bool { vi, _ := v.counts(); return vi > before+60 })

	// Trickle now needs the new ETag.
	trickle := func(ifMatch string) int {
		req, _ := http.NewRequest("PATCH", s.URL+pub.res.Header.Get("Location"), strings.NewReader("a=ice-ufrag:"+sdpLines(local, "ice-ufrag")[0]+"\r\na=end-of-candidates\r\n"))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
		req.Header.Set("If-Match", ifMatch)
		return s.Send(req).Status
	}
	if st := trickle(pub.res.Header.Get("ETag")); st != 412 {
		t.Errorf("trickle with the old ETag: %d", st)
	}
	if st := trickle(etag); st != 204 {
		t.Errorf("trickle with the new ETag: %d", st)
	}
}
