package turn

import (
	"net"
	"net/netip"
	"testing"
)

// peerCases lists every spelling of a forbidden peer this package knows
// about, and public addresses that must keep working. The IPv6 spellings of
// IPv4 addresses are the coturn CVE-2020-26262 class of bypass.
var peerCases = []struct {
	ip    string
	class peerClass
}{
	// Public.
	{"8.8.8.8", classPublic},
	{"1.1.1.1", classPublic},
	{"100.63.255.255", classPublic}, // just below CGNAT
	{"100.128.0.0", classPublic},    // just above CGNAT
	{"172.15.255.255", classPublic},
	{"172.32.0.0", classPublic},
	{"2001:4860::8888", classPublic},
	{"2001:4860:4860::8844", classPublic},
	{"2a00:1450:4001::200e", classPublic},
	{"::ffff:8.8.8.8", classPublic},   // IPv4-mapped public
	{"64:ff9b::808:808", classPublic}, // NAT64 of 8.8.8.8
	{"2002:808:808::1", classPublic},  // 6to4 of 8.8.8.8
	{"2001:200::1", classPublic},      // just past 2001::/23
	{"3fff:1000::1", classPublic},     // just past 3fff::/20
	{"2001:db9::1", classPublic},      // just past 2001:db8::/32

	// Unspecified: on Linux, sending to these reaches the local host.
	{"0.0.0.0", classUnspecified},
	{"::", classUnspecified},
	{"::ffff:0.0.0.0", classUnspecified},
	{"64:ff9b::", classUnspecified},
	{"2002::", classUnspecified},

	// Loopback.
	{"127.0.0.1", classLoopback},
	{"127.255.255.254", classLoopback},
	{"::1", classLoopback},
	{"::ffff:127.0.0.1", classLoopback},
	{"::ffff:7f00:1", classLoopback},
	{"::127.0.0.1", classLoopback}, // IPv4-compatible
	{"64:ff9b::7f00:1", classLoopback},
	{"64:ff9b::127.0.0.1", classLoopback},
	{"2002:7f00:1::", classLoopback},

	// Private.
	{"10.0.0.1", classPrivate},
	{"10.255.255.255", classPrivate},
	{"172.16.0.1", classPrivate},
	{"172.31.255.255", classPrivate},
	{"192.168.1.1", classPrivate},
	{"::ffff:10.0.0.1", classPrivate},
	{"::ffff:172.16.0.1", classPrivate},
	{"::ffff:192.168.0.1", classPrivate},
	{"::10.0.0.1", classPrivate},
	{"::192.168.0.1", classPrivate},
	{"64:ff9b::a00:1", classPrivate},
	{"64:ff9b::192.168.0.1", classPrivate},
	{"2002:a00:1::", classPrivate},
	{"2002:c0a8:101::1", classPrivate},
	{"fc00::1", classPrivate},
	{"fd12:3456:789a::1", classPrivate},
	{"fec0::1", classPrivate},

	// Carrier-grade NAT.
	{"100.64.0.1", classShared},
	{"100.127.255.255", classShared},
	{"::ffff:100.64.0.1", classShared},
	{"64:ff9b::6440:1", classShared},
	{"2002:6440:1::", classShared},

	// Link-local (169.254.169.254 is the cloud metadata service).
	{"169.254.169.254", classLinkLocal},
	{"::ffff:169.254.169.254", classLinkLocal},
	{"::169.254.169.254", classLinkLocal},
	{"64:ff9b::a9fe:a9fe", classLinkLocal},
	{"2002:a9fe:a9fe::", classLinkLocal},
	{"fe80::1", classLinkLocal},
	{"fe80::1%eth0", classLinkLocal},
	{"febf::1", classLinkLocal},

	// Multicast.
	{"224.0.0.1", classMulticast},
	{"239.255.255.250", classMulticast},
	{"::ffff:224.0.0.251", classMulticast},
	{"64:ff9b::e000:1", classMulticast},
	{"ff02::1", classMulticast},
	{"ff05::1:3", classMulticast},

	// Broadcast.
	{"255.255.255.255", classBroadcast},
	{"::ffff:255.255.255.255", classBroadcast},
	{"64:ff9b::ffff:ffff", classBroadcast},

	// Reserved and special-purpose.
	{"0.1.2.3", classReserved},
	{"192.0.0.8", classReserved},
	{"192.0.2.1", classReserved},
	{"192.88.99.1", classReserved},
	{"198.18.0.1", classReserved},
	{"198.51.100.1", classReserved},
	{"203.0.113.1", classReserved},
	{"240.0.0.1", classReserved},
	{"::ffff:198.18.0.1", classReserved},
	{"::8.8.8.8", classReserved},          // IPv4-compatible, deprecated
	{"::ffff:0:7f00:1", classReserved},    // SIIT IPv4-translated
	{"64:ff9b:1::7f00:1", classReserved},  // local-use NAT64
	{"2001::7f00:1", classReserved},       // Teredo
	{"2001:0:4136:e378::", classReserved}, // Teredo
	{"2001:2::1", classReserved},          // benchmarking
	{"2001:db8::1", classReserved},        // documentation
	{"3fff::1", classReserved},            // documentation
	{"100::1", classReserved},             // discard-only
	{"5f00::1", classReserved},            // SRv6 SIDs, outside 2000::/3
	{"4000::1", classReserved},            // unassigned
}

func TestClassify(t *testing.T) {
	for _, tc := range peerCases {
		ip, err := netip.ParseAddr(tc.ip)
		if err != nil {
			t.Fatalf("bad test address %q: %v", tc.ip, err)
		}
		if got := classify(ip); got != tc.class {
			t.Errorf("classify(%s) = %v, want %v", tc.ip, got, tc.class)
		}
	}
	if got := classify(netip.Addr{}); got != classInvalid {
		t.Errorf("classify(zero Addr) = %v, want invalid", got)
	}
}

// TestPolicy checks the decision pion gets, from net.IP as pion passes it:
// both 4- and 16-byte forms of IPv4 addresses.
func TestPolicy(t *testing.T) {
	strict := peerPolicy{}
	tests := peerPolicy{allowLoopback: true}
	for _, tc := range peerCases {
		ip := net.ParseIP(tc.ip)
		if ip == nil { // zoned
			continue
		}
		forms := []net.IP{ip}
		if v4 := ip.To4(); v4 != nil {
			forms = append(forms, v4)
		}
		for _, form := range forms {
			want := tc.class == classPublic
			if got, class := strict.allowed(form); got != want || class != tc.class {
				t.Errorf("strict allowed(%s, %d bytes) = %v, %v; want %v, %v", tc.ip, len(form), got, class, want, tc.class)
			}

			// Only the spellings that lead to this host: 127/8 in 4- or
			// 16-byte (IPv4-mapped) form, and ::1.
			plainLoopback := tc.class == classLoopback && (ip.To4() != nil || ip.Equal(net.IPv6loopback))
			want = tc.class == classPublic || plainLoopback
			if got, _ := tests.allowed(form); got != want {
				t.Errorf("loopback-allowing allowed(%s, %d bytes) = %v, want %v", tc.ip, len(form), got, want)
			}
		}
	}
	for _, bad := range []net.IP{nil, {}, {1, 2, 3}, make(net.IP, 17)} {
		if ok, _ := strict.allowed(bad); ok {
			t.Errorf("allowed(%v) = true for a malformed IP", []byte(bad))
		}
		if ok, _ := tests.allowed(bad); ok {
			t.Errorf("allowed(%v) = true for a malformed IP with loopback allowed", []byte(bad))
		}
	}
}

func TestPeerClassString(t *testing.T) {
	for c := classPublic; c <= classReserved; c++ {
		if s := c.String(); s == "" || s == "unknown" {
			t.Errorf("class %d has no name", c)
		}
	}
	if peerClass(99).String() != "unknown" {
		t.Error("out-of-range class has a name")
	}
}
