package turn

import (
	"net"
	"net/netip"
)

// peerClass is what an address is, as far as relaying to it is concerned.
// Only classPublic is relayed to (and classLoopback in tests).
type peerClass int

const (
	classPublic      peerClass = iota // global unicast
	classInvalid                      // not an IP address at all
	classUnspecified                  // 0.0.0.0, :: (reach the local host on Linux)
	classLoopback                     // 127.0.0.0/8, ::1
	classPrivate                      // RFC 1918, fc00::/7, fec0::/10
	classShared                       // 100.64.0.0/10, carrier-grade NAT
	classLinkLocal                    // 169.254.0.0/16, fe80::/10
	classMulticast                    // 224.0.0.0/4, ff00::/8
	classBroadcast                    // 255.255.255.255
	classReserved                     // documentation, benchmarking, "this network", class E, deprecated or special-purpose IPv6
)

var classNames = [...]string{
	classPublic:      "public",
	classInvalid:     "invalid",
	classUnspecified: "unspecified",
	classLoopback:    "loopback",
	classPrivate:     "private",
	classShared:      "shared (CGNAT)",
	classLinkLocal:   "link-local",
	classMulticast:   "multicast",
	classBroadcast:   "broadcast",
	classReserved:    "reserved",
}

func (c peerClass) String() string {
	if c < 0 || int(c) >= len(classNames) {
		return "unknown"
	}
	return classNames[c]
}

// Special-purpose IPv4 ranges (RFC 6890 and the IANA registry) that are not
// reachable on the public Internet, beyond the ones netip names itself.
var reserved4 = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // TEST-NET-1
	netip.MustParsePrefix("192.88.99.0/24"),  // deprecated 6to4 relay anycast
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // TEST-NET-2
	netip.MustParsePrefix("203.0.113.0/24"),  // TEST-NET-3
	netip.MustParsePrefix("240.0.0.0/4"),     // class E
}

var (
	shared4 = netip.MustParsePrefix("100.64.0.0/10")

	global6     = netip.MustParsePrefix("2000::/3")  // the only IPv6 unicast space in use
	ietf6       = netip.MustParsePrefix("2001::/23") // IETF protocol assignments, includes Teredo 2001::/32
	doc6        = netip.MustParsePrefix("2001:db8::/32")
	doc6b       = netip.MustParsePrefix("3fff::/20") // RFC 9637
	sixToFour   = netip.MustParsePrefix("2002::/16") // embeds an IPv4 address in bits 16-47
	nat64       = netip.MustParsePrefix("64:ff9b::/96")
	siteLocal6  = netip.MustParsePrefix("fec0::/10") // deprecated, treated as private
	compatible6 = netip.MustParsePrefix("::/96")     // deprecated IPv4-compatible, plus :: and ::1
)

// classify says what ip is. IPv6 spellings of IPv4 addresses (IPv4-mapped,
// NAT64, 6to4) are classified by the IPv4 address they carry, so that
// ::ffff:127.0.0.1 is loopback, not "some IPv6 address". Anything in IPv6
// outside 2000::/3 that is not one of those spellings is reserved.
func classify(ip netip.Addr) peerClass {
	ip = ip.WithZone("")
	switch {
	case !ip.IsValid():
		return classInvalid
	case ip.Is4():
		return classify4(ip)
	case ip.Is4In6(): // ::ffff:a.b.c.d
		return classify4(ip.Unmap())
	}

	b := ip.As16()
	switch {
	case ip.IsUnspecified():
		return classUnspecified
	case ip.IsLoopback():
		return classLoopback
	case compatible6.Contains(ip):
		// ::a.b.c.d, deprecated since RFC 4291; a dual-stack host may still
		// route it to the IPv4 address, so name the worst case, and refuse
		// even the public ones: nobody reaches a real peer this way.
		if c := classify4(netip.AddrFrom4([4]byte(b[12:]))); c != classPublic {
			return c
		}
		return classReserved
	case nat64.Contains(ip):
		return classify4(netip.AddrFrom4([4]byte(b[12:])))
	case sixToFour.Contains(ip):
		return classify4(netip.AddrFrom4([4]byte(b[2:6])))
	case ip.IsMulticast():
		return classMulticast
	case ip.IsLinkLocalUnicast():
		return classLinkLocal
	case ip.IsPrivate(), siteLocal6.Contains(ip):
		return classPrivate
	case !global6.Contains(ip), ietf6.Contains(ip), doc6.Contains(ip), doc6b.Contains(ip):
		return classReserved
	}
	return classPublic
}

func classify4(ip netip.Addr) peerClass {
	switch {
	case ip.IsUnspecified():
		return classUnspecified
	case ip.IsLoopback():
		return classLoopback
	case ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return classBroadcast
	case ip.IsPrivate():
		return classPrivate
	case shared4.Contains(ip):
		return classShared
	case ip.IsLinkLocalUnicast():
		return classLinkLocal
	case ip.IsMulticast():
		return classMulticast
	}
	for _, p := range reserved4 {
		if p.Contains(ip) {
			return classReserved
		}
	}
	return classPublic
}

// peerPolicy decides which peers the server relays to.
type peerPolicy struct {
	// allowLoopback admits 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104, for
	// tests whose media servers listen on loopback.
	allowLoopback bool
}

// allowed reports whether relaying to ip is permitted, and what ip is.
func (p peerPolicy) allowed(ip net.IP) (bool, peerClass) {
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false, classInvalid
	}
	c := classify(addr)
	switch c {
	case classPublic:
		return true, c
	case classLoopback:
		// Only the plain spellings: a 6to4 or NAT64 form of 127.0.0.1 does
		// not lead to this host, and a test has no business using one.
		plain := addr.Is4() || addr.Is4In6() || addr == netip.IPv6Loopback()
		return p.allowLoopback && plain, c
	}
	return false, c
}
