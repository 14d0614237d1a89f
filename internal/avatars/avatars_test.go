package avatars

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Remove deletes only files Save could have made: an imported avatar's
// path, or a crafted one, never reaches another file.
func TestRemoveOnlyOwnFiles(t *testing.T) {
	root := t.TempDir()
	d, err := Open(filepath.Join(root, "avatars"))
	if err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(root, "keep.png")
	os.WriteFile(secret, []byte("x"), 0o600)
	var buf bytes.Buffer
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, 4, 4)))
	path, err := d.Save(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"", "/static/favicon.svg", "/avatars/../keep.png", "/avatars/keep.png", "../keep.png", "/emotes/" + filepath.Base(path)} {
		if err := d.Remove(p); err != nil {
			t.Fatalf("%q: %v", p, err)
		}
	}
	if _, err := os.Stat(secret); err != nil {
		t.Fatalf("a file outside the set was removed: %v", err)
	}
	if _, ok := d.File(filepath.Base(path)); !ok {
		t.Fatalf("saved file %s not served", path)
	}
	if err := d.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "avatars", filepath.Base(path))); !os.IsNotExist(err) {
		t.Fatalf("not removed: %v", err)
	}
}

// Sweep removes old files no account names, and spares the rest: files in
// use, young files (an upload not recorded yet) and files not of the set.
func TestSweep(t *testing.T) {
	dir := t.TempDir()
	d, _ := Open(dir)
	var buf bytes.Buffer
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, 4, 4)))
	used, _ := d.Save(buf.Bytes())
	orphan, _ := d.Save(buf.Bytes())
	young, _ := d.Save(buf.Bytes())
	old := time.Now().Add(-2 * time.Hour)
	for _, p := range []string{used, orphan} {
		os.Chtimes(filepath.Join(dir, filepath.Base(p)), old, old)
	}
	os.WriteFile(filepath.Join(dir, "README"), []byte("x"), 0o600)
	os.Chtimes(filepath.Join(dir, "README"), old, old)
	n, err := d.Sweep(map[string]bool{used: true}, time.Now().Add(-time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("swept %d, %v", n, err)
	}
	for p, want := range map[string]bool{used: true, orphan: false, young: true, "/avatars/README": true} {
		_, err := os.Stat(filepath.Join(dir, filepath.Base(p)))
		if (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", p, err == nil, want)
		}
	}
}
