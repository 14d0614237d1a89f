package sfu

import (
	"time"

	"github.com/pion/rtp"

	"github.com/fedwave/fedwave/internal/keyframe"
)

// packet is one RTP packet from a source. It is stored once, when it
// arrives, and shared by reference: every viewer's queue, every viewer's
// retransmission history and the layer's keyframe cache point at the same
// packet. It is never modified after it is stored.
type packet struct {
	source  uint32 // SSRC of the incoming track: changes when the publisher reconnects
	seq     uint16
	ts      uint32
	marker  bool
	key     bool // the first packet of a keyframe
	payload []byte
	at      time.Time // arrival
}

// Write stores one packet of the track that feeds the layer, from the
// source's SSRC ssrc, and queues it for every subscriber. A layer has
// one writer at a time: the read loop of its source's track.
func (l *Layer) Write(ssrc uint32, p *rtp.Packet) {
	if l.digests.on.Load() {
		l.pushDigest(ssrc, p)
	}
	l.forward(&packet{
		source: ssrc, seq: p.SequenceNumber, ts: p.Timestamp, marker: p.Marker,
		key: l.video && keyframe.Start(l.codec.MimeType, p.Payload), payload: p.Payload, at: time.Now(),
	})
}
