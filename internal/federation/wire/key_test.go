package wire

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadKeyCreatesPrivateFileAndReloadsTheSameKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	k1, err := LoadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k1.Public(), k2.Public()) {
		t.Fatal("second load made a new key")
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, keyFile): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s mode %v, want %v", path, got, want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("data dir holds %d files, want only %s", len(entries), keyFile)
	}
	if other := testKey(t); bytes.Equal(other.Public(), k1.Public()) {
		t.Fatal("two directories share a key")
	}
}

func TestLoadKeyRefusesACorruptFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, keyFile), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(dir); err == nil || !strings.Contains(err.Error(), "instance key") {
		t.Fatalf("corrupt key loaded: %v", err)
	}
}

func TestPublicKeyRoundTripAndRejects(t *testing.T) {
	k := testKey(t)
	got, err := ParsePublic(k.PublicBase64())
	if err != nil || !bytes.Equal(got, k.Public()) {
		t.Fatalf("round trip: %v", err)
	}
	s := k.PublicBase64()
	flipped := []byte(s)
	flipped[len(s)-2] ^= 1 // the last character before '=' carries padding bits
	for _, bad := range []string{
		"",
		base64.StdEncoding.EncodeToString(make([]byte, 31)),
		base64.StdEncoding.EncodeToString(make([]byte, 33)),
		base64.StdEncoding.EncodeToString(make([]byte, 64)),
		base64.RawStdEncoding.EncodeToString(k.Public()),
		base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 32)),
		s[:20] + "\n" + s[20:],
		"!" + s[1:],
	} {
		if _, err := ParsePublic(bad); err == nil {
			t.Errorf("ParsePublic(%q) accepted", bad)
		}
	}
	if p, err := ParsePublic(string(flipped)); err == nil && !bytes.Equal(p, k.Public()) {
		t.Errorf("a second spelling was accepted as a different key")
	} else if err == nil {
		t.Errorf("a second spelling of the same key was accepted: %q", flipped)
	}
}

// Two processes starting at once on a fresh data directory agree on one key.
func TestLoadKeyConcurrentFirstUseAgrees(t *testing.T) {
	dir := t.TempDir()
	keys := make([]*Key, 8)
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() { keys[i], errs[i] = LoadKey(dir) })
	}
	wg.Wait()
	for i, k := range keys {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !bytes.Equal(k.Public(), keys[0].Public()) {
			t.Fatalf("load %d got a different key", i)
		}
	}
}
