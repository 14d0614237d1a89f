package media

import "time"

// packet is one RTP packet from a publisher. It is stored once, when it
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
