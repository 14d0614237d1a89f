package turn

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"

	"github.com/fedwave/fedwave/internal/pionlog"
)

var testSecret = []byte("test-secret-0123456789abcdef")

// startServer starts a server on a free port of cfg.ListenIP (default
// 127.0.0.1) and closes it when the test ends.
func startServer(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	if cfg.ListenIP == "" {
		cfg.ListenIP = "127.0.0.1"
	}
	if cfg.Creds == nil {
		cfg.Creds = NewCredentials(testSecret, time.Hour)
	}
	if cfg.Realm == "" {
		cfg.Realm = "fedwave.test"
	}
	// UDP and TCP must both be free on the port; another process can take
	// it between the probe and New, so try a few.
	for range 20 {
		probe, err := net.ListenPacket("udp", net.JoinHostPort(cfg.ListenIP, "0"))
		if err != nil {
			t.Skipf("cannot listen on %s: %v", cfg.ListenIP, err)
		}
		cfg.Port = probe.LocalAddr().(*net.UDPAddr).Port
		probe.Close()
		s, err := New(cfg)
		if errors.Is(err, syscall.EADDRINUSE) {
			continue
		}
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s, net.JoinHostPort(cfg.ListenIP, strconv.Itoa(cfg.Port))
	}
	t.Fatal("no free port for UDP and TCP")
	return nil, ""
}

var quietPion = pionlog.Factory{Log: slog.New(slog.DiscardHandler)}

// newClient returns a pion TURN client talking UDP to addr.
func newClient(t *testing.T, addr, username, password string) *turn.Client {
	t.Helper()
	network := "udp4"
	if ip := net.ParseIP(hostOf(addr)); ip != nil && ip.To4() == nil {
		network = "udp6"
	}
	conn, err := net.ListenPacket(network, net.JoinHostPort(hostOf(addr), "0"))
	if err != nil {
		t.Fatal(err)
	}
	return startClient(t, conn, addr, username, password)
}

// newTCPClient returns a pion TURN client talking TCP to addr.
func newTCPClient(t *testing.T, addr, username, password string) (*turn.Client, net.Conn) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return startClient(t, turn.NewSTUNConn(conn), addr, username, password), conn
}

func startClient(t *testing.T, conn net.PacketConn, addr, username, password string) *turn.Client {
	t.Helper()
	c := startClientNoCleanup(t, conn, addr, username, password)
	t.Cleanup(func() {
		c.Close()
		conn.Close()
	})
	return c
}

// startClientNoCleanup is startClient for tests that close the client
// themselves.
func startClientNoCleanup(t *testing.T, conn net.PacketConn, addr, username, password string) *turn.Client {
	t.Helper()
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr,
		TURNServerAddr: addr,
		Username:       username,
		Password:       password,
		Conn:           conn,
		LoggerFactory:  quietPion,
	})
	if err != nil {
		conn.Close()
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	return c
}

func hostOf(addr string) string {
	h, _, _ := net.SplitHostPort(addr)
	return h
}

// turnCode returns the TURN error code in err, or 0.
func turnCode(err error) int {
	var te *stun.TurnError
	if errors.As(err, &te) {
		return int(te.ErrorCodeAttr.Code)
	}
	return 0
}

// echoServer echoes UDP datagrams on 127.0.0.1 and counts them.
type echoServer struct {
	conn net.PacketConn
	mu   sync.Mutex
	got  int
}

func startEcho(t *testing.T, network, addr string) *echoServer {
	t.Helper()
	conn, err := net.ListenPacket(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	e := &echoServer{conn: conn}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			e.mu.Lock()
			e.got++
			e.mu.Unlock()
			conn.WriteTo(buf[:n], from)
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return e
}

func (e *echoServer) addr() *net.UDPAddr { return e.conn.LocalAddr().(*net.UDPAddr) }

func (e *echoServer) received() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.got
}

// eventually polls cond for up to five seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testRelays returns a relay socket factory on 127.0.0.1, as New builds it.
func testRelays(policy peerPolicy, limits Limits, media ...netip.AddrPort) *relays {
	return &relays{
		bind: netip.MustParseAddr("127.0.0.1"), public: netip.MustParseAddr("127.0.0.1"),
		network: "udp4", limits: limits.withDefaults(), policy: policy, media: media,
		counts: map[string]int{}, open: map[*relayConn]struct{}{}, clients: map[string]*relayConn{},
	}
}

// testOwner is the owner of an allocation by user from client.
func testOwner(transport, client, user string) owner {
	return owner{user: user, signedIn: signedIn(user), transport: transport, client: netip.MustParseAddrPort(client)}
}

// turnConfig is what pion passes the relay address generator for an
// allocation of o.
func turnConfig(o owner) turn.AllocateListenerConfig {
	return turn.AllocateListenerConfig{Network: "udp4", UserID: o.id()}
}
