package turn

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"

	"github.com/fedwave/fedwave/internal/pionlog"
)

// Config configures the embedded TURN server.
type Config struct {
	// Port is the port TURN listens on, for UDP and TCP alike. 0 disables
	// the server: New returns a nil *Server and no error, and the methods of
	// a nil *Server do nothing.
	Port int
	// ListenIP is the address to listen on; default "0.0.0.0". Relay
	// sockets are opened on it as well, so relays have its address family.
	ListenIP string
	// PublicIP is the relay address advertised to clients. It defaults to
	// ListenIP when that is a specific address; for a wildcard ListenIP it
	// defaults to the machine's first non-loopback IPv4 address (127.0.0.1
	// if there is none), and must be set for an IPv6 wildcard. Set it on a
	// server behind NAT.
	PublicIP string
	// RelayPortMin and RelayPortMax, when set, limit relay sockets to this
	// port range, for firewalls; 0 lets the kernel choose.
	RelayPortMin, RelayPortMax int
	// Realm is the TURN realm, e.g. the site's domain; default "fedwave".
	Realm string
	// Creds checks the REST credentials clients present. Required.
	Creds *Credentials
	// Limits caps concurrent allocations per client address and per user;
	// zero fields get the defaults.
	Limits Limits
	// MediaPeers are the addresses (IP and port) of this server's media
	// port. Allocations made with anonymous credentials relay only to
	// these, and only as far as the policy allows them (so, for instance,
	// a loopback media address is reachable only with
	// AllowLoopbackPeers); with none, anonymous allocations relay nowhere.
	// Signed-in users may relay to any address the policy allows.
	MediaPeers []netip.AddrPort
	// AllowLoopbackPeers admits relaying to 127.0.0.0/8 and ::1. Only for
	// tests whose media servers listen on loopback: on a real server it
	// lets anyone reach services bound to localhost.
	AllowLoopbackPeers bool
	// Log receives the server's logs; default: discarded.
	Log *slog.Logger
}

// Server is a running TURN server. Its methods are safe on a nil *Server,
// which is what New returns when TURN is disabled.
type Server struct {
	turn   *turn.Server
	relays *relays
	creds  *Credentials
	realm  string
	port   int
	log    *slog.Logger

	closeOnce sync.Once
	closeErr  error
}

// New starts a TURN server listening on cfg.Port (UDP and TCP). See Config
// for the defaults; with cfg.Port == 0 it returns nil, nil.
func New(cfg Config) (*Server, error) {
	if cfg.Port == 0 {
		return nil, nil
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("turn: port %d out of range", cfg.Port)
	}
	if cfg.Creds == nil {
		return nil, errors.New("turn: no credentials configured")
	}
	listen, public, err := addresses(cfg.ListenIP, cfg.PublicIP)
	if err != nil {
		return nil, err
	}
	if err := checkPortRange(cfg.RelayPortMin, cfg.RelayPortMax); err != nil {
		return nil, err
	}
	s := &Server{
		creds: cfg.Creds,
		realm: cfg.Realm,
		port:  cfg.Port,
		log:   cfg.Log,
	}
	if s.realm == "" {
		s.realm = "fedwave"
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	limits := cfg.Limits.withDefaults()
	media := make([]netip.AddrPort, 0, len(cfg.MediaPeers))
	for _, m := range cfg.MediaPeers {
		media = append(media, netip.AddrPortFrom(m.Addr().Unmap().WithZone(""), m.Port()))
	}
	udpNet, tcpNet := "udp4", "tcp4"
	if listen.Is6() {
		udpNet, tcpNet = "udp6", "tcp6"
	}
	s.relays = &relays{
		bind:    listen,
		public:  public,
		network: udpNet,
		minPort: cfg.RelayPortMin,
		maxPort: cfg.RelayPortMax,
		limits:  limits,
		policy:  peerPolicy{allowLoopback: cfg.AllowLoopbackPeers},
		media:   media,
		counts:  make(map[string]int),
		open:    make(map[*relayConn]struct{}),
		clients: make(map[string]*relayConn),
	}

	addr := net.JoinHostPort(listen.String(), strconv.Itoa(cfg.Port))
	udp, err := net.ListenPacket(udpNet, addr)
	if err != nil {
		return nil, fmt.Errorf("turn: listening on udp %s: %w", addr, err)
	}
	tcp, err := net.Listen(tcpNet, addr)
	if err != nil {
		udp.Close()
		return nil, fmt.Errorf("turn: listening on tcp %s: %w", addr, err)
	}
	s.turn, err = turn.NewServer(turn.ServerConfig{
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn:            udp,
			RelayAddressGenerator: s.relays,
			PermissionHandler:     s.permit,
		}},
		ListenerConfigs: []turn.ListenerConfig{{
			Listener:              newTCPListener(tcp, tcpIdleTimeout),
			RelayAddressGenerator: s.relays,
			PermissionHandler:     s.permit,
		}},
		LoggerFactory: pionlog.Factory{Log: s.log},
		Realm:         s.realm,
		AuthHandler:   s.authenticate,
		QuotaHandler:  s.quota,
		EventHandler: turn.EventHandler{
			OnAllocationCreated: func(src, _ net.Addr, proto, userID, _ string, relay net.Addr, _ int) {
				s.log.Debug("turn: allocation created", "user", userID, "client", src.String(), "transport", proto, "relay", relay.String())
			},
			OnAllocationDeleted: func(src, _ net.Addr, proto, userID, _ string) {
				s.log.Debug("turn: allocation ended", "user", userID, "client", src.String(), "transport", proto)
			},
		},
	})
	if err != nil {
		udp.Close()
		tcp.Close()
		return nil, fmt.Errorf("turn: starting server: %w", err)
	}
	s.log.Info("turn: listening", "addr", addr, "relay_ip", public.String(), "realm", s.realm,
		"max_allocations_per_address", limits.PerAddress, "max_anonymous_per_address", limits.AnonymousPerAddress,
		"max_allocations_per_user", limits.PerUser, "anonymous_peers", fmt.Sprint(media))
	if cfg.AllowLoopbackPeers {
		s.log.Warn("turn: relaying to loopback addresses is allowed; this is meant for tests only")
	}
	return s, nil
}

// addresses works out the listen and advertised relay addresses.
func addresses(listenIP, publicIP string) (listen, public netip.Addr, err error) {
	if listenIP == "" {
		listenIP = "0.0.0.0"
	}
	listen, err = netip.ParseAddr(listenIP)
	if err != nil || listen.Zone() != "" {
		return listen, public, fmt.Errorf("turn: listen IP %q is not an IP address", listenIP)
	}
	listen = listen.Unmap()
	switch {
	case publicIP != "":
		public, err = netip.ParseAddr(publicIP)
		if err != nil || public.Zone() != "" {
			return listen, public, fmt.Errorf("turn: public IP %q is not an IP address", publicIP)
		}
		public = public.Unmap()
		if public.IsUnspecified() || public.IsMulticast() {
			return listen, public, fmt.Errorf("turn: public IP %s cannot be a relay address", public)
		}
	case !listen.IsUnspecified():
		public = listen
	case listen.Is4():
		public = firstIPv4()
	default:
		return listen, public, errors.New("turn: PublicIP must be set when listening on [::]")
	}
	if public.Is4() != listen.Is4() {
		return listen, public, fmt.Errorf("turn: public IP %s and listen IP %s are of different families", public, listen)
	}
	return listen, public, nil
}

// firstIPv4 returns the machine's first non-loopback, non-link-local IPv4
// address, or 127.0.0.1.
func firstIPv4() netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			if ip.Is4() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() && !ip.IsUnspecified() {
				return ip
			}
		}
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}

func checkPortRange(lo, hi int) error {
	switch {
	case lo == 0 && hi == 0:
		return nil
	case lo < 1 || hi > 65535 || lo > hi:
		return fmt.Errorf("turn: relay port range %d-%d is invalid", lo, hi)
	}
	return nil
}

// Close stops the server and ends every allocation; its sockets are closed
// when it returns.
func (s *Server) Close() error {
	if s == nil {
		return nil
	}
	s.closeOnce.Do(func() {
		// pion closes the listeners, and the TCP listener closes the
		// connections it accepted; the relay sockets are closed here because
		// pion ends allocations only later, from its read loops.
		s.closeErr = s.turn.Close()
		s.relays.closeAll()
	})
	return s.closeErr
}

// URLs returns the TURN URLs (RFC 7065) for reaching this server as host,
// UDP first. host is a host name or IP address; a port in it is ignored.
func (s *Server) URLs(host string) []string {
	if s == nil {
		return nil
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	hp := net.JoinHostPort(host, strconv.Itoa(s.port))
	return []string{
		"turn:" + hp + "?transport=udp",
		"turn:" + hp + "?transport=tcp",
	}
}

// Allocations returns the number of allocations currently open.
func (s *Server) Allocations() int {
	if s == nil {
		return 0
	}
	return s.relays.count("")
}

// authenticate is pion's AuthHandler: it returns the user ID and the
// long-term key (RFC 8489 section 9.2) for a REST username, which pion uses
// to check the request's MESSAGE-INTEGRITY. The user ID it gives pion is
// the request's owner (REST user and client address, see owner), so that
// the quotas and the peer policy can tell who an allocation belongs to.
//
// Like coturn, it checks expiry only when an allocation is created: the
// requests that keep an existing allocation alive (Refresh, CreatePermission,
// ChannelBind) are accepted with an expired but correctly signed username,
// so a viewer's relay does not drop when its credential's TTL passes. Those
// requests only act on an allocation already made for the same 5-tuple and
// user, so an expired credential cannot create anything new.
func (s *Server) authenticate(ra *turn.RequestAttributes) (userID string, key []byte, ok bool) {
	if ra.Realm != s.realm {
		return "", nil, false
	}
	now := time.Now()
	expiry, user, ok := s.creds.parse(ra.Username, now)
	if !ok {
		return "", nil, false
	}
	o, ok := newOwner(user, ra.SrcAddr)
	if !ok {
		return "", nil, false
	}
	if !now.Before(expiry) {
		switch ra.Method {
		case stun.MethodRefresh, stun.MethodCreatePermission, stun.MethodChannelBind:
		default:
			return "", nil, false
		}
	}
	return o.id(), turn.GenerateAuthKey(ra.Username, ra.Realm, s.creds.password(ra.Username)), true
}

// quota is pion's QuotaHandler, asked before each allocation with the user
// ID authenticate returned.
func (s *Server) quota(userID, _ string, src net.Addr) bool {
	o, ok := parseOwner(userID)
	if ok && s.relays.hasRoom(o) {
		return true
	}
	s.log.Debug("turn: allocation quota reached", "user", userID, "client", src.String())
	return false
}

// permit is pion's PermissionHandler, asked for CreatePermission,
// ChannelBind and Connect requests.
func (s *Server) permit(client net.Addr, peer net.IP) bool {
	ok, why := s.relays.permitted(client, peer)
	if !ok {
		s.log.Debug("turn: refused relaying", "client", client.String(), "peer", peer.String(), "reason", why)
	}
	return ok
}
