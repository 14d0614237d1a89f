package turn

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"

	"github.com/pion/turn/v5"
)

var (
	errQuota     = errors.New("turn: allocation quota reached")
	errClosed    = errors.New("turn: server closed")
	errNoTCP     = errors.New("turn: TCP relays (RFC 6062) are not offered")
	errFamily    = errors.New("turn: relay address family not offered")
	errPeer      = errors.New("turn: relaying to this peer is not permitted")
	errPortRange = errors.New("turn: no free relay port in range")
)

// relays creates the relay sockets of allocations. pion calls it for every
// allocation with the user ID authenticate returned (an owner), which makes
// it the one place where the quotas can be enforced atomically: a socket is
// counted when it is opened and uncounted when pion closes it, whatever the
// reason. It also knows each open allocation's owner, for the peer policy.
// It implements turn.RelayAddressGenerator.
type relays struct {
	bind    netip.Addr // address relay sockets listen on
	public  netip.Addr // address advertised to clients
	network string     // "udp4" or "udp6", from the addresses above
	minPort int        // 0 = let the kernel choose
	maxPort int
	limits  Limits
	policy  peerPolicy
	// media are the only peers anonymous allocations may reach (this
	// server's media port), on top of the policy.
	media []netip.AddrPort

	mu      sync.Mutex
	counts  map[string]int // by quota key
	open    map[*relayConn]struct{}
	clients map[string]*relayConn // by owner.clientKey
	closed  bool
}

var _ turn.RelayAddressGenerator = (*relays)(nil)

// Validate is called by pion when the server starts.
func (r *relays) Validate() error {
	if !r.bind.IsValid() || !r.public.IsValid() {
		return errors.New("turn: relay addresses not set")
	}
	return nil
}

// hasRoom reports whether o may open another allocation. It is the early
// check behind pion's QuotaHandler, which lets the client see a proper 486
// (Allocation Quota Reached); AllocatePacketConn enforces it for real.
func (r *relays) hasRoom(o owner) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.closed && r.roomLocked(o)
}

func (r *relays) roomLocked(o owner) bool {
	for _, q := range r.limits.quotas(o) {
		if r.counts[q.key] >= q.max {
			return false
		}
	}
	return true
}

// AllocatePacketConn opens the relay socket of a UDP allocation.
func (r *relays) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	if conf.Network != r.network {
		return nil, nil, fmt.Errorf("%w: %s", errFamily, conf.Network)
	}
	// pion also opens (and at once closes) sockets with no user ID while it
	// looks for an even port; those are not allocations and are not counted.
	var o *owner
	if conf.UserID != "" {
		parsed, ok := parseOwner(conf.UserID)
		if !ok {
			return nil, nil, fmt.Errorf("turn: allocation for unknown owner %q", conf.UserID)
		}
		o = &parsed
	}
	if err := r.reserve(o); err != nil {
		return nil, nil, err
	}
	pc, err := r.listen(conf.RequestedPort)
	if err != nil {
		r.release(o)
		return nil, nil, err
	}
	rc := &relayConn{PacketConn: pc, relays: r, owner: o}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.release(o)
		pc.Close()
		return nil, nil, errClosed
	}
	r.open[rc] = struct{}{}
	if o != nil {
		r.clients[o.clientKey()] = rc
	}
	r.mu.Unlock()

	port := pc.LocalAddr().(*net.UDPAddr).Port
	return rc, &net.UDPAddr{IP: r.public.AsSlice(), Port: port}, nil
}

// reserve counts an allocation of o (nil: not an allocation) against its
// quotas, all of them or none.
func (r *relays) reserve(o *owner) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return errClosed
	case o == nil:
		return nil
	case !r.roomLocked(*o):
		return errQuota
	}
	for _, q := range r.limits.quotas(*o) {
		r.counts[q.key]++
	}
	return nil
}

func (r *relays) release(o *owner) {
	if o == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, q := range r.limits.quotas(*o) {
		if r.counts[q.key] <= 1 {
			delete(r.counts, q.key)
		} else {
			r.counts[q.key]--
		}
	}
}

// listen opens a UDP socket on the bind address: on the requested port if
// pion asks for one (EVEN-PORT/RESERVATION-TOKEN), else on a random port of
// the configured range, else on one the kernel picks.
func (r *relays) listen(requested int) (net.PacketConn, error) {
	host := r.bind.String()
	if requested != 0 || r.minPort == 0 {
		return net.ListenPacket(r.network, net.JoinHostPort(host, strconv.Itoa(requested)))
	}
	span := r.maxPort - r.minPort + 1
	for range min(span, 64) {
		port := r.minPort + rand.IntN(span)
		pc, err := net.ListenPacket(r.network, net.JoinHostPort(host, strconv.Itoa(port)))
		if err == nil {
			return pc, nil
		}
	}
	return nil, errPortRange
}

// AllocateListener would open the relay listener of a TCP allocation
// (RFC 6062); FedWave does not offer those.
func (r *relays) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, errNoTCP
}

// AllocateConn would dial a peer for a TCP allocation; see AllocateListener.
func (r *relays) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	return nil, errNoTCP
}

// closeAll refuses new relay sockets and closes the open ones, which ends
// their allocations.
func (r *relays) closeAll() {
	r.mu.Lock()
	r.closed = true
	open := make([]*relayConn, 0, len(r.open))
	for rc := range r.open {
		open = append(open, rc)
	}
	r.mu.Unlock()
	for _, rc := range open {
		rc.Close()
	}
}

// count returns the number of open relay sockets counted against a quota
// key ("" for all of them).
func (r *relays) count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if key == "" {
		return len(r.open)
	}
	return r.counts[key]
}

// permitted is the peer policy for a permission or channel that the client
// at client asks for: the general policy, and for an anonymous allocation
// only the IP addresses of this server's media port. A client with no
// allocation (pion looks it up before asking) is refused.
func (r *relays) permitted(client net.Addr, peer net.IP) (bool, string) {
	ok, class := r.policy.allowed(peer)
	if !ok {
		return false, class.String()
	}
	transport, ap, valid := clientAddr(client)
	if !valid {
		return false, "unknown client"
	}
	r.mu.Lock()
	rc := r.clients[clientKey(transport, ap)]
	r.mu.Unlock()
	switch {
	case rc == nil || rc.owner == nil:
		return false, "no allocation"
	case rc.owner.signedIn:
		return true, class.String()
	}
	ip, _ := netip.AddrFromSlice(peer)
	for _, m := range r.media {
		if m.Addr() == ip.Unmap() {
			return true, "media"
		}
	}
	return false, "not the media port (anonymous)"
}

// mayWrite is the per-datagram check: the general policy, and for an
// anonymous allocation exactly the media port's addresses and port.
func (r *relays) mayWrite(o *owner, peer *net.UDPAddr) bool {
	if ok, _ := r.policy.allowed(peer.IP); !ok {
		return false
	}
	if o != nil && o.signedIn {
		return true
	}
	ap := peer.AddrPort()
	ap = netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port())
	for _, m := range r.media {
		if m == ap {
			return true
		}
	}
	return false
}

// relayConn is the relay socket of one allocation. Closing it gives the
// allocation back to its owner's quotas, and every datagram sent through it
// is checked against the peer policy once more: pion already refuses
// permissions for forbidden peers, but a permission is per IP address, while
// an anonymous allocation may reach only the media port on it; and this
// makes sure no path around pion's check (a future pion change, a bug) can
// reach a forbidden peer.
type relayConn struct {
	net.PacketConn
	relays *relays
	owner  *owner // nil for pion's even-port probes

	once     sync.Once
	closeErr error
}

func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, fmt.Errorf("%w: %v", errPeer, addr)
	}
	if !c.relays.mayWrite(c.owner, ua) {
		return 0, fmt.Errorf("%w: %v", errPeer, ua)
	}
	return c.PacketConn.WriteTo(p, addr)
}

func (c *relayConn) Close() error {
	c.once.Do(func() {
		c.closeErr = c.PacketConn.Close()
		r := c.relays
		r.mu.Lock()
		delete(r.open, c)
		// A new allocation of the same 5-tuple may already have taken the
		// key (pion forgets an allocation before closing its socket).
		if c.owner != nil && r.clients[c.owner.clientKey()] == c {
			delete(r.clients, c.owner.clientKey())
		}
		r.mu.Unlock()
		r.release(c.owner)
	})
	return c.closeErr
}
