package web_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/browsertest"
	"github.com/fedwave/fedwave/internal/config"
)

// TestAccountBrowser: a user goes from the header to their account page,
// picks a new name colour, uploads an avatar and signs out the session
// they left open elsewhere; then a visitor chats as a guest under a name
// they picked, types their fediverse handle on the channel page and lands
// on their own server's follow page.
func TestAccountBrowser(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	remote := fakeFediverse(t)
	s := apptest.Start(t, func(c *config.Config) { c.FederationAllowPrivate = true })
	s.CreateUser("alpha", videoPassword, auth.RoleStreamer)
	s.CreateUser("alice", videoPassword, auth.RoleUser)
	elsewhere := loginAs(t, s, "alice", videoPassword, firefoxUA)

	p := openPage(t, s, "alice", "/", "#nav-account")
	clickThrough(p, "#nav-account", "#color-form")
	poll(t, p, `document.querySelectorAll('#sessions-body tr').length === 2`)

	pick := auth.Palette()[3]
	p.Eval(`document.querySelector('input[name="color"][value="`+pick+`"]').closest('label').click()`, nil)
	p.Run(chromedp.Click(`#color-form button[type="submit"]`))
	poll(t, p, `document.querySelector('#color-status').textContent === 'Colour saved.'`)

	img := filepath.Join(t.TempDir(), "me.png")
	if err := os.WriteFile(img, testImage(t, "png", 48, 48), 0o600); err != nil {
		t.Fatal(err)
	}
	p.Run(chromedp.SetUploadFiles("#avatar-file", []string{img}), chromedp.Click(`#avatar-form button[type="submit"]`))
	poll(t, p, `document.querySelector('#avatar-status').textContent === 'Avatar saved.' && document.querySelector('#avatar-preview').naturalWidth === 48`)

	p.Eval(`document.querySelector('#sessions-body tr:not(:has(.badge)) button').click()`, nil)
	poll(t, p, `document.querySelectorAll('#sessions-body tr').length === 1 && document.querySelector('#sessions-others').hidden`)

	me := s.Login("alice", videoPassword)
	u := s.Do("GET", "/api/v1/me", nil, me).Body["user"].(map[string]any)
	if u["color"] != pick || !strings.HasPrefix(u["avatar"].(string), "/avatars/") {
		t.Fatalf("after the page: %v", u)
	}
	wantError(t, s.Do("GET", "/api/v1/me", nil, elsewhere), 401, "invalid_token")
	if errs := p.JSErrors(); len(errs) > 0 {
		t.Fatalf("JavaScript errors: %q", errs)
	}

	visitor := browsertest.New(t).NewPage(t)
	visitor.Run(chromedp.Navigate(s.URL+"/c/alpha"), chromedp.WaitVisible("#chat-guest"), chromedp.Click("#chat-guest"),
		chromedp.WaitVisible("#chat-guest-name summary"), chromedp.Click("#chat-guest-name summary"),
		chromedp.SendKeys("#chat-guest-name input", "visitor"), chromedp.Click("#chat-guest-name button"))
	poll(t, visitor, `document.querySelector('#chat-guest-name .form-status').textContent.startsWith('You are now visitor#')`)
	say(t, visitor, "hello under my own name")
	poll(t, visitor, messagesJS("hello under my own name")+`.some(m => m.querySelector('.chat-name').textContent.startsWith('visitor#'))`)

	visitor.Run(chromedp.WaitVisible("#follow summary"), chromedp.Click("#follow summary"),
		chromedp.SendKeys("#follow-handle", "bob@"+strings.TrimPrefix(remote.URL, "http://")), chromedp.Submit("#follow-form"),
		chromedp.WaitVisible("#follow-target"))
	if got, want := visitor.Text("#follow-target"), "alpha@"+strings.TrimPrefix(s.URL, "http://"); got != want {
		t.Fatalf("the follow page was asked about %q, want %q", got, want)
	}
}

// clickThrough clicks a link and waits for what the next page shows.
func clickThrough(p *browsertest.Page, click, wait string) {
	p.Run(chromedp.Click(click), chromedp.WaitVisible(wait))
}
