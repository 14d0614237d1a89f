package web_test

import (
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
