// Package udptest has the UDP helpers of tests that check where a server
// sends: a free port, and whether a datagram is waiting, without a timeout.
package udptest

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
)

// FreePort returns a port free for both UDP and TCP on 127.0.0.1 (TURN
// and media listen on both).
func FreePort(t testing.TB) int {
	t.Helper()
	for range 20 {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		if l, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// Queued reports whether a datagram is waiting on conn, without waiting
// and without taking it: over loopback a datagram is queued on its
// receiver before the sender's send returns, so "nothing arrived" needs no
// timeout once a later datagram from the same sender has.
func Queued(t testing.TB, conn *net.UDPConn) bool {
	t.Helper()
	raw, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var rerr error
	if err := raw.Read(func(fd uintptr) bool {
		_, _, rerr = syscall.Recvfrom(int(fd), make([]byte, 1), syscall.MSG_DONTWAIT|syscall.MSG_PEEK)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if rerr != nil && !errors.Is(rerr, syscall.EAGAIN) {
		t.Fatal(rerr)
	}
	return rerr == nil
}
