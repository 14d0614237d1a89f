// Package apptest starts real FedWave servers for tests: in-process, on a
// free 127.0.0.1 port, with a temporary data directory, stopped at cleanup.
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/app"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/config"
)

// Server is a running test instance.
type Server struct {
	t    testing.TB
	Cfg  config.Config
	App  *app.App
	URL  string
	out  *syncBuffer
	done bool
}

// Start runs a server with default settings changed by opts.
func Start(t testing.TB, opts ...func(*config.Config)) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.AuthRate = 1000
	cfg.ChatRate, cfg.ChatBurst = 1000, 1000
	cfg.MediaRate = 10000
	cfg.MediaPort, cfg.MediaLoopback, cfg.TURNPort = 0, true, 0
	cfg.LogLevel = "warn"
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{t: t, Cfg: cfg}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start() {
	s.t.Helper()
	cfg := s.Cfg
	if err := cfg.Validate(); err != nil {
		s.t.Fatalf("config: %v", err)
	}
	s.out = &syncBuffer{}
	log := slog.New(slog.NewTextHandler(testWriter{s.t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.New(context.Background(), cfg, log, s.out)
	if err != nil {
		s.t.Fatalf("start server: %v", err)
	}
	if err := a.Start(context.Background()); err != nil {
		s.t.Fatalf("start server: %v", err)
	}
	s.App, s.URL, s.done = a, a.URL(), false
}

// Stop shuts the server down gracefully; it is safe to call twice.
func (s *Server) Stop() {
	if s.done {
		return
	}
	s.done = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.App.Shutdown(ctx); err != nil {
		s.t.Errorf("shutdown: %v", err)
	}
}

// Resume starts a stopped server again on the same data directory and
// the same address.
func (s *Server) Resume() {
	s.t.Helper()
	s.Cfg.HTTPAddr = s.App.Addr()
	s.start()
}

// Restart stops the server and starts a new one on the same data directory
// and the same address.
func (s *Server) Restart() {
	s.t.Helper()
	addr := s.App.Addr()
	s.Stop()
	s.Cfg.HTTPAddr = addr
	s.start()
}

// Output is what the server printed for its operator (the setup link).
func (s *Server) Output() string { return s.out.String() }

// CreateUser makes an account directly through the services and returns
// its handle.
func (s *Server) CreateUser(name, password string, role auth.Role) string {
	s.t.Helper()
	u, err := s.App.Core().Auth.CreateUser(context.Background(), name, password, role)
	if err != nil {
		s.t.Fatalf("create user %s: %v", name, err)
	}
	return auth.Handle(u.Name, u.Num)
}

// Response is a decoded API answer.
type Response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

// ErrorCode returns the contract error body's code, or "".
func (r *Response) ErrorCode() string {
	e, _ := r.Body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// Do sends a request with an optional JSON body (a string is sent as is)
// and bearer token.
func (s *Server) Do(method, path string, body any, token string) *Response {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return s.Send(req)
}

// Send sends a prepared request and decodes the answer.
func (s *Server) Send(req *http.Request) *Response {
	s.t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	r := &Response{Status: res.StatusCode, Header: res.Header, Raw: raw}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			s.t.Fatalf("%s %s: invalid JSON answer %q: %v", req.Method, req.URL.Path, raw, err)
		}
	}
	return r
}

// Login logs in through the API and returns the token.
func (s *Server) Login(name, password string) string {
	s.t.Helper()
	r := s.Do("POST", "/api/v1/login", map[string]string{"name": name, "password": password}, "")
	if r.Status != http.StatusOK {
		s.t.Fatalf("login %s: %d %s", name, r.Status, r.Raw)
	}
	return r.Body["token"].(string)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("server: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
