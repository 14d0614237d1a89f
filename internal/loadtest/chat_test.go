package loadtest

import (
	"context"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/config"
)

// TestChatLoadSmall runs the load tool against a real server: every
// acknowledged message reaches every client. (Only counts are checked; the
// timings are for the benchmark.)
func TestChatLoadSmall(t *testing.T) {
	clients := 50
	if n, err := strconv.Atoi(os.Getenv("FEDWAVE_LOAD_CLIENTS")); err == nil {
		clients = n // for profiling bigger runs
	}
	s := apptest.Start(t, func(c *config.Config) { c.ConnsPerIP = clients + 100; c.ChatRate, c.ChatBurst = 1, 5 })
	s.CreateUser("alpha", "password1", auth.RoleStreamer)
	var log io.Writer
	if testing.Verbose() {
		log = os.Stderr
	}
	rep, err := RunChat(context.Background(), ChatOptions{
		URL: s.URL, Channel: "alpha", Clients: clients, Senders: 10, Rate: 10, Duration: 2 * time.Second, Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", rep)
	if rep.Connected != clients || rep.Acked == 0 || rep.Received != rep.Expected || len(rep.Errors) != 0 {
		t.Fatalf("lost or refused messages:\n%s", rep)
	}
}

// A run against the default flood limits says that the server refused
// messages, instead of passing its refusals off as its speed.
func TestChatLoadSaysWhenTheServerRefuses(t *testing.T) {
	s := apptest.Start(t, func(c *config.Config) { c.ConnsPerIP = 100; c.ChatRate, c.ChatBurst = 1, 2 })
	s.CreateUser("alpha", "password1", auth.RoleStreamer)
	rep, err := RunChat(context.Background(), ChatOptions{
		URL: s.URL, Channel: "alpha", Clients: 5, Senders: 2, Rate: 20, Duration: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Refused() || rep.Errors["rate_limited"] == 0 || !strings.Contains(rep.String(), "not its speed") {
		t.Fatalf("the report does not say the server refused messages:\n%s", rep)
	}
}
