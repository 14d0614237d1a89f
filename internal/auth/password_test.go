package auth

import (
	"context"
	"strings"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	h := newHasher(2)
	ctx := context.Background()
	enc, err := h.hash(ctx, "hunter2hunter2")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(enc, "hunter2") {
		t.Fatalf("hash %q", enc)
	}
	if ok, err := h.verify(ctx, enc, "hunter2hunter2"); !ok || err != nil {
		t.Fatalf("right password refused: %v", err)
	}
	if ok, _ := h.verify(ctx, enc, "hunter2hunter3"); ok {
		t.Fatal("wrong password accepted")
	}
	enc2, _ := h.hash(ctx, "hunter2hunter2")
	if enc2 == enc {
		t.Fatal("same salt twice")
	}
	for _, bad := range []string{"", "$argon2id$", "$argon2id$v=19$m=0,t=0,p=0$AA$AA", "$bcrypt$x$y$z$w", "$argon2id$v=19$m=1,t=1,p=1$!!$!!"} {
		if ok, err := h.verify(ctx, bad, "x"); ok || err == nil {
			t.Errorf("malformed hash %q: ok=%v err=%v", bad, ok, err)
		}
	}
}

func TestHasherRespectsCancel(t *testing.T) {
	h := newHasher(1)
	h.slots <- struct{}{} // the only slot is busy
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.hash(ctx, "password"); err == nil {
		t.Fatal("hash ran without a free slot")
	}
}

// A login naming no account is checked against the dummy hash: it must be a
// well-formed hash with today's parameters (so that the check costs what a
// real one does instead of failing fast) that no password matches.
func TestDummyHashCostsARealCheck(t *testing.T) {
	h := newHasher(1)
	ctx := context.Background()
	real, err := h.hash(ctx, "not a password")
	if err != nil {
		t.Fatal(err)
	}
	d := dummyHash()
	params := func(enc string) string { return enc[:strings.LastIndex(enc[:strings.LastIndex(enc, "$")], "$")] }
	if params(d) != params(real) || len(d) != len(real) {
		t.Fatalf("dummy hash %q is not shaped like a real one %q", d, real)
	}
	for _, pw := range []string{"", "not a password", "hunter2hunter2"} {
		if ok, err := h.verify(ctx, d, pw); ok || err != nil {
			t.Fatalf("dummy hash and %q: ok=%v err=%v", pw, ok, err)
		}
	}
	if dummyHash() == d {
		t.Fatal("two dummy hashes alike")
	}
}
