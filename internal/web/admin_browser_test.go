package web_test

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/browsertest"
)

// TestAdminBrowserPeople: the admin goes from the header to /admin, finds
// a user by the start of her name, makes her a streamer, bans her for a
// day with a reason, and sees both actions in the audit log.
func TestAdminBrowserPeople(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	s := apptest.Start(t)
	s.CreateUser("boss", videoPassword, auth.RoleAdmin)
	s.CreateUser("kim", videoPassword, auth.RoleUser)
	s.CreateUser("kai", videoPassword, auth.RoleUser)
	p := openPage(t, s, "boss", "/", "#nav-admin")
	follow(p, "#nav-admin", "#onboarding")
	poll(t, p, `document.querySelector('#admin').dataset.loaded === 'true'`)
	openTab(t, p, "people")

	row := `document.querySelector('#people-list tr[data-name="kim"]')`
	p.Run(chromedp.SendKeys("#people-q", "kim"), chromedp.Click("#people-search"))
	poll(t, p, `document.querySelectorAll('#people-list tr').length === 1 && `+row+` !== null`)

	p.Eval(`(() => { const s = `+row+`.querySelector('select.role'); s.value = 'streamer'; s.dispatchEvent(new Event('change')); })()`, nil)
	poll(t, p, row+`?.querySelector('select.role').value === 'streamer' && document.querySelector('#audit-list tr[data-action="role"]') !== null`)
	if r := s.Do("GET", "/api/v1/channels/kim", nil, ""); r.Status != 200 {
		t.Fatalf("kim has no channel after the role change: %d", r.Status)
	}

	p.Eval(row+`.querySelector('button.ban').click()`, nil)
	poll(t, p, row+`?.querySelector('.ban-reason') !== null`)
	p.Run(chromedp.SendKeys(`#people-list tr[data-name="kim"] .ban-reason`, "spam links"))
	p.Eval(`(() => { const r = `+row+`; r.querySelector('.ban-length').value = '86400'; r.querySelector('.ban-confirm').click(); })()`, nil)
	poll(t, p, row+`?.querySelector('.chat-state').textContent.includes('spam links')`)
	poll(t, p, `[...document.querySelectorAll('#audit-list tr[data-action="ban"]')].some(r => r.querySelector('.audit-target').textContent.startsWith('kim#') && r.textContent.includes('spam links'))`)
	if errs := p.JSErrors(); len(errs) > 0 {
		t.Fatalf("JavaScript errors: %q", errs)
	}
}

// openTab clicks a tab of the admin page and waits until its section is
// the one shown, marked current.
func openTab(t *testing.T, p *browsertest.Page, tab string) {
	t.Helper()
	p.Run(chromedp.Click(`.admin-tabs a[data-tab="` + tab + `"]`))
	poll(t, p, `!document.querySelector('#`+tab+`').hidden && document.querySelector('.admin-tabs a[data-tab="`+tab+`"]').getAttribute('aria-current') === 'page' && document.querySelectorAll('#admin > section.fed-section:not([hidden])').length === 1`)
}

// TestAdminBrowserOverviewAndStop: alpha is live from the studio; the
// admin's Overview shows the charts, the missing-TURN warning and alpha
// live; on Channels, Stop ends the stream, the studio says who stopped it
// and does not reconnect, and the audit log has it. A moderator sees the
// reduced view: no admin tabs or pages, no key rotation, no roles.
func TestAdminBrowserOverviewAndStop(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	s := startVideoSite(t)
	s.CreateUser("boss", videoPassword, auth.RoleAdmin)
	s.CreateUser("mo", videoPassword, auth.RoleModerator)
	studio := openPage(t, s, "alpha", "/studio", "#studio")
	goLiveFromStudio(t, studio)

	p := openPage(t, s, "boss", "/admin", "#overview")
	poll(t, p, `document.querySelector('#admin').dataset.loaded === 'true'`)
	poll(t, p, `document.querySelectorAll('#overview-charts figure svg polyline').length >= 4 && document.querySelector('#overview-warnings li[data-code="no_turn"]') !== null && document.querySelector('#overview-live li[data-channel="alpha"]') !== null`)

	openTab(t, p, "channels")
	row := `document.querySelector('#channels-list tr[data-channel="alpha"]')`
	poll(t, p, row+`?.dataset.live === 'true'`)
	p.Eval(row+`.querySelector('button.stop').click()`, nil)
	poll(t, p, row+`?.dataset.live === 'false' && document.querySelector('#channels-status').textContent.includes('can go live again')`)
	poll(t, p, `document.querySelector('#audit-list tr[data-action="stop_stream"]') !== null`)
	poll(t, studio, `document.querySelector('#studio-state').dataset.state === 'error' && document.querySelector('#studio-error').textContent.includes('stopped your stream')`)
	if channelLive(t, s, "alpha") {
		t.Error("alpha is live after the stop")
	}

	mod := openPage(t, s, "mo", "/admin", "#overview")
	poll(t, mod, `document.querySelector('#admin').dataset.loaded === 'true'`)
	var tabs []string
	mod.Eval(`[...document.querySelectorAll('.admin-tabs a:not([hidden])')].map(a => a.textContent)`, &tabs)
	if strings.Join(tabs, ",") != "Overview,People,Channels,Audit log" {
		t.Errorf("the moderator's tabs: %q", tabs)
	}
	openTab(t, mod, "channels")
	poll(t, mod, `document.querySelector('#channels-list tr[data-channel="alpha"]') !== null && document.querySelector('#channels-list button.rotate') === null`)
	poll(t, mod, `document.querySelector('#people-list tr[data-name="alpha"] button.ban') !== null && document.querySelector('#people-list select.role, #people-list button.delete') === null`)
	noJSErrors(t, map[string]*browsertest.Page{"studio": studio, "admin": p, "moderator": mod})
}

// TestAdminBrowserEveryAction clicks through the admin actions the other
// browser tests leave out: unban, password link, delete an account,
// rotate a key, rename and delete an emote, revoke an invite, and filter
// the audit log.
func TestAdminBrowserEveryAction(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	s := apptest.Start(t)
	s.CreateUser("boss", videoPassword, auth.RoleAdmin)
	s.CreateUser("kim", videoPassword, auth.RoleStreamer)
	s.CreateUser("lou", videoPassword, auth.RoleUser)
	boss := s.Login("boss", videoPassword)
	kimID := s.Do("GET", "/api/v1/admin/users?q=kim", nil, boss).Body["users"].([]any)[0].(map[string]any)["id"]
	if r := s.Do("POST", fmt.Sprintf("/api/v1/admin/users/%v/ban", kimID), map[string]any{"reason": "spam", "seconds": 3600}, boss); r.Status != 200 {
		t.Fatalf("ban: %d %s", r.Status, r.Raw)
	}
	var img bytes.Buffer
	png.Encode(&img, image.NewRGBA(image.Rect(0, 0, 8, 8)))
	req, _ := http.NewRequest("PUT", s.URL+"/api/v1/emotes/wave", &img)
	req.Header.Set("Authorization", "Bearer "+boss)
	if r := s.Send(req); r.Status >= 300 {
		t.Fatalf("emote: %d %s", r.Status, r.Raw)
	}
	if r := s.Do("POST", "/api/v1/admin/invites", map[string]int{"uses": 1, "seconds": 3600}, boss); r.Status != 201 {
		t.Fatalf("invite: %d %s", r.Status, r.Raw)
	}

	p := openPage(t, s, "boss", "/admin", "#overview")
	poll(t, p, `document.querySelector('#admin').dataset.loaded === 'true'`)

	openTab(t, p, "people")
	kim := `document.querySelector('#people-list tr[data-name="kim"]')`
	p.Run(chromedp.SendKeys("#people-q", "kim"), chromedp.Click("#people-search"))
	poll(t, p, `document.querySelectorAll('#people-list tr').length === 1 && `+kim+`?.querySelector('button.unban') != null`)
	p.Eval(kim+`.querySelector('button.unban').click()`, nil)
	poll(t, p, kim+`?.querySelector('button.ban') != null`)
	p.Eval(kim+`.querySelector('button.reset').click()`, nil)
	poll(t, p, `(`+kim+`?.querySelector('.reset-url')?.value || '').includes('/reset?token=')`)

	lou := `document.querySelector('#people-list tr[data-name="lou"]')`
	p.Run(chromedp.SetValue("#people-q", "lou"), chromedp.Click("#people-search"))
	poll(t, p, `document.querySelectorAll('#people-list tr').length === 1 && `+lou+` !== null`)
	p.Eval(lou+`.querySelector('button.delete').click()`, nil)
	p.Eval(lou+`.querySelector('button.delete').click()`, nil) // the second click confirms
	poll(t, p, lou+` === null`)
	if list := s.Do("GET", "/api/v1/admin/users?q=lou", nil, boss).Body["users"].([]any); len(list) != 0 {
		t.Fatalf("lou is still there: %v", list)
	}

	openTab(t, p, "channels")
	rotate := `document.querySelector('#channels-list tr[data-channel="kim"] button.rotate')`
	poll(t, p, rotate+` !== null`)
	// Two clicks on the same button: the first arms it, the second confirms
	// (a list read again in between gives a new, unarmed button).
	poll(t, p, `(() => { const b = `+rotate+`; if (!b) return false; const armed = b.dataset.armed === 'true'; b.click(); return armed; })()`)
	poll(t, p, `document.querySelector('#channels-status').textContent.includes('no longer works')`)

	openTab(t, p, "emotes")
	poll(t, p, `document.querySelector('#emote-list tr[data-emote="wave"]') !== null`)
	p.Eval(`(() => { const r = document.querySelector('#emote-list tr[data-emote="wave"]'); r.querySelector('.emote-rename-name').value = 'hello'; r.querySelector('button.emote-rename').click(); })()`, nil)
	poll(t, p, `document.querySelector('#emote-list tr[data-emote="hello"]') !== null && document.querySelector('#emote-list tr[data-emote="wave"]') === null`)
	p.Eval(`document.querySelector('#emote-list tr[data-emote="hello"] button.emote-delete').click()`, nil)
	poll(t, p, `document.querySelector('#emote-list tr[data-emote="hello"]') === null`)

	openTab(t, p, "settings")
	poll(t, p, `document.querySelectorAll('#invite-list tr').length === 1`)
	p.Eval(`document.querySelector('#invite-list button.invite-revoke').click()`, nil)
	poll(t, p, `document.querySelectorAll('#invite-list tr').length === 0`)

	// The audit log, read again when its tab is shown, has every action.
	openTab(t, p, "audit")
	for _, action := range []string{"unban", "reset_link", "delete_user", "rotate_key", "emote_rename", "emote_delete", "invite_revoke"} {
		poll(t, p, `document.querySelector('#audit-list tr[data-action="`+action+`"]') !== null`)
	}
	p.Run(chromedp.SendKeys("#audit-action", "unban"), chromedp.Click("#audit-filter"))
	poll(t, p, `(() => { const rows = [...document.querySelectorAll('#audit-list tr')]; return rows.length === 1 && rows[0].dataset.action === 'unban'; })()`)
	if errs := p.JSErrors(); len(errs) > 0 {
		t.Fatalf("JavaScript errors: %q", errs)
	}
}
