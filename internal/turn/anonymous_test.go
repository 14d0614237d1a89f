package turn

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/fedwave/fedwave/internal/udptest"
)

// listenUDP opens a plain UDP socket on 127.0.0.1 that the test reads
// itself.
func listenUDP(t *testing.T) *net.UDPConn {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestAnonymousRelaysOnlyToMediaPort drives the server from outside with
// pion's client. Loopback peers are allowed (as in tests whose media port is
// on loopback), and the "media port" is an echo server on 127.0.0.1: an
// anonymous credential reaches it and nothing else, neither another address
// nor another port of the media IP; a signed-in one reaches another
// loopback listener.
func TestAnonymousRelaysOnlyToMediaPort(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			media := startEcho(t, "udp4", "127.0.0.1:0")
			_, addr := startServer(t, Config{AllowLoopbackPeers: true, MediaPeers: []netip.AddrPort{media.addr().AddrPort()}})
			other := listenUDP(t) // same IP as the media port, another port
			creds := NewCredentials(testSecret, time.Hour)
			user, pass, _ := creds.Issue(Anonymous, time.Now())
			c := newClient(t, addr, user, pass)
			if transport == "tcp" {
				c, _ = newTCPClient(t, addr, user, pass)
			}
			relay, err := c.Allocate()
			if err != nil {
				t.Fatalf("Allocate: %v", err)
			}
			defer relay.Close()

			roundTrips(t, relay, media.addr(), 3)
			for _, ip := range []string{"127.0.0.2", "127.1.2.3"} {
				if err := c.CreatePermission(&net.UDPAddr{IP: net.ParseIP(ip), Port: media.addr().Port}); err == nil {
					t.Errorf("anonymous CreatePermission(%s) succeeded", ip)
				} else if code := turnCode(err); code != 403 {
					t.Errorf("anonymous CreatePermission(%s): %v (code %d), want 403", ip, err, code)
				}
			}
			// The media IP has a permission now, but only its media port
			// may be reached: the datagram to another port is dropped.
			if _, err := relay.WriteTo([]byte("to another port"), other.LocalAddr()); err != nil {
				t.Fatalf("WriteTo: %v", err)
			}
			// The server handles one client's packets in order: once a
			// later datagram has come back from the media port, the one
			// before it has been dropped or sent.
			roundTrips(t, relay, media.addr(), 1)
			if udptest.Queued(t, other) {
				t.Fatal("an anonymous relay sent to a port other than the media port")
			}

			// A signed-in user reaches the other listener (the general
			// policy, here with loopback allowed).
			signed, signedPass, _ := creds.Issue(User(1), time.Now())
			sc := newClient(t, addr, signed, signedPass)
			srelay, err := sc.Allocate()
			if err != nil {
				t.Fatalf("signed-in Allocate: %v", err)
			}
			defer srelay.Close()
			if _, err := srelay.WriteTo([]byte("signed in"), other.LocalAddr()); err != nil {
				t.Fatalf("signed-in WriteTo: %v", err)
			}
			buf := make([]byte, 64)
			other.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, _, err := other.ReadFrom(buf)
			if err != nil || !bytes.Equal(buf[:n], []byte("signed in")) {
				t.Fatalf("the signed-in relay's datagram did not arrive: %q, %v", buf[:n], err)
			}
		})
	}
}

// TestAnonymousWithoutMediaPeersRelaysNowhere: a server that was told no
// media address gives anonymous allocations no peer at all.
func TestAnonymousWithoutMediaPeersRelaysNowhere(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, Config{AllowLoopbackPeers: true})
	user, pass, _ := NewCredentials(testSecret, time.Hour).Issue(Anonymous, time.Now())
	c := newClient(t, addr, user, pass)
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	defer relay.Close()
	for _, ip := range []string{"127.0.0.1", "8.8.8.8"} {
		if err := c.CreatePermission(&net.UDPAddr{IP: net.ParseIP(ip), Port: 9}); err == nil {
			t.Errorf("CreatePermission(%s) succeeded", ip)
		}
	}
}

// TestAnonymousPolicyStillApplies: a media address the general policy
// refuses (loopback on a real server) is not reachable either.
func TestAnonymousPolicyStillApplies(t *testing.T) {
	t.Parallel()
	media := listenUDP(t)
	r := testRelays(peerPolicy{}, Limits{}, media.LocalAddr().(*net.UDPAddr).AddrPort())
	pc, _, err := r.AllocatePacketConn(turnConfig(testOwner("udp", "203.0.113.9:4000", Anonymous)))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.WriteTo([]byte("x"), media.LocalAddr()); err == nil {
		t.Error("an anonymous relay sent to a loopback media address the policy refuses")
	}
	if ok, _ := r.permitted(&net.UDPAddr{IP: net.IPv4(203, 0, 113, 9), Port: 4000}, net.IPv4(127, 0, 0, 1)); ok {
		t.Error("permission for a loopback media address the policy refuses")
	}
}

// TestQuotaPerAddress: anonymous allocations from one address share a
// small quota whatever credentials they use; signed-in users there keep
// their own, and all of them together are capped per address.
func TestQuotaPerAddress(t *testing.T) {
	t.Parallel()
	r := testRelays(peerPolicy{}, Limits{PerAddress: 5, AnonymousPerAddress: 2, PerUser: 2})
	open := func(o owner) error {
		_, _, err := r.AllocatePacketConn(turnConfig(o))
		return err
	}
	// Each anonymous caller has a port of its own; the address is shared.
	for i, port := range []string{"1001", "1002"} {
		if err := open(testOwner("udp", "198.51.100.7:"+port, Anonymous)); err != nil {
			t.Fatalf("anonymous allocation %d: %v", i+1, err)
		}
	}
	if err := open(testOwner("tcp", "198.51.100.7:1003", Anonymous)); err == nil {
		t.Fatal("a third anonymous allocation from one address succeeded")
	}
	if err := open(testOwner("udp", "198.51.100.7:1004", "anon-0123456789abcdef")); err == nil {
		t.Fatal("an unknown user ID (an older release's anonymous one) escaped the anonymous quota")
	}
	// Another address is not affected.
	if err := open(testOwner("udp", "198.51.100.8:1001", Anonymous)); err != nil {
		t.Fatalf("anonymous allocation from another address: %v", err)
	}
	// Signed-in users from the same address: two each, five in all there.
	if err := open(testOwner("udp", "198.51.100.7:2001", User(1))); err != nil {
		t.Fatalf("signed-in allocation: %v", err)
	}
	if err := open(testOwner("udp", "198.51.100.7:2002", User(2))); err != nil {
		t.Fatalf("signed-in allocation: %v", err)
	}
	if err := open(testOwner("udp", "198.51.100.7:2003", User(3))); err != nil {
		t.Fatalf("signed-in allocation: %v", err)
	}
	if err := open(testOwner("udp", "198.51.100.7:2004", User(4))); err == nil {
		t.Fatal("a sixth allocation from one address succeeded")
	}
	// A user's own quota holds across addresses.
	if err := open(testOwner("udp", "192.0.2.1:1", User(1))); err != nil {
		t.Fatalf("signed-in allocation from another address: %v", err)
	}
	if err := open(testOwner("udp", "192.0.2.2:1", User(1))); err == nil {
		t.Fatal("a third allocation of one user succeeded")
	}
	// IPv6 clients are counted per /64.
	if err := open(testOwner("udp", "[2001:db8:1:2::1]:1", Anonymous)); err != nil {
		t.Fatal(err)
	}
	if err := open(testOwner("udp", "[2001:db8:1:2:ffff::9]:1", Anonymous)); err != nil {
		t.Fatal(err)
	}
	if err := open(testOwner("udp", "[2001:db8:1:2:aaaa::1]:1", Anonymous)); err == nil {
		t.Fatal("a third anonymous allocation from one IPv6 /64 succeeded")
	}
	r.closeAll()
	if n := r.count(""); n != 0 || len(r.counts) != 0 {
		t.Errorf("after closeAll: %d open, counters %v", n, r.counts)
	}
}

func TestOwnerRoundTrip(t *testing.T) {
	for _, o := range []owner{
		testOwner("udp", "203.0.113.9:4000", Anonymous),
		testOwner("tcp", "[2001:db8::1]:443", User(42)),
		testOwner("udp", "127.0.0.1:1", "a user id with spaces"),
	} {
		got, ok := parseOwner(o.id())
		if !ok || got != o {
			t.Errorf("parseOwner(%q) = %+v, %v; want %+v", o.id(), got, ok, o)
		}
	}
	for _, bad := range []string{"", "udp", "udp 1.2.3.4:5", "sctp 1.2.3.4:5 u1", "udp 1.2.3.4 u1", "udp nohost:5 u1"} {
		if _, ok := parseOwner(bad); ok {
			t.Errorf("parseOwner(%q) succeeded", bad)
		}
	}
	for id, want := range map[string]bool{"u1": true, "u1234567890": true, "u": false, "u-1": false, "U1": false, "anon": false, "u1x": false, "alice": false, "u12345678901234567890": false} {
		if signedIn(id) != want {
			t.Errorf("signedIn(%q) = %v", id, !want)
		}
	}
	if User(42) != "u42" || !signedIn(User(42)) || signedIn(Anonymous) {
		t.Error("User and Anonymous do not match signedIn")
	}
}

// TestWireAnonymousPermissions speaks TURN by hand: an anonymous
// allocation gets permissions and channels toward the media IP only, in no
// spelling of another address, and refreshing a permission asks again.
func TestWireAnonymousPermissions(t *testing.T) {
	t.Parallel()
	media := netip.MustParseAddrPort("127.0.0.1:40000")
	_, addr := startServer(t, Config{AllowLoopbackPeers: true, MediaPeers: []netip.AddrPort{media}})
	user, pass, _ := NewCredentials(testSecret, time.Hour).Issue(Anonymous, time.Now())
	c := newRawClient(t, addr, user, pass)
	c.allocate(0x01)

	for i, ip := range []string{"127.0.0.2", "::ffff:127.0.0.2", "8.8.8.8", "::ffff:8.8.8.8", "10.0.0.1"} {
		if res := c.do(stun.MethodCreatePermission, true, peerAttr(ip, 40000)); res.Type.Class == stun.ClassSuccessResponse {
			t.Errorf("anonymous CreatePermission(%s) succeeded", ip)
		}
		ch := attr{stun.AttrChannelNumber, []byte{0x40, byte(i), 0, 0}}
		if res := c.do(stun.MethodChannelBind, true, ch, peerAttr(ip, 40000)); res.Type.Class == stun.ClassSuccessResponse {
			t.Errorf("anonymous ChannelBind(%s) succeeded", ip)
		}
	}
	for range 2 { // the second one refreshes the permission
		for _, ip := range []string{"127.0.0.1", "::ffff:127.0.0.1"} {
			if res := c.do(stun.MethodCreatePermission, true, peerAttr(ip, 40000)); res.Type.Class != stun.ClassSuccessResponse {
				t.Errorf("anonymous CreatePermission(%s), the media IP: code %d", ip, errorCode(res))
			}
		}
	}
	ch := attr{stun.AttrChannelNumber, []byte{0x40, 0x20, 0, 0}}
	if res := c.do(stun.MethodChannelBind, true, ch, peerAttr("127.0.0.1", 40000)); res.Type.Class != stun.ClassSuccessResponse {
		t.Errorf("anonymous ChannelBind to the media port: code %d", errorCode(res))
	}
	// One address that is not the media IP refuses the whole request.
	if res := c.do(stun.MethodCreatePermission, true, peerAttr("127.0.0.1", 1), peerAttr("127.0.0.3", 1)); res.Type.Class == stun.ClassSuccessResponse {
		t.Error("CreatePermission(media IP, 127.0.0.3) succeeded")
	}
}
