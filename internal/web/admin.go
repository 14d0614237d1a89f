package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/store"
)

// AdminStore is what the admin pages read and write beside the services.
type AdminStore interface {
	store.Admin
	User(ctx context.Context, id int64) (*store.User, error)
	UserByName(ctx context.Context, name string) (*store.User, error)
	ActiveBan(ctx context.Context, channel string, userID int64, now time.Time) (*store.Ban, error)
	Audit(ctx context.Context, e store.AuditEntry) error
}

const (
	adminPageSize = 50
	// maxBan bounds a ban's length; longer is "for good".
	maxBan = 10 * 365 * 24 * time.Hour
)

func (s *Server) adminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin", s.pageAdmin)
	mux.HandleFunc("GET /api/v1/admin/overview", s.modAPI(s.apiAdminOverview))
	mux.HandleFunc("GET /api/v1/admin/users", s.modAPI(s.apiAdminUsers))
	mux.HandleFunc("PUT /api/v1/admin/users/{id}/role", s.adminAPI(s.apiAdminRole))
	mux.HandleFunc("POST /api/v1/admin/users/{id}/ban", s.modAPI(s.apiAdminBan))
	mux.HandleFunc("DELETE /api/v1/admin/users/{id}/ban", s.modAPI(s.apiAdminUnban))
	mux.HandleFunc("POST /api/v1/admin/users/{id}/reset-link", s.adminAPI(s.apiAdminResetLink))
	mux.HandleFunc("DELETE /api/v1/admin/users/{id}", s.adminAPI(s.apiAdminDelete))
	mux.HandleFunc("GET /api/v1/admin/audit", s.modAPI(s.apiAdminAudit))
	mux.HandleFunc("GET /api/v1/admin/channels", s.modAPI(s.apiAdminChannels))
	mux.HandleFunc("POST /api/v1/admin/channels/{name}/stop", s.modAPI(s.apiAdminStop))
	mux.HandleFunc("POST /api/v1/admin/channels/{name}/rotate-key", s.adminAPI(s.apiAdminRotateKey))
}

// adminHandler is an admin API call, given the caller as they are now.
type adminHandler func(w http.ResponseWriter, r *http.Request, caller *store.User) error

// adminAPI lets admins only call h.
func (s *Server) adminAPI(h adminHandler) http.HandlerFunc {
	return s.staffAPI(auth.CanAdminister, "only admins may do this", h)
}

// modAPI lets instance moderators and admins call h: the moderators'
// reduced view of the admin page.
func (s *Server) modAPI(h adminHandler) http.HandlerFunc {
	return s.staffAPI(auth.CanModerateSite, "only moderators and admins may do this", h)
}

// staffAPI checks on every call that the caller may by their current
// role (a demoted admin's or moderator's token stops working here at
// once).
func (s *Server) staffAPI(may func(*store.User) bool, deny string, h adminHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, err := s.requireSession(r)
		if err == nil && !may(sess.User) {
			err = fail.New(fail.Forbidden, "forbidden", "%s", deny)
		}
		if err == nil {
			err = h(w, r, sess.User)
		}
		if err != nil {
			s.fail(w, r, err)
		}
	}
}

// adminUser is an account as the People list shows it.
type adminUser struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Handle    string    `json:"handle"`
	Role      string    `json:"role"`
	Color     string    `json:"color"`
	CreatedAt time.Time `json:"createdAt"`
	Ban       *adminBan `json:"ban"`
}

type adminBan struct {
	Reason  string     `json:"reason"`
	Expires *time.Time `json:"expires"` // null: for good
}

func (s *Server) adminUserView(ctx context.Context, u *store.User) (adminUser, error) {
	v := adminUser{ID: u.ID, Name: u.Name, Handle: auth.Handle(u.Name, u.Num), Role: u.Role, Color: u.Color, CreatedAt: u.CreatedAt}
	b, err := s.admin.ActiveBan(ctx, "", u.ID, time.Now())
	if err != nil || b == nil || b.Scope != "" {
		return v, err
	}
	v.Ban = &adminBan{Reason: b.Reason}
	if !b.Expires.IsZero() {
		v.Ban.Expires = &b.Expires
	}
	return v, nil
}

// apiAdminUsers lists accounts by name prefix, a page at a time; next is
// the name to pass as after for the following page ("" at the end).
func (s *Server) apiAdminUsers(w http.ResponseWriter, r *http.Request, _ *store.User) error {
	q := r.URL.Query()
	prefix, after := q.Get("q"), q.Get("after")
	if len(prefix) > 64 || len(after) > 64 {
		return fail.New(fail.Invalid, "invalid_query", "q and after are at most 64 characters")
	}
	list, err := s.admin.SearchUsers(r.Context(), prefix, after, adminPageSize+1)
	if err != nil {
		return err
	}
	next := ""
	if len(list) > adminPageSize {
		list = list[:adminPageSize]
		next = list[adminPageSize-1].Name
	}
	out := make([]adminUser, 0, len(list))
	for i := range list {
		v, err := s.adminUserView(r.Context(), &list[i])
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out, "next": next})
	return nil
}

// adminTarget is the account named by the path's id, never the caller
// themself: an admin does not lock themself out by a slip.
func (s *Server) adminTarget(r *http.Request, admin *store.User) (*store.User, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, fail.New(fail.Invalid, "invalid_id", "the user id must be a positive number")
	}
	if id == admin.ID {
		return nil, fail.New(fail.Forbidden, "self", "ask another admin to change your own account")
	}
	u, err := s.admin.User(r.Context(), id)
	if err != nil || u.Instance != "" || auth.Role(u.Role) == auth.RoleGuest {
		if err == nil || errors.Is(err, store.ErrNotFound) {
			err = fail.New(fail.NotFound, "no_such_user", "no such user")
		}
		return nil, err
	}
	// As in the chat, a moderator acts only on those of lower rank.
	if !auth.CanAdminister(admin) && auth.CanModerateSite(u) {
		return nil, fail.New(fail.Forbidden, "forbidden", "moderators may not act on moderators or admins")
	}
	return u, nil
}

// answerUser writes the target as it is after an action.
func (s *Server) answerUser(w http.ResponseWriter, r *http.Request, id int64) error {
	u, err := s.admin.User(r.Context(), id)
	if err != nil {
		return err
	}
	v, err := s.adminUserView(r.Context(), u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": v})
	return nil
}

func (s *Server) audit(ctx context.Context, actor *store.User, action string, target int64, detail string) error {
	return s.admin.Audit(ctx, store.AuditEntry{ActorID: actor.ID, Action: action, TargetID: target, Detail: detail})
}

// apiAdminRole changes a role as `fedwave user role` does: streamers and
// above get their channel; below, the channel stays but stops publishing.
func (s *Server) apiAdminRole(w http.ResponseWriter, r *http.Request, admin *store.User) error {
	t, err := s.adminTarget(r, admin)
	if err != nil {
		return err
	}
	var body struct {
		Role string `json:"role"`
	}
	if !decodeJSON(w, r, &body) {
		return nil
	}
	role, err := auth.ParseRole(body.Role)
	if err != nil {
		return err
	}
	if err := s.auth.SetRole(r.Context(), t.ID, role); err != nil {
		return err
	}
	if err := s.audit(r.Context(), admin, "role", t.ID, t.Role+" → "+string(role)); err != nil {
		return err
	}
	return s.answerUser(w, r, t.ID)
}

// apiAdminBan bans instance-wide, as !ban by an instance moderator does,
// for seconds (0: for good).
func (s *Server) apiAdminBan(w http.ResponseWriter, r *http.Request, admin *store.User) error {
	t, err := s.adminTarget(r, admin)
	if err != nil {
		return err
	}
	var body struct {
		Reason  string `json:"reason"`
		Seconds int64  `json:"seconds"`
	}
	if !decodeJSON(w, r, &body) {
		return nil
	}
	if len(body.Reason) > 500 || body.Seconds < 0 || time.Duration(body.Seconds)*time.Second > maxBan {
		return fail.New(fail.Invalid, "invalid_ban", "the reason is at most 500 bytes, the length from 0 (for good) to ten years")
	}
	var until time.Time
	if body.Seconds > 0 {
		until = time.Now().Add(time.Duration(body.Seconds) * time.Second)
	}
	if err := s.chat.BanInstance(r.Context(), admin, t, body.Reason, until); err != nil {
		return err
	}
	return s.answerUser(w, r, t.ID)
}

func (s *Server) apiAdminUnban(w http.ResponseWriter, r *http.Request, admin *store.User) error {
	t, err := s.adminTarget(r, admin)
	if err != nil {
		return err
	}
	if _, err := s.chat.UnbanInstance(r.Context(), admin, t); err != nil {
		return err
	}
	return s.answerUser(w, r, t.ID)
}

// apiAdminResetLink makes a one-time link to set the account's password,
// like the setup link; the admin passes it on. The old password keeps
// working until the link is used.
func (s *Server) apiAdminResetLink(w http.ResponseWriter, r *http.Request, admin *store.User) error {
	t, err := s.adminTarget(r, admin)
	if err != nil {
		return err
	}
	tok, err := s.auth.ResetLinkToken(r.Context(), t.ID)
	if err != nil {
		return err
	}
	if err := s.audit(r.Context(), admin, "reset_link", t.ID, ""); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"url": s.publicURL + "/reset?token=" + tok})
	return nil
}

// apiAdminDelete deletes an account: its messages are removed from every
// channel (as a ban removes them), then the account with its channel.
func (s *Server) apiAdminDelete(w http.ResponseWriter, r *http.Request, admin *store.User) error {
	t, err := s.adminTarget(r, admin)
	if err != nil {
		return err
	}
	if err := s.chat.PurgeUser(r.Context(), t.ID); err != nil {
		return err
	}
	if err := s.auth.DeleteUser(r.Context(), t.ID); err != nil {
		return err
	}
	if err := s.audit(r.Context(), admin, "delete_user", t.ID, auth.Handle(t.Name, t.Num)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
