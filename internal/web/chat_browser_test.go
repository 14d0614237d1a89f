package web_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/browsertest"
	"github.com/fedwave/fedwave/internal/config"
)

// The chat tests drive the chat UI (web/static/js/chat.js) in real browsers
// against a real server. Each user has a browser of their own, since the
// session cookie belongs to the browser profile.

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

// TestChatBrowserTwoUsers: two people on one channel see each other's
// messages, with their names; someone on another channel sees none of them.
func TestChatBrowserTwoUsers(t *testing.T) {
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

// TestChatBrowserInputHistory: up and down arrows walk through what was sent.
func TestChatBrowserInputHistory(t *testing.T) {
	c := startChatSite(t)
	ann := c.open(t, "ann", "/c/alpha")
	say(t, ann, "first line")
	say(t, ann, "second line")
	waitMessage(t, ann, "second line")
	value := func() string { return browsertest.Get(ann, chromedp.Value("#chat-input")) }
	if v := value(); v != "" {
		t.Fatalf("the box still holds %q after sending", v)
	}
	ann.Run(chromedp.SendKeys("#chat-input", "draft"))
	steps := []struct{ key, want string }{
		{kb.ArrowUp, "second line"},
		{kb.ArrowUp, "first line"},
		{kb.ArrowUp, "first line"}, // the oldest stays
		{kb.ArrowDown, "second line"},
		{kb.ArrowDown, "draft"}, // back to what was being typed
	}
	for i, s := range steps {
		ann.Run(chromedp.SendKeys("#chat-input", s.key))
		if v := value(); v != s.want {
			t.Fatalf("step %d: the box holds %q, want %q", i+1, v, s.want)
		}
	}
	noJSErrors(t, map[string]*browsertest.Page{"ann": ann})
}

// TestChatBrowserPopout: /c/{name}/chat shows the chat alone; with
// ?transparent=1 it is an overlay for OBS: transparent, no controls.
func TestChatBrowserPopout(t *testing.T) {
	c := startChatSite(t)
	ann := c.open(t, "ann", "/c/alpha")
	say(t, ann, "seen in the overlay")
	waitMessage(t, ann, "seen in the overlay")

	var popout string
	ann.Eval(`document.querySelector('#chat-popout').getAttribute('href')`, &popout)
	if popout != "/c/alpha/chat" {
		t.Errorf("pop-out link %q", popout)
	}

	overlay := c.open(t, "", "/c/alpha/chat?transparent=1")
	waitMessage(t, overlay, "seen in the overlay")
	var got struct {
		Transparent bool
		Background  string
		Controls    int
		Header      int
	}
	overlay.Eval(`({
		transparent: document.body.classList.contains('transparent'),
		background: getComputedStyle(document.body).backgroundColor,
		controls: [...document.querySelectorAll('#chat-form, #chat-join, .chat-head')].filter(e => e.offsetParent !== null).length,
		header: document.querySelectorAll('.topbar').length,
	})`, &got)
	if !got.Transparent || got.Background != "rgba(0, 0, 0, 0)" {
		t.Errorf("overlay not transparent: class %v, background %q", got.Transparent, got.Background)
	}
	if got.Controls != 0 || got.Header != 0 {
		t.Errorf("overlay shows %d chat controls and %d site headers", got.Controls, got.Header)
	}
	t.Logf("screenshot of the overlay: %s", overlay.Screenshot("overlay"))

	// The plain pop-out, logged in, is a full chat.
	ann.Run(chromedp.Navigate(c.s.URL + "/c/alpha/chat"))
	waitJoined(t, ann)
	ann.Run(chromedp.WaitVisible("#chat-input"))
	waitMessage(t, ann, "seen in the overlay")
	say(t, ann, "from the pop-out")
	waitMessage(t, overlay, "from the pop-out")
	ann.Run(chromedp.EmulateViewport(420, 720), chromedp.Click("#chat-users-toggle"), chromedp.WaitVisible("#chat-chatters"))
	t.Logf("screenshot of the pop-out: %s", ann.Screenshot("popout"))
	var transparent bool
	ann.Eval(`document.body.classList.contains('transparent')`, &transparent)
	if transparent {
		t.Error("the pop-out without ?transparent=1 is transparent")
	}
	noJSErrors(t, map[string]*browsertest.Page{"ann": ann, "overlay": overlay})
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

// TestChatBrowserNameMenu: the menu on a name whispers, ignores, and for the
// channel's owner deletes.
func TestChatBrowserNameMenu(t *testing.T) {
	c := startChatSite(t)
	owner := c.open(t, "alpha", "/c/alpha")
	bob := c.open(t, "bob", "/c/alpha")

	// The owner moderates: delete one of bob's messages.
	say(t, bob, "please delete me")
	waitMessage(t, owner, "please delete me")
	owner.Run(chromedp.Click(`#chat-log .chat-msg:not(.chat-local) .chat-name`), chromedp.WaitVisible("#chat-menu"))
	var focused bool
	owner.Eval(`document.activeElement?.getAttribute('role') === 'menuitem'`, &focused)
	if !focused {
		t.Error("the name menu does not take the keyboard focus")
	}
	t.Logf("screenshot of the name menu: %s", owner.Screenshot("menu"))
	owner.Run(chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible("#chat-menu"))
	clickMenu(t, owner, "please delete me", "Delete this message")
	for _, p := range []*browsertest.Page{owner, bob} {
		poll(t, p, messagesJS("please delete me")+`.length === 0`)
	}

	// Whisper from the menu.
	say(t, bob, "whisper to me")
	waitMessage(t, owner, "whisper to me")
	clickMenu(t, owner, "whisper to me", "Whisper")
	if v := browsertest.Get(owner, chromedp.Value("#chat-input")); v != "!w "+c.handles["bob"]+" " {
		t.Fatalf("Whisper put %q into the box", v)
	}
	owner.Run(chromedp.SendKeys("#chat-input", "psst"), chromedp.Click("#chat-send"))
	for _, p := range []*browsertest.Page{owner, bob} {
		poll(t, p, `[...document.querySelectorAll('#chat-log .chat-whisper')].some(w => w.querySelector('.chat-body')?.textContent.trim() === 'psst')`)
	}

	// bob is no moderator: his menu has no moderation; he ignores alpha.
	say(t, owner, "before the ignore")
	waitMessage(t, bob, "before the ignore")
	var offs int
	bob.Eval(`Number(`+messagesJS("before the ignore")+`[0].dataset.offset)`, &offs)
	bob.Run(chromedp.Click(fmt.Sprintf(`#chat-log .chat-msg[data-offset="%d"] .chat-name`, offs)), chromedp.WaitVisible("#chat-menu"))
	var items []string
	bob.Eval(`[...document.querySelectorAll('#chat-menu button')].map(b => b.textContent)`, &items)
	if strings.Contains(strings.Join(items, ","), "Ban") || strings.Contains(strings.Join(items, ","), "Delete") {
		t.Errorf("a plain user's name menu offers %q", items)
	}
	bob.Run(chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible("#chat-menu"))
	clickMenu(t, bob, "before the ignore", "Ignore")
	poll(t, bob, messagesJS("before the ignore")+`[0].hidden`)
	say(t, owner, "after the ignore")
	waitMessage(t, owner, "after the ignore")
	poll(t, bob, messagesJS("after the ignore")+`.length === 1 && `+messagesJS("after the ignore")+`[0].hidden`)

	// The ignore list survives a reload; Unignore shows the messages again.
	bob.Run(chromedp.Reload())
	waitJoined(t, bob)
	poll(t, bob, messagesJS("after the ignore")+`.length === 1 && `+messagesJS("after the ignore")+`[0].hidden`)
	bob.Eval(messagesJS("after the ignore")+`[0].querySelector('.chat-name').click()`, nil)
	bob.Run(chromedp.WaitVisible("#chat-menu"))
	bob.Eval(`[...document.querySelectorAll('#chat-menu button')].find(b => b.textContent === 'Unignore').click()`, nil)
	poll(t, bob, messagesJS("after the ignore")+`.every(m => !m.hidden)`)

	// A timeout from the owner's menu: the server confirms it, bob's next
	// message is refused, he is told why and gets his text back.
	clickMenu(t, owner, "whisper to me", "Timeout 10 min")
	poll(t, owner, `document.querySelector('#chat-log .chat-system') !== null`)
	say(t, bob, "am I muted?")
	poll(t, bob, `!document.querySelector('#chat-error').hidden && document.querySelector('#chat-input').value === 'am I muted?'`)
	var pending int
	bob.Eval(`document.querySelectorAll('#chat-log .chat-local').length`, &pending)
	if pending != 0 {
		t.Errorf("the refused message is still in bob's list")
	}
	if n := countMessages(t, owner, "am I muted?"); n != 0 {
		t.Errorf("a timed-out user's message reached the channel")
	}
	noJSErrors(t, map[string]*browsertest.Page{"owner": owner, "bob": bob})
}

// TestChatBrowserErrorsAndLimits: the server's refusals are shown by the
// box; the length limit is counted down before it is reached.
func TestChatBrowserErrorsAndLimits(t *testing.T) {
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

// TestChatBrowserLayout: the chat sits beside the player on a wide screen
// and under it, about 60% of the screen high, on a phone. The screenshots
// are for a human to look at.
func TestChatBrowserLayout(t *testing.T) {
	c := startChatSite(t)
	owner := c.open(t, "alpha", "/c/alpha")
	ann := c.open(t, "ann", "/c/alpha")
	for _, line := range []string{
		"hello everyone, *first* time here",
		"> greentext works too",
		"check `go test ./...` and https://example.org/docs",
		"@" + c.handles["alpha"] + " great stream!",
		"a much longer message to see how the chat wraps its lines when somebody has a lot to say about the stream",
	} {
		say(t, ann, line)
	}
	poll(t, owner, `document.querySelectorAll('#chat-log .chat-msg:not(.chat-local)').length >= 5`)
	say(t, owner, "thanks for coming!")
	say(t, owner, "!w "+c.handles["ann"]+" see you after the stream")
	waitMessage(t, owner, "thanks for coming!")
	poll(t, owner, `document.querySelector('#chat-log .chat-whisper') !== null`)
	var mentioned bool
	owner.Eval(`document.querySelector('#chat-log .chat-mention-me') !== null`, &mentioned)
	if !mentioned {
		t.Error("a message that mentions the owner is not highlighted for them")
	}

	var wide struct{ ChatLeft, PlayerRight float64 }
	layout := `(() => {
		const chat = document.querySelector('#chat').getBoundingClientRect();
		const player = document.querySelector('#player').getBoundingClientRect();
		return {chatLeft: chat.left, chatTop: chat.top, playerRight: player.right, playerBottom: player.bottom, chatHeight: chat.height, inner: innerHeight};
	})()`
	owner.Eval(layout, &wide)
	if wide.ChatLeft < wide.PlayerRight {
		t.Errorf("at 1280 px the chat (left %v) is not beside the player (right %v)", wide.ChatLeft, wide.PlayerRight)
	}
	t.Logf("screenshot at 1280 px: %s", owner.Screenshot("chat-1280"))

	owner.Run(chromedp.EmulateViewport(390, 844))
	var phone struct{ ChatTop, PlayerBottom, ChatHeight, Inner float64 }
	owner.Eval(layout, &phone)
	if phone.ChatTop < phone.PlayerBottom {
		t.Errorf("at 390 px the chat (top %v) is not under the player (bottom %v)", phone.ChatTop, phone.PlayerBottom)
	}
	if math.Abs(phone.ChatHeight-0.6*phone.Inner) > 0.05*phone.Inner {
		t.Errorf("at 390 px the chat is %v px high in a %v px window, want about 60%%", phone.ChatHeight, phone.Inner)
	}
	var overflow bool
	owner.Eval(`document.documentElement.scrollWidth > innerWidth`, &overflow)
	if overflow {
		t.Error("at 390 px the page scrolls sideways")
	}
	t.Logf("screenshot at 390 px: %s", owner.Screenshot("chat-390"))

	// Dark mode, wide again: every name must stay legible on the dark panel.
	owner.Run(
		chromedp.EmulateViewport(1280, 900),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
			})
			return err
		}),
		chromedp.Reload(),
	)
	waitJoined(t, owner)
	waitMessage(t, owner, "thanks for coming!")
	t.Logf("screenshot at 1280 px, dark: %s", owner.Screenshot("chat-1280-dark"))
	noJSErrors(t, map[string]*browsertest.Page{"owner": owner, "ann": ann})
}

// TestChatBrowserScrolling: the list follows new messages only when the
// reader is at the bottom; otherwise a button offers to jump down. The list
// keeps at most 500 messages.
func TestChatBrowserScrolling(t *testing.T) {
	c := startChatSite(t)
	bot := c.s.Login("bob", chatPassword)
	post := func(text string) {
		t.Helper()
		if r := c.s.Do("POST", "/api/v1/channels/alpha/messages", map[string]string{"text": text}, bot); r.Status != 201 {
			t.Fatalf("posting %q: %d %s", text, r.Status, r.Raw)
		}
	}
	p := c.open(t, "", "/c/alpha")
	for i := range 40 {
		post(fmt.Sprintf("line %d", i))
	}
	waitMessage(t, p, "line 39")
	const atBottom = `(() => { const l = document.querySelector('#chat-log'); return l.scrollHeight - l.scrollTop - l.clientHeight < 5; })()`
	poll(t, p, atBottom)

	// The reader scrolls up; a new message does not move the list.
	p.Eval(`(async () => {
		document.querySelector('#chat-log').scrollTop = 0;
		await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
	})()`, nil)
	post("while you were reading")
	waitMessage(t, p, "while you were reading")
	poll(t, p, `!document.querySelector('#chat-more').hidden`)
	var top float64
	p.Eval(`document.querySelector('#chat-log').scrollTop`, &top)
	if top != 0 {
		t.Errorf("a new message scrolled the list to %v while the reader was up", top)
	}
	p.Run(chromedp.Click("#chat-more"))
	poll(t, p, atBottom+` && document.querySelector('#chat-more').hidden`)

	// Past 500 messages the oldest go.
	for i := range 480 {
		post(fmt.Sprintf("bulk %d", i))
	}
	waitMessage(t, p, "bulk 479")
	var n int
	p.Eval(`document.querySelectorAll('#chat-log > li').length`, &n)
	if n > 500 || n < 450 {
		t.Errorf("the list holds %d lines after 521 messages, want at most 500 (and most of them)", n)
	}
	if countMessages(t, p, "line 0") != 0 {
		t.Error("the oldest message is still in the list")
	}
	poll(t, p, atBottom)
	checkOffsets(t, p, "reader")
	noJSErrors(t, map[string]*browsertest.Page{"reader": p})
}

// TestChatBrowserEmotes: the emote picker lists the instance's emotes, puts
// one into the box, and the message shows the image.
func TestChatBrowserEmotes(t *testing.T) {
	c := startChatSite(t)
	c.s.CreateUser("boss", chatPassword, auth.RoleAdmin)
	admin := c.s.Login("boss", chatPassword)
	var img bytes.Buffer
	square := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range square.Pix {
		square.Pix[i] = 0xc0
	}
	if err := png.Encode(&img, square); err != nil {
		t.Fatal(err)
	}
	if r := c.s.Do("PUT", "/api/v1/emotes/kappa", img.Bytes(), admin); r.Status != 201 {
		t.Fatalf("adding an emote: %d %s", r.Status, r.Raw)
	}

	ann := c.open(t, "ann", "/c/alpha")
	ann.Run(
		chromedp.WaitVisible("#chat-emotes-button"),
		chromedp.Click("#chat-emotes-button"),
		chromedp.WaitVisible("#chat-emotes .chat-emote"),
		chromedp.Click("#chat-emotes .chat-emote"),
	)
	if v := browsertest.Get(ann, chromedp.Value("#chat-input")); v != ":kappa: " {
		t.Fatalf("picking the emote put %q into the box", v)
	}
	ann.Run(chromedp.SendKeys("#chat-input", "nice"), chromedp.Click("#chat-send"))
	poll(t, ann, `[...document.querySelectorAll('#chat-log .chat-msg:not(.chat-local) img.emote')].some(i => i.complete && i.naturalWidth === 8)`)
	noJSErrors(t, map[string]*browsertest.Page{"ann": ann})
}
