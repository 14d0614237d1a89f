package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/browsertest"
)

// TestBrowserAccountJourney is what a person does on a new instance:
// register, see the channels, open one, log out, log in as a streamer, edit
// the channel and make a stream key, log out.
func TestBrowserAccountJourney(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	s := apptest.Start(t)
	zed := s.CreateUser("zed", "zed-password", auth.RoleStreamer)
	b := browsertest.New(t)
	p := b.NewPage(t)

	p.Run(
		chromedp.Navigate(s.URL+"/register"),
		chromedp.WaitVisible("#register-form"),
		chromedp.SendKeys(`#register-form input[name="name"]`, "viewer1"),
		chromedp.SendKeys(`#register-form input[name="password"]`, "viewer-password"),
		chromedp.SendKeys(`#register-form input[name="password2"]`, "viewer-password"),
		chromedp.Submit(`#register-form`),
		chromedp.WaitVisible("#nav-user"),
	)
	if got := p.Text("#nav-user"); !strings.HasPrefix(got, "viewer1#") {
		t.Fatalf("after registering, the header shows %q", got)
	}
	// The home page lists zed's channel; follow it.
	p.Run(chromedp.WaitVisible(`#channels li[data-channel="zed"]`))
	follow(p, `#channels li[data-channel="zed"] a`, "#channel-owner")
	if got := p.Text("#channel-owner"); got != zed {
		t.Fatalf("channel page owner %q, want %q", got, zed)
	}
	var settings int
	p.Eval(`document.querySelectorAll('#channel-settings').length`, &settings)
	if settings != 0 {
		t.Fatal("a viewer sees the channel settings")
	}
	follow(p, "#logout", "#nav-login")

	// The streamer logs in with their handle and edits the channel.
	p.Run(
		chromedp.Navigate(s.URL+"/login?next=/c/zed"),
		chromedp.WaitVisible("#login-form"),
		chromedp.SendKeys(`#login-form input[name="name"]`, zed),
		chromedp.SendKeys(`#login-form input[name="password"]`, "zed-password"),
		chromedp.Submit(`#login-form`),
		chromedp.WaitVisible("#channel-settings"),
		chromedp.Click("#channel-settings summary"),
		chromedp.WaitVisible(`#settings-form input[name="title"]`),
		chromedp.SendKeys(`#settings-form input[name="title"]`, "Late night <synths>"),
		chromedp.Click(`#settings-form button`),
	)
	waitText(t, p, "#settings-status", "Saved.")
	if got := p.Text("#channel-title"); got != "Late night <synths>" {
		t.Fatalf("title shown as %q", got)
	}
	ch := s.Do("GET", "/api/v1/channels/zed", nil, "").Body["channel"].(map[string]any)
	if ch["title"] != "Late night <synths>" {
		t.Fatalf("title not saved: %v", ch)
	}

	p.Run(chromedp.Click("#stream-key-button"), chromedp.WaitVisible("#stream-key"))
	key := browsertest.Get(p, chromedp.Value("#stream-key"))
	if ok, err := s.App.Core().Channels.CheckStreamKey(t.Context(), "zed", key); !ok || err != nil {
		t.Fatalf("the key shown (%q) is not the channel's key: %v", key, err)
	}

	follow(p, "#logout", "#nav-login")
	var cookies string
	p.Eval(`document.cookie`, &cookies)
	if strings.Contains(cookies, "fedwave_session") {
		t.Fatal("the session cookie is readable from JavaScript")
	}
	if errs := p.JSErrors(); len(errs) > 0 {
		t.Fatalf("JavaScript errors: %q", errs)
	}
}

// follow clicks something that loads a new page and waits for an element
// of that page. The click goes through the page's own script: a click by
// node id can race with the navigation it starts.
func follow(p *browsertest.Page, click, wait string) {
	var ok bool
	p.Eval(`(() => { const el = document.querySelector(`+jsString(click)+`); if (!el) return false; el.click(); return true })()`, &ok)
	if !ok {
		p.Run(chromedp.WaitVisible(click)) // fails with a screenshot
	}
	p.Run(chromedp.WaitVisible(wait))
}

func waitText(t *testing.T, p *browsertest.Page, sel, want string) {
	t.Helper()
	browsertest.Get(p, chromedp.Poll[bool](`(document.querySelector(`+jsString(sel)+`)?.textContent || '') === `+jsString(want)))
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
