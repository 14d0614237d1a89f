package emotes

import (
	"bytes"
	"image"
	"image/png"
	"testing"
)

func pngBytes(t *testing.T) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestSet(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	img := pngBytes(t)
	if _, err := s.Add("../x", img); err == nil {
		t.Fatal("path in name accepted")
	}
	if _, err := s.Add("svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`)); err == nil {
		t.Fatal("SVG accepted")
	}
	if _, err := s.Add("big", append(img, make([]byte, MaxSize)...)); err == nil {
		t.Fatal("oversized accepted")
	}
	e, err := s.Add("kappa", img)
	if err != nil || e.URL != "/emotes/kappa.png" {
		t.Fatal(e, err)
	}
	if u, ok := s.EmoteURL("kappa"); !ok || u != "/emotes/kappa.png" || !s.Has("kappa.png") || s.Has("kappa.gif") {
		t.Fatal("lookup")
	}
	// Survives a reopen.
	s2, _ := Open(dir)
	if l := s2.List(); len(l) != 1 || l[0].Name != "kappa" {
		t.Fatalf("after reopen %v", l)
	}
	if err := s2.Remove("kappa"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s2.EmoteURL("kappa"); ok {
		t.Fatal("removed emote still there")
	}
}
