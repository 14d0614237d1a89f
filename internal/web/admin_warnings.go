package web

import (
	"fmt"

	"github.com/fedwave/fedwave/internal/federation"
	"github.com/fedwave/fedwave/internal/relays"
)

// Disk space below either bound is worth a warning.
const (
	lowDiskFraction = 0.05
	lowDiskBytes    = 1 << 30
)

// siteFacts is what the overview's warnings are made from, gathered
// apart from them so that the rules can be tried on any facts.
type siteFacts struct {
	TURN bool // TURN credentials are handed out (the embedded server or an external one)
	// The data directory's file system; DiskErr says why it is unknown.
	DiskFree, DiskTotal uint64
	DiskErr             error
	Peers               []federation.View
	Relays              []relays.View
}

// warning is something the admin should act on: what is wrong, what to
// do, and where.
type warning struct {
	Code string `json:"code"`
	Text string `json:"text"`
	Fix  string `json:"fix"`
	Link string `json:"link,omitempty"`
}

// warningsFor applies the rules to f.
func warningsFor(f siteFacts) []warning {
	out := []warning{}
	if !f.TURN {
		out = append(out, warning{Code: "no_turn",
			Text: "No TURN server: viewers and streamers behind strict firewalls or some mobile networks cannot connect.",
			Fix:  "Drop --turn-port 0: the embedded TURN server listens on port 3478 by default (open it in the firewall, UDP and TCP); or give --turn-url and --turn-secret of your coturn."})
	}
	switch {
	case f.DiskErr != nil:
		out = append(out, warning{Code: "disk_unknown", Text: "The free space of the data directory cannot be read: " + f.DiskErr.Error(),
			Fix: "Check that the data directory exists and is readable by FedWave."})
	case f.DiskTotal > 0 && (f.DiskFree < lowDiskBytes || float64(f.DiskFree) < lowDiskFraction*float64(f.DiskTotal)):
		out = append(out, warning{Code: "disk_low",
			Text: fmt.Sprintf("The data directory's disk is almost full: %s free of %s.", bytesText(f.DiskFree), bytesText(f.DiskTotal)),
			Fix:  "Free some space or grow the disk: when it is full, chat messages, sign-ins and uploads fail."})
	}
	for _, p := range f.Peers {
		if p.State == federation.Linked && !p.Connected && p.LastError != "" {
			out = append(out, warning{Code: "peer_failing", Link: "/federation",
				Text: fmt.Sprintf("The linked site %s cannot be reached: %s.", p.Domain, p.LastError),
				Fix:  "Check that the site is up and its address has not changed; unlink it on the Federation page if it is gone for good."})
		}
	}
	for _, r := range f.Relays {
		if r.State == "disconnected" {
			out = append(out, warning{Code: "relay_down", Link: "/relays",
				Text: fmt.Sprintf("The relay %s is not connected: viewers are not sent to it.", r.Name),
				Fix:  "Start the relay with the command shown when it was made, or revoke it on the Relays page if it is no longer used."})
		}
	}
	return out
}

// bytesText is a size for people: 3.2 GiB.
func bytesText(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
