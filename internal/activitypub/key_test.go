package activitypub

import (
	"os"
	"path/filepath"
	"testing"
)

// The key is made once, private to the server's user, and the same at the
// next start (followers' servers have cached it).
func TestLoadKeyKeepsOneKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	k1, err := LoadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if k1.N.BitLen() != keyBits {
		t.Fatalf("%d bits", k1.N.BitLen())
	}
	fi, err := os.Stat(filepath.Join(dir, keyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	k2, err := LoadKey(dir)
	if err != nil || !k2.Equal(k1) {
		t.Fatalf("second start: another key (%v)", err)
	}
}
