package media

import (
	"net/netip"
	"strings"

	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/sdptext"
	"github.com/fedwave/fedwave/internal/turn"
)

// Bounds on what a client's SDP may ask of the server.
const (
	// MaxCandidates bounds the remote ICE candidates of one session's ICE
	// generation (its offer plus trickled ones; an ICE restart starts the
	// count again): each one makes the server send connectivity checks.
	MaxCandidates = 32
	// MaxMedia bounds an offer's m-lines: each one is a transceiver.
	MaxMedia = 16
)

var errTooManyCandidates = fail.New(fail.Invalid, "too_many_candidates", "more than %d ICE candidates for one session", MaxCandidates)

// candidatePolicy decides which remote candidates the server sends
// connectivity checks to: the TURN relay's address policy (turn.PeerAllowed),
// so that a client cannot make the media port probe internal addresses.
// Refused candidates are dropped quietly: browsers list their private
// addresses too, and a client the server can reach still connects, since
// the server learns its address from the client's own checks (peer
// reflexive candidates). Host names, mDNS .local names included, are never
// resolved: a candidate must carry an IP address.
type candidatePolicy struct {
	allowLoopback bool // --media-loopback: tests and single-machine setups
}

// allowed reports whether the server may send to a candidate line
// ("candidate:..." with or without "a=").
func (p candidatePolicy) allowed(line string) bool {
	// candidate:foundation component transport priority address port typ type ...
	f := strings.Fields(strings.TrimPrefix(strings.TrimPrefix(line, "a="), "candidate:"))
	if len(f) < 8 || f[5] == "0" {
		return false
	}
	ip, err := netip.ParseAddr(f[4])
	return err == nil && turn.PeerAllowed(ip, p.allowLoopback)
}

// filter returns sdpText without the candidates the policy refuses, and
// how many it kept. Beyond max kept candidates it fails.
func (p candidatePolicy) filter(sdpText string, max int) (string, int, error) {
	kept, n, ok := sdptext.FilterCandidates(sdpText, p.allowed, max)
	if !ok {
		return "", 0, errTooManyCandidates
	}
	return kept, n, nil
}

// checkMedia refuses offers with more than MaxMedia m-lines.
func checkMedia(n int) error {
	if n > MaxMedia {
		return fail.New(fail.Invalid, "too_many_media", "the offer has %d media sections; at most %d are accepted", n, MaxMedia)
	}
	return nil
}
