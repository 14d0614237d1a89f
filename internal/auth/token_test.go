package auth

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTokenRoundTrip(t *testing.T) {
	kr, err := LoadKeyRing(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := kr.Issue(42, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := kr.Verify(tok.Token, now)
	if err != nil {
		t.Fatal(err)
	}
	if c.UserID != 42 || c.ID == "" || !c.Expires.Equal(tok.Expires) {
		t.Fatalf("claims %+v", c)
	}
	if _, err := kr.Verify(tok.Token, now.Add(2*time.Hour)); err == nil {
		t.Fatal("expired token accepted")
	}
	if _, err := kr.Verify(tok.Token, now.Add(-time.Hour)); err == nil {
		t.Fatal("token issued in the future accepted")
	}
	other, _ := LoadKeyRing(t.TempDir())
	if _, err := other.Verify(tok.Token, now); err == nil {
		t.Fatal("token verified by another instance's keys")
	}
}

func TestKeyRotationKeepsOldTokensValid(t *testing.T) {
	dir := t.TempDir()
	kr, err := LoadKeyRing(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	old, _ := kr.Issue(1, now, time.Hour)
	oldKid := kr.signer
	// Kids sort by creation second; make sure the new one is later.
	time.Sleep(1100 * time.Millisecond)
	if _, err := kr.Rotate(UserTokenTTL); err != nil {
		t.Fatal(err)
	}
	if kr.signer == oldKid {
		t.Fatal("rotation kept the old signing key")
	}
	// A restart loads both keys and signs with the new one.
	kr2, err := LoadKeyRing(dir)
	if err != nil {
		t.Fatal(err)
	}
	if kr2.signer != kr.signer {
		t.Fatalf("after reload the signer is %s, want %s", kr2.signer, kr.signer)
	}
	if _, err := kr2.Verify(old.Token, now); err != nil {
		t.Fatalf("token signed before the rotation: %v", err)
	}
	fresh, _ := kr2.Issue(1, now, time.Hour)
	if !strings.Contains(headerOf(t, fresh.Token), kr.signer) {
		t.Fatal("new tokens are not signed with the new key")
	}
	// Once the old key has been replaced for longer than any token lives,
	// rotating again retires it.
	kr2.retire(time.Now().Add(time.Hour))
	if _, ok := kr2.keys[oldKid]; ok {
		t.Fatal("old key not retired")
	}
	if _, err := os.Stat(filepath.Join(dir, keyPrefix+oldKid+keySuffix)); !os.IsNotExist(err) {
		t.Fatal("retired key file still on disk")
	}
	if _, err := kr2.Verify(old.Token, now); err == nil {
		t.Fatal("token of a retired key still verifies")
	}
	info, _ := os.Stat(filepath.Join(dir, keyPrefix+kr.signer+keySuffix))
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", info.Mode().Perm())
	}
}

func headerOf(t *testing.T, tok string) string {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// BenchmarkTokenIssue and BenchmarkTokenVerify measure signing and checking
// (signature, algorithm, claims; not the revocation lookup). Run with -cpu 1.
func BenchmarkTokenIssue(b *testing.B) {
	kr, _ := LoadKeyRing(b.TempDir())
	now := time.Now()
	for b.Loop() {
		if _, err := kr.Issue(7, now, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTokenVerify(b *testing.B) {
	kr, _ := LoadKeyRing(b.TempDir())
	now := time.Now()
	tok, _ := kr.Issue(7, now, time.Hour)
	for b.Loop() {
		if _, err := kr.Verify(tok.Token, now); err != nil {
			b.Fatal(err)
		}
	}
}
