package media

import (
	"fmt"
	"strings"
	"testing"
)

// The candidate policy is the TURN relay's: only public addresses, and
// loopback with --media-loopback. These addresses are values only: the
// tests never send to them.
func TestCandidatePolicy(t *testing.T) {
	cand := func(addr string) string { return "candidate:1 1 udp 2130706431 " + addr + " 5000 typ host" }
	for _, c := range []struct {
		addr                string
		plain, withLoopback bool
	}{
		{"8.8.8.8", true, true},
		{"2606:4700::1111", true, true},
		{"127.0.0.1", false, true},
		{"::1", false, true},
		{"::ffff:127.0.0.1", false, true},
		{"10.0.0.1", false, false},
		{"192.168.1.20", false, false},
		{"172.16.0.1", false, false},
		{"169.254.169.254", false, false},
		{"::ffff:169.254.169.254", false, false},
		{"::ffff:10.0.0.1", false, false},
		{"fe80::1", false, false},
		{"fd00::1", false, false},
		{"100.64.0.1", false, false},
		{"224.0.0.251", false, false},
		{"0.0.0.0", false, false},
		{"::", false, false},
		{"255.255.255.255", false, false},
		{"192.0.2.1", false, false},
		{"2002:a00:1::1", false, false},      // 6to4 of 10.0.0.1
		{"64:ff9b::a9fe:a9fe", false, false}, // NAT64 of 169.254.169.254
		// Names are never resolved: mDNS and DNS alike.
		{"0b5e3c4a-2f7e-4d5b-9c1a-6f2e8d7c9b10.local", false, false},
		{"metadata.google.internal", false, false},
		{"localhost", false, false},
	} {
		if got := (candidatePolicy{}).allowed(cand(c.addr)); got != c.plain {
			t.Errorf("%s: allowed %v without --media-loopback, want %v", c.addr, got, c.plain)
		}
		if got := (candidatePolicy{allowLoopback: true}).allowed("a=" + cand(c.addr)); got != c.withLoopback {
			t.Errorf("%s: allowed %v with --media-loopback, want %v", c.addr, got, c.withLoopback)
		}
	}
	for _, bad := range []string{"candidate:", "candidate:1 1 udp 1 8.8.8.8", "candidate:1 1 udp 1 8.8.8.8 0 typ host"} {
		if (candidatePolicy{}).allowed(bad) {
			t.Errorf("%q allowed", bad)
		}
	}
}

// filter drops refused candidates quietly and counts the kept ones
// against the bound.
func TestCandidateFilter(t *testing.T) {
	var b strings.Builder
	b.WriteString("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n")
	for i := range 40 {
		fmt.Fprintf(&b, "a=candidate:%d 1 udp 1 10.0.%d.1 5000 typ host\r\n", i, i)
	}
	b.WriteString("a=candidate:99 1 udp 1 127.0.0.1 5000 typ host\r\na=end-of-candidates\r\n")
	p := candidatePolicy{allowLoopback: true}
	out, kept, err := p.filter(b.String(), MaxCandidates)
	if err != nil || kept != 1 || strings.Contains(out, "10.0.") || !strings.Contains(out, "127.0.0.1 5000") || !strings.Contains(out, "a=end-of-candidates") {
		t.Fatalf("filter kept %d, err %v:\n%s", kept, err, out)
	}
	if _, _, err := p.filter(out, 0); err == nil {
		t.Fatal("a candidate beyond the bound was kept")
	}
}
