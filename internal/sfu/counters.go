package sfu

import "sync/atomic"

// Counters are the running totals of forwarding, for /metrics.
type Counters struct {
	Resent           atomic.Int64 // packets sent again on viewers' NACKs
	BacklogDrops     atomic.Int64 // slow viewers' backlogs dropped (they resumed at a keyframe)
	KeyframeRequests atomic.Int64 // keyframe requests (PLI) sent to sources
}
