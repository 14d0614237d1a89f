// Package browsertest drives a headless Chromium from Go tests through
// chromedp.
//
// A test calls New to start a browser of its own, NewPage to open a tab, and
// the methods of Page to act on it:
//
//	b := browsertest.New(t)
//	p := b.NewPage(t)
//	p.Run(chromedp.Navigate(srv.URL))
//	if got := p.Text("#status"); got != "live" {
//		t.Errorf("status = %q, want %q", got, "live")
//	}
//	if errs := p.JSErrors(); len(errs) > 0 {
//		t.Errorf("JavaScript errors: %q", errs)
//	}
//
// The browser, its tabs and every process that it started are gone when the
// test and its cleanups end. When Chromium is missing, New skips the test, or
// fails it when the environment variable FEDWAVE_REQUIRE_BROWSER is 1.
//
// Chromium reaches nothing outside the machine: its background services are
// turned off, and its resolver knows only localhost, 127.0.0.1 and [::1] (see
// HostResolverRules), so a test serves its pages on the loopback address,
// for example with httptest.NewServer.
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Environment variables that change how the package behaves.
const (
	// EnvChromium names the Chromium binary to use, as a path or as a name
	// in PATH. When it is set, no other place is tried.
	EnvChromium = "FEDWAVE_CHROMIUM"

	// EnvRequireBrowser set to "1" makes New fail the test, and not skip
	// it, when Chromium is not found.
	EnvRequireBrowser = "FEDWAVE_REQUIRE_BROWSER"

	// EnvScreenshots is the directory where screenshots and page dumps are
	// written. When it is empty, a new directory
	// fedwave-browsertest-* in os.TempDir() is made for each Browser.
	EnvScreenshots = "FEDWAVE_SCREENSHOTS"
)

// Values of the Chromium flags that NewWithFlags callers may want to extend,
// since a flag given again replaces the default value.
const (
	// HostResolverRules is the value of --host-resolver-rules. It makes
	// every host name and address fail to resolve, except the loopback
	// ones, so that Chromium cannot reach anything outside the machine
	// by name. It maps IP addresses too: a test that loads from another
	// address must add "EXCLUDE <address>".
	HostResolverRules = "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1, EXCLUDE [::1]"

	// DisabledFeatures is the value of --disable-features. It turns off
	// services that Chromium starts by itself and that call Google:
	// network time, optimization hints, translation and casting.
	DisabledFeatures = "NetworkTimeServiceQuerying,OptimizationHints,OptimizationHintsFetching," +
		"OptimizationGuideModelDownloading,OptimizationTargetPrediction,Translate,MediaRouter," +
		"DialMediaRouteProvider"
)

// preferences is the Preferences file of the new profile. It turns off the
// probes that Chromium sends to public DNS servers (8.8.8.8) after a page
// fails to resolve.
const preferences = `{"alternate_error_pages":{"enabled":false}}`

// Timeouts of the package.
const (
	// DefaultTimeout is how long Page.Run and the methods that use it wait
	// for their actions, unless Page.Timeout says otherwise.
	DefaultTimeout = 30 * time.Second

	// startTimeout is how long New waits for Chromium to start, and NewPage
	// for a tab to open. A loaded CI machine with -race can be slow.
	startTimeout = 60 * time.Second

	// closeTimeout is how long the cleanup waits for Chromium to close by
	// itself before it kills the process.
	closeTimeout = 10 * time.Second

	// reapTimeout is how long the cleanup waits for the helper processes of
	// Chromium to go after the main process has exited.
	reapTimeout = 5 * time.Second
)

// Browser is a headless Chromium process that belongs to one test. Make it
// with New or NewWithFlags. Parallel subtests may share it, each with pages
// of its own.
type Browser struct {
	// ctx is the chromedp context of the browser. Tabs are its children.
	ctx context.Context

	// profileDir is the --user-data-dir of the browser. It is unique, so
	// it also names the processes of this browser, and no other.
	profileDir string

	// pid is the process id of the main Chromium process, or 0 before it
	// started.
	pid int

	// mu guards artifactDir.
	mu sync.Mutex
	// artifactDir is where screenshots and page dumps go. It is made the
	// first time that something is saved.
	artifactDir string
}

// New starts a fresh headless Chromium for the test and returns a Browser.
// The browser is closed in t.Cleanup, and every process that it started is
// gone after that cleanup.
//
// New looks for Chromium in $FEDWAVE_CHROMIUM, then at /usr/bin/chromium,
// /usr/bin/chromium-browser, and as chromium in PATH. If none is found, the
// test is skipped with a message that says so, unless FEDWAVE_REQUIRE_BROWSER
// is 1: then the test fails. A FEDWAVE_CHROMIUM that names no executable
// always fails the test, because someone asked for that binary.
//
// Chromium starts headless, without sandbox and GPU, with a fake camera and
// microphone that need no permission prompt, with autoplay allowed, with
// loopback WebRTC allowed, with no background network traffic and no name
// resolution beyond the loopback names (HostResolverRules), with a new
// profile in a temporary directory, and with a 1280x900 window.
func New(t testing.TB) *Browser {
	t.Helper()
	return NewWithFlags(t)
}

// NewWithFlags is New with more options for the allocator, such as
// chromedp.Flag("lang", "de"). They come after the default flags, so a flag
// that is set again replaces the default value; chromedp.Flag(name, false)
// removes a boolean default flag. Do not replace user-data-dir: the cleanup
// finds the processes of the browser by it.
func NewWithFlags(t testing.TB, extra ...chromedp.ExecAllocatorOption) *Browser {
	t.Helper()
	path, err := findChromium(os.Getenv(EnvChromium))
	if err != nil {
		if os.Getenv(EnvChromium) != "" || os.Getenv(EnvRequireBrowser) == "1" {
			t.Fatalf("browsertest: %v", err)
		}
		t.Skipf("browsertest: skipped, %v; install Debian's chromium package or set %s, and set %s=1 to fail instead of skipping",
			err, EnvChromium, EnvRequireBrowser)
	}

	profileDir, err := os.MkdirTemp("", "fedwave-chromium-profile-")
	if err != nil {
		t.Fatalf("browsertest: making the profile directory: %v", err)
	}
	if err := writePreferences(profileDir); err != nil {
		_ = os.RemoveAll(profileDir)
		t.Fatalf("browsertest: writing the Chromium profile: %v", err)
	}
	opts := append(defaultFlags(path, profileDir), extra...)
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b := &Browser{ctx: ctx, profileDir: profileDir}
	t.Cleanup(func() { b.close(t, cancel, allocCancel) })

	if err := startWithin(ctx, cancel, startTimeout); err != nil {
		t.Fatalf("browsertest: starting %s: %v", path, err)
	}
	if proc := chromedp.FromContext(ctx).Browser.Process(); proc != nil {
		b.pid = proc.Pid
	}
	return b
}

// defaultFlags returns the allocator options of every Browser: the binary,
// the flags and the profile directory. The list is explicit, and not
// chromedp.DefaultExecAllocatorOptions, so that it is plain what Chromium runs
// with.
func defaultFlags(path, profileDir string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(profileDir),
		chromedp.WindowSize(1280, 900),

		// Chromium's crash handler daemonizes and keeps its database in
		// $XDG_CONFIG_HOME, and dconf writes to $XDG_CACHE_HOME: keep
		// both in the profile, so that nothing is written to the home
		// directory and the cleanup finds the handler by the profile.
		chromedp.Env(
			"XDG_CONFIG_HOME="+filepath.Join(profileDir, "xdg-config"),
			"XDG_CACHE_HOME="+filepath.Join(profileDir, "xdg-cache"),
		),

		chromedp.Flag("headless", "new"),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),

		// No traffic that the test did not ask for. The resolver rules
		// are the safety net: every host name other than localhost fails
		// to resolve inside Chromium, so nothing asks DNS, and a page that
		// loads from the internet fails fast instead of hanging.
		chromedp.Flag("host-resolver-rules", HostResolverRules),
		chromedp.Flag("disable-features", DisabledFeatures),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("safebrowsing-disable-auto-update", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),

		// Shared memory in the temporary directory: /dev/shm is small in
		// many containers, and Chromium crashes when it fills up.
		chromedp.Flag("disable-dev-shm-usage", true),
		// Stable screenshots, and no sound on a developer's machine.
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
	}
}

// writePreferences writes the preferences of the profile in profileDir, for
// the default profile that Chromium will use.
func writePreferences(profileDir string) error {
	dir := filepath.Join(profileDir, "Default")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "Preferences"), []byte(preferences), 0o600)
}

// findChromium returns the path of the Chromium binary. fromEnv is the value
// of EnvChromium; when it is set, it is the only place tried.
func findChromium(fromEnv string) (string, error) {
	if fromEnv != "" {
		path, err := exec.LookPath(fromEnv)
		if err != nil {
			return "", fmt.Errorf("%s=%q is not an executable: %w", EnvChromium, fromEnv, err)
		}
		return path, nil
	}
	// A name without a slash is looked up in PATH.
	candidates := []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "chromium"}
	for _, c := range candidates {
		if path, err := exec.LookPath(c); err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("no Chromium found (looked at $%s, %s in PATH)", EnvChromium, strings.Join(candidates, ", "))
}

// startWithin runs the first action of the chromedp context ctx, which starts
// the browser or opens the tab. chromedp ties the life of the browser or tab
// to the context of its first action, so that action cannot have a timeout
// of its own. Instead, cancel is called when the start takes longer than
// limit.
func startWithin(ctx context.Context, cancel context.CancelFunc, limit time.Duration) error {
	timer := time.AfterFunc(limit, cancel)
	err := chromedp.Do(ctx)
	if !timer.Stop() {
		return fmt.Errorf("no answer within %v: %w", limit, err)
	}
	return err
}

// close stops the browser: it asks Chromium to close, kills it after
// closeTimeout, kills the helper processes that are left, and removes the
// profile directory. cancel and allocCancel are the cancel funcs of the
// browser context and of its allocator.
func (b *Browser) close(t testing.TB, cancel, allocCancel context.CancelFunc) {
	if c := chromedp.FromContext(b.ctx); c.Browser != nil {
		ctx, stop := context.WithTimeout(b.ctx, closeTimeout)
		// Errors here are expected, for example after a crash of the
		// browser; the kill below handles the rest.
		_ = chromedp.Cancel(ctx)
		stop()
	}
	cancel()
	// This kills the main process if it still runs, and waits until it
	// has exited.
	allocCancel()

	deadline := time.Now().Add(reapTimeout)
	for {
		pids := processesUsing(b.profileDir)
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("browsertest: Chromium processes %v are still running after cleanup", pids)
			break
		}
		for _, pid := range pids {
			if p, err := os.FindProcess(pid); err == nil {
				_ = p.Kill()
			}
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A process that has just died can still write into the directory, so
	// try a few times.
	var err error
	for range 50 {
		if err = os.RemoveAll(b.profileDir); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Errorf("browsertest: removing the Chromium profile: %v", err)
	}
}

// processesUsing returns the ids of the running processes whose command
// line has the path dir, or a path inside it. Chromium passes --user-data-dir
// to its helper processes, and its crash handler gets a database inside
// $XDG_CONFIG_HOME, which is in the profile, so for a unique dir these are
// exactly the processes of one browser. It reads /proc, so it finds nothing
// on a system without it. A zombie has an empty command line, so it is not
// found.
func processesUsing(dir string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && mentionsDir(string(cmdline), dir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// mentionsDir reports whether the command line cmdline, as /proc gives it,
// holds the path dir, followed by the end, a slash, a space or a NUL byte, so
// that /tmp/x-1 does not match /tmp/x-12. The arguments are separated by NUL
// bytes, except in Chromium's helper processes, which rewrite their command
// line as one string with spaces.
func mentionsDir(cmdline, dir string) bool {
	for {
		i := strings.Index(cmdline, dir)
		if i < 0 {
			return false
		}
		cmdline = cmdline[i+len(dir):]
		if cmdline == "" || strings.ContainsRune("/ \x00", rune(cmdline[0])) {
			return true
		}
	}
}

// saveArtifact writes data to a new file for a human to look at and returns
// its path. The name of the file has the name of the test, name, and a random
// part, and ends with ext.
func (b *Browser) saveArtifact(testName, name, ext string, data []byte) (string, error) {
	dir, err := b.artifacts()
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, safeName(testName)+"-"+safeName(name)+"-*"+ext)
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil {
		// CreateTemp makes the file private; it is for anyone to look at.
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", errors.Join(err, os.Remove(f.Name()))
	}
	return f.Name(), nil
}

// artifacts returns the directory for screenshots and page dumps, and makes
// it the first time. It is not removed at cleanup, because its files are for
// a human to look at after the test.
func (b *Browser) artifacts() (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.artifactDir != "" {
		return b.artifactDir, nil
	}
	if dir := os.Getenv(EnvScreenshots); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		b.artifactDir = dir
		return dir, nil
	}
	dir, err := os.MkdirTemp("", "fedwave-browsertest-")
	if err != nil {
		return "", err
	}
	b.artifactDir = dir
	return dir, nil
}

// safeName returns s with every byte that is not a letter, a digit, a dot, a
// dash or an underscore replaced by an underscore, and at most 80 bytes
// long, so that it can be part of a file name.
func safeName(s string) string {
	const limit = 80
	var sb strings.Builder
	for i := 0; i < len(s) && i < limit; i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '-', c == '_':
			sb.WriteByte(c)
		default:
			sb.WriteByte('_')
		}
	}
	return sb.String()
}
