package turn

import (
	"net"
	"net/netip"
	"strings"
)

// owner is whom an allocation belongs to, as the quotas and the peer policy
// see it: the REST user of its credential and the client's transport
// address.
//
// pion tells each callback only part of this: the relay address generator
// gets the user ID its AuthHandler returned, the permission handler only the
// client's address. So authenticate packs the owner into the user ID it
// returns (pion hands it back unchanged when it opens the relay socket, and
// requires the same one for Refresh, CreatePermission and ChannelBind on the
// allocation), and the relays keep a registry from client address to
// allocation for the permission handler.
type owner struct {
	user      string         // REST user ID of the credential: Anonymous, User(id), ...
	signedIn  bool           // user names a signed-in user (see signedIn)
	transport string         // "udp" or "tcp", the client's transport to the server
	client    netip.AddrPort // the client's address as seen here (its NAT's)
}

// newOwner returns the owner of requests from client made with a
// credential for user.
func newOwner(user string, client net.Addr) (owner, bool) {
	transport, ap, ok := clientAddr(client)
	if !ok {
		return owner{}, false
	}
	return owner{user: user, signedIn: signedIn(user), transport: transport, client: ap}, true
}

// clientAddr returns the transport and address of a client's net.Addr.
func clientAddr(a net.Addr) (transport string, ap netip.AddrPort, ok bool) {
	switch a := a.(type) {
	case *net.UDPAddr:
		transport, ap = "udp", a.AddrPort()
	case *net.TCPAddr:
		transport, ap = "tcp", a.AddrPort()
	default:
		return "", netip.AddrPort{}, false
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port())
	return transport, ap, ap.Addr().IsValid()
}

// id is the owner as a pion user ID: "transport client user". The user comes
// last because it is the only part that may contain spaces.
func (o owner) id() string {
	return o.transport + " " + o.client.String() + " " + o.user
}

// parseOwner reverses id.
func parseOwner(id string) (owner, bool) {
	parts := strings.SplitN(id, " ", 3)
	if len(parts) != 3 || (parts[0] != "udp" && parts[0] != "tcp") {
		return owner{}, false
	}
	ap, err := netip.ParseAddrPort(parts[1])
	if err != nil {
		return owner{}, false
	}
	return owner{user: parts[2], signedIn: signedIn(parts[2]), transport: parts[0], client: ap}, true
}

// clientKey names the client side of the allocation's 5-tuple: the server
// has one listener per transport, so transport and client address identify
// at most one allocation at a time.
func (o owner) clientKey() string { return clientKey(o.transport, o.client) }

func clientKey(transport string, client netip.AddrPort) string {
	return transport + " " + client.String()
}

// addressKey is the client address the per-address quotas count: the IPv4
// address, or the IPv6 /64, which one subscriber usually holds whole.
func addressKey(ip netip.Addr) string {
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// Limits caps concurrent allocations. Every allocation counts against its
// client address; an anonymous one also against that address's anonymous
// share, a signed-in one also against its user.
type Limits struct {
	// PerAddress caps all allocations from one client address (IPv4
	// address or IPv6 /64); default DefaultMaxAllocationsPerAddress.
	PerAddress int
	// AnonymousPerAddress caps anonymous allocations from one client
	// address; default DefaultMaxAnonymousPerAddress.
	AnonymousPerAddress int
	// PerUser caps a signed-in user's allocations, from wherever they come;
	// default DefaultMaxAllocationsPerUser.
	PerUser int
}

// Default quotas. A browser opens one allocation per TURN URL (FedWave
// hands out two: UDP and TCP) for each peer connection that needs a relay.
const (
	// DefaultMaxAllocationsPerUser covers a signed-in viewer with a
	// couple of tabs.
	DefaultMaxAllocationsPerUser = 10
	// DefaultMaxAnonymousPerAddress covers four anonymous viewers behind
	// one NAT address that all need a relay; far fewer than a farm of
	// credentials would want, and those relays only reach the media port.
	DefaultMaxAnonymousPerAddress = 8
	// DefaultMaxAllocationsPerAddress bounds what accounts registered in
	// bulk can hold from one address.
	DefaultMaxAllocationsPerAddress = 30
)

func (l Limits) withDefaults() Limits {
	if l.PerAddress <= 0 {
		l.PerAddress = DefaultMaxAllocationsPerAddress
	}
	if l.AnonymousPerAddress <= 0 {
		l.AnonymousPerAddress = DefaultMaxAnonymousPerAddress
	}
	if l.PerUser <= 0 {
		l.PerUser = DefaultMaxAllocationsPerUser
	}
	return l
}

// quota is one counter an allocation is counted against.
type quota struct {
	key string
	max int
}

// quotas are the counters an allocation of o is counted against.
func (l Limits) quotas(o owner) []quota {
	addr := addressKey(o.client.Addr())
	q := []quota{{"addr " + addr, l.PerAddress}}
	if o.signedIn {
		return append(q, quota{"user " + o.user, l.PerUser})
	}
	return append(q, quota{"anon " + addr, l.AnonymousPerAddress})
}
