package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/settings"
	"github.com/fedwave/fedwave/internal/store"
)

// site is the settings in force: one atomic load.
func (s *Server) site() *settings.Snapshot {
	if s.settings == nil { // a relay: the built-in settings
		return &settings.Snapshot{Values: settings.Values{Registration: auth.RegistrationOpen}}
	}
	return s.settings.Get()
}

func (s *Server) settingsRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /rules", s.pageRules)
	mux.HandleFunc("GET /theme.css", s.themeCSS)
	if s.settings == nil {
		return
	}
	mux.HandleFunc("GET /api/v1/admin/settings", s.adminAPI(s.apiGetSettings))
	mux.HandleFunc("PUT /api/v1/admin/settings", s.adminAPI(s.apiPutSettings))
	mux.HandleFunc("GET /api/v1/admin/invites", s.adminAPI(s.apiInvites))
	mux.HandleFunc("POST /api/v1/admin/invites", s.adminAPI(s.apiCreateInvite))
	mux.HandleFunc("DELETE /api/v1/admin/invites/{id}", s.adminAPI(s.apiRevokeInvite))
	mux.HandleFunc("PATCH /api/v1/emotes/{name}", s.adminAPI(s.apiRenameEmote))
}

func writeSettings(w http.ResponseWriter, snap *settings.Snapshot) {
	writeJSON(w, http.StatusOK, map[string]any{"settings": snap.Values, "saved": snap.Saved, "rulesHtml": snap.RulesHTML})
}

func (s *Server) apiGetSettings(w http.ResponseWriter, r *http.Request, _ *store.User) error {
	writeSettings(w, s.site())
	return nil
}

// apiPutSettings changes the settings: the fields sent replace the current
// ones, the others stay; all are checked, and they apply at once.
func (s *Server) apiPutSettings(w http.ResponseWriter, r *http.Request, admin *store.User) error {
	v := s.site().Values
	if !decodeJSON(w, r, &v) {
		return nil
	}
	snap, changes, err := s.settings.Save(r.Context(), v)
	if err != nil {
		return err
	}
	if err := s.audit(r.Context(), admin, "settings", 0, changes); err != nil {
		return err
	}
	writeSettings(w, snap)
	return nil
}

// inviteView is an invite link as the admin lists it (the secret is only
// shown when it is made).
type inviteView struct {
	ID        int64     `json:"id"`
	Uses      int       `json:"uses"`
	MaxUses   int       `json:"maxUses"`
	CreatedAt time.Time `json:"createdAt"`
	Expires   time.Time `json:"expires"`
	State     string    `json:"state"` // active, used (up) or expired
}

func viewInvite(inv store.Invite, now time.Time) inviteView {
	v := inviteView{ID: inv.ID, Uses: inv.Uses, MaxUses: inv.MaxUses, CreatedAt: inv.CreatedAt, Expires: inv.Expires, State: "active"}
	switch {
	case inv.Uses >= inv.MaxUses:
		v.State = "used"
	case now.After(inv.Expires):
		v.State = "expired"
	}
	return v
}

func (s *Server) apiInvites(w http.ResponseWriter, r *http.Request, _ *store.User) error {
	list, err := s.auth.Invites(r.Context())
	if err != nil {
		return err
	}
	out := make([]inviteView, 0, len(list))
	for _, inv := range list {
		out = append(out, viewInvite(inv, time.Now()))
	}
	writeJSON(w, http.StatusOK, map[string]any{"invites": out})
	return nil
}

// apiCreateInvite makes an invite link good for uses sign-ups within
// seconds; its URL is in the answer, once.
func (s *Server) apiCreateInvite(w http.ResponseWriter, r *http.Request, admin *store.User) error {
	var body struct {
		Uses    int   `json:"uses"`
		Seconds int64 `json:"seconds"`
	}
	if !decodeJSON(w, r, &body) {
		return nil
	}
	if body.Seconds < 60 || body.Seconds > int64(auth.MaxInviteTTL/time.Second) {
		return fail.New(fail.Invalid, "invalid_expiry", "an invite lasts from a minute to a year")
	}
	secret, inv, err := s.auth.CreateInvite(r.Context(), admin.ID, body.Uses, time.Duration(body.Seconds)*time.Second)
	if err != nil {
		return err
	}
	detail := fmt.Sprintf("invite %d: %d use(s) until %s", inv.ID, inv.MaxUses, inv.Expires.UTC().Format(time.RFC3339))
	if err := s.audit(r.Context(), admin, "invite_create", 0, detail); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"invite": viewInvite(inv, time.Now()), "url": s.publicURL + "/register?invite=" + secret})
	return nil
}

func (s *Server) apiRevokeInvite(w http.ResponseWriter, r *http.Request, admin *store.User) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return fail.New(fail.Invalid, "invalid_id", "the invite id must be a positive number")
	}
	if err := s.auth.RevokeInvite(r.Context(), id); err != nil {
		return err
	}
	if err := s.audit(r.Context(), admin, "invite_revoke", 0, fmt.Sprintf("invite %d", id)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// apiRenameEmote renames an emote: {"name": "new"}.
func (s *Server) apiRenameEmote(w http.ResponseWriter, r *http.Request, admin *store.User) error {
	var body struct {
		Name string `json:"name"`
	}
	if !decodeJSON(w, r, &body) {
		return nil
	}
	old := r.PathValue("name")
	e, err := s.emotes.Rename(old, body.Name)
	if err != nil {
		return err
	}
	if err := s.audit(r.Context(), admin, "emote_rename", 0, old+" → "+e.Name); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"emote": e})
	return nil
}

// pageRules shows the site's rules.
func (s *Server) pageRules(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "rules", page{Title: "Rules"})
}

// themeCSS sets the accent colour of the pages from the settings. It is a
// file, not inline style, because the CSP allows only the site's own
// styles; the layout links it with the colour in the URL, so a change is
// seen at the next page load while each colour may be cached.
func (s *Server) themeCSS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	c := s.site().AccentColor
	if c == "" {
		return
	}
	fmt.Fprintf(w, ":root { --accent: %s; --accent-text: %s; }\n", c, textOn(c))
}

// textOn picks black or white text, whichever reads better on colour c
// (#rrggbb, already validated), by its perceived brightness.
func textOn(c string) string {
	n, _ := strconv.ParseUint(strings.TrimPrefix(c, "#"), 16, 32)
	r, g, b := n>>16&0xff, n>>8&0xff, n&0xff
	if r*299+g*587+b*114 > 150_000 {
		return "#111"
	}
	return "#fff"
}
