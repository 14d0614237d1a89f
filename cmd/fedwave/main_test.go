package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/config"
)

func runCLI(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, func(string) string { return "" }, strings.NewReader(stdin), &out, &errOut)
	return out.String() + errOut.String(), err
}

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if err != nil {
		return 1
	}
	return 0
}

func TestVersion(t *testing.T) {
	out, err := runCLI(t, "", "version")
	if err != nil || !strings.HasPrefix(out, "fedwave ") || !strings.Contains(out, "go1.") {
		t.Fatalf("%q %v", out, err)
	}
}

func TestBadSettingsExit2(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	os.WriteFile(blocker, nil, 0o600)
	for name, args := range map[string][]string{
		"bad port":       {"serve", "--data", dir, "--http", "127.0.0.1:99999"},
		"data is a file": {"serve", "--data", filepath.Join(blocker, "sub")},
		"unknown flag":   {"serve", "--nope"},
		"unknown cmd":    {"frobnicate"},
		"stray arg":      {"serve", "--data", dir, "extra"},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := runCLI(t, "", args...)
			if exitCode(err) != 2 {
				t.Fatalf("exit %d (%v), want 2; output %q", exitCode(err), err, out)
			}
			if first, _, _ := strings.Cut(err.Error(), "\n"); first == "" {
				t.Fatal("no message")
			}
		})
	}
}

func TestUserCreate(t *testing.T) {
	dir := t.TempDir()
	out, err := runCLI(t, "s3cret-password\n", "user", "create", "ops", "--role", "admin", "--password-stdin", "--data", dir)
	if err != nil || !regexp.MustCompile(`^ops#\d{4}\n$`).MatchString(out) {
		t.Fatalf("%q %v", out, err)
	}
	// Flags before the name work too.
	if out, err := runCLI(t, "another-password\n", "user", "create", "--data", dir, "--password-stdin", "streamer1", "--role", "streamer"); err != nil {
		t.Fatalf("%q %v", out, err)
	}
	// The names kept from strangers who register are the operator's to use.
	if out, err := runCLI(t, "password1\n", "user", "create", "admin", "--role", "admin", "--password-stdin", "--data", dir); err != nil || !strings.HasPrefix(out, "admin#") {
		t.Fatalf("user create admin: %q %v", out, err)
	}
	if _, err := runCLI(t, "password1\n", "user", "create", "ops", "--password-stdin", "--data", dir); err == nil || !strings.Contains(err.Error(), "taken") {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := runCLI(t, "", "user", "create", "x1", "--data", dir); exitCode(err) != 2 || !strings.Contains(err.Error(), "--password-stdin") {
		t.Fatalf("without --password-stdin: %v", err)
	}
	if _, err := runCLI(t, "password1\n", "user", "create", "x1", "--role", "king", "--password-stdin", "--data", dir); exitCode(err) != 2 {
		t.Fatalf("bad role: %v", err)
	}
	if out, err := runCLI(t, "", "user", "role", "streamer1", "moderator", "--data", dir); err != nil || !strings.Contains(out, "moderator") {
		t.Fatalf("user role: %q %v", out, err)
	}
	// The account logs in on a server started on the same data directory.
	url := startChild(t, dir)
	res, err := http.Post(url+"/api/v1/login", "application/json", strings.NewReader(`{"name":"ops","password":"s3cret-password"}`))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("login after user create: %v %v", res, err)
	}
}

func TestImportCommand(t *testing.T) {
	dir := t.TempDir()
	out, err := runCLI(t, "", "import", "../../internal/legacy/testdata/approved_streamers.json", "--data", dir, "--public-url", "https://tv.example")
	if err != nil || strings.Count(out, "https://tv.example/reset?token=") != 2 {
		t.Fatalf("%q %v", out, err)
	}
	if _, err := runCLI(t, "", "import", "--data", dir); exitCode(err) != 2 {
		t.Fatalf("no files: %v", err)
	}
	if _, err := runCLI(t, "", "import", "main.go", "--data", dir); err == nil {
		t.Fatal("a Go file imported")
	}
}

func TestKeysRotate(t *testing.T) {
	dir := t.TempDir()
	out, err := runCLI(t, "", "keys", "rotate", "--data", dir)
	if err != nil || !strings.Contains(out, "new token signing key") {
		t.Fatalf("%q %v", out, err)
	}
	keys, _ := filepath.Glob(filepath.Join(dir, "keys", "token-*.pem"))
	if len(keys) != 2 { // the first key, made on open, and the new one
		t.Fatalf("keys %v", keys)
	}
}

// buildBinary compiles fedwave once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fedwave")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startChild runs `fedwave serve` as a real process on dir and returns its
// URL once it answers; it is stopped with SIGTERM at cleanup.
func startChild(t *testing.T, dir string) string {
	t.Helper()
	url, _, _ := startChildOutput(t, dir)
	return url
}

func startChildOutput(t *testing.T, dir string, extra ...string) (string, *exec.Cmd, *bufio.Reader) {
	t.Helper()
	return startChildAt(t, buildBinary(t), dir, freeAddr(t), extra...)
}

// startChildAt runs the binary bin as `serve` on dir and addr.
func startChildAt(t *testing.T, bin, dir, addr string, extra ...string) (string, *exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--data", dir, "--http", addr, "--turn-port", "0", "--media-port", "0"}, extra...)...)
	cmd.Env = append(os.Environ(), "FEDWAVE_LOG_LEVEL=warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState != nil {
			return // already waited for
		}
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Error("server did not stop within 10 s of SIGTERM")
		}
	})
	url := "http://" + addr
	for i := 0; ; i++ {
		res, err := http.Get(url + "/healthz")
		if err == nil {
			res.Body.Close()
			break
		}
		if i > 200 {
			t.Fatalf("server never answered: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return url, cmd, bufio.NewReader(stdout)
}

func TestServePrintsSetupLinkAndStopsOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	base, cmd, stdout := startChildOutput(t, dir)

	var link string
	deadline := time.Now().Add(10 * time.Second)
	for link == "" && time.Now().Before(deadline) {
		line, err := stdout.ReadString('\n')
		if err != nil {
			t.Fatalf("reading output: %v", err)
		}
		if i := strings.Index(line, "/setup?token="); i >= 0 {
			link = strings.TrimSpace(line)
		}
	}
	if !strings.HasPrefix(link, base+"/setup?token=") {
		t.Fatalf("setup link %q", link)
	}
	u, _ := url.Parse(link)
	tok := u.Query().Get("token")

	res, err := http.Get(link)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("setup page: %v %v", res, err)
	}
	res.Body.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form := url.Values{"token": {tok}, "name": {"boss"}, "password": {"password123"}, "password2": {"password123"}}
	res, err = noRedirect.PostForm(base+"/setup", form)
	if err != nil || res.StatusCode != http.StatusSeeOther {
		t.Fatalf("setup: %v %v", res, err)
	}
	res.Body.Close()
	var session string
	for _, c := range res.Cookies() {
		if c.Name == "fedwave_session" && c.HttpOnly && c.SameSite == http.SameSiteLaxMode {
			session = c.Value
		}
	}
	if session == "" {
		t.Fatalf("no HttpOnly SameSite session cookie: %v", res.Header["Set-Cookie"])
	}
	// The link worked once.
	res, _ = noRedirect.PostForm(base+"/setup", form)
	if res.StatusCode == http.StatusSeeOther {
		t.Fatal("setup link used twice")
	}
	res.Body.Close()
	req, _ := http.NewRequest("GET", base+"/api/v1/me", nil)
	req.AddCookie(&http.Cookie{Name: "fedwave_session", Value: session})
	res, err = http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("me with cookie: %v %v", res, err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), `"role":"admin"`) {
		t.Fatalf("setup did not make an admin: %s", body)
	}

	// SIGTERM: a clean exit with status 0.
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
}

// Times are UTC on a machine in another zone: an invite made at once says
// when it expires with a Z.
func TestTimesAreUTC(t *testing.T) {
	dir := t.TempDir()
	if _, err := runCLI(t, "password1\n", "user", "create", "admin", "--role", "admin", "--password-stdin", "--data", dir); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TZ", "Asia/Tokyo")
	url, _, _ := startChildOutput(t, dir)
	api := &apiClient{t: t, URL: url}
	tok := api.Login("admin", "password1")
	inv, _ := api.Do("POST", "/api/v1/admin/invites", map[string]int{"uses": 1, "seconds": 3600}, tok).Body["invite"].(map[string]any)
	for _, k := range []string{"createdAt", "expires"} {
		if v, _ := inv[k].(string); !strings.HasSuffix(v, "Z") {
			t.Errorf("the invite's %s is %q, want UTC", k, v)
		}
	}
}

// A second instance on one machine: when the default media or TURN port
// is taken, serve takes a free one (and says so) instead of exiting; a
// port chosen by hand must be free.
func TestPortsTaken(t *testing.T) {
	for _, port := range []int{config.DefaultMediaPort, config.DefaultTURNPort} {
		held, err := net.ListenPacket("udp", fmt.Sprintf("0.0.0.0:%d", port))
		if err == nil { // else another process holds it: taken all the same
			defer held.Close()
		}
	}
	url, _, _ := startChildOutput(t, t.TempDir(), "--media-port", strconv.Itoa(config.DefaultMediaPort), "--turn-port", strconv.Itoa(config.DefaultTURNPort))
	ice := (&apiClient{t: t, URL: url}).Do("GET", "/api/v1/ice", nil, "")
	var urls []any
	if servers, _ := ice.Body["iceServers"].([]any); len(servers) > 0 {
		first, _ := servers[0].(map[string]any)
		urls, _ = first["urls"].([]any)
	}
	if len(urls) == 0 || strings.Contains(fmt.Sprint(urls[0]), fmt.Sprint(":", config.DefaultTURNPort)) {
		t.Errorf("the ICE servers of the second instance: %s, want its own TURN port", ice.Raw)
	}

	other, err := net.ListenPacket("udp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	port := strconv.Itoa(other.LocalAddr().(*net.UDPAddr).Port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	err = run(ctx, []string{"serve", "--data", t.TempDir(), "--http", freeAddr(t), "--turn-port", "0", "--media-port", port}, func(string) string { return "" }, strings.NewReader(""), &out, &out)
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "media port") {
		t.Errorf("serve on a taken --media-port %s: %v (%s)", port, err, out.String())
	}
}
