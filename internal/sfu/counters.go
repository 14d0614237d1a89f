package sfu

import "sync/atomic"

// Counters are the running totals of forwarding, for /metrics.
type Counters struct {
	Resent           atomic.Int64 // packets sent again on viewers' NACKs
	BacklogDrops     atomic.Int64 // slow viewers' backlogs dropped (they resumed at a keyframe)
	KeyframeRequests atomic.Int64 // keyframe requests (PLI) sent to sources
	// Viewers' receiver reports: how many, and the sum of their fraction
	// lost (in 1/256ths), so that a relay can tell its origin the loss
	// toward its viewers.
	Reports      atomic.Int64
	FractionLost atomic.Int64
}

// Loss is the mean fraction lost (0..1) of the receiver reports counted
// since an earlier reading (reports, fractionLost); it returns the
// reading to pass next time.
func (c *Counters) Loss(reports, fractionLost int64) (loss float64, r, f int64) {
	r, f = c.Reports.Load(), c.FractionLost.Load()
	if r > reports {
		loss = float64(f-fractionLost) / float64(r-reports) / 256
	}
	return loss, r, f
}
