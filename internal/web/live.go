package web

import (
	"io"
	"net/http"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/channels"
	"github.com/fedwave/fedwave/internal/fail"
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
	setImageHeaders(w, r.PathValue("file"))
	w.Header().Set("Cache-Control", "public, max-age=30")
	http.ServeFile(w, r, path)
}

// iceServer is one entry of GET /api/v1/ice.
type iceServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// icePerMinute is how many TURN credentials one client address may fetch a
// minute. A player asks once per connection attempt; credentials are cheap
// to make but each one is a ticket for allocations, so the endpoint is not
// left open to a loop.
const icePerMinute = 30

// apiICE lists the ICE servers browsers should use; with the embedded TURN
// server off it is empty (the media port is reachable directly). Signed-in
// users get credentials of their own; guests and anonymous callers get
// anonymous ones, which share their address's allocation quota and relay
// only to this server's media port (see package turn).
func (s *Server) apiICE(w http.ResponseWriter, r *http.Request) {
	if !allow(w, s.iceRate, clientIP(r)) {
		s.fail(w, r, fail.New(fail.TooMany, "rate_limited", "too many ICE server requests from your address; wait a minute"))
		return
	}
	servers := []iceServer{}
	if s.turn != nil {
		var user int64
		if sess, _ := s.session(r); sess != nil && auth.Role(sess.User.Role).AtLeast(auth.RoleUser) {
			user = sess.User.ID
		}
		urls, name, cred := s.turn(user)
		servers = append(servers, iceServer{URLs: urls, Username: name, Credential: cred})
	}
	writeJSON(w, http.StatusOK, map[string]any{"iceServers": servers})
}
