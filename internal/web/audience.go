package web

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"regexp"

	"github.com/fedwave/fedwave/internal/audience"
)

// viewerCookie names an anonymous browser, so that its player (WHEP) and
// its chat (WebSocket) count as one person in a channel's audience. It is a
// random value that grants nothing.
const viewerCookie = "fedwave_viewer"

var viewerIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

// browserID is the request's viewer cookie, or "" if it has none that
// this server could have set.
func browserID(r *http.Request) string {
	c, err := r.Cookie(viewerCookie)
	if err != nil || !viewerIDRE.MatchString(c.Value) {
		return ""
	}
	return c.Value
}

// ensureBrowserID gives a browser its viewer cookie if it has none.
func (s *Server) ensureBrowserID(w http.ResponseWriter, r *http.Request) {
	if browserID(r) != "" {
		return
	}
	b := make([]byte, 16)
	rand.Read(b)
	http.SetCookie(w, &http.Cookie{
		Name:     viewerCookie,
		Value:    base64.RawURLEncoding.EncodeToString(b),
		Path:     "/",
		HttpOnly: true,
		Secure:   s.secure,
		SameSite: http.SameSiteLaxMode,
	})
}

// audienceKey names the person behind a request in a channel's audience:
// the signed-in user, else the browser, else "" (a key of its own).
func (s *Server) audienceKey(r *http.Request) string {
	if sess, _ := s.session(r); sess != nil {
		return audience.UserKey(sess.User.ID)
	}
	if id := browserID(r); id != "" {
		return audience.BrowserKey(id)
	}
	return ""
}
