package browsertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const okPage = `<!doctype html>
<html><head><title>loading</title></head>
<body>
<p id="status"></p>
<script>
document.title = "FedWave test";
document.getElementById("status").textContent = "ready " + (40 + 2);
window.answer = {name: "fedwave", n: 7};
</script>
</body></html>`

const throwPage = `<!doctype html>
<html><head><title>broken</title></head>
<body>
<p id="before"></p>
<script>
document.getElementById("before").textContent = "before the throw";
console.error("bad thing", 7);
throw new Error("boom from the page");
</script>
<p>tall</p><div style="height:3000px"></div>
</body></html>`

// newServer serves the test pages on 127.0.0.1.
func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	page := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(body))
		}
	}
	mux.HandleFunc("/ok", page(okPage))
	mux.HandleFunc("/throw", page(throwPage))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestBrowser(t *testing.T) {
	srv := newServer(t)
	if os.Getenv(EnvScreenshots) == "" {
		t.Setenv(EnvScreenshots, t.TempDir())
	}
	var pid int
	var profileDir string

	t.Run("pages", func(t *testing.T) {
		b := New(t)
		pid, profileDir = b.pid, b.profileDir
		if pid == 0 {
			t.Fatal("the browser has no process id")
		}
		if runtime.GOOS == "linux" {
			// The main process and at least some helpers, whose command
			// lines look different, must be found, or the cleanup check
			// at the end proves nothing.
			pids := processesUsing(profileDir)
			if !slices.Contains(pids, pid) || len(pids) < 3 {
				t.Fatalf("processes found by the profile directory = %v, want the main process %d and its helpers", pids, pid)
			}
		}

		ok := b.NewPage(t)
		ok.Run(chromedp.Navigate(srv.URL + "/ok"))
		if got, want := ok.Text("#status"), "ready 42"; got != want {
			t.Errorf("Text(#status) = %q, want %q", got, want)
		}
		var title string
		ok.Eval("document.title", &title)
		if title != "FedWave test" {
			t.Errorf("document.title = %q, want %q", title, "FedWave test")
		}
		var answer struct {
			Name string `json:"name"`
			N    int    `json:"n"`
		}
		ok.Eval("window.answer", &answer)
		if answer.Name != "fedwave" || answer.N != 7 {
			t.Errorf("window.answer = %+v, want {fedwave 7}", answer)
		}
		var sum int
		ok.Eval("Promise.resolve(1 + 2)", &sum)
		if sum != 3 {
			t.Errorf("Promise.resolve(1 + 2) = %d, want 3", sum)
		}
		if got := Get(ok, chromedp.Title()); got != "FedWave test" {
			t.Errorf("Get(Title) = %q", got)
		}
		if errs := ok.JSErrors(); len(errs) != 0 {
			t.Errorf("JSErrors of a clean page = %q, want none", errs)
		}

		// Only the loopback names resolve: 127.0.0.2 would give "connection
		// refused" without HostResolverRules, as nothing listens there.
		other := strings.Replace(srv.URL, "//127.0.0.1:", "//127.0.0.2:", 1) + "/ok"
		if other == srv.URL+"/ok" {
			t.Fatalf("the test server is not on 127.0.0.1: %s", srv.URL)
		}
		ctx, cancel := context.WithTimeout(ok.Ctx(), 10*time.Second)
		err := chromedp.Do(ctx, chromedp.Navigate(other))
		cancel()
		if err == nil || !strings.Contains(err.Error(), "ERR_NAME_NOT_RESOLVED") {
			t.Errorf("loading %s: error %v, want ERR_NAME_NOT_RESOLVED", other, err)
		}

		bad := b.NewPage(t)
		bad.Run(chromedp.Navigate(srv.URL + "/throw"))
		if got := bad.Text("#before"); got != "before the throw" {
			t.Errorf("Text(#before) = %q", got)
		}
		errs := bad.JSErrors()
		if len(errs) != 2 {
			t.Fatalf("JSErrors of the throwing page = %q, want 2 messages", errs)
		}
		if want := "console.error: bad thing 7"; errs[0] != want {
			t.Errorf("JSErrors()[0] = %q, want %q", errs[0], want)
		}
		if !strings.Contains(errs[1], "Error: boom from the page") || !strings.Contains(errs[1], srv.URL+"/throw:") {
			t.Errorf("JSErrors()[1] = %q, want the uncaught error and where it was thrown", errs[1])
		}
		bad.Eval(`setTimeout(() => { throw new Error("later") }, 0); new Promise(r => setTimeout(r, 50))`, nil)
		if errs := bad.JSErrors(); len(errs) != 3 || !strings.Contains(errs[2], "later") {
			t.Errorf("JSErrors after a later throw = %q", errs)
		}
		if errs := ok.JSErrors(); len(errs) != 0 {
			t.Errorf("the errors of one tab show up in another: %q", errs)
		}

		shot := bad.Screenshot("tall page")
		t.Logf("screenshot: %s", shot)
		w, h := pngSize(t, shot)
		if w != 1280 || h < 3000 {
			t.Errorf("screenshot is %dx%d, want 1280 wide and the full page (over 3000) high", w, h)
		}
	})
	if pid == 0 {
		t.SkipNow() // the subtest was skipped, or failed before the browser ran
	}

	// The cleanup of the subtest has closed the browser.
	if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); runtime.GOOS == "linux" && !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the main Chromium process %d is still there after cleanup (stat: %v)", pid, err)
	}
	if pids := processesUsing(profileDir); len(pids) > 0 {
		t.Errorf("Chromium processes %v are left after cleanup", pids)
	}
	if _, err := os.Stat(profileDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the profile directory %s is left after cleanup (stat: %v)", profileDir, err)
	}
}

// fatalTB is a testing.TB whose Fatalf and Logf are recorded, to test the
// failure report of Run. Fatalf ends the goroutine, as the real one does.
type fatalTB struct {
	testing.TB
	mu    sync.Mutex
	logs  []string
	fatal string
}

func (f *fatalTB) Logf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

// pngSize returns the width and the height of the PNG image in the file.
func pngSize(t *testing.T, path string) (int, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return cfg.Width, cfg.Height
}

func TestRunFailureSavesPage(t *testing.T) {
	srv := newServer(t)
	dir := t.TempDir()
	t.Setenv(EnvScreenshots, dir)
	b := New(t)
	ftb := &fatalTB{TB: t}
	p := b.NewPage(ftb)
	p.Run(chromedp.Navigate(srv.URL + "/ok"))
	p.Timeout = 500 * time.Millisecond

	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(chromedp.WaitVisible(chromedp.CSS("#never")))
		t.Error("Run of a failing action returned")
	}()
	<-done

	if !strings.Contains(ftb.fatal, "deadline exceeded") || !strings.Contains(ftb.fatal, srv.URL+"/ok") {
		t.Errorf("Fatalf message = %q, want the timeout and the page URL", ftb.fatal)
	}
	var png, html string
	for _, l := range ftb.logs {
		if p, ok := strings.CutPrefix(l, "browsertest: screenshot of the failure: "); ok {
			png = p
		}
		if p, ok := strings.CutPrefix(l, "browsertest: HTML of the failure: "); ok {
			html = p
		}
	}
	if filepath.Dir(png) != dir || filepath.Dir(html) != dir {
		t.Fatalf("logs = %q, want the paths of a screenshot and of the HTML in %s", ftb.logs, dir)
	}
	if data, err := os.ReadFile(png); err != nil || !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("the screenshot %s is not a PNG (error %v)", png, err)
	}
	if data, err := os.ReadFile(html); err != nil || !strings.Contains(string(data), `<p id="status">ready 42</p>`) {
		t.Errorf("the HTML %s is not the page (error %v):\n%s", html, err, data)
	}
}

func TestFindChromium(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "my-chromium")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := findChromium(exe); err != nil || got != exe {
		t.Errorf("findChromium(%q) = %q, %v", exe, got, err)
	}
	missing := filepath.Join(t.TempDir(), "nothing")
	if _, err := findChromium(missing); err == nil || !strings.Contains(err.Error(), EnvChromium) {
		t.Errorf("findChromium(%q) error = %v, want one that names %s", missing, err, EnvChromium)
	}
}

func TestMentionsDir(t *testing.T) {
	const dir = "/tmp/fedwave-chromium-profile-12"
	for cmdline, want := range map[string]bool{
		"chromium\x00--user-data-dir=" + dir + "\x00about:blank":          true,
		"chromium\x00--user-data-dir=" + dir:                              true,
		"chromium --type=renderer --user-data-dir=" + dir + " --lang=en":  true,
		"crashpad\x00--database=" + dir + "/xdg-config/Crash Reports\x00": true,
		"chromium\x00--user-data-dir=" + dir + "3\x00":                    false,
		"chromium\x00--user-data-dir=" + dir + "3\x00--x=" + dir + "/a":   true,
		"chromium\x00--user-data-dir=/tmp/other\x00":                      false,
	} {
		if got := mentionsDir(cmdline, dir); got != want {
			t.Errorf("mentionsDir(%q) = %v, want %v", cmdline, got, want)
		}
	}
}

func TestSafeName(t *testing.T) {
	if got, want := safeName("TestX/sub case:1"), "TestX_sub_case_1"; got != want {
		t.Errorf("safeName = %q, want %q", got, want)
	}
	if got := safeName(strings.Repeat("a", 200)); len(got) != 80 {
		t.Errorf("len(safeName(200 bytes)) = %d, want 80", len(got))
	}
}
