package sdptext

import (
	"strings"
	"testing"
)

const offer = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=ice-ufrag:old\r\na=ice-pwd:oldpassword\r\na=sendonly\r\na=rtpmap:111 opus/48000/2\r\n" +
	"a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\na=end-of-candidates\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=recvonly\r\na=rtpmap:96 VP8/90000\r\na=rid:h send\r\na=rid:l send\r\n"

func TestRestartOffer(t *testing.T) {
	got := RestartOffer(offer, "new", "newpassword")
	if Value(got, "ice-ufrag") != "new" || Value(got, "ice-pwd") != "newpassword" || len(Candidates(got)) != 0 || strings.Contains(got, "end-of-candidates") {
		t.Fatalf("restart offer:\n%s", got)
	}
}

func TestICEFragment(t *testing.T) {
	got := ICEFragment(offer)
	want := "a=ice-ufrag:old\r\na=ice-pwd:oldpassword\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\na=end-of-candidates\r\n"
	if got != want {
		t.Fatalf("fragment:\n%q\nwant\n%q", got, want)
	}
}

func TestSentTracks(t *testing.T) {
	if got := SentTracks(offer, false); len(got) != 3 || !got["audio"] || !got["video/h"] || !got["video/l"] {
		t.Fatalf("tracks offered: %v", got)
	}
	if got := SentTracks(offer, true); len(got) != 1 || !got["audio"] {
		t.Fatalf("tracks sent: %v", got)
	}
	if got := SentTracks("garbage", false); len(got) != 0 {
		t.Fatalf("garbage sends %v", got)
	}
}

func TestFilterCandidates(t *testing.T) {
	two := offer + "a=candidate:2 1 udp 1 10.0.0.1 5000 typ host\r\n"
	public := func(l string) bool { return !strings.Contains(l, "10.0.0.1") }
	kept, n, ok := FilterCandidates(two, public, 1)
	if !ok || n != 1 || strings.Contains(kept, "10.0.0.1") || !strings.Contains(kept, "127.0.0.1") {
		t.Fatalf("kept %d %v:\n%s", n, ok, kept)
	}
	if _, _, ok := FilterCandidates(two, func(string) bool { return true }, 1); ok {
		t.Fatal("two candidates passed a bound of one")
	}
}

// Any text edits without a crash, and what the edits promise holds.
func FuzzEdit(f *testing.F) {
	f.Add(offer, "u", "p")
	f.Add("a=ice-ufrag:\r\nm=\r\na=candidate:\n", "", "")
	f.Add("v=0\r\nm=video 0 RTP 96\r\na=rid:\r\n", "x", "y")
	f.Fuzz(func(t *testing.T, text, ufrag, pwd string) {
		if strings.ContainsAny(ufrag+pwd, "\r\n") || strings.TrimSpace(ufrag) != ufrag {
			return
		}
		r := RestartOffer(text, ufrag, pwd)
		if len(Candidates(r)) != 0 {
			t.Fatalf("candidates left after a restart: %q", r)
		}
		if hasLine(text, "a=ice-ufrag:") && Value(r, "ice-ufrag") != ufrag {
			t.Fatalf("ufrag %q not set in %q", ufrag, r)
		}
		ICEFragment(text)
		SentTracks(text, true)
		Accepts(text)
		kept, n, ok := FilterCandidates(text, func(string) bool { return true }, 1000)
		if ok && (n != len(Candidates(text)) || kept != text) {
			t.Fatalf("allowing all kept %d of %d", n, len(Candidates(text)))
		}
	})
}

func hasLine(text, prefix string) bool {
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), prefix) {
			return true
		}
	}
	return false
}
