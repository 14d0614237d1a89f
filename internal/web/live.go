package web

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/channels"
)

// apiToken gives a signed-in browser a short-lived bearer token of its own
// user, for requests that take bearer tokens only (the studio's WHIP
// request).
func (s *Server) apiToken(w http.ResponseWriter, r *http.Request) {
	sess, err := s.requireSession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tok, err := s.auth.IssueForPage(sess)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": tok.Token, "expires": tok.Expires.UTC().Format("2006-01-02T15:04:05Z")})
}

// apiThumbnail stores the studio's preview image for the channel list.
func (s *Server) apiThumbnail(w http.ResponseWriter, r *http.Request) {
	sess, err := s.requireSession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, channels.MaxThumbnail))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "thumbnail_too_large", "a thumbnail is at most 256 KiB")
		return
	}
	url, err := s.channels.SetThumbnail(r.Context(), sess.User, r.PathValue("name"), data)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"thumbnail": url})
}

func (s *Server) thumbFile(w http.ResponseWriter, r *http.Request) {
	path, ok := s.channels.ThumbnailFile(r.PathValue("file"))
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "no such thumbnail")
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=30")
	http.ServeFile(w, r, path)
}

// iceServer is one entry of GET /api/v1/ice.
type iceServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// apiICE lists the ICE servers browsers should use; with the embedded TURN
// server off it is empty (the media port is reachable directly).
func (s *Server) apiICE(w http.ResponseWriter, r *http.Request) {
	servers := []iceServer{}
	if s.turn != nil {
		who := "anon-" + randomID() // anonymous callers each get their own allocation quota
		if sess, _ := s.session(r); sess != nil {
			who = auth.Handle(sess.User.Name, sess.User.Num)
		}
		urls, user, cred := s.turn(who)
		servers = append(servers, iceServer{URLs: urls, Username: user, Credential: cred})
	}
	writeJSON(w, http.StatusOK, map[string]any{"iceServers": servers})
}

func randomID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
