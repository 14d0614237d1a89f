package web_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
)

// testImage encodes a w×h picture in format (png, jpeg or gif).
func testImage(t *testing.T, format string, w, h int) []byte {
	t.Helper()
	img := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.Black, color.White})
	img.SetColorIndex(0, 0, 1)
	var buf bytes.Buffer
	var err error
	switch format {
	case "png":
		err = png.Encode(&buf, img)
	case "jpeg":
		err = jpeg.Encode(&buf, img, nil)
	case "gif":
		err = gif.Encode(&buf, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func putAvatar(s *apptest.Server, tok string, data []byte) *apptest.Response {
	req, _ := http.NewRequest("PUT", s.URL+"/api/v1/account/avatar", bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "image/png") // what the client claims counts for nothing
	return s.Send(req)
}

// Uploads are judged by their bytes: only whole PNG, JPEG, GIF and WebP images
// within the bounds are kept; they are served with their sniffed type and
// headers that keep a browser from reading them as anything else; a new
// one replaces the old file; the channel's fediverse actor shows it.
func TestAccountAvatar(t *testing.T) {
	s := apptest.Start(t)
	s.CreateUser("alpha", "password1", auth.RoleStreamer)
	tok := s.Login("alpha", "password1")
	pngData := testImage(t, "png", 64, 64)

	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="9" height="9"/></svg>`)
	fakeWebP := append([]byte("RIFF\x24\x00\x00\x00WEBPVP8 "), make([]byte, 32)...)
	html := []byte("<!doctype html><script>alert(1)</script>")
	for name, c := range map[string]struct {
		data   []byte
		status int
		code   string
	}{
		"svg":                   {svg, 400, "avatar_type"},
		"webp with no picture":  {fakeWebP, 400, "avatar_invalid"},
		"html":                  {html, 400, "avatar_type"},
		"text":                  {[]byte("hello"), 400, "avatar_type"},
		"png with html after":   {append(bytes.Clone(pngData), "<html><script>alert(1)</script></html>"...), 400, "avatar_invalid"},
		"gif with a zip after":  {append(testImage(t, "gif", 8, 8), "PK\x03\x04\x14\x00\x00\x00"...), 400, "avatar_invalid"},
		"truncated png":         {pngData[:len(pngData)/2], 400, "avatar_invalid"},
		"too wide":              {testImage(t, "png", 1025, 1), 400, "avatar_too_large"},
		"too many bytes":        {append(bytes.Clone(pngData), make([]byte, 256<<10)...), 413, "avatar_too_large"},
		"png header, no pixels": {pngData[:40], 400, "avatar_invalid"},
	} {
		r := putAvatar(s, tok, c.data)
		if r.Status != c.status || r.ErrorCode() != c.code {
			t.Errorf("%s: %d %s, want %d %s", name, r.Status, r.Raw, c.status, c.code)
		}
	}

	r := putAvatar(s, tok, pngData)
	first, _ := r.Body["user"].(map[string]any)["avatar"].(string)
	if r.Status != 200 || !strings.HasPrefix(first, "/avatars/") || !strings.HasSuffix(first, ".png") {
		t.Fatalf("upload: %d %s", r.Status, r.Raw)
	}
	got := s.Do("GET", first, nil, "")
	h := got.Header
	if got.Status != 200 || !bytes.Equal(got.Raw, pngData) || h.Get("Content-Type") != "image/png" ||
		h.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(h.Get("Content-Security-Policy"), "sandbox") ||
		!strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("served avatar: %d %v (%d bytes)", got.Status, h, len(got.Raw))
	}
	if me := s.Do("GET", "/api/v1/me", nil, tok); me.Body["user"].(map[string]any)["avatar"] != first {
		t.Fatalf("me after upload: %s", me.Raw)
	}
	actor := fetchActor(t, s, "alpha")
	if icon, _ := actor["icon"].(map[string]any); icon["url"] != s.URL+first {
		t.Fatalf("actor icon %v, want %s", actor["icon"], s.URL+first)
	}

	jpg := testImage(t, "jpeg", 32, 32)
	r = putAvatar(s, tok, jpg)
	second, _ := r.Body["user"].(map[string]any)["avatar"].(string)
	if r.Status != 200 || !strings.HasSuffix(second, ".jpg") {
		t.Fatalf("replace: %d %s", r.Status, r.Raw)
	}
	if got := s.Do("GET", second, nil, ""); got.Header.Get("Content-Type") != "image/jpeg" || !bytes.Equal(got.Raw, jpg) {
		t.Fatalf("second avatar served as %q", got.Header.Get("Content-Type"))
	}
	if _, err := os.Stat(filepath.Join(s.Cfg.DataDir, first)); !os.IsNotExist(err) {
		t.Fatalf("the old file is still there: %v", err)
	}
	wantError(t, s.Do("GET", first, nil, ""), 404, "not_found")

	// A lossless 6×4 WebP, as Chromium's canvas encodes it.
	webp, _ := hex.DecodeString("5249464622000000574542505650384c160000002f05c000000f30339fc9fc19f3fc470b3ef213d1ff48")
	r = putAvatar(s, tok, webp)
	user, _ := r.Body["user"].(map[string]any)
	third, _ := user["avatar"].(string)
	if r.Status != 200 || !strings.HasSuffix(third, ".webp") {
		t.Fatalf("webp: %d %s", r.Status, r.Raw)
	}
	if got := s.Do("GET", third, nil, ""); got.Header.Get("Content-Type") != "image/webp" || !bytes.Equal(got.Raw, webp) {
		t.Fatalf("webp avatar served as %q", got.Header.Get("Content-Type"))
	}

	r = s.Do("DELETE", "/api/v1/account/avatar", nil, tok)
	if r.Status != 200 || r.Body["user"].(map[string]any)["avatar"] != "" {
		t.Fatalf("remove: %d %s", r.Status, r.Raw)
	}
	if entries, _ := os.ReadDir(filepath.Join(s.Cfg.DataDir, "avatars")); len(entries) != 0 {
		t.Fatalf("files left after removing the avatar: %v", entries)
	}
	wantError(t, s.Do("GET", "/avatars/..%2fdata.db", nil, ""), 404, "")

	guest := s.Do("POST", "/api/v1/guest", nil, "").Body["token"].(string)
	if r := putAvatar(s, guest, pngData); r.Status != 403 || r.ErrorCode() != "guest_avatar" {
		t.Fatalf("guest upload: %d %s", r.Status, r.Raw)
	}
}

// fetchActor reads a channel's ActivityPub actor document.
func fetchActor(t *testing.T, s *apptest.Server, channel string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+"/ap/channels/"+channel, nil)
	req.Header.Set("Accept", "application/activity+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		t.Fatalf("actor: %v", err)
	}
	return doc
}
