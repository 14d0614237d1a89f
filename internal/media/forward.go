package media

import (
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// forwarder is one outgoing track (audio, or one video layer) shared by
// every viewer of a stream. It outlives publisher sessions: when the
// publisher reconnects, sequence numbers and timestamps carry on from where
// they were, so viewers continue without renegotiating.
type forwarder struct {
	track *webrtc.TrackLocalStaticRTP
	rate  uint32 // clock rate

	mu       sync.Mutex
	source   uint32 // SSRC of the current incoming track
	started  bool
	seqDelta uint16
	tsDelta  uint32
	lastSeq  uint16 // last sequence number sent
	lastTS   uint32
}

func newForwarder(c webrtc.RTPCodecCapability, kind, streamID string) (*forwarder, error) {
	t, err := webrtc.NewTrackLocalStaticRTP(c, kind, streamID)
	if err != nil {
		return nil, err
	}
	return &forwarder{track: t, rate: c.ClockRate}, nil
}

// write sends a packet from the incoming track with SSRC source. A new
// source (the publisher reconnected) continues the outgoing numbering: the
// next sequence number, and a timestamp a frame or so after the last.
func (f *forwarder) write(source uint32, p *rtp.Packet) error {
	f.mu.Lock()
	if !f.started {
		f.started, f.source = true, source
	} else if source != f.source {
		f.source = source
		f.seqDelta = f.lastSeq + 1 - p.SequenceNumber
		f.tsDelta = f.lastTS + f.rate/30 - p.Timestamp
	}
	p.SequenceNumber += f.seqDelta
	p.Timestamp += f.tsDelta
	if int16(p.SequenceNumber-f.lastSeq) > 0 || f.lastSeq == 0 {
		f.lastSeq = p.SequenceNumber
		f.lastTS = p.Timestamp
	}
	f.mu.Unlock()
	return f.track.WriteRTP(p)
}
