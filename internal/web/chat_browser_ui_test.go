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

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/browsertest"
)

// The chat's controls and layout in real browsers: input history, the
// pop-out and OBS overlay, the name menu, the layout on wide and narrow
// screens, scrolling and the line cap, and the emote picker.

// TestChatBrowserInputHistory: up and down arrows walk through what was sent.
func TestChatBrowserInputHistory(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
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
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
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

// TestChatBrowserNameMenu: the menu on a name whispers, ignores, and for the
// channel's owner deletes.
func TestChatBrowserNameMenu(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
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
	// message is refused, he is told why (in the error line and on the
	// message, marked as not sent) and gets his text back.
	clickMenu(t, owner, "whisper to me", "Timeout 10 min")
	poll(t, owner, `document.querySelector('#chat-log .chat-system') !== null`)
	say(t, bob, "am I muted?")
	poll(t, bob, `!document.querySelector('#chat-error').hidden && document.querySelector('#chat-input').value === 'am I muted?'`)
	var refused struct {
		Pending int    `json:"pending"`
		Note    string `json:"note"`
	}
	bob.Eval(`({pending: document.querySelectorAll('#chat-log .chat-pending').length,
		note: document.querySelector('#chat-log .chat-failed .chat-note')?.textContent ?? ''})`, &refused)
	if refused.Pending != 0 || !strings.HasPrefix(refused.Note, "not sent: ") {
		t.Errorf("the refused message: %d pending lines, its note says %q", refused.Pending, refused.Note)
	}
	if n := countMessages(t, owner, "am I muted?"); n != 0 {
		t.Errorf("a timed-out user's message reached the channel")
	}
	noJSErrors(t, map[string]*browsertest.Page{"owner": owner, "bob": bob})
}

// TestChatBrowserLayout: the chat sits beside the player on a wide screen
// and under it, about 60% of the screen high, on a phone. The screenshots
// are for a human to look at.
func TestChatBrowserLayout(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
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
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
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
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
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
