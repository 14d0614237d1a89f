package carry

import (
	"encoding/json"
	"errors"
	"math"
	"regexp"
)

// Sizes of what a client sends (the protocol's limits).
const (
	MaxMessage   = 16 << 10 // bytes of one message
	maxSDP       = 12 << 10
	maxCandidate = 1 << 10
	maxMid       = 64
	maxDown      = 100e6 // bits/s
)

// in is any client message; which fields count depends on Type.
type in struct {
	Type      string     `json:"type"`
	Carry     bool       `json:"carry"`   // hello
	Room      int        `json:"room"`    // hello, carry
	Receive   *bool      `json:"receive"` // hello; stats (when it changes: the viewer's quality)
	On        bool       `json:"on"`      // carry
	Playing   bool       `json:"playing"` // stats
	Down      float64    `json:"down"`
	Loss      float64    `json:"loss"`
	Fed       bool       `json:"fed"`
	Peer      string     `json:"peer"` // signal, lost, leave
	SDP       *sdp       `json:"sdp"`
	Candidate *candidate `json:"candidate"`
}

type sdp struct {
	Type string `json:"type"`
	SDP  string `json:"sdp"`
}

type candidate struct {
	Candidate     string  `json:"candidate"`
	SDPMid        *string `json:"sdpMid"`
	SDPMLineIndex *int    `json:"sdpMLineIndex"`
}

// idPattern is a socket id: what the server hands out.
var idPattern = regexp.MustCompile(`^[0-9a-f]{16}$`)

// errBad is the close reason of a malformed message (short: it goes in a
// close frame).
var errBad = errors.New("bad message")

// parse decodes and checks one client message; the error's text is the
// reason the socket is closed with.
func parse(data []byte) (in, error) {
	var m in
	if len(data) > MaxMessage || json.Unmarshal(data, &m) != nil {
		return m, errBad
	}
	switch m.Type {
	case "hello", "carry":
		if m.Room < 0 || m.Room > 64 {
			return m, errors.New("bad room")
		}
	case "stats":
		m.Down = min(clamp(m.Down), maxDown)
		m.Loss = min(clamp(m.Loss), 1)
	case "keyframe":
	case "lost", "leave":
		if !idPattern.MatchString(m.Peer) {
			return m, errors.New("bad peer")
		}
	case "signal":
		if !idPattern.MatchString(m.Peer) {
			return m, errors.New("bad peer")
		}
		if (m.SDP == nil) == (m.Candidate == nil) {
			return m, errors.New("bad signal")
		}
		if s := m.SDP; s != nil && (s.Type != "offer" && s.Type != "answer" || len(s.SDP) > maxSDP) {
			return m, errors.New("bad sdp")
		}
		if c := m.Candidate; c != nil && (len(c.Candidate) > maxCandidate ||
			c.SDPMid != nil && len(*c.SDPMid) > maxMid || c.SDPMLineIndex != nil && (*c.SDPMLineIndex < 0 || *c.SDPMLineIndex > 64)) {
			return m, errors.New("bad candidate")
		}
	default:
		return m, errors.New("unknown type")
	}
	return m, nil
}

// clamp maps NaN, infinities and negatives to 0.
func clamp(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0
	}
	return f
}

// Server messages.
type (
	welcome struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	}
	peerMsg struct { // feed, parent
		Type string `json:"type"`
		Peer string `json:"peer"`
	}
	unlinkMsg struct {
		Type   string `json:"type"`
		Peer   string `json:"peer"`
		Reason string `json:"reason"`
	}
	helpingMsg struct {
		Type string `json:"type"`
		N    int    `json:"n"`
	}
	signalMsg struct {
		Type      string     `json:"type"`
		Peer      string     `json:"peer"`
		SDP       *sdp       `json:"sdp,omitempty"`
		Candidate *candidate `json:"candidate,omitempty"`
	}
)

// encode marshals a server message (they cannot fail to).
func encode(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
