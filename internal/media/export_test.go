package media

import "github.com/pion/webrtc/v4"

// Hooks for the measurements (measure_test.go).

// ReceivedBytes sums the RTP bytes (headers and payload) received by the
// service's publishers' connections and its pulls' current connections:
// what reaches it, and on a linked instance what its home sends it.
func (s *Service) ReceivedBytes() (publishers, pulls uint64) {
	s.mu.Lock()
	var pubs []*webrtc.PeerConnection
	for _, ss := range s.sessions {
		if p, ok := ss.(*publisher); ok {
			pubs = append(pubs, p.pc)
		}
	}
	var remotes []*remote
	for _, ch := range s.channels {
		if ch.remote != nil {
			remotes = append(remotes, ch.remote)
		}
	}
	s.mu.Unlock()
	var pullPCs []*webrtc.PeerConnection
	for _, r := range remotes {
		r.mu.Lock()
		for _, p := range r.pulls {
			p.mu.Lock()
			if p.pc != nil {
				pullPCs = append(pullPCs, p.pc)
			}
			p.mu.Unlock()
		}
		r.mu.Unlock()
	}
	return inbound(pubs), inbound(pullPCs)
}

func inbound(pcs []*webrtc.PeerConnection) uint64 {
	var n uint64
	for _, pc := range pcs {
		for _, st := range pc.GetStats() {
			if in, ok := st.(webrtc.InboundRTPStreamStats); ok {
				n += in.BytesReceived + in.HeaderBytesReceived
			}
		}
	}
	return n
}
