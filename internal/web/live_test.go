package web_test

import (
	"bytes"
	"image"
	"image/png"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
)

func TestStudioEmbedTokenThumbnailICE(t *testing.T) {
	s := apptest.Start(t)
	s.CreateUser("alpha", "password1", auth.RoleStreamer)
	s.CreateUser("bob", "password1", auth.RoleUser)
	owner, bob := s.Login("alpha", "password1"), s.Login("bob", "password1")

	// A page script gets a bearer token of its own session.
	r := s.Do("POST", "/api/v1/token", nil, owner)
	tok, _ := r.Body["token"].(string)
	if r.Status != 200 || tok == "" || tok == owner {
		t.Fatalf("token: %d %s", r.Status, r.Raw)
	}
	if me := s.Do("GET", "/api/v1/me", nil, tok); me.Status != 200 {
		t.Fatal("the new token does not work")
	}
	if exp, err := time.Parse(time.RFC3339, r.Body["expires"].(string)); err != nil || time.Until(exp) > auth.PageTokenTTL+time.Minute {
		t.Fatalf("page token lives until %v, want at most an hour", r.Body["expires"])
	}
	if r := s.Do("POST", "/api/v1/token", nil, ""); r.Status != 401 {
		t.Fatalf("token without a session: %d", r.Status)
	}

	// Thumbnails: images only, owner only, served back.
	var img bytes.Buffer
	png.Encode(&img, image.NewRGBA(image.Rect(0, 0, 16, 9)))
	put := func(tok string, body []byte) *apptest.Response {
		req, _ := http.NewRequest("PUT", s.URL+"/api/v1/channels/alpha/thumbnail", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		return s.Send(req)
	}
	if r := put(bob, img.Bytes()); r.Status != 403 {
		t.Fatalf("someone else's thumbnail: %d", r.Status)
	}
	if r := put(owner, []byte("<svg onload=alert(1)>")); r.Status != 400 {
		t.Fatalf("not an image: %d", r.Status)
	}
	if r := put(owner, make([]byte, 300<<10)); r.Status != 413 {
		t.Fatalf("too large: %d", r.Status)
	}
	// Decoded, not sniffed: an image with a page appended is refused.
	wantError(t, put(owner, append(bytes.Clone(img.Bytes()), "<html><script>alert(1)</script>"...)), 400, "thumbnail_invalid")
	r = put(owner, img.Bytes())
	url, _ := r.Body["thumbnail"].(string)
	if r.Status != 200 || !strings.HasPrefix(url, "/thumbs/alpha.png?v=") {
		t.Fatalf("thumbnail: %d %s", r.Status, r.Raw)
	}
	if got := s.Do("GET", url, nil, ""); got.Status != 200 || !bytes.Equal(got.Raw, img.Bytes()) ||
		got.Header.Get("Content-Type") != "image/png" || !strings.Contains(got.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Fatalf("serving the thumbnail: %d %v", got.Status, got.Header)
	}
	if ch := s.Do("GET", "/api/v1/channels/alpha", nil, "").Body["channel"].(map[string]any); ch["thumbnail"] != url {
		t.Fatalf("channel thumbnail %v", ch["thumbnail"])
	}
	for _, bad := range []string{"/thumbs/..%2Ffedwave.db", "/thumbs/alpha.db", "/thumbs/x.png"} {
		if r := s.Do("GET", bad, nil, ""); r.Status != 404 {
			t.Errorf("%s: %d", bad, r.Status)
		}
	}

	if r := s.Do("GET", "/api/v1/ice", nil, ""); r.Status != 200 || r.Body["iceServers"] == nil {
		t.Fatalf("ice: %d %s", r.Status, r.Raw)
	}

	// The studio is for streamers; the embed player may be framed anywhere.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, _ := noRedirect.Get(s.URL + "/studio")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
		t.Fatalf("studio without login: %d", res.StatusCode)
	}
	page := func(path, tok string) *apptest.Response {
		req, _ := http.NewRequest("GET", s.URL+path, nil)
		req.AddCookie(&http.Cookie{Name: "fedwave_session", Value: tok})
		return s.Send(req)
	}
	if r := page("/studio", bob); r.Status != 403 {
		t.Fatalf("studio for a non-streamer: %d", r.Status)
	}
	if r := page("/studio", owner); r.Status != 200 || !strings.Contains(string(r.Raw), s.URL+"/whip/alpha") {
		t.Fatalf("studio: %d", r.Status)
	}
	emb := s.Do("GET", "/c/alpha/embed", nil, "")
	if emb.Status != 200 || !strings.Contains(emb.Header.Get("Content-Security-Policy"), "frame-ancestors *") || emb.Header.Get("X-Frame-Options") != "" {
		t.Fatalf("embed: %d %v", emb.Status, emb.Header)
	}
}
