// Package sdptext edits SDP as text: the few changes FedWave makes to
// offers, answers and RFC 8840 fragments (ICE credentials, candidates,
// what a description sends) without a round trip through a parser that
// would rewrite everything else.
package sdptext

import (
	"strings"

	"github.com/pion/sdp/v3"
)

// Value is the first a=NAME: value of an SDP text or fragment, or "".
func Value(sdpText, name string) string {
	for _, line := range strings.Split(sdpText, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "a="+name+":"); ok {
			return v
		}
	}
	return ""
}

// RestartOffer is an offer with new ICE credentials and without its old
// candidates: an ICE restart (RFC 9725 §4.3.2) renegotiates nothing else.
func RestartOffer(offer, ufrag, pwd string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(offer, "\n") {
		switch t := strings.TrimSpace(line); {
		case strings.HasPrefix(t, "a=ice-ufrag:"):
			b.WriteString("a=ice-ufrag:" + ufrag + "\r\n")
		case strings.HasPrefix(t, "a=ice-pwd:"):
			b.WriteString("a=ice-pwd:" + pwd + "\r\n")
		case strings.HasPrefix(t, "a=candidate:"), t == "a=end-of-candidates":
		default:
			b.WriteString(line)
		}
	}
	return b.String()
}

// ICEFragment is the RFC 8840 fragment of an answer's ICE: credentials,
// then the first media section's mid and candidates (all media are
// bundled on it).
func ICEFragment(answer string) string {
	var b strings.Builder
	b.WriteString("a=ice-ufrag:" + Value(answer, "ice-ufrag") + "\r\n")
	b.WriteString("a=ice-pwd:" + Value(answer, "ice-pwd") + "\r\n")
	media := 0
	for _, line := range strings.Split(answer, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "m=") {
			if media++; media > 1 {
				break
			}
			b.WriteString(t + "\r\n")
		}
		if media == 1 && (strings.HasPrefix(t, "a=mid:") || strings.HasPrefix(t, "a=candidate:") || t == "a=end-of-candidates") {
			b.WriteString(t + "\r\n")
		}
	}
	return b.String()
}

// Candidates returns the a=candidate lines of an SDP text or fragment,
// without "a=".
func Candidates(sdpText string) []string {
	var out []string
	for _, line := range strings.Split(sdpText, "\n") {
		c, ok := strings.CutPrefix(strings.TrimSpace(line), "a=")
		if ok && strings.HasPrefix(c, "candidate:") {
			out = append(out, c)
		}
	}
	return out
}

// FilterCandidates returns sdpText without the a=candidate lines allowed
// refuses, and how many it kept; ok is false when that is more than max.
func FilterCandidates(sdpText string, allowed func(line string) bool, max int) (kept string, n int, ok bool) {
	var b strings.Builder
	b.Grow(len(sdpText))
	for _, line := range strings.SplitAfter(sdpText, "\n") {
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "a=candidate:") {
			if !allowed(t) {
				continue
			}
			if n++; n > max {
				return "", 0, false
			}
		}
		b.WriteString(line)
	}
	return b.String(), n, true
}

// SentTracks lists the tracks a description sends, by key: "audio", and
// "video/"+rid once per simulcast layer (a=rid ... send), or "video/"
// once. Sections with port 0 and, when directions is true, sections
// that do not send (recvonly, inactive) are left out. An unparsable text
// sends nothing.
func SentTracks(sdpText string, directions bool) map[string]bool {
	keys := map[string]bool{}
	var d sdp.SessionDescription
	if d.UnmarshalString(sdpText) != nil {
		return keys
	}
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Port.Value == 0 || directions && !sends(m) {
			continue
		}
		switch m.MediaName.Media {
		case "audio":
			keys["audio"] = true
		case "video":
			rids := 0
			for _, a := range m.Attributes {
				if f := strings.Fields(a.Value); a.Key == "rid" && len(f) >= 2 && f[1] == "send" {
					keys["video/"+f[0]] = true
					rids++
				}
			}
			if rids == 0 {
				keys["video/"] = true
			}
		}
	}
	return keys
}

// sends reports whether a media section sends (sendonly or sendrecv,
// the default).
func sends(m *sdp.MediaDescription) bool {
	for _, a := range m.Attributes {
		switch a.Key {
		case "recvonly", "inactive":
			return false
		}
	}
	return true
}

// Accepts reports whether an answer accepts at least one media section
// (the rest were refused: no codec in common).
func Accepts(answer string) bool {
	var d sdp.SessionDescription
	if d.UnmarshalString(answer) != nil {
		return false
	}
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Port.Value != 0 && len(m.MediaName.Formats) > 0 {
			return true
		}
	}
	return false
}
