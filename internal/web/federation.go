package web

import (
	"net/http"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/federation"
)

// Federation API (CONTRACT §6): an admin links this site with others.

var errNoFederation = fail.New(fail.Unavailable, "federation_off", "federation is not running on this site")

// federationAdmin checks that the caller is an admin and federation runs.
func (s *Server) federationAdmin(w http.ResponseWriter, r *http.Request) bool {
	sess, err := s.requireSession(r)
	switch {
	case err != nil:
	case !auth.CanAdminister(sess.User):
		err = fail.New(fail.Forbidden, "forbidden", "only admins manage linked sites")
	case s.fed == nil:
		err = errNoFederation
	}
	if err != nil {
		s.fail(w, r, err)
		return false
	}
	return true
}

func (s *Server) apiPeers(w http.ResponseWriter, r *http.Request) {
	if !s.federationAdmin(w, r) {
		return
	}
	peers, err := s.fed.Peers(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if peers == nil {
		peers = []federation.View{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"peers": peers})
}

func (s *Server) apiLinkPeer(w http.ResponseWriter, r *http.Request) {
	if !s.federationAdmin(w, r) {
		return
	}
	var body struct {
		URL string `json:"url"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	p, err := s.fed.Link(r.Context(), body.URL)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"peer": p})
}

func (s *Server) apiPatchPeer(w http.ResponseWriter, r *http.Request) {
	if !s.federationAdmin(w, r) {
		return
	}
	var p federation.Patch
	if !decodeJSON(w, r, &p) {
		return
	}
	v, err := s.fed.Update(r.Context(), r.PathValue("domain"), p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"peer": v})
}

func (s *Server) apiDeletePeer(w http.ResponseWriter, r *http.Request) {
	if !s.federationAdmin(w, r) {
		return
	}
	if err := s.fed.Unlink(r.Context(), r.PathValue("domain")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// federationRoutes adds the federation API and the instance-to-instance
// endpoints.
func (s *Server) federationRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/federation/peers", s.apiPeers)
	mux.HandleFunc("POST /api/v1/federation/peers", s.apiLinkPeer)
	mux.HandleFunc("PATCH /api/v1/federation/peers/{domain}", s.apiPatchPeer)
	mux.HandleFunc("DELETE /api/v1/federation/peers/{domain}", s.apiDeletePeer)
	if s.fed == nil {
		return
	}
	h := s.fed.Handler(s.fail)
	peerLimit := s.peerRate
	limited := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allow(w, peerLimit, clientIP(r)) {
			s.fail(w, r, fail.New(fail.TooMany, "rate_limited", "too many federation requests from your address"))
			return
		}
		h.ServeHTTP(w, r)
	})
	mux.Handle("GET /.well-known/fedwave", h)
	mux.Handle("POST /federation/link", limited)
	mux.Handle("GET /federation/ws", limited)
}
