package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/fail"
)

// The stream chain's API on the origin (CONTRACT §5a).

func (s *Server) relayRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/relays", s.apiCreateRelay)
	mux.HandleFunc("GET /api/v1/relays", s.apiRelays)
	mux.HandleFunc("DELETE /api/v1/relays/{name}", s.apiRevokeRelay)
	mux.HandleFunc("GET /api/v1/relays/link", s.apiRelayLink)
	mux.HandleFunc("GET /api/v1/channels/{name}/tree", s.apiTree)
}

// relaysAdmin checks that the caller is an admin.
func (s *Server) relaysAdmin(w http.ResponseWriter, r *http.Request) bool {
	sess, err := s.requireSession(r)
	if err == nil && !auth.CanAdminister(sess.User) {
		err = fail.New(fail.Forbidden, "forbidden", "only admins manage relays")
	}
	if err != nil {
		s.fail(w, r, err)
		return false
	}
	return true
}

func (s *Server) apiCreateRelay(w http.ResponseWriter, r *http.Request) {
	if !s.relaysAdmin(w, r) {
		return
	}
	var body struct {
		Name string `json:"name"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	v, token, err := s.relays.Create(r.Context(), body.Name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"relay": v, "token": token})
}

func (s *Server) apiRelays(w http.ResponseWriter, r *http.Request) {
	if !s.relaysAdmin(w, r) {
		return
	}
	list, err := s.relays.List(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"relays": list})
}

func (s *Server) apiRevokeRelay(w http.ResponseWriter, r *http.Request) {
	if !s.relaysAdmin(w, r) {
		return
	}
	if err := s.relays.Revoke(r.Context(), r.PathValue("name")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// apiRelayLink is a relay's control link, with its token as bearer.
func (s *Server) apiRelayLink(w http.ResponseWriter, r *http.Request) {
	tok, _ := bearer(r)
	if err := s.relays.ServeLink(w, r, tok); err != nil {
		s.fail(w, r, err)
	}
}

// apiTree is a channel's stream chain, for its owner and admins.
func (s *Server) apiTree(w http.ResponseWriter, r *http.Request) {
	sess, err := s.requireSession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	name, err := s.channels.Managed(r.Context(), sess.User, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	here := s.media.Streams()[name].People
	writeJSON(w, http.StatusOK, map[string]any{"root": s.relays.Tree(name, s.host(), here)})
}

// host is this site's host[:port], the origin's name in trees.
func (s *Server) host() string {
	_, rest, _ := strings.Cut(s.publicURL, "://")
	return strings.TrimRight(rest, "/")
}

// placeViewer decides where a person asking for a channel's stream is
// served. It returns release (to call once the session is set up here)
// and true to go on; false when it answered (a 307 to a relay, or 503).
func (s *Server) placeViewer(w http.ResponseWriter, r *http.Request, channel string) (release func(), ok bool) {
	q := r.URL.Query()
	loc, release, err := s.relays.Place(channel, q.Get("quality"), q.Get("avoid"))
	if err != nil {
		w.Header().Set("Retry-After", strconv.Itoa(5))
		s.mediaFail(w, r, err)
		return nil, false
	}
	if loc != "" {
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusTemporaryRedirect)
		return nil, false
	}
	return release, true
}
