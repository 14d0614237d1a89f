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

// A renamed emote keeps its image under the new name, survives a reopen,
// and never takes the name of another or a bad name.
func TestRename(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	img := pngBytes(t)
	s.Add("kappa", img)
	s.Add("pog", img)
	for _, bad := range [][2]string{{"kappa", "pog"}, {"kappa", "../x"}, {"nope", "fine"}} {
		if _, err := s.Rename(bad[0], bad[1]); err == nil {
			t.Errorf("rename %s → %s accepted", bad[0], bad[1])
		}
	}
	e, err := s.Rename("kappa", "keepo")
	if err != nil || e.URL != "/emotes/keepo.png" {
		t.Fatal(e, err)
	}
	s, _ = Open(dir)
	if _, ok := s.EmoteURL("kappa"); ok || !s.Has("keepo.png") {
		t.Fatalf("after reopen: %v", s.List())
	}
}
