package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/fail"
)

// sessionCookie holds the browser's token: HttpOnly so scripts cannot read
// it, SameSite=Lax against cross-site use.
const sessionCookie = "fedwave_session"

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", true
	}
	return strings.TrimSpace(tok), true
}

var errNeedLogin = fail.New(fail.Unauthorized, "unauthorized", "log in first: send Authorization: Bearer <token>")

// session authenticates r by its bearer token, else its cookie. It returns
// nil and no error for an anonymous request. A bearer token that does not
// verify is an error; a stale cookie just means anonymous.
func (s *Server) session(r *http.Request) (*auth.Session, error) {
	if tok, ok := bearer(r); ok {
		if tok == "" {
			return nil, fail.New(fail.Unauthorized, "invalid_token", "the Authorization header must be `Bearer <token>`")
		}
		sess, err := s.auth.Authenticate(r.Context(), tok)
		return s.seen(r, sess, err)
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	sess, err := s.auth.Authenticate(r.Context(), c.Value)
	if _, ok := fail.As(err); ok {
		return nil, nil
	}
	return s.seen(r, sess, err)
}

// seen records an authenticated request's use of its session (the
// account page lists when and from what each was last used).
func (s *Server) seen(r *http.Request, sess *auth.Session, err error) (*auth.Session, error) {
	if err == nil && sess != nil {
		s.auth.Seen(r.Context(), sess, r.UserAgent())
	}
	return sess, err
}

// requireSession is session that treats anonymous as an error.
func (s *Server) requireSession(r *http.Request) (*auth.Session, error) {
	sess, err := s.session(r)
	if err == nil && sess == nil {
		err = errNeedLogin
	}
	return sess, err
}

func (s *Server) setSessionCookie(w http.ResponseWriter, tok auth.Issued) {
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    tok.Token,
		Path:     "/",
		Expires:  tok.Expires,
		HttpOnly: true,
		Secure:   s.secure,
		SameSite: http.SameSiteLaxMode,
	})
}

func (s *Server) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    "",
		Path:     "/",
		Expires:  time.Unix(1, 0),
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   s.secure,
		SameSite: http.SameSiteLaxMode,
	})
}
