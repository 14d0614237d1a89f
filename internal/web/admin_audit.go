package web

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/store"
)

// auditEntry is one audit log line as the admin page shows it.
type auditEntry struct {
	ID      int64     `json:"id"`
	TS      time.Time `json:"ts"`
	Actor   string    `json:"actor"`  // a handle, "system", or "deleted user"
	Action  string    `json:"action"` // ban, timeout, unban, role, reset_link, delete_user, slow, wipe…
	Target  string    `json:"target"` // a handle, "deleted user", or ""
	Channel string    `json:"channel"`
	Detail  string    `json:"detail"`
}

var actionRE = regexp.MustCompile(`^[a-z_]{1,32}$`)

// apiAdminAudit pages through the audit log, newest first: actor (a name
// or handle) and action filter; before (an entry id) continues from
// next.
func (s *Server) apiAdminAudit(w http.ResponseWriter, r *http.Request, _ *store.User) error {
	q := r.URL.Query()
	f := store.AuditFilter{Action: q.Get("action"), Limit: adminPageSize + 1}
	if f.Action != "" && !actionRE.MatchString(f.Action) {
		return fail.New(fail.Invalid, "invalid_action", "action is a word such as ban or role")
	}
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return fail.New(fail.Invalid, "invalid_before", "before is an entry id")
		}
		f.BeforeID = n
	}
	if a := q.Get("actor"); a != "" {
		name, _, err := auth.ParseHandle(a)
		if err != nil {
			name = a
		}
		u, err := s.admin.UserByName(r.Context(), name)
		if errors.Is(err, store.ErrNotFound) {
			writeJSON(w, http.StatusOK, map[string]any{"entries": []auditEntry{}, "next": 0})
			return nil
		}
		if err != nil {
			return err
		}
		f.ActorID = u.ID
	}
	list, err := s.admin.AuditPage(r.Context(), f)
	if err != nil {
		return err
	}
	var next int64
	if len(list) > adminPageSize {
		list = list[:adminPageSize]
		next = list[adminPageSize-1].ID
	}
	names := map[int64]string{0: ""}
	name := func(id int64) (string, error) {
		if n, ok := names[id]; ok {
			return n, nil
		}
		u, err := s.admin.User(r.Context(), id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			names[id] = "deleted user"
		case err != nil:
			return "", err
		default:
			names[id] = auth.Handle(u.Name, u.Num)
		}
		return names[id], nil
	}
	out := make([]auditEntry, 0, len(list))
	for _, e := range list {
		v := auditEntry{ID: e.ID, TS: e.TS, Action: e.Action, Channel: e.Channel, Detail: e.Detail}
		if v.Actor, err = name(e.ActorID); err != nil {
			return err
		}
		if e.ActorID == 0 {
			v.Actor = "system"
		}
		if v.Target, err = name(e.TargetID); err != nil {
			return err
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": out, "next": next})
	return nil
}

// checkItem is one step of the new admin's checklist.
type checkItem struct {
	Text, Link, LinkText string
	Done                 bool
}

// adminData is what /admin shows before its script runs.
type adminData struct {
	URL       string
	Admin     bool        // false: a moderator's reduced view
	Checklist []checkItem // nil once a local channel has been live
}

// onboarding is the checklist a new admin sees until this site has a
// streamer and something live.
func (s *Server) onboarding(ctx context.Context) ([]checkItem, error) {
	list, err := s.channels.List(ctx)
	if err != nil {
		return nil, err
	}
	var channels, live bool
	for _, ch := range list {
		if ch.Instance == "" {
			channels = true
			live = live || ch.Live
		}
	}
	if channels && live {
		return nil, nil
	}
	return []checkItem{
		{Text: "Name the site, say what it is about and who may sign up.", Link: "#settings", LinkText: "Site settings", Done: s.site().Name != ""},
		{Text: "Make yourself or someone a streamer: search for them below and pick “streamer”.", Link: "#people", LinkText: "People", Done: channels},
		{Text: "Go live from the browser in the studio, or with OBS and the stream key shown there.", Link: "/studio", LinkText: "Studio", Done: live},
		{Text: "Link a friend’s FedWave site so each shows the other’s channels.", Link: "/federation", LinkText: "Federation"},
	}, nil
}

// pageAdmin is the admin page shell, filled by admin.js from the admin
// API: admins see every section and the new admin's checklist; instance
// moderators see what they may use (the API refuses the rest anyway).
func (s *Server) pageAdmin(w http.ResponseWriter, r *http.Request) {
	sess, _ := s.session(r)
	if sess == nil {
		http.Redirect(w, r, "/login?next=/admin", http.StatusSeeOther)
		return
	}
	if !auth.CanModerateSite(sess.User) {
		s.renderStatus(w, r, http.StatusForbidden, "Admins only", "Running this site is for its admins and moderators.")
		return
	}
	d := adminData{URL: s.publicURL, Admin: auth.CanAdminister(sess.User)}
	if d.Admin {
		var err error
		if d.Checklist, err = s.onboarding(r.Context()); err != nil {
			st, _, msg := s.statusOf(r, err)
			s.renderStatus(w, r, st, "Something went wrong", msg)
			return
		}
	}
	u := auth.View(sess.User)
	s.render(w, r, http.StatusOK, "admin", page{Title: "Admin", User: &u, Data: d})
}
