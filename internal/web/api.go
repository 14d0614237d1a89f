package web

import (
	"net/http"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/channels"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/store"
)

type credentials struct {
	Name     string `json:"name"`
	Password string `json:"password"`
	Invite   string `json:"invite,omitempty"` // an invite link's secret (invite-only registration)
}

type userToken struct {
	User    auth.UserView `json:"user"`
	Token   string        `json:"token"`
	Expires string        `json:"expires"`
}

func tokenBody(u *store.User, tok auth.Issued) userToken {
	return userToken{User: auth.View(u), Token: tok.Token, Expires: tok.Expires.UTC().Format("2006-01-02T15:04:05Z")}
}

func (s *Server) apiRegister(w http.ResponseWriter, r *http.Request) {
	var c credentials
	if !decodeJSON(w, r, &c) {
		return
	}
	u, tok, err := s.auth.Register(r.Context(), clientIP(r), c.Name, c.Password, c.Invite)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, tokenBody(u, tok))
}

func (s *Server) apiLogin(w http.ResponseWriter, r *http.Request) {
	var c credentials
	if !decodeJSON(w, r, &c) {
		return
	}
	u, tok, err := s.auth.Login(r.Context(), clientIP(r), c.Name, c.Password)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tokenBody(u, tok))
}

func (s *Server) apiGuest(w http.ResponseWriter, r *http.Request) {
	if !allow(w, s.guestRate, clientIP(r)) {
		s.fail(w, r, fail.New(fail.TooMany, "rate_limited", "too many guest identities from your address; wait a minute"))
		return
	}
	u, tok, err := s.auth.Guest(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, tokenBody(u, tok))
}

func (s *Server) apiMe(w http.ResponseWriter, r *http.Request) {
	sess, err := s.requireSession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": auth.View(sess.User)})
}

func (s *Server) apiLogout(w http.ResponseWriter, r *http.Request) {
	sess, err := s.requireSession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.auth.Logout(r.Context(), sess); err != nil {
		s.fail(w, r, err)
		return
	}
	if _, isBearer := bearer(r); !isBearer {
		s.clearSessionCookie(w)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiChannels(w http.ResponseWriter, r *http.Request) {
	list, err := s.channels.List(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"channels": list})
}

func (s *Server) apiChannel(w http.ResponseWriter, r *http.Request) {
	ch, err := s.channels.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"channel": ch})
}

func (s *Server) apiPatchChannel(w http.ResponseWriter, r *http.Request) {
	sess, err := s.requireSession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var p channels.Patch
	if !decodeJSON(w, r, &p) {
		return
	}
	ch, err := s.channels.Update(r.Context(), sess.User, r.PathValue("name"), p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"channel": ch})
}

func (s *Server) apiStreamKey(w http.ResponseWriter, r *http.Request) {
	sess, err := s.requireSession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	key, err := s.channels.RotateStreamKey(r.Context(), sess.User, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"channel": r.PathValue("name"), "streamKey": key})
}
