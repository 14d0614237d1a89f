package web_test

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
)

// TestSettingsBrowser: the admin renames the site and makes registration
// invite-only on /admin, saves, and a reload shows both; then makes an
// invite link, uploads an emote and sees its preview; a newcomer signs up
// with the invite link in the browser.
func TestSettingsBrowser(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	s := apptest.Start(t)
	s.CreateUser("boss", videoPassword, auth.RoleAdmin)
	p := openPage(t, s, "boss", "/admin", "#overview")
	p.Run(chromedp.Click(`a[data-tab="settings"]`), chromedp.WaitVisible("#settings"))
	loaded := `document.querySelector('#settings').dataset.loaded === 'true'`
	poll(t, p, loaded)

	p.Eval(`(() => { document.querySelector('#site-name-input').value = 'Wave Town'; document.querySelector('#site-registration').value = 'invite'; })()`, nil)
	p.Run(chromedp.Click("#site-save"))
	poll(t, p, `document.querySelector('#site-status').classList.contains('ok')`)
	p.Run(chromedp.Reload(), chromedp.WaitVisible("#settings"))
	poll(t, p, loaded)
	poll(t, p, `document.querySelector('#site-name-input').value === 'Wave Town' && document.querySelector('#site-registration').value === 'invite' && document.querySelector('#site-name').textContent === 'Wave Town'`)

	// A refused value is shown next to its field.
	p.Eval(`document.querySelector('#site-accent').value = 'blue'`, nil)
	p.Run(chromedp.Click("#site-save"))
	poll(t, p, `document.querySelector('#err-accent_color').textContent.includes('#rrggbb')`)
	p.Eval(`document.querySelector('#site-accent').value = ''`, nil)

	p.Run(chromedp.Click("#invite-create"))
	poll(t, p, `document.querySelector('#invite-url').value.includes('/register?invite=') && document.querySelectorAll('#invite-list tr').length === 1`)
	var invite string
	p.Eval(`document.querySelector('#invite-url').value`, &invite)

	img := filepath.Join(t.TempDir(), "wave.png")
	var b bytes.Buffer
	png.Encode(&b, image.NewRGBA(image.Rect(0, 0, 8, 8)))
	if err := os.WriteFile(img, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	p.Run(chromedp.Click(`a[data-tab="emotes"]`), chromedp.WaitVisible("#emote-form"))
	p.Run(chromedp.SendKeys("#emote-name", "wave"), chromedp.SetUploadFiles("#emote-file", []string{img}), chromedp.Click("#emote-upload"))
	poll(t, p, `(() => { const i = document.querySelector('#emote-list tr[data-emote="wave"] img.emote-preview'); return !!i && i.complete && i.naturalWidth === 8; })()`)

	p.Run(chromedp.Navigate(invite), chromedp.WaitVisible("#register-form"),
		chromedp.SendKeys(`#register-form input[name="name"]`, "newbie"),
		chromedp.SendKeys(`#register-form input[name="password"]`, videoPassword),
		chromedp.SendKeys(`#register-form input[name="password2"]`, videoPassword),
		chromedp.Submit("#register-form"), chromedp.WaitVisible("#channels"))
	poll(t, p, `(document.querySelector('#nav-user')?.textContent || '').startsWith('newbie#')`)
	if errs := p.JSErrors(); len(errs) > 0 {
		t.Fatalf("JavaScript errors: %q", errs)
	}
}
