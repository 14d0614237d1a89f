package web

import (
	"io"
	"net/http"
	"os"
	"time"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/avatars"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/imagecheck"
	"github.com/fedwave/fedwave/internal/ratelimit"
)

// accountParts is what the account page and the follow button keep.
type accountParts struct {
	avatars *avatars.Dir // nil: avatar uploads are off
	// rate bounds account changes (avatar uploads, guest names) and
	// follow bounds fediverse look-ups, per client address.
	rate   *ratelimit.Keyed
	follow *ratelimit.Keyed
}

func newAccountParts(av *avatars.Dir) accountParts {
	return accountParts{avatars: av, rate: ratelimit.PerMinute(30), follow: ratelimit.PerMinute(10)}
}

// accountRoutes registers the account page and API (every signed-in user
// manages their own account), the avatar files and the channel page's
// "Follow on the fediverse" form.
func (s *Server) accountRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /account", s.pageAccount)
	mux.HandleFunc("GET /api/v1/account", s.withAccount(s.apiAccount))
	mux.HandleFunc("PUT /api/v1/account/password", s.withAccount(s.apiAccountPassword))
	mux.HandleFunc("PUT /api/v1/account/color", s.withAccount(s.apiAccountColor))
	mux.HandleFunc("PUT /api/v1/account/avatar", s.withAccount(s.apiPutAvatar))
	mux.HandleFunc("DELETE /api/v1/account/avatar", s.withAccount(s.apiDeleteAvatar))
	mux.HandleFunc("PUT /api/v1/account/name", s.withAccount(s.apiAccountName))
	mux.HandleFunc("GET /api/v1/account/sessions", s.withAccount(s.apiSessions))
	mux.HandleFunc("DELETE /api/v1/account/sessions", s.withAccount(s.apiDeleteOtherSessions))
	mux.HandleFunc("DELETE /api/v1/account/sessions/{sid}", s.withAccount(s.apiDeleteSession))
	mux.HandleFunc("GET /avatars/{file}", s.avatarFile)
	mux.HandleFunc("POST /c/{name}/follow", s.formFollow)
}

// withAccount authenticates every account call afresh (a revoked session
// is refused at once) and hands the handler its session.
func (s *Server) withAccount(h func(http.ResponseWriter, *http.Request, *auth.Session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, err := s.requireSession(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		h(w, r, sess)
	}
}

// accountView is GET /api/v1/account: the user and what they may pick.
type accountView struct {
	User    auth.UserView `json:"user"`
	Guest   bool          `json:"guest"`
	Palette []string      `json:"palette"`
	Avatars bool          `json:"avatars"` // uploads are possible
}

func (s *Server) accountOf(sess *auth.Session) accountView {
	return accountView{
		User: auth.View(sess.User), Guest: auth.Role(sess.User.Role) == auth.RoleGuest,
		Palette: auth.Palette(), Avatars: s.acct.avatars != nil,
	}
}

func (s *Server) apiAccount(w http.ResponseWriter, r *http.Request, sess *auth.Session) {
	writeJSON(w, http.StatusOK, s.accountOf(sess))
}

func (s *Server) apiAccountPassword(w http.ResponseWriter, r *http.Request, sess *auth.Session) {
	var b struct {
		Current  string `json:"current"`
		Password string `json:"password"`
	}
	if !decodeJSON(w, r, &b) {
		return
	}
	if err := s.auth.ChangePassword(r.Context(), clientIP(r), sess, b.Current, b.Password); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiAccountColor(w http.ResponseWriter, r *http.Request, sess *auth.Session) {
	var b struct {
		Color string `json:"color"`
	}
	if !decodeJSON(w, r, &b) {
		return
	}
	u, err := s.auth.SetColor(r.Context(), sess, b.Color)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": auth.View(u)})
}

func (s *Server) apiAccountName(w http.ResponseWriter, r *http.Request, sess *auth.Session) {
	var b struct {
		Name string `json:"name"`
	}
	if !decodeJSON(w, r, &b) || !s.allowAccountChange(w, r) {
		return
	}
	u, err := s.auth.Rename(r.Context(), sess, b.Name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": auth.View(u)})
}

func (s *Server) allowAccountChange(w http.ResponseWriter, r *http.Request) bool {
	if allow(w, s.acct.rate, clientIP(r)) {
		return true
	}
	s.fail(w, r, fail.New(fail.TooMany, "rate_limited", "too many account changes from your address; wait a minute"))
	return false
}

// avatarsFor checks that sess may have an uploaded avatar: guests may not
// (they last hours, their files would pile up).
func (s *Server) avatarsFor(w http.ResponseWriter, r *http.Request, sess *auth.Session) bool {
	var err error
	switch {
	case s.acct.avatars == nil:
		err = fail.New(fail.Unavailable, "avatars_off", "this site does not take avatar uploads")
	case auth.Role(sess.User.Role) == auth.RoleGuest:
		err = fail.New(fail.Forbidden, "guest_avatar", "guests have no avatar; register an account for one")
	}
	if err != nil {
		s.fail(w, r, err)
		return false
	}
	return s.allowAccountChange(w, r)
}

// apiPutAvatar takes the request body (the image itself, at most
// avatars.MaxSize) as the user's new avatar; the old file goes.
func (s *Server) apiPutAvatar(w http.ResponseWriter, r *http.Request, sess *auth.Session) {
	if !s.avatarsFor(w, r, sess) {
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, avatars.MaxSize))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "avatar_too_large", "an avatar is at most 256 KiB")
		return
	}
	path, err := s.acct.avatars.Save(data)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.replaceAvatar(w, r, sess, path)
}

func (s *Server) apiDeleteAvatar(w http.ResponseWriter, r *http.Request, sess *auth.Session) {
	if s.avatarsFor(w, r, sess) {
		s.replaceAvatar(w, r, sess, "")
	}
}

// replaceAvatar makes path the user's avatar and removes the file it
// replaces (or, if the change fails, the new one).
func (s *Server) replaceAvatar(w http.ResponseWriter, r *http.Request, sess *auth.Session, path string) {
	old, err := s.auth.SetAvatar(r.Context(), sess, path)
	if err != nil {
		s.acct.avatars.Remove(path)
		s.fail(w, r, err)
		return
	}
	if err := s.acct.avatars.Remove(old); err != nil {
		s.log.Warn("remove old avatar", "err", err)
	}
	sess.User.Avatar = path
	writeJSON(w, http.StatusOK, map[string]any{"user": auth.View(sess.User)})
}

// imageCSP forbids an uploaded image (an avatar, an emote, a thumbnail),
// were a browser ever to open one as a document, from running or loading
// anything.
const imageCSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"

// setImageHeaders sets the type a stored upload's content was judged to be
// (by its extension, which imagecheck chose) and imageCSP.
func setImageHeaders(w http.ResponseWriter, file string) {
	w.Header().Set("Content-Type", imagecheck.ContentType(file))
	w.Header().Set("Content-Security-Policy", imageCSP)
}

// avatarFile serves an uploaded avatar with the type its content was
// judged to be; names are random and never reused, so it may be cached.
func (s *Server) avatarFile(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	var f *os.File
	path, ok := "", s.acct.avatars != nil
	if ok {
		path, ok = s.acct.avatars.File(name)
	}
	if ok {
		f, _ = os.Open(path)
	}
	info, err := statFile(f)
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", "no such avatar")
		return
	}
	defer f.Close()
	setImageHeaders(w, name)
	h := w.Header()
	h.Set("Cache-Control", "public, max-age=604800, immutable")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	http.ServeContent(w, r, name, info.ModTime(), f)
}

// statFile stats an opened regular file; a nil f (not opened) is an error.
func statFile(f *os.File) (os.FileInfo, error) {
	if f == nil {
		return nil, os.ErrNotExist
	}
	info, err := f.Stat()
	if err == nil && !info.Mode().IsRegular() {
		err = os.ErrNotExist
	}
	if err != nil {
		f.Close()
	}
	return info, err
}

// sessionView is one of the user's sessions as the account page lists it.
type sessionView struct {
	ID       string `json:"id"`
	Created  string `json:"created"`
	LastSeen string `json:"lastSeen"`
	Client   string `json:"client"`
	Current  bool   `json:"current"`
}

func (s *Server) apiSessions(w http.ResponseWriter, r *http.Request, sess *auth.Session) {
	list, err := s.auth.Sessions(r.Context(), sess)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]sessionView, 0, len(list))
	for _, e := range list {
		out = append(out, sessionView{
			ID: e.SID, Created: e.Created.UTC().Format(time.RFC3339), LastSeen: e.LastSeen.UTC().Format(time.RFC3339),
			Client: clientSummary(e.Agent), Current: e.SID == sess.Claims.Session,
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
}

func (s *Server) apiDeleteSession(w http.ResponseWriter, r *http.Request, sess *auth.Session) {
	if err := s.auth.RevokeSession(r.Context(), sess, r.PathValue("sid")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiDeleteOtherSessions(w http.ResponseWriter, r *http.Request, sess *auth.Session) {
	n, err := s.auth.RevokeOtherSessions(r.Context(), sess)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"signedOut": n})
}

// accountPage is the account page's data.
type accountPage struct {
	Account accountView
}

// pageAccount is every signed-in user's settings page; its script uses
// the account API.
func (s *Server) pageAccount(w http.ResponseWriter, r *http.Request) {
	sess, _ := s.session(r)
	if sess == nil {
		http.Redirect(w, r, "/login?next=/account", http.StatusSeeOther)
		return
	}
	u := auth.View(sess.User)
	s.render(w, r, http.StatusOK, "account", page{Title: "Your account", User: &u, Data: accountPage{Account: s.accountOf(sess)}})
}
