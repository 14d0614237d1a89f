package web_test

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/browsertest"
)

// TestOnboardingBrowser: a new admin goes from the setup link to a named
// site and a second person streaming live, all in the browser, no CLI:
// setup → Site settings (name) → someone signs up → People makes them a
// streamer → they go live from the studio → the checklist is done.
func TestOnboardingBrowser(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	s := apptest.Start(t)
	admin := setupAdmin(t, s, "boss", videoPassword, "#onboarding")
	poll(t, admin, `document.querySelector('#admin').dataset.loaded === 'true'`)

	openTab(t, admin, "settings")
	poll(t, admin, `document.querySelector('#settings').dataset.loaded === 'true'`)
	admin.Eval(`document.querySelector('#site-name-input').value = 'Newcomer TV'`, nil)
	admin.Run(chromedp.Click("#site-save"))
	poll(t, admin, `document.querySelector('#site-status').classList.contains('ok')`)
	admin.Run(chromedp.Reload(), chromedp.WaitVisible("#site-name"))
	poll(t, admin, `document.querySelector('#site-name').textContent === 'Newcomer TV'`)

	bob := browsertest.New(t).NewPage(t)
	bob.Run(chromedp.Navigate(s.URL+"/register"), chromedp.WaitVisible("#register-form"),
		chromedp.SendKeys(`#register-form input[name="name"]`, "bob"),
		chromedp.SendKeys(`#register-form input[name="password"]`, videoPassword),
		chromedp.SendKeys(`#register-form input[name="password2"]`, videoPassword),
		chromedp.Submit("#register-form"), chromedp.WaitVisible("#nav-user"))

	openTab(t, admin, "people")
	row := `document.querySelector('#people-list tr[data-name="bob"]')`
	admin.Run(chromedp.SendKeys("#people-q", "bob"), chromedp.Click("#people-search"))
	poll(t, admin, row+` !== null`)
	admin.Eval(`(() => { const s = `+row+`.querySelector('select.role'); s.value = 'streamer'; s.dispatchEvent(new Event('change')); })()`, nil)
	poll(t, admin, row+`?.querySelector('select.role').value === 'streamer'`)

	// The header offers bob the studio once he is a streamer: once the
	// admin page's request has saved the role, which the select's value
	// does not wait for (a reload before it showed no studio, CI).
	waitFor(t, "the studio in bob's header", func() bool {
		var ok bool
		bob.Run(chromedp.Reload(), chromedp.WaitVisible("#nav-user"))
		bob.Eval(`document.querySelector('#nav-studio') !== null`, &ok)
		return ok
	})
	follow(bob, "#nav-studio", "#studio-golive")
	goLiveFromStudio(t, bob)
	waitFor(t, "bob's channel live", func() bool { return channelLive(t, s, "bob") })

	// A local channel has been live: the getting-started list is done.
	admin.Run(chromedp.Navigate(s.URL+"/admin"), chromedp.WaitVisible("#overview"))
	poll(t, admin, `document.querySelector('#onboarding') === null`)
	for _, p := range []*browsertest.Page{admin, bob} {
		if errs := p.JSErrors(); len(errs) > 0 {
			t.Fatalf("JavaScript errors: %q", errs)
		}
	}
}
