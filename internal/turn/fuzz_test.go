package turn

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// FuzzCredentials feeds arbitrary usernames to the parser that sees them
// first (they come straight off the wire) and checks the round trip for
// arbitrary user IDs.
func FuzzCredentials(f *testing.F) {
	for _, s := range []string{"1700000600:alice", "", ":", "1:", "abc:def", "99999999999999999999:x", "1700000600:a:b", "+1:x"} {
		f.Add(s)
	}
	c := NewCredentials([]byte("fuzz-secret-fuzz-secret"), time.Hour)
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, s string) {
		if id, pass, ok := c.Check(s, now); ok {
			if id == "" || pass == "" || !strings.HasSuffix(s, ":"+id) {
				t.Fatalf("Check(%q) = %q, %q, true", s, id, pass)
			}
		}
		if s == "" {
			return
		}
		user, pass, _ := c.Issue(s, now)
		id, got, ok := c.Check(user, now)
		if !ok || id != s || got != pass {
			t.Fatalf("round trip of user ID %q: Check(%q) = %q, %q, %v", s, user, id, got, ok)
		}
	})
}

// FuzzPolicy checks, for arbitrary addresses, that the policy only admits
// public addresses and that every spelling of an IPv4 address gets the same
// answer.
func FuzzPolicy(f *testing.F) {
	for _, tc := range peerCases {
		a := netip.MustParseAddr(tc.ip).WithZone("").As16()
		f.Add(a[:])
	}
	f.Add([]byte{127, 0, 0, 1})
	strict, loop := peerPolicy{}, peerPolicy{allowLoopback: true}
	f.Fuzz(func(t *testing.T, b []byte) {
		ok, class := strict.allowed(net.IP(b))
		if ok != (class == classPublic) {
			t.Fatalf("strict allowed(%v) = %v, %v", b, ok, class)
		}
		lok, lclass := loop.allowed(net.IP(b))
		if lclass != class || (lok && class != classPublic && class != classLoopback) || (ok && !lok) {
			t.Fatalf("loopback-allowing allowed(%v) = %v, %v; strict %v, %v", b, lok, lclass, ok, class)
		}
		if v4 := net.IP(b).To4(); v4 != nil {
			ok4, class4 := strict.allowed(v4)
			mapped := make(net.IP, 16)
			copy(mapped, net.IPv4(v4[0], v4[1], v4[2], v4[3]))
			okm, classm := strict.allowed(mapped)
			if ok4 != ok || class4 != class || okm != ok || classm != class {
				t.Fatalf("spellings of %v disagree: %v/%v, 4-byte %v/%v, mapped %v/%v", v4, ok, class, ok4, class4, okm, classm)
			}
		}
	})
}
