package web

import "net/http"

// pageRelays is where an admin runs the stream chain (CONTRACT §5a, §8):
// the relays with their state and load, a form that makes a relay's
// token (shown once, with the command to run), revocation, and the tree
// of each live channel. The page is a shell; relays.js fills it from the
// relay API, which checks the role again on every call.
func (s *Server) pageRelays(w http.ResponseWriter, r *http.Request) {
	s.adminPage(w, r, "relays", "Relays", "The relays of this site are for its admins.")
}
