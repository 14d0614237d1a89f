package web

import (
	"net/http"

	"github.com/fedwave/fedwave/internal/auth"
)

// pageRelays is where an admin runs the stream chain (CONTRACT §5a, §8):
// the relays with their state and load, a form that makes a relay's
// token (shown once, with the command to run), revocation, and the tree
// of each live channel. The page is a shell; relays.js fills it from the
// relay API, which checks the role again on every call.
func (s *Server) pageRelays(w http.ResponseWriter, r *http.Request) {
	sess, _ := s.session(r)
	if sess == nil {
		http.Redirect(w, r, "/login?next=/relays", http.StatusSeeOther)
		return
	}
	if !auth.CanAdminister(sess.User) {
		s.renderStatus(w, r, http.StatusForbidden, "Admins only", "The relays of this site are for its admins.")
		return
	}
	u := auth.View(sess.User)
	s.render(w, r, http.StatusOK, "relays", page{Title: "Relays", User: &u, Data: federationData{URL: s.publicURL}})
}
