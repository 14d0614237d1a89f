package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/fedwave/fedwave/internal/browsertest"
	"github.com/fedwave/fedwave/internal/config"
)

// The chat's core flows in real browsers: two users talking, guests,
// reconnecting and resuming, safe markup, and the server's refusals. The
// helpers are in chat_browser_helpers_test.go; the chat's controls and
// layout are tested in chat_browser_ui_test.go.

// TestChatBrowserTwoUsers: two people on one channel see each other's
// messages, with their names; someone on another channel sees none of them.
func TestChatBrowserTwoUsers(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	c := startChatSite(t)
	ann := c.open(t, "ann", "/c/alpha")
	bob := c.open(t, "bob", "/c/alpha")
	cat := c.open(t, "cat", "/c/beta")

	say(t, ann, "hello from ann")
	waitMessage(t, bob, "hello from ann")
	say(t, bob, "hi ann, bob here")
	waitMessage(t, ann, "hi ann, bob here")
	waitMessage(t, ann, "hello from ann") // her own, as the server stored it

	var from struct{ Handle, Name string }
	bob.Eval(messagesJS("hello from ann")+`.map(m => ({handle: m.dataset.handle, name: m.querySelector('.chat-name').textContent}))[0]`, &from)
	if from.Handle != c.handles["ann"] || from.Name != c.handles["ann"] {
		t.Errorf("ann's message shows the sender as %+v, want %s", from, c.handles["ann"])
	}
	var pending int
	ann.Eval(`document.querySelectorAll('#chat-log .chat-pending').length`, &pending)
	if pending != 0 {
		t.Errorf("ann still has %d pending messages after they were delivered", pending)
	}
	var emoteButton bool
	ann.Eval(`document.querySelector('#chat-emotes-button').hidden`, &emoteButton)
	if !emoteButton {
		t.Error("the emote button is shown on an instance without emotes")
	}

	// cat, on beta, sees her own message arrive, and nothing from alpha:
	// alpha's messages were sent before it and would have come first.
	say(t, cat, "only on beta")
	waitMessage(t, cat, "only on beta")
	for _, text := range []string{"hello from ann", "hi ann, bob here"} {
		if n := countMessages(t, cat, text); n != 0 {
			t.Errorf("a viewer of beta sees alpha's message %q", text)
		}
	}
	if n := countMessages(t, ann, "only on beta"); n != 0 {
		t.Error("a viewer of alpha sees beta's message")
	}
	for who, p := range map[string]*browsertest.Page{"ann": ann, "bob": bob} {
		if got := p.Text("#chat-viewers"); got == "" || got == "0" {
			t.Errorf("%s: viewer count %q with two people on the channel", who, got)
		}
	}
	// The chatters list opens from the viewer count and names both.
	ann.Run(chromedp.Click("#chat-users-toggle"), chromedp.WaitVisible("#chat-chatters"))
	poll(t, ann, `(() => {
		const h = [...document.querySelectorAll('#chat-chatters [data-handle]')].map(b => b.dataset.handle);
		return h.includes(`+jsString(c.handles["ann"])+`) && h.includes(`+jsString(c.handles["bob"])+`);
	})()`)
	if got := browsertest.Get(ann, chromedp.AttributeValue("#chat-users-toggle", "aria-expanded")); got.Value != "true" {
		t.Errorf("the chatters toggle says aria-expanded=%q when open", got.Value)
	}
	noJSErrors(t, map[string]*browsertest.Page{"ann": ann, "bob": bob, "cat": cat})
}

// TestChatBrowserGuest: an anonymous visitor reads the chat, becomes a guest
// with one click, chats, and stays the same guest after a reload.
func TestChatBrowserGuest(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	c := startChatSite(t)
	b := browsertest.New(t)
	reader := b.NewPage(t)
	reader.Run(chromedp.Navigate(c.s.URL + "/c/alpha"))
	waitJoined(t, reader)
	guest := b.NewPage(t)
	guest.Run(chromedp.Navigate(c.s.URL + "/c/alpha"))
	waitJoined(t, guest)

	var login string
	guest.Eval(`document.querySelector('#chat-login').getAttribute('href')`, &login)
	if login != "/login?next=%2Fc%2Falpha" {
		t.Errorf("log-in link %q does not lead back to the channel", login)
	}
	var formHidden bool
	guest.Eval(`document.querySelector('#chat-form').hidden`, &formHidden)
	if !formHidden {
		t.Error("an anonymous visitor sees the message box")
	}

	t.Logf("screenshot of the chat for an anonymous visitor: %s", guest.Screenshot("anonymous"))
	guest.Run(chromedp.Click("#chat-guest"), chromedp.WaitVisible("#chat-input"))
	var me string
	guest.Eval(`document.querySelector('#chat').dataset.me`, &me)
	if !strings.HasPrefix(me, "guest-") || !strings.Contains(me, "#") {
		t.Fatalf("after 'Chat as guest' the chat knows us as %q", me)
	}
	say(t, guest, "a guest says hi")
	waitMessage(t, reader, "a guest says hi")
	var handle string
	reader.Eval(messagesJS("a guest says hi")+`[0].dataset.handle`, &handle)
	if handle != me {
		t.Errorf("the guest's message is from %q, want %q", handle, me)
	}

	// A reload keeps the guest (the token is in the tab's sessionStorage).
	guest.Run(chromedp.Reload())
	waitJoined(t, guest)
	guest.Run(chromedp.WaitVisible("#chat-input"))
	var again string
	guest.Eval(`document.querySelector('#chat').dataset.me`, &again)
	if again != me {
		t.Errorf("after a reload the guest is %q, was %q", again, me)
	}
	noJSErrors(t, map[string]*browsertest.Page{"reader": reader, "guest": guest})
}

// TestChatBrowserNoGuests: where guests are off, there is only a log-in link.
func TestChatBrowserNoGuests(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	c := startChatSite(t, func(cfg *config.Config) { cfg.Guests = false })
	p := c.open(t, "", "/c/alpha")
	var guestButtons int
	p.Eval(`document.querySelectorAll('#chat-guest').length`, &guestButtons)
	if guestButtons != 0 {
		t.Error("'Chat as guest' is offered on an instance without guests")
	}
	if got := p.Text("#chat-login"); got != "Log in" {
		t.Errorf("log-in link says %q", got)
	}
	noJSErrors(t, map[string]*browsertest.Page{"anonymous": p})
}

// TestChatBrowserResume: after a reload the history is shown once; after the
// server restarts the chat reconnects by itself, sends what was typed in the
// meantime, and shows every message exactly once.
func TestChatBrowserResume(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	c := startChatSite(t)
	ann := c.open(t, "ann", "/c/alpha")
	bob := c.open(t, "bob", "/c/alpha")
	say(t, ann, "one")
	say(t, ann, "two")
	waitMessage(t, bob, "two")

	bob.Run(chromedp.Reload())
	waitJoined(t, bob)
	waitMessage(t, bob, "two")
	for _, text := range []string{"one", "two"} {
		if n := countMessages(t, bob, text); n != 1 {
			t.Errorf("after a reload %q is shown %d times", text, n)
		}
	}
	checkOffsets(t, bob, "bob after reload")

	// The server goes away: the chat says so, and keeps what bob types.
	c.s.Stop()
	poll(t, bob, `document.querySelector('#chat-status').dataset.state === 'reconnecting'`)
	if got := bob.Text("#chat-status"); !strings.Contains(got, "Reconnecting") {
		t.Errorf("while the server is down the status says %q", got)
	}
	say(t, bob, "typed while offline")
	poll(t, bob, `[...document.querySelectorAll('#chat-log .chat-pending')].some(m => m.textContent.includes('typed while offline'))`)

	c.s.Restart()
	for _, p := range []*browsertest.Page{ann, bob} {
		waitJoined(t, p)
		waitMessage(t, p, "typed while offline")
	}
	poll(t, bob, `document.querySelectorAll('#chat-log .chat-pending').length === 0`)
	say(t, ann, "three")
	waitMessage(t, bob, "three")
	waitMessage(t, ann, "three")
	for who, p := range map[string]*browsertest.Page{"ann": ann, "bob": bob} {
		for _, text := range []string{"one", "two", "typed while offline", "three"} {
			if n := countMessages(t, p, text); n != 1 {
				t.Errorf("%s: after the restart %q is shown %d times", who, text, n)
			}
		}
		checkOffsets(t, p, who)
		if got := p.Text("#chat-status"); got != "Connected" {
			t.Errorf("%s: status %q after reconnecting", who, got)
		}
	}
	noJSErrors(t, map[string]*browsertest.Page{"ann": ann, "bob": bob})
}

// TestChatBrowserMarkupIsSafe: HTML typed into the chat is shown as text,
// Markdown is rendered, and nothing runs.
func TestChatBrowserMarkupIsSafe(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	c := startChatSite(t)
	ann := c.open(t, "ann", "/c/alpha")
	bob := c.open(t, "bob", "/c/alpha")
	const trap = `window.alerted = false; window.alert = () => { window.alerted = true; }; true`
	for _, p := range []*browsertest.Page{ann, bob} {
		p.Eval(trap, nil)
	}

	const evil = `<img src=x onerror=alert(1)> **bold**`
	say(t, ann, evil)
	const text = `<img src=x onerror=alert(1)> bold`
	for who, p := range map[string]*browsertest.Page{"ann": ann, "bob": bob} {
		waitMessage(t, p, text)
		var got struct {
			Strong string
			Images int
			Alert  bool
		}
		p.Eval(`({
			strong: `+messagesJS(text)+`[0].querySelector('.chat-body strong')?.textContent ?? '',
			images: document.querySelectorAll('#chat-log img:not(.emote):not(.chat-avatar)').length,
			alert: window.alerted,
		})`, &got)
		if got.Strong != "bold" {
			t.Errorf("%s: **bold** is not shown in bold (strong = %q)", who, got.Strong)
		}
		if got.Images != 0 || got.Alert {
			t.Errorf("%s: the HTML in the message became an element (images %d, alert ran %v)", who, got.Images, got.Alert)
		}
	}
	noJSErrors(t, map[string]*browsertest.Page{"ann": ann, "bob": bob})
}

// TestChatBrowserErrorsAndLimits: the server's refusals are shown by the
// box; the length limit is counted down before it is reached.
func TestChatBrowserErrorsAndLimits(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	c := startChatSite(t)
	ann := c.open(t, "ann", "/c/alpha")

	say(t, ann, "!nosuchcommand")
	poll(t, ann, `(() => { const e = document.querySelector('#chat-error'); return !e.hidden && e.textContent.trim() !== ''; })()`)
	if role := browsertest.Get(ann, chromedp.AttributeValue("#chat-error", "role")); role.Value != "alert" {
		t.Errorf("the error line has role %q", role.Value)
	}

	var st struct {
		Counter  string
		Over     bool
		Disabled bool
	}
	ann.Eval(`(() => {
		const i = document.querySelector('#chat-input');
		i.value = 'x'.repeat(501);
		i.dispatchEvent(new Event('input'));
		const c = document.querySelector('#chat-counter');
		return {counter: c.hidden ? '' : c.textContent, over: c.classList.contains('over'), disabled: document.querySelector('#chat-send').disabled};
	})()`, &st)
	if st.Counter != "-1" || !st.Over || !st.Disabled {
		t.Errorf("at 501 characters: counter %q, over %v, send disabled %v", st.Counter, st.Over, st.Disabled)
	}
	noJSErrors(t, map[string]*browsertest.Page{"ann": ann})
}
