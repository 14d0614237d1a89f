package turn

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/turn/v5"
)

func TestAllocateWithValidCredentials(t *testing.T) {
	t.Parallel()
	s, addr := startServer(t, Config{})
	user, pass, _ := NewCredentials(testSecret, time.Hour).Issue("alice", time.Now())
	c := newClient(t, addr, user, pass)

	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	if ip := relay.LocalAddr().(*net.UDPAddr).IP; !ip.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("relay address %v, want the listen IP", ip)
	}
	if n := s.Allocations(); n != 1 {
		t.Errorf("Allocations() = %d, want 1", n)
	}
	relay.Close() // sends Refresh(lifetime=0)
	eventually(t, "the allocation to end", func() bool { return s.Allocations() == 0 })
}

func TestAllocateRefusesBadCredentials(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, Config{})
	creds := NewCredentials(testSecret, time.Hour)
	now := time.Now()

	expiredUser, expiredPass, _ := creds.Issue("alice", now.Add(-2*time.Hour))
	validUser, validPass, _ := creds.Issue("alice", now)
	otherUser, otherPass, _ := NewCredentials([]byte("another-secret-entirely"), time.Hour).Issue("alice", now)
	tamperedUser := strings.Replace(validUser, ":alice", ":bob", 1)

	for name, up := range map[string][2]string{
		"expired":        {expiredUser, expiredPass},
		"wrong password": {validUser, wrongPassword(validPass)},
		"other secret":   {otherUser, otherPass},
		"tampered user":  {tamperedUser, validPass},
		"not REST":       {"alice", validPass},
	} {
		t.Run(name, func(t *testing.T) {
			c := newClient(t, addr, up[0], up[1])
			if relay, err := c.Allocate(); err == nil {
				relay.Close()
				t.Fatal("Allocate succeeded")
			} else if code := turnCode(err); code != 401 {
				t.Fatalf("Allocate error %v (code %d), want 401", err, code)
			}
		})
	}
}

// wrongPassword changes p's first character (always: replacing the last
// one with a fixed letter left it as it was one time in sixteen).
func wrongPassword(p string) string {
	c := byte('A')
	if p[0] == c {
		c = 'B'
	}
	return string(c) + p[1:]
}

// TestExpiryOnlyGatesNewAllocations: a credential that expires during a
// session keeps its allocation working (as in coturn): Refresh,
// CreatePermission and ChannelBind still pass; but it cannot open a new one.
func TestExpiryOnlyGatesNewAllocations(t *testing.T) {
	t.Parallel()
	creds := NewCredentials(testSecret, 2*time.Second)
	s, addr := startServer(t, Config{Creds: creds, AllowLoopbackPeers: true})
	echo := startEcho(t, "udp4", "127.0.0.1:0")
	user, pass, expires := creds.Issue(User(3), time.Now()) // signed in: may reach any allowed peer

	c := newClient(t, addr, user, pass)
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	time.Sleep(time.Until(expires) + 100*time.Millisecond)

	// The first datagram to a new peer makes pion's client send
	// CreatePermission, later ones ChannelBind.
	roundTrips(t, relay, echo.addr(), 10)

	c2 := newClient(t, addr, user, pass)
	if r2, err := c2.Allocate(); err == nil {
		r2.Close()
		t.Error("a new allocation with an expired credential succeeded")
	} else if code := turnCode(err); code != 401 {
		t.Errorf("new allocation with an expired credential: %v (code %d), want 401", err, code)
	}

	relay.Close() // Refresh with lifetime 0, also after expiry
	eventually(t, "the allocation to end", func() bool { return s.Allocations() == 0 })
}

func TestRefusesPrivatePeers(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, Config{})
	echo := startEcho(t, "udp4", "127.0.0.1:0")
	user, pass, _ := NewCredentials(testSecret, time.Hour).Issue(User(4), time.Now()) // signed in: the general policy applies
	c := newClient(t, addr, user, pass)
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	defer relay.Close()

	for _, ip := range []string{"127.0.0.1", "127.1.2.3", "10.0.0.1", "172.16.5.4", "192.168.1.1",
		"169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255"} {
		err := c.CreatePermission(&net.UDPAddr{IP: net.ParseIP(ip), Port: echo.addr().Port})
		if err == nil {
			t.Errorf("CreatePermission(%s) succeeded", ip)
		}
	}
	if _, err := relay.WriteTo([]byte("hello"), echo.addr()); err == nil {
		t.Error("WriteTo a loopback peer succeeded")
	}
	// A public peer is fine (nothing is sent by CreatePermission itself).
	if err := c.CreatePermission(&net.UDPAddr{IP: net.IPv4(8, 8, 8, 8), Port: 9}); err != nil {
		t.Errorf("CreatePermission(8.8.8.8): %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := echo.received(); n != 0 {
		t.Errorf("the loopback peer received %d datagrams through the relay", n)
	}
}

// TestRelaysToLoopbackWhenAllowed proves relaying works end to end: a
// datagram goes client -> TURN -> echo server -> TURN -> client, first as
// Send/Data indications, then over a bound channel.
func TestRelaysToLoopbackWhenAllowed(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			_, addr := startServer(t, Config{AllowLoopbackPeers: true})
			echo := startEcho(t, "udp4", "127.0.0.1:0")
			user, pass, _ := NewCredentials(testSecret, time.Hour).Issue(User(5), time.Now())
			c := newClient(t, addr, user, pass)
			if transport == "tcp" {
				c, _ = newTCPClient(t, addr, user, pass)
			}
			relay, err := c.Allocate()
			if err != nil {
				t.Fatalf("Allocate: %v", err)
			}
			defer relay.Close()
			roundTrips(t, relay, echo.addr(), 20)
		})
	}
}

// roundTrips sends n datagrams through relay to an echo peer and expects
// each back.
func roundTrips(t *testing.T, relay net.PacketConn, peer *net.UDPAddr, n int) {
	t.Helper()
	buf := make([]byte, 1500)
	for i := range n {
		msg := []byte(fmt.Sprintf("ping %d", i))
		if _, err := relay.WriteTo(msg, peer); err != nil {
			t.Fatalf("WriteTo #%d: %v", i, err)
		}
		relay.SetReadDeadline(time.Now().Add(3 * time.Second))
		for {
			k, from, err := relay.ReadFrom(buf)
			if err != nil {
				t.Fatalf("no echo for datagram #%d: %v", i, err)
			}
			if !bytes.Equal(buf[:k], msg) {
				continue // a late duplicate of an earlier one
			}
			if f := from.(*net.UDPAddr); !f.IP.Equal(peer.IP) || f.Port != peer.Port {
				t.Fatalf("echo came from %v, want %v", from, peer)
			}
			break
		}
		time.Sleep(5 * time.Millisecond) // let the channel binding complete mid-way
	}
}

func TestQuotaPerUser(t *testing.T) {
	t.Parallel()
	const max = 3
	s, addr := startServer(t, Config{Limits: Limits{PerUser: max}})
	creds := NewCredentials(testSecret, time.Hour)
	now := time.Now()
	erin, erinPass, _ := creds.Issue(User(7), now)

	var relays []net.PacketConn
	for i := range max {
		r, err := newClient(t, addr, erin, erinPass).Allocate()
		if err != nil {
			t.Fatalf("allocation %d: %v", i+1, err)
		}
		relays = append(relays, r)
	}
	// A fresh credential for the same user shares the quota.
	erin2, erin2Pass, _ := creds.Issue(User(7), now.Add(time.Second))
	if r, err := newClient(t, addr, erin2, erin2Pass).Allocate(); err == nil {
		r.Close()
		t.Fatalf("allocation %d for the same user succeeded", max+1)
	} else if code := turnCode(err); code != 486 {
		t.Errorf("over-quota error %v (code %d), want 486", err, code)
	}
	// Another user is not affected.
	frank, frankPass, _ := creds.Issue(User(8), now)
	r, err := newClient(t, addr, frank, frankPass).Allocate()
	if err != nil {
		t.Fatalf("another user's allocation: %v", err)
	}
	r.Close()

	// Ending one allocation makes room again.
	relays[0].Close()
	eventually(t, "the quota to be released", func() bool { return s.relays.count("user u7") == max-1 })
	r, err = newClient(t, addr, erin, erinPass).Allocate()
	if err != nil {
		t.Fatalf("allocation after one ended: %v", err)
	}
	r.Close()
	for _, r := range relays[1:] {
		r.Close()
	}
}

// TestQuotaIsAtomic races many relay sockets for one user. pion asks its
// QuotaHandler and opens the relay socket in two steps, so two allocations
// arriving together (over two TCP connections, each with its own goroutine)
// can both pass the first; the count taken when the socket opens must hold.
func TestQuotaIsAtomic(t *testing.T) {
	t.Parallel()
	const max, tries = 2, 16
	r := testRelays(peerPolicy{}, Limits{PerUser: max})
	gina := testOwner("udp", "127.0.0.1:5000", User(9)).id()
	start := make(chan struct{})
	conns := make(chan net.PacketConn, tries)
	var wg sync.WaitGroup
	for range tries {
		wg.Go(func() {
			<-start
			if pc, _, err := r.AllocatePacketConn(turn.AllocateListenerConfig{Network: "udp4", UserID: gina}); err == nil {
				conns <- pc
			} else if !errors.Is(err, errQuota) {
				t.Errorf("AllocatePacketConn: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	close(conns)
	if n := len(conns); n != max {
		t.Errorf("%d of %d concurrent relay sockets opened, want %d", n, tries, max)
	}
	for pc := range conns {
		pc.Close()
	}
	if n := r.count(""); n != 0 {
		t.Errorf("count after closing all = %d", n)
	}
}

func TestTCPRelayAllocationRefused(t *testing.T) {
	t.Parallel()
	s, addr := startServer(t, Config{AllowLoopbackPeers: true})
	user, pass, _ := NewCredentials(testSecret, time.Hour).Issue("hank", time.Now())
	c, _ := newTCPClient(t, addr, user, pass)
	if a, err := c.AllocateTCP(); err == nil {
		a.Close()
		t.Fatal("a TCP relay allocation (RFC 6062) succeeded")
	}
	if n := s.relays.count(""); n != 0 {
		t.Errorf("quota count = %d after a refused TCP allocation", n)
	}
}

func TestRelayPortRange(t *testing.T) {
	t.Parallel()
	// Find three adjacent free ports to use as the range.
	probe, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lo := probe.LocalAddr().(*net.UDPAddr).Port
	probe.Close()
	if lo > 65000 {
		lo = 40000
	}
	_, addr := startServer(t, Config{RelayPortMin: lo, RelayPortMax: lo + 50})
	user, pass, _ := NewCredentials(testSecret, time.Hour).Issue("ivy", time.Now())
	relay, err := newClient(t, addr, user, pass).Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	defer relay.Close()
	if p := relay.LocalAddr().(*net.UDPAddr).Port; p < lo || p > lo+50 {
		t.Errorf("relay port %d outside %d-%d", p, lo, lo+50)
	}
}

func TestNewConfig(t *testing.T) {
	creds := NewCredentials(testSecret, time.Hour)
	s, err := New(Config{Creds: creds})
	if s != nil || err != nil {
		t.Fatalf("New with port 0 = %v, %v; want nil, nil", s, err)
	}
	// A disabled server is safe to use.
	if s.URLs("example.com") != nil || s.Allocations() != 0 || s.Close() != nil {
		t.Error("nil *Server methods misbehave")
	}

	for name, cfg := range map[string]Config{
		"no creds":         {Port: 3478},
		"bad port":         {Port: 70000, Creds: creds},
		"bad listen IP":    {Port: 3478, Creds: creds, ListenIP: "localhost"},
		"bad public IP":    {Port: 3478, Creds: creds, PublicIP: "example.com"},
		"unspecified pub":  {Port: 3478, Creds: creds, PublicIP: "0.0.0.0"},
		"family mismatch":  {Port: 3478, Creds: creds, PublicIP: "2001:db8::1"},
		"v6 wildcard":      {Port: 3478, Creds: creds, ListenIP: "::"},
		"bad port range":   {Port: 3478, Creds: creds, RelayPortMin: 5000, RelayPortMax: 4000},
		"half port range":  {Port: 3478, Creds: creds, RelayPortMin: 5000},
		"port range > max": {Port: 3478, Creds: creds, RelayPortMin: 5000, RelayPortMax: 70000},
	} {
		if s, err := New(cfg); err == nil {
			s.Close()
			t.Errorf("%s: New succeeded", name)
		}
	}

	listen, public, err := addresses("", "")
	if err != nil || listen.String() != "0.0.0.0" || !public.Is4() || public.IsLoopback() && public.String() != "127.0.0.1" {
		t.Errorf("defaults: listen %v public %v err %v", listen, public, err)
	}
	if _, public, _ := addresses("127.0.0.1", ""); public.String() != "127.0.0.1" {
		t.Errorf("public IP for a specific listen IP = %v, want the listen IP", public)
	}
	if _, public, _ := addresses("0.0.0.0", "203.0.113.7"); public.String() != "203.0.113.7" {
		t.Errorf("explicit public IP = %v", public)
	}
}

func TestURLs(t *testing.T) {
	t.Parallel()
	s, addr := startServer(t, Config{})
	_, port, _ := net.SplitHostPort(addr)
	for host, want := range map[string]string{
		"example.com":      "example.com:" + port,
		"example.com:8443": "example.com:" + port,
		"203.0.113.7":      "203.0.113.7:" + port,
		"2001:db8::1":      "[2001:db8::1]:" + port,
		"[2001:db8::1]":    "[2001:db8::1]:" + port,
		"[2001:db8::1]:80": "[2001:db8::1]:" + port,
	} {
		got := s.URLs(host)
		if len(got) != 2 || got[0] != "turn:"+want+"?transport=udp" || got[1] != "turn:"+want+"?transport=tcp" {
			t.Errorf("URLs(%q) = %q", host, got)
		}
	}
}

// TestSecretNeverLogged runs a session with debug logging on and checks
// that neither the secret nor a password shows up in the log.
func TestSecretNeverLogged(t *testing.T) {
	t.Parallel()
	var logBuf lockedBuffer
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, addr := startServer(t, Config{Log: log})
	user, pass, _ := NewCredentials(testSecret, time.Hour).Issue("judy", time.Now())
	c := newClient(t, addr, user, pass)
	relay, err := c.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	c.CreatePermission(&net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 1})
	bad := newClient(t, addr, user, "wrong-password")
	if r, err := bad.Allocate(); err == nil {
		r.Close()
	}
	relay.Close()
	eventually(t, "the allocation to end", func() bool { return s.Allocations() == 0 })

	out := logBuf.String()
	if !strings.Contains(out, "judy") {
		t.Fatalf("debug log does not mention the session; test is not looking at the right log:\n%s", out)
	}
	for _, secret := range []string{string(testSecret), pass} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains a secret %q", secret)
		}
	}
}

// TestCloseReleasesEverything checks that Close frees the port at once, cuts
// TCP clients off and leaves no goroutine behind.
func TestCloseReleasesEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	cfg := Config{Creds: NewCredentials(testSecret, time.Hour), ListenIP: "127.0.0.1", AllowLoopbackPeers: true}
	var (
		s   *Server
		err error
	)
	for range 20 {
		probe, perr := net.ListenPacket("udp4", "127.0.0.1:0")
		if perr != nil {
			t.Fatal(perr)
		}
		cfg.Port = probe.LocalAddr().(*net.UDPAddr).Port
		probe.Close()
		if s, err = New(cfg); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", cfg.Port)
	user, pass, _ := cfg.Creds.Issue("kim", time.Now())

	udpConn, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	uc := startClientNoCleanup(t, udpConn, addr, user, pass)
	urelay, err := uc.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	tcpConn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	// An idle TCP connection with no allocation must be cut off too.
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	tc := startClientNoCleanup(t, turn.NewSTUNConn(tcpConn), addr, user, pass)
	trelay, err := tc.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Allocations(); n != 2 {
		t.Fatalf("Allocations() = %d, want 2", n)
	}

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := s.Allocations(); n != 0 {
		t.Errorf("Allocations() = %d after Close", n)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// The port is free again, for both protocols.
	u, err := net.ListenPacket("udp4", addr)
	if err != nil {
		t.Errorf("UDP port still taken after Close: %v", err)
	} else {
		u.Close()
	}
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Errorf("TCP port still taken after Close: %v", err)
	} else {
		l.Close()
	}
	idle.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("idle TCP connection still open after Close (read: %v)", err)
	}
	idle.Close()
	// Client side: its relay conns run refresh timers until closed.
	urelay.Close()
	trelay.Close()
	uc.Close()
	udpConn.Close()
	tc.Close()
	tcpConn.Close()

	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines left, %d before:\n%s", runtime.NumGoroutine(), before, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
