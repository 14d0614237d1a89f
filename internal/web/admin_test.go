package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
)

// adminSetup starts a site with an admin "boss", a moderator "mo" and a
// user "kim"; it returns the admin's token and kim's id.
func adminSetup(t *testing.T) (s *apptest.Server, admin string, kim float64) {
	t.Helper()
	s = apptest.Start(t)
	s.CreateUser("boss", "boss-password", auth.RoleAdmin)
	s.CreateUser("mo", "mo-password", auth.RoleModerator)
	s.CreateUser("kim", "kim-password", auth.RoleUser)
	admin = s.Login("boss", "boss-password")
	r := s.Do("GET", "/api/v1/admin/users?q=ki", nil, admin)
	users, _ := r.Body["users"].([]any)
	if r.Status != http.StatusOK || len(users) != 1 {
		t.Fatalf("search kim: %d %s", r.Status, r.Raw)
	}
	return s, admin, users[0].(map[string]any)["id"].(float64)
}

// lastAudit is the newest audit entry.
func lastAudit(t *testing.T, s *apptest.Server, admin string) map[string]any {
	t.Helper()
	r := s.Do("GET", "/api/v1/admin/audit", nil, admin)
	entries, _ := r.Body["entries"].([]any)
	if r.Status != http.StatusOK || len(entries) == 0 {
		t.Fatalf("audit: %d %s", r.Status, r.Raw)
	}
	return entries[0].(map[string]any)
}

// TestAdminAPIRefusesOthers: every admin call checks the caller's role,
// as it is now: anonymous visitors and users are refused everything,
// moderators what is for admins only (roles, password links, deleting,
// stream keys) and acting on moderators or admins; a moderator or admin
// demoted meanwhile is refused with the same token.
func TestAdminAPIRefusesOthers(t *testing.T) {
	s, admin, kim := adminSetup(t)
	type call struct {
		method, path, body string
		mods               bool // moderators may
	}
	calls := []call{
		{"GET", "/api/v1/admin/overview", "", true},
		{"GET", "/api/v1/admin/users", "", true},
		{"PUT", fmt.Sprintf("/api/v1/admin/users/%v/role", kim), `{"role":"admin"}`, false},
		{"POST", fmt.Sprintf("/api/v1/admin/users/%v/ban", kim), `{"reason":"x"}`, true},
		{"DELETE", fmt.Sprintf("/api/v1/admin/users/%v/ban", kim), "", true},
		{"POST", fmt.Sprintf("/api/v1/admin/users/%v/reset-link", kim), "{}", false},
		{"DELETE", fmt.Sprintf("/api/v1/admin/users/%v", kim), "", false},
		{"GET", "/api/v1/admin/audit", "", true},
		{"GET", "/api/v1/admin/channels", "", true},
		{"POST", "/api/v1/admin/channels/nobody/stop", "{}", true}, // 404: no such channel, once allowed
		{"POST", "/api/v1/admin/channels/nobody/rotate-key", "{}", false},
	}
	tokens := map[string]string{"anonymous": "", "user": s.Login("kim", "kim-password"), "moderator": s.Login("mo", "mo-password")}
	for _, who := range []string{"anonymous", "user", "moderator"} {
		tok := tokens[who]
		for _, c := range calls {
			var body any
			if c.body != "" {
				body = c.body
			}
			r := s.Do(c.method, c.path, body, tok)
			switch {
			case who == "moderator" && c.mods:
				if r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden {
					t.Errorf("moderator: %s %s refused: %d %s", c.method, c.path, r.Status, r.Raw)
				}
			case tok == "" && r.Status != http.StatusUnauthorized, tok != "" && r.Status != http.StatusForbidden:
				t.Errorf("%s: %s %s: %d, want %s", who, c.method, c.path, r.Status, map[bool]string{true: "401", false: "403"}[tok == ""])
			}
		}
	}
	// A moderator bans only those below: not an admin, nor another moderator.
	bossID := s.Do("GET", "/api/v1/admin/users?q=boss", nil, admin).Body["users"].([]any)[0].(map[string]any)["id"]
	if r := s.Do("POST", fmt.Sprintf("/api/v1/admin/users/%v/ban", bossID), map[string]any{"reason": "coup"}, tokens["moderator"]); r.Status != http.StatusForbidden {
		t.Errorf("a moderator bans an admin: %d %s", r.Status, r.Raw)
	}
	// Demoted, the moderator's token no longer opens anything, at once.
	moID := s.Do("GET", "/api/v1/admin/users?q=mo", nil, admin).Body["users"].([]any)[0].(map[string]any)["id"]
	if r := s.Do("PUT", fmt.Sprintf("/api/v1/admin/users/%v/role", moID), map[string]string{"role": "user"}, admin); r.Status != http.StatusOK {
		t.Fatalf("demote mo: %d %s", r.Status, r.Raw)
	}
	if r := s.Do("GET", "/api/v1/admin/overview", nil, tokens["moderator"]); r.Status != http.StatusForbidden {
		t.Errorf("a demoted moderator's token: %d, want 403", r.Status)
	}
	// Another admin demotes boss: boss's token no longer administers.
	s.CreateUser("second", "second-password", auth.RoleAdmin)
	second := s.Login("second", "second-password")
	if r := s.Do("PUT", fmt.Sprintf("/api/v1/admin/users/%v/role", bossID), map[string]string{"role": "user"}, second); r.Status != http.StatusOK {
		t.Fatalf("demote boss: %d %s", r.Status, r.Raw)
	}
	if r := s.Do("GET", "/api/v1/admin/users", nil, admin); r.Status != http.StatusForbidden {
		t.Errorf("a demoted admin's token: %d, want 403", r.Status)
	}
	// No admin changes their own account.
	if r := s.Do("PUT", fmt.Sprintf("/api/v1/admin/users/%v/role", bossID), map[string]string{"role": "admin"}, admin); r.Status != http.StatusForbidden {
		t.Errorf("self: %d", r.Status)
	}
}

// TestAdminActions: each action has its effect and leaves an audit entry
// naming who did what to whom.
func TestAdminActions(t *testing.T) {
	s, admin, kim := adminSetup(t)
	base := fmt.Sprintf("/api/v1/admin/users/%v", kim)

	// Role: kim becomes a streamer and gets a channel.
	r := s.Do("PUT", base+"/role", map[string]string{"role": "streamer"}, admin)
	if r.Status != http.StatusOK || r.Body["user"].(map[string]any)["role"] != "streamer" {
		t.Fatalf("role: %d %s", r.Status, r.Raw)
	}
	if r := s.Do("GET", "/api/v1/channels/kim", nil, ""); r.Status != http.StatusOK {
		t.Fatalf("the new streamer has no channel: %d", r.Status)
	}
	if e := lastAudit(t, s, admin); e["action"] != "role" || !strings.HasPrefix(e["actor"].(string), "boss#") ||
		!strings.HasPrefix(e["target"].(string), "kim#") || e["detail"] != "user → streamer" {
		t.Errorf("role audit: %v", e)
	}

	// Ban for an hour: kim's chat is refused everywhere, the list shows it.
	r = s.Do("POST", base+"/ban", map[string]any{"reason": "spam links", "seconds": 3600}, admin)
	ban, _ := r.Body["user"].(map[string]any)["ban"].(map[string]any)
	if r.Status != http.StatusOK || ban["reason"] != "spam links" || ban["expires"] == nil {
		t.Fatalf("ban: %d %s", r.Status, r.Raw)
	}
	kimTok := s.Login("kim", "kim-password")
	if r := s.Do("POST", "/api/v1/channels/kim/messages", map[string]string{"text": "hi"}, kimTok); r.Status < 400 {
		t.Errorf("a banned user posts: %d %s", r.Status, r.Raw)
	}
	if e := lastAudit(t, s, admin); e["action"] != "ban" || e["channel"] != "" || !strings.Contains(e["detail"].(string), "spam links") {
		t.Errorf("ban audit: %v", e)
	}
	if r := s.Do("POST", base+"/ban", map[string]any{"seconds": -1}, admin); r.Status != http.StatusBadRequest {
		t.Errorf("a negative ban length: %d", r.Status)
	}

	// Unban: kim chats again.
	r = s.Do("DELETE", base+"/ban", nil, admin)
	if r.Status != http.StatusOK || r.Body["user"].(map[string]any)["ban"] != nil {
		t.Fatalf("unban: %d %s", r.Status, r.Raw)
	}
	if r := s.Do("POST", "/api/v1/channels/kim/messages", map[string]string{"text": "hi"}, kimTok); r.Status >= 400 {
		t.Errorf("an unbanned user cannot post: %d %s", r.Status, r.Raw)
	}
	if e := lastAudit(t, s, admin); e["action"] != "unban" {
		t.Errorf("unban audit: %v", e)
	}

	// Reset link: a one-time link that sets kim's password.
	r = s.Do("POST", base+"/reset-link", "{}", admin)
	link, _ := r.Body["url"].(string)
	_, tok, ok := strings.Cut(link, "/reset?token=")
	if r.Status != http.StatusOK || !ok || !s.App.Core().Auth.ResetValid(t.Context(), tok) {
		t.Fatalf("reset link: %d %s", r.Status, r.Raw)
	}
	if e := lastAudit(t, s, admin); e["action"] != "reset_link" {
		t.Errorf("reset audit: %v", e)
	}

	// The audit log filters by actor and action, and pages.
	r = s.Do("GET", "/api/v1/admin/audit?actor=boss&action=ban", nil, admin)
	if list := r.Body["entries"].([]any); len(list) != 1 {
		t.Errorf("filtered audit: %s", r.Raw)
	}
	if list := s.Do("GET", "/api/v1/admin/audit?actor=nobody", nil, admin).Body["entries"].([]any); len(list) != 0 {
		t.Errorf("audit of an unknown actor: %v", list)
	}
	first := lastAudit(t, s, admin)["id"]
	r = s.Do("GET", fmt.Sprintf("/api/v1/admin/audit?before=%v", first), nil, admin)
	if list := r.Body["entries"].([]any); len(list) == 0 || list[0].(map[string]any)["id"].(float64) >= first.(float64) {
		t.Errorf("audit before %v: %s", first, r.Raw)
	}

	// Delete: kim's messages and account go; her token stops working.
	if r := s.Do("DELETE", base, nil, admin); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Raw)
	}
	if r := s.Do("GET", "/api/v1/me", nil, kimTok); r.Status != http.StatusUnauthorized {
		t.Errorf("the deleted user's token: %d", r.Status)
	}
	if s.App.Core().Auth.ResetValid(t.Context(), tok) {
		t.Error("the deleted user's password link still works")
	}
	if users := s.Do("GET", "/api/v1/admin/users?q=kim", nil, admin).Body["users"].([]any); len(users) != 0 {
		t.Errorf("the deleted user is still listed: %v", users)
	}
	if e := lastAudit(t, s, admin); e["action"] != "delete_user" || e["target"] != "deleted user" || !strings.HasPrefix(e["detail"].(string), "kim#") {
		t.Errorf("delete audit: %v", e)
	}
}

// TestAdminPageAndOnboarding: /admin is for admins and, reduced, for
// moderators, linked from the header; a new admin sees the checklist there and a pointer on the home
// page, while anonymous visitors see no command line.
func TestAdminPageAndOnboarding(t *testing.T) {
	s := apptest.Start(t)
	s.CreateUser("boss", "boss-password", auth.RoleAdmin)
	s.CreateUser("mo", "mo-password", auth.RoleModerator)
	if res, _ := getPage(t, s, "/admin", ""); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?next=/admin" {
		t.Errorf("anonymous: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	s.CreateUser("kim", "kim-password", auth.RoleUser)
	if res, body := getPage(t, s, "/admin", s.Login("kim", "kim-password")); res.StatusCode != http.StatusForbidden || strings.Contains(body, `href="/admin"`) {
		t.Errorf("a user gets %d", res.StatusCode)
	}
	// A moderator gets the reduced view: no checklist, no admin pages.
	res, body := getPage(t, s, "/admin", s.Login("mo", "mo-password"))
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `data-admin="false"`) || !strings.Contains(body, `id="nav-admin"`) {
		t.Errorf("a moderator gets %d:\n%s", res.StatusCode, body)
	}
	for _, not := range []string{`id="onboarding"`, `href="/federation"`, `href="#settings"`} {
		if strings.Contains(body, not) {
			t.Errorf("the moderator's view has %s", not)
		}
	}
	_, home := getPage(t, s, "/", "")
	if !strings.Contains(home, "Nothing live right now") || strings.Contains(home, "fedwave ") || strings.Contains(home, `href="/admin"`) {
		t.Errorf("the empty home page for a visitor:\n%s", home)
	}
	admin := s.Login("boss", "boss-password")
	res, body = getPage(t, s, "/admin", admin)
	for _, want := range []string{`id="nav-admin"`, `id="onboarding"`, `href="/studio"`, `href="/federation"`, `href="/relays"`, `id="people-form"`, `data-admin="true"`} {
		if res.StatusCode != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("the admin page (%d) lacks %s", res.StatusCode, want)
		}
	}
	if _, home := getPage(t, s, "/", admin); !strings.Contains(home, `id="admin-next"`) {
		t.Error("the new admin's home page does not point to the checklist")
	}
}
