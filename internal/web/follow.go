package web

import (
	"net/http"
	"strings"

	"github.com/fedwave/fedwave/internal/fail"
)

// maxFollowForm bounds the follow form's body: one handle.
const maxFollowForm = 4 << 10

// formFollow is the channel page's "Follow on the fediverse" form: the
// visitor's handle in, a 303 to their own server's follow page out. Every
// failure is a page saying what to fix; the channel's address to search
// for is in the message when their server has no follow page.
func (s *Server) formFollow(w http.ResponseWriter, r *http.Request) {
	const heading = "Follow on the fediverse"
	if s.ap == nil {
		s.renderStatus(w, r, http.StatusNotFound, heading, "This site does not take part in the fediverse.")
		return
	}
	ch, err := s.channels.Get(r.Context(), r.PathValue("name"))
	if err == nil && ch.Instance != "" {
		err = fail.New(fail.NotFound, "not_local", "this channel lives on another FedWave site: follow it there")
	}
	if err == nil && !allow(w, s.acct.follow, clientIP(r)) {
		err = fail.New(fail.TooMany, "rate_limited", "too many look-ups from your address; wait a minute and try again")
	}
	if err != nil {
		st, _, msg := s.statusOf(r, err)
		s.renderStatus(w, r, st, heading, msg)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFollowForm)
	if err := r.ParseForm(); err != nil {
		s.renderStatus(w, r, http.StatusBadRequest, heading, "The form could not be read; go back and try again.")
		return
	}
	target, err := s.ap.SubscribeURL(r.Context(), r.PostForm.Get("handle"), ch.Name)
	if err != nil {
		st, _, msg := s.statusOf(r, err)
		s.renderStatus(w, r, st, heading, msg)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// allowFollowRedirect widens a local channel page's form-action: the
// follow form's answer is a redirect to the visitor's own server, and
// browsers hold form redirects to the page's form-action too.
func (s *Server) allowFollowRedirect(w http.ResponseWriter) {
	schemes := "https:"
	if strings.HasPrefix(s.publicURL, "http://") {
		schemes = "http: https:" // a site on plain HTTP (a LAN, tests) follows plain servers
	}
	h := w.Header()
	h.Set("Content-Security-Policy", strings.Replace(h.Get("Content-Security-Policy"), "form-action 'self'", "form-action 'self' "+schemes, 1))
}
