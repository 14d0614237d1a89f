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
// allocation with the authenticated user ID, which makes it the one place
// where the per-user quota can be enforced atomically: a socket is counted
// when it is opened and uncounted when pion closes it, whatever the reason.
// It implements turn.RelayAddressGenerator.
type relays struct {
	bind    netip.Addr // address relay sockets listen on
	public  netip.Addr // address advertised to clients
	network string     // "udp4" or "udp6", from the addresses above
	minPort int        // 0 = let the kernel choose
	maxPort int
	max     int // allocations per user
	policy  peerPolicy

	mu     sync.Mutex
	users  map[string]int
	open   map[*relayConn]struct{}
	closed bool
}

var _ turn.RelayAddressGenerator = (*relays)(nil)

// Validate is called by pion when the server starts.
func (r *relays) Validate() error {
	if !r.bind.IsValid() || !r.public.IsValid() {
		return errors.New("turn: relay addresses not set")
	}
	return nil
}

// hasRoom reports whether userID may open another allocation. It is the
// early check behind pion's QuotaHandler, which lets the client see a proper
// 486 (Allocation Quota Reached); AllocatePacketConn enforces it for real.
func (r *relays) hasRoom(userID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.closed && r.users[userID] < r.max
}

// AllocatePacketConn opens the relay socket of a UDP allocation.
func (r *relays) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	if conf.Network != r.network {
		return nil, nil, fmt.Errorf("%w: %s", errFamily, conf.Network)
	}
	// pion also opens (and at once closes) sockets with no user ID while it
	// looks for an even port; those are not allocations and are not counted.
	if err := r.reserve(conf.UserID); err != nil {
		return nil, nil, err
	}
	pc, err := r.listen(conf.RequestedPort)
	if err != nil {
		r.release(conf.UserID)
		return nil, nil, err
	}
	rc := &relayConn{PacketConn: pc, relays: r, user: conf.UserID}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.release(conf.UserID)
		pc.Close()
		return nil, nil, errClosed
	}
	r.open[rc] = struct{}{}
	r.mu.Unlock()

	port := pc.LocalAddr().(*net.UDPAddr).Port
	return rc, &net.UDPAddr{IP: r.public.AsSlice(), Port: port}, nil
}

func (r *relays) reserve(userID string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return errClosed
	case userID == "":
		return nil
	case r.users[userID] >= r.max:
		return errQuota
	}
	r.users[userID]++
	return nil
}

func (r *relays) release(userID string) {
	if userID == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.users[userID] <= 1 {
		delete(r.users, userID)
	} else {
		r.users[userID]--
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

// count returns the number of open relay sockets of userID ("" for all).
func (r *relays) count(userID string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if userID == "" {
		return len(r.open)
	}
	return r.users[userID]
}

// relayConn is the relay socket of one allocation. Closing it gives the
// allocation back to its user's quota, and every datagram sent through it is
// checked against the peer policy once more: pion already refuses
// permissions for forbidden peers, this makes sure no path around that
// check (a future pion change, a bug) can reach them.
type relayConn struct {
	net.PacketConn
	relays *relays
	user   string

	once     sync.Once
	closeErr error
}

func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, fmt.Errorf("%w: %v", errPeer, addr)
	}
	if ok, _ := c.relays.policy.allowed(ua.IP); !ok {
		return 0, fmt.Errorf("%w: %v", errPeer, ua.IP)
	}
	return c.PacketConn.WriteTo(p, addr)
}

func (c *relayConn) Close() error {
	c.once.Do(func() {
		c.closeErr = c.PacketConn.Close()
		r := c.relays
		r.mu.Lock()
		delete(r.open, c)
		r.mu.Unlock()
		r.release(c.user)
	})
	return c.closeErr
}
