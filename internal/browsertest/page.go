package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// diagTimeout is how long a failing Page.Run waits for each of the
// screenshot, the page dump and the URL that it saves for the report.
const diagTimeout = 10 * time.Second

// maxShotHeight is the height in CSS pixels at which a full-page screenshot
// is cut, so that an endless page does not make a huge image.
const maxShotHeight = 10000

// Page is one tab of a Browser. Make it with Browser.NewPage.
//
// The methods that act on the page report a failure with t.Fatalf, so they
// must be called from the goroutine of the test, as t.Fatalf must. Only
// JSErrors may be called from any goroutine.
type Page struct {
	// Timeout limits each call of Run and of the methods that use it. Zero
	// means DefaultTimeout. Set it before the page is used.
	Timeout time.Duration

	t   testing.TB
	b   *Browser
	ctx context.Context

	// mu guards jsErrors, which the goroutine of chromedp that reads the
	// events of the tab appends to.
	mu       sync.Mutex
	jsErrors []string
}

// NewPage opens a new tab in the browser and returns it. The tab has a
// chromedp context of its own, a child of the browser's, and it is closed in
// t.Cleanup. t may be the test that made the browser or one of its subtests.
func (b *Browser) NewPage(t testing.TB) *Page {
	t.Helper()
	p := &Page{t: t, b: b}
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithListener(p.record))
	p.ctx = ctx
	t.Cleanup(cancel)
	if err := startWithin(ctx, cancel, startTimeout); err != nil {
		t.Fatalf("browsertest: opening a tab: %v", err)
	}
	return p
}

// Ctx returns the chromedp context of the tab, for actions that the methods
// of Page do not cover, such as chromedp.Events or chromedp.Run with a value.
// It has no timeout: derive one with context.WithTimeout for each use. Do
// not cancel it; the cleanup does that.
func (p *Page) Ctx() context.Context {
	return p.ctx
}

// Run runs the actions in order, within Timeout (30s by default) for all of
// them together. When one fails, Run saves a full-page screenshot and the
// HTML of the page, logs their paths with t.Logf, and calls t.Fatalf with the
// error and the URL of the page.
//
// chromedp v0.23 actions are generic: Run takes those that give no value,
// chromedp.Action[chromedp.Void]. For an action with a value, such as
// chromedp.Title(), use Get.
func (p *Page) Run(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	Get(p, chromedp.Steps(actions...))
}

// Get runs one action that gives a value, as Page.Run does, and returns the
// value. For example:
//
//	title := browsertest.Get(p, chromedp.Title())
func Get[T any](p *Page, action chromedp.Action[T]) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout())
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		p.fail(err)
	}
	return v
}

// Text waits until the first element that matches the CSS selector sel is
// visible, and returns its textContent.
func (p *Page) Text(sel string) string {
	p.t.Helper()
	return Get(p, func(ctx context.Context, t *chromedp.Target) (string, error) {
		if _, err := chromedp.WaitVisible(chromedp.CSS(sel))(ctx, t); err != nil {
			return "", err
		}
		return chromedp.TextContent(chromedp.CSS(sel))(ctx, t)
	})
}

// Eval evaluates the JavaScript expression js in the page, as Run does, and
// decodes its result into out with encoding/json; out is a pointer, or nil to
// drop the result. A promise is awaited. A result of undefined fails the test
// unless out is nil.
func (p *Page) Eval(js string, out any) {
	p.t.Helper()
	if out == nil {
		Get(p, chromedp.Evaluate[chromedp.Void](js, chromedp.EvalAwaitPromise))
		return
	}
	raw := Get(p, chromedp.Evaluate[[]byte](js, chromedp.EvalAwaitPromise))
	if len(raw) == 0 {
		p.t.Fatalf("browsertest: Eval(%q): the result is undefined", js)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		p.t.Fatalf("browsertest: Eval(%q): decoding the result %s: %v", js, raw, err)
	}
}

// JSErrors returns the uncaught exceptions (unhandled promise rejections
// too) and the console.error messages that the tab has seen so far, oldest
// first, as text. It may be called from any goroutine.
//
// An event that the page sent before a Run returned is always there when
// that Run has returned, because chromedp hands the events to the page
// before it reads the next message of the browser.
func (p *Page) JSErrors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.jsErrors)
}

// Screenshot saves a PNG image of the whole page as it is now, and returns
// its path, for a human to look at. name becomes part of the file name. The
// file goes to $FEDWAVE_SCREENSHOTS, or to a fedwave-browsertest-* directory
// in os.TempDir(), and it stays there after the test.
func (p *Page) Screenshot(name string) string {
	p.t.Helper()
	path, err := p.saveScreenshot(name)
	if err != nil {
		p.t.Fatalf("browsertest: screenshot %q: %v", name, err)
	}
	return path
}

// timeout returns the limit of one Run.
func (p *Page) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return DefaultTimeout
}

// fail reports the error err of an action: it saves what it can of the page
// for a human to look at, and fails the test.
func (p *Page) fail(err error) {
	p.t.Helper()
	if path, serr := p.saveScreenshot("failure"); serr != nil {
		p.t.Logf("browsertest: no screenshot of the failure: %v", serr)
	} else {
		p.t.Logf("browsertest: screenshot of the failure: %s", path)
	}
	if path, herr := p.saveHTML("failure"); herr != nil {
		p.t.Logf("browsertest: no HTML of the failure: %v", herr)
	} else {
		p.t.Logf("browsertest: HTML of the failure: %s", path)
	}
	if errs := p.JSErrors(); len(errs) > 0 {
		p.t.Logf("browsertest: JavaScript errors of the page:\n\t%s", strings.Join(errs, "\n\t"))
	}
	p.t.Fatalf("browsertest: %v (page URL: %s)", err, p.url())
}

// saveScreenshot saves a full-page PNG and returns its path.
func (p *Page) saveScreenshot(name string) (string, error) {
	ctx, cancel := context.WithTimeout(p.ctx, diagTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, fullPagePNG())
	if err != nil {
		return "", err
	}
	return p.b.saveArtifact(p.t.Name(), name, ".png", png)
}

// saveHTML saves the outer HTML of the document and returns its path.
func (p *Page) saveHTML(name string) (string, error) {
	ctx, cancel := context.WithTimeout(p.ctx, diagTimeout)
	defer cancel()
	html, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`document.documentElement ? document.documentElement.outerHTML : ""`))
	if err != nil {
		return "", err
	}
	return p.b.saveArtifact(p.t.Name(), name, ".html", []byte(html))
}

// url returns the URL of the tab, or a note why it is not known. It asks the
// browser and not the page, so it works when the page's script hangs.
func (p *Page) url() string {
	c := chromedp.FromContext(p.ctx)
	if c == nil || c.Target == nil {
		return "(no tab)"
	}
	ctx, cancel := context.WithTimeout(p.ctx, diagTimeout)
	defer cancel()
	res, err := chromedp.CallBrowser(ctx, target.GetTargetInfo, target.GetTargetInfoParams{TargetID: c.Target.TargetID})
	if err != nil || res.TargetInfo == nil {
		return fmt.Sprintf("(unknown: %v)", err)
	}
	return res.TargetInfo.URL
}

// fullPagePNG is an action that captures the whole document as PNG, also
// the part below the window, up to maxShotHeight. chromedp.FullScreenshot
// captures only the window.
func fullPagePNG() chromedp.Action[[]byte] {
	return func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
		params := page.CaptureScreenshotParams{
			Format:                page.CaptureScreenshotFormatPng,
			FromSurface:           new(true),
			CaptureBeyondViewport: new(true),
		}
		m, err := cdp.Call(ctx, t, page.GetLayoutMetrics, cdp.Empty{})
		if err != nil {
			return nil, err
		}
		if size := m.CSSContentSize; size != nil && size.Width >= 1 && size.Height >= 1 {
			params.Clip = &page.Viewport{
				Width:  math.Ceil(size.Width),
				Height: math.Min(math.Ceil(size.Height), maxShotHeight),
				Scale:  1,
			}
		}
		r, err := cdp.Call(ctx, t, page.CaptureScreenshot, params)
		if err != nil {
			return nil, err
		}
		return r.Data, nil
	}
}

// record is the listener of the tab's events. It keeps the JavaScript
// errors. It runs on the goroutine of chromedp that reads the messages of the
// tab, so it must be quick and must not call chromedp.
func (p *Page) record(ev any) {
	var msg string
	switch e := ev.(type) {
	case *runtime.EventExceptionThrown:
		msg = exceptionText(e.ExceptionDetails)
	case *runtime.EventConsoleAPICalled:
		if e.Type != runtime.ConsoleAPICalledTypeError {
			return
		}
		msg = "console.error: " + argsText(e.Args)
	default:
		return
	}
	p.mu.Lock()
	p.jsErrors = append(p.jsErrors, msg)
	p.mu.Unlock()
}

// exceptionText returns a line for an uncaught exception, such as
// "Uncaught Error: boom (http://127.0.0.1:1234/:3:9)".
func exceptionText(d *runtime.ExceptionDetails) string {
	if d == nil {
		return "uncaught exception"
	}
	text := d.Text
	if obj := d.Exception; obj != nil {
		// The description of an Error is its message and its stack; keep
		// the message.
		desc, _, _ := strings.Cut(remoteText(obj), "\n    at ")
		text = strings.TrimSpace(text + " " + desc)
	}
	if d.URL != "" {
		// The protocol counts lines and columns from 0.
		text += fmt.Sprintf(" (%s:%d:%d)", d.URL, d.LineNumber+1, d.ColumnNumber+1)
	}
	return text
}

// argsText returns the arguments of a console call as text, separated by
// spaces. Format strings such as %s are not applied.
func argsText(args []*runtime.RemoteObject) string {
	parts := make([]string, 0, len(args))
	for _, a := range args {
		parts = append(parts, remoteText(a))
	}
	return strings.Join(parts, " ")
}

// remoteText returns a short text for a JavaScript value: a string as it is,
// another primitive as JSON, and an object by its description.
func remoteText(o *runtime.RemoteObject) string {
	switch {
	case o == nil:
		return ""
	case o.Type == runtime.RemoteObjectTypeString:
		var s string
		if err := json.Unmarshal(o.Value, &s); err == nil {
			return s
		}
	case o.UnserializableValue != "":
		return string(o.UnserializableValue)
	case o.Description != "":
		return o.Description
	case len(o.Value) > 0:
		return string(o.Value)
	}
	if o.Description != "" {
		return o.Description
	}
	return string(o.Type)
}
