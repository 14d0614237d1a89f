package wire

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/fail"
)

// Instance names used in tests; they are never dialled.
const (
	hostA = "a.example"
	hostB = "b.example:8443"
	hostC = "c.example"
)

// peers is a federation of three instances as tests see it: each has a key,
// and B's verifier knows A and C as linked.
type peers struct {
	a, b, c *Key
}

func newPeers(t testing.TB) *peers {
	t.Helper()
	return &peers{a: testKey(t), b: testKey(t), c: testKey(t)}
}

// lookup is B's view: A and C are linked, anything else is not.
func (p *peers) lookup(host string) (ed25519.PublicKey, error) {
	switch host {
	case hostA:
		return p.a.Public(), nil
	case hostC:
		return p.c.Public(), nil
	}
	return nil, fail.New(fail.Forbidden, "federation_not_linked", "%s is not linked", host)
}

// verifierB is B's verifier with its clock shifted by skew from the real one.
func (p *peers) verifierB(skew time.Duration) *Verifier {
	return NewVerifier(hostB, p.lookup, func() time.Time { return time.Now().Add(skew) })
}

func testKey(t testing.TB) *Key {
	t.Helper()
	k, err := LoadKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// wantCode fails unless err is a *fail.Error with code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	e, ok := fail.As(err)
	if !ok {
		t.Fatalf("error %v (%T), want a fail.Error with code %s", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("code %s (%v), want %s", e.Code, err, code)
	}
}
