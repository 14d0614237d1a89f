package web_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/browsertest"
	"github.com/fedwave/fedwave/internal/config"
)

// The chat's browser tests drive the chat UI (web/static/js/chat.js and its
// modules in web/static/js/chat/) in real browsers against a real server.
// Each user has a browser of their own, since the session cookie belongs to
// the browser profile. This file has their helpers: a site with channels and
// users, a logged-in browser per user, and waits and counts over the list.

const chatPassword = "chat-password-1"

type chatSite struct {
	s       *apptest.Server
	handles map[string]string // name -> name#1234
}

// startChatSite starts a server with two channels (alpha, beta, owned by
// their streamers) and three plain users (ann, bob, cat).
func startChatSite(t *testing.T, opts ...func(*config.Config)) *chatSite {
	t.Helper()
	s := apptest.Start(t, opts...)
	c := &chatSite{s: s, handles: map[string]string{}}
	for _, u := range []struct {
		name string
		role auth.Role
	}{{"alpha", auth.RoleStreamer}, {"beta", auth.RoleStreamer}, {"ann", auth.RoleUser}, {"bob", auth.RoleUser}, {"cat", auth.RoleUser}} {
		c.handles[u.name] = s.CreateUser(u.name, chatPassword, u.role)
	}
	return c
}

// open starts a browser, logs name in through the login form (or stays
// anonymous when name is empty), opens path and waits until the chat has
// joined its channel.
func (c *chatSite) open(t *testing.T, name, path string) *browsertest.Page {
	t.Helper()
	p := browsertest.New(t).NewPage(t)
	if name == "" {
		p.Run(chromedp.Navigate(c.s.URL + path))
	} else {
		p.Run(
			chromedp.Navigate(c.s.URL+"/login?next="+path),
			chromedp.WaitVisible("#login-form"),
			chromedp.SendKeys(`#login-form input[name="name"]`, name),
			chromedp.SendKeys(`#login-form input[name="password"]`, chatPassword),
			chromedp.Submit("#login-form"),
			chromedp.WaitVisible("#chat-input"),
		)
	}
	waitJoined(t, p)
	return p
}

// waitJoined waits until the chat is connected and has its channel's
// history (the server's presence frame follows the replay).
func waitJoined(t *testing.T, p *browsertest.Page) {
	t.Helper()
	poll(t, p, `document.querySelector('#chat[data-joined]') !== null`)
}

// poll waits until the JavaScript expression is true.
func poll(t *testing.T, p *browsertest.Page, expr string) {
	t.Helper()
	done := false
	defer func() {
		if !done { // Get failed the test: say what never became true
			t.Logf("was waiting for: %s", expr)
		}
	}()
	browsertest.Get(p, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond)))
	done = true
}

// say types text into the chat box and sends it with the button.
func say(t *testing.T, p *browsertest.Page, text string) {
	t.Helper()
	p.Run(chromedp.SendKeys("#chat-input", text), chromedp.Click("#chat-send"))
}

// messagesJS is an expression for the server-rendered messages (not the
// sender's local copy) whose text is text.
func messagesJS(text string) string {
	return `[...document.querySelectorAll('#chat-log .chat-msg:not(.chat-local)')].filter(m => m.querySelector('.chat-body')?.textContent.trim() === ` + jsString(text) + `)`
}

func waitMessage(t *testing.T, p *browsertest.Page, text string) {
	t.Helper()
	poll(t, p, messagesJS(text)+`.length > 0`)
}

func countMessages(t *testing.T, p *browsertest.Page, text string) int {
	t.Helper()
	var n int
	p.Eval(messagesJS(text)+`.length`, &n)
	return n
}

// checkOffsets fails when two messages in the list have the same offset or
// when they are out of order.
func checkOffsets(t *testing.T, p *browsertest.Page, who string) {
	t.Helper()
	var offs []int
	p.Eval(`[...document.querySelectorAll('#chat-log .chat-msg:not(.chat-local)')].map(m => Number(m.dataset.offset))`, &offs)
	for i := 1; i < len(offs); i++ {
		if offs[i] <= offs[i-1] {
			t.Fatalf("%s: message offsets not strictly increasing (duplicate or out of order): %v", who, offs)
		}
	}
}

func noJSErrors(t *testing.T, pages map[string]*browsertest.Page) {
	t.Helper()
	for who, p := range pages {
		if errs := p.JSErrors(); len(errs) > 0 {
			t.Errorf("%s: JavaScript errors: %q", who, errs)
		}
	}
}

// clickMenu opens the name menu of the message with the given text and
// clicks the item labelled item.
func clickMenu(t *testing.T, p *browsertest.Page, text, item string) {
	t.Helper()
	var off int
	p.Eval(`Number(`+messagesJS(text)+`[0].dataset.offset)`, &off)
	p.Run(chromedp.Click(fmt.Sprintf(`#chat-log .chat-msg[data-offset="%d"] .chat-name`, off)), chromedp.WaitVisible("#chat-menu"))
	var items []string
	p.Eval(`[...document.querySelectorAll('#chat-menu button')].map(b => b.textContent)`, &items)
	for i, label := range items {
		if label == item {
			p.Run(chromedp.Click(fmt.Sprintf(`#chat-menu button:nth-of-type(%d)`, i+1)), chromedp.WaitNotVisible("#chat-menu"))
			return
		}
	}
	t.Fatalf("the name menu has %q, not %q", items, item)
}
