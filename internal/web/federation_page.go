package web

import (
	"net/http"

	"github.com/fedwave/fedwave/internal/auth"
)

// pageFederation is where an admin links this site with others (CONTRACT
// §6, §8): link requests, approvals, the two switches, blocks. The page is a
// shell; federation.js fills it from the peers API, which checks the role
// again on every call.
func (s *Server) pageFederation(w http.ResponseWriter, r *http.Request) {
	s.adminPage(w, r, "federation", "Federation", "Linking this site with other FedWave sites is for its admins.")
}

// adminPage renders an admin page shell: anonymous visitors are sent to
// log in, others are told the page is for admins.
func (s *Server) adminPage(w http.ResponseWriter, r *http.Request, name, title, deny string) {
	if u, ok := s.adminSession(w, r, name, deny); ok {
		s.render(w, r, http.StatusOK, name, page{Title: title, User: u, Data: federationData{URL: s.publicURL}})
	}
}

// adminSession is the admin viewing page name, or it has sent anyone else
// to log in or told them the page is not for them (deny).
func (s *Server) adminSession(w http.ResponseWriter, r *http.Request, name, deny string) (*auth.UserView, bool) {
	sess, _ := s.session(r)
	if sess == nil {
		http.Redirect(w, r, "/login?next=/"+name, http.StatusSeeOther)
		return nil, false
	}
	if !auth.CanAdminister(sess.User) {
		s.renderStatus(w, r, http.StatusForbidden, "Admins only", deny)
		return nil, false
	}
	u := auth.View(sess.User)
	return &u, true
}

// federationData is what the admin pages show before their script runs.
type federationData struct {
	URL string // this site's address, for the other admin to paste, or for a relay's command
}
