package web_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/browsertest"
)

// What a new user meets in the browser: naming rules said up front, focus
// that stays put, colours everyone can read.

// TestBrowserSetupAsAdmin: the first admin may be called "admin", as the
// setup form suggests; the register form says which names are refused
// before anyone submits it.
func TestBrowserSetupAsAdmin(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	s := apptest.Start(t)
	p := setupAdmin(t, s, "admin", "admin-password", "#nav-user, #form-error")
	var got string
	p.Eval(`(document.querySelector('#nav-user') || document.querySelector('#form-error')).textContent`, &got)
	if !strings.HasPrefix(got, "admin#") {
		t.Fatalf("setup with the name admin: %q", got)
	}
	// The new admin lands on /admin with the getting-started checklist.
	p.Run(chromedp.WaitVisible("#onboarding"))
	// The name stays reserved for everyone else.
	wantError(t, s.Do("POST", "/api/v1/register", map[string]string{"name": "Admin", "password": "password1"}, ""), 400, "reserved_name")

	p.Run(chromedp.Navigate(s.URL+"/register"), chromedp.WaitVisible("#register-form"))
	var rule string
	p.Eval(`document.getElementById(document.querySelector('#register-form input[name="name"]').getAttribute('aria-describedby')).textContent`, &rule)
	if !strings.Contains(rule, "reserved") || !strings.Contains(rule, "admin") {
		t.Fatalf("the register form's name rule says %q: no word of reserved names", rule)
	}
}

// TestChatBrowserNoFocusOnLoad: opening a channel does not put the caret in
// the chat box (on a phone that opens the keyboard over the video); asking
// to chat as a guest does.
func TestChatBrowserNoFocusOnLoad(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	c := startChatSite(t)
	ann := c.open(t, "ann", "/c/alpha")
	ann.Run(chromedp.WaitVisible("#chat-input"))
	var focused string
	ann.Eval(`document.activeElement?.id || document.activeElement?.tagName`, &focused)
	if focused == "chat-input" {
		t.Error("the chat box took focus when the page loaded")
	}
	ann.Run(chromedp.Reload())
	waitJoined(t, ann)
	ann.Eval(`document.activeElement?.id || document.activeElement?.tagName`, &focused)
	if focused == "chat-input" {
		t.Error("the chat box took focus when the page reloaded")
	}

	guest := browsertest.New(t).NewPage(t)
	guest.Run(chromedp.Navigate(c.s.URL + "/c/alpha"))
	waitJoined(t, guest)
	guest.Run(chromedp.Click("#chat-guest"), chromedp.WaitVisible("#chat-input"))
	poll(t, guest, `document.activeElement === document.querySelector('#chat-input')`)
}

// contrastJS measures, for every element matching sel, the contrast of its
// text colour against the first opaque background behind it, per WCAG 2.
const contrastJS = `(() => {
	const rgb = (s) => (s.match(/[\d.]+/g) || []).map(Number);
	const lum = (c) => c.slice(0, 3).map((v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
		.reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
	const background = (el) => {
		for (let e = el; e; e = e.parentElement) {
			const c = rgb(getComputedStyle(e).backgroundColor);
			if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c;
		}
		return [255, 255, 255];
	};
	const out = [];
	for (const el of document.querySelectorAll(%q)) {
		const fg = rgb(getComputedStyle(el).color), bg = background(el);
		const [a, b] = [lum(fg), lum(bg)];
		out.push({text: el.textContent, color: getComputedStyle(el).color, bg: bg.join(','),
			ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)});
	}
	return out;
})()`

type contrastResult struct {
	Text, Color, Bg string
	Ratio           float64
}

// TestChatBrowserContrast: names in every palette colour, and in colours an
// import may have brought (white, black, pure yellow…), and greentext reach
// WCAG AA (4.5:1) on the light and the dark theme; switching the theme
// needs no reload.
func TestChatBrowserContrast(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	c := startChatSite(t)
	colours := []string{
		// The palette of auth.RandomColor.
		"#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4",
		"#f032e6", "#bfef45", "#fabed4", "#469990", "#dcbeff", "#ffe119",
		// Imported from the legacy files.
		"#ffffff", "#000000", "#ffff00", "#0000ff", "#777777", "#00ff00", "#808080", "#e8e4ff",
	}
	core := c.s.App.Core()
	tokens := map[string]string{} // colour -> a token of the user who has it
	for i, col := range colours {
		u, err := core.Auth.ImportUser(t.Context(), fmt.Sprintf("painter%d", i), 1000+i, col, "", auth.RoleUser)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := core.Keys.Issue(u.ID, time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		tokens[col] = tok.Token
		text := fmt.Sprintf("> green words %d", i)
		if r := c.s.Do("POST", "/api/v1/channels/alpha/messages", map[string]string{"text": text, "nonce": fmt.Sprint(i)}, tok.Token); r.Status != 201 {
			t.Fatalf("post as %s: %d %s", col, r.Status, r.Raw)
		}
	}
	p := browsertest.New(t).NewPage(t)
	check := func(theme, sel string, want int) {
		t.Helper()
		var got []contrastResult
		p.Eval(fmt.Sprintf(contrastJS, sel), &got)
		if len(got) < want {
			t.Fatalf("%s: %d elements match %s, want %d", theme, len(got), sel, want)
		}
		for _, r := range got {
			if r.Ratio < 4.5 {
				t.Errorf("%s theme: %s %q in %s on rgb(%s): contrast %.2f, below 4.5", theme, sel, r.Text, r.Color, r.Bg, r.Ratio)
			}
		}
	}
	scheme := func(s string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: s}},
			})
			return err
		})
	}
	p.Run(scheme("light"), chromedp.Navigate(c.s.URL+"/c/alpha"))
	waitJoined(t, p)
	poll(t, p, fmt.Sprintf(`document.querySelectorAll('#chat-log .chat-msg').length >= %d`, len(colours)))
	for _, theme := range []string{"light", "dark"} {
		p.Run(scheme(theme)) // no reload: the page follows the theme
		for _, sel := range []string{"#chat-log button.chat-name", "#chat-log .chat-num", "#chat-log .greentext"} {
			check(theme, sel, len(colours))
		}
		t.Logf("screenshot, %s theme: %s", theme, p.Screenshot("contrast-"+theme))
	}
	// The signed-in user's own name in the top bar.
	for _, col := range []string{"#ffffff", "#000000", "#ffe119"} {
		p.Run(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, network.SetCookie, network.SetCookieParams{Name: "fedwave_session", Value: tokens[col], URL: c.s.URL})
			return err
		}), chromedp.Navigate(c.s.URL+"/"), chromedp.WaitVisible("#nav-user"))
		for _, theme := range []string{"light", "dark"} {
			p.Run(scheme(theme))
			check(theme, "#nav-user", 1)
		}
	}
	noJSErrors(t, map[string]*browsertest.Page{"viewer": p})
}

// setupAdmin opens the setup link the server printed in a new browser,
// creates the admin with name and password, and waits for wait.
func setupAdmin(t *testing.T, s *apptest.Server, name, password, wait string) *browsertest.Page {
	t.Helper()
	link := regexp.MustCompile(`http://\S+/setup\?token=\S+`).FindString(s.Output())
	if link == "" {
		t.Fatalf("no setup link in %q", s.Output())
	}
	p := browsertest.New(t).NewPage(t)
	p.Run(
		chromedp.Navigate(link),
		chromedp.WaitVisible("#setup-form"),
		chromedp.SendKeys(`#setup-form input[name="name"]`, name),
		chromedp.SendKeys(`#setup-form input[name="password"]`, password),
		chromedp.SendKeys(`#setup-form input[name="password2"]`, password),
		chromedp.Submit("#setup-form"),
		chromedp.WaitVisible(wait),
	)
	return p
}
