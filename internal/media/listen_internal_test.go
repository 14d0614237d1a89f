package media

import (
	"io"
	"log/slog"
	"net"
	"testing"
)

// On all interfaces the media port is one socket per local address, all
// on one port, so that an ICE check is answered from the address it was
// sent to; loopback only with Loopback. A NAT'd server (PublicIP) keeps
// one socket on all addresses.
func TestMediaPortSocketPerAddress(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, loopback := range []bool{true, false} {
		e, err := NewEngine(EngineConfig{Loopback: loopback, Log: quiet})
		if err != nil {
			t.Fatal(err)
		}
		sawLoopback := false
		for _, c := range e.udp {
			a := c.LocalAddr().(*net.UDPAddr)
			if a.IP.IsUnspecified() || a.Port != e.Port() {
				t.Errorf("socket on %s, want a local address on port %d", a, e.Port())
			}
			sawLoopback = sawLoopback || a.IP.IsLoopback()
		}
		if sawLoopback != loopback {
			t.Errorf("loopback %v: a socket on a loopback address: %v", loopback, sawLoopback)
		}
		e.Close()
	}
	e, err := NewEngine(EngineConfig{PublicIP: "192.0.2.10", Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if len(e.udp) != 1 || !e.udp[0].LocalAddr().(*net.UDPAddr).IP.IsUnspecified() {
		t.Fatalf("behind NAT: sockets %d, first on %s; want one on all addresses", len(e.udp), e.udp[0].LocalAddr())
	}
}
