package turn

import "net/netip"

// PeerAllowed reports whether the server may send to ip under the relay's
// address policy: public unicast only, and loopback (plain spellings) when
// allowLoopback is set for tests and single-machine setups. Loopback,
// private, link-local, CGNAT, multicast, unspecified, reserved addresses
// and their IPv6 spellings (mapped, NAT64, 6to4) are refused. The media
// service applies it to ICE candidates, so that the one policy decides
// where FedWave sends packets.
func PeerAllowed(ip netip.Addr, allowLoopback bool) bool {
	ok, _ := peerPolicy{allowLoopback: allowLoopback}.allowed(ip.AsSlice())
	return ok
}
