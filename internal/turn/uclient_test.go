package turn

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTurnutilsUclient runs coturn's test client (Debian package "coturn")
// against the embedded server: a TURN implementation nobody here wrote. It
// relays through the server to a UDP echo peer on 127.0.0.1, so the server
// runs with AllowLoopbackPeers, except in the case that checks the refusal.
//
// Flags used: -c (no RTCP allocation), -n 10 (ten 100-byte messages), -e/-r
// (peer address and port), -p (server port), -t (TURN over TCP), -W secret
// -u user (uclient builds "expiry:user" and the HMAC password itself, so
// this also checks the REST scheme against coturn's implementation of it),
// -u user -w password (credentials issued here).
// Success is exit status 0 and "tot_send_msgs=10, tot_recv_msgs=10" with
// "Total lost packets 0"; failure is a non-zero exit, no such line, and
// uclient's reason ("Cannot complete Allocation", "channel bind: error").
func TestTurnutilsUclient(t *testing.T) {
	bin, err := exec.LookPath("turnutils_uclient")
	if err != nil {
		if os.Getenv("FEDWAVE_REQUIRE_TURNUTILS") == "1" {
			t.Fatal("turnutils_uclient not found and FEDWAVE_REQUIRE_TURNUTILS=1; install Debian's coturn package")
		}
		t.Skip("turnutils_uclient not found (apt-get install coturn); skipping the coturn interop test")
	}
	t.Parallel()

	// uclient's -W issues credentials valid for 24 hours; a TTL below that
	// would (rightly) refuse them as too long-lived.
	creds := NewCredentials(testSecret, 48*time.Hour)
	_, addr := startServer(t, Config{Creds: creds, AllowLoopbackPeers: true})
	_, strictAddr := startServer(t, Config{Creds: creds})
	echo := startEcho(t, "udp4", "127.0.0.1:0")
	strictEcho := startEcho(t, "udp4", "127.0.0.1:0")

	now := time.Now()
	user, pass, _ := creds.Issue(User(1), now)
	oldUser, oldPass, _ := creds.Issue(User(1), now.Add(-49*time.Hour))

	const (
		sent    = "tot_send_msgs=10, tot_recv_msgs=10"
		noAlloc = "Cannot complete Allocation"
	)
	for _, tc := range []struct {
		name   string
		server string
		peer   *echoServer
		args   []string
		fail   string // "" if uclient must succeed, else what it must say
	}{
		{"UDP REST secret", addr, echo, []string{"-W", string(testSecret), "-u", User(2)}, ""},
		{"TCP issued credentials", addr, echo, []string{"-t", "-u", user, "-w", pass}, ""},
		{"expired credentials", addr, echo, []string{"-u", oldUser, "-w", oldPass}, noAlloc},
		{"expired credentials over TCP", addr, echo, []string{"-t", "-u", oldUser, "-w", oldPass}, noAlloc},
		{"wrong secret", addr, echo, []string{"-W", "not-the-secret-at-all", "-u", User(2)}, noAlloc},
		// pion answers a refused ChannelBind with 401 (a refused
		// CreatePermission gets 403); uclient binds a channel first.
		{"loopback peer refused", strictAddr, strictEcho, []string{"-W", string(testSecret), "-u", User(2)}, "channel bind: error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			host, port, _ := net.SplitHostPort(tc.server)
			args := []string{"-c", "-n", "10", "-p", port,
				"-e", "127.0.0.1", "-r", strconv.Itoa(tc.peer.addr().Port)}
			args = append(append(args, tc.args...), host)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("turnutils_uclient %s timed out:\n%s", strings.Join(args, " "), out)
			}
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatalf("running turnutils_uclient: %v", err)
			}
			relayed := strings.Contains(string(out), sent) && strings.Contains(string(out), "Total lost packets 0 ")
			switch {
			case tc.fail == "" && (err != nil || !relayed):
				t.Errorf("turnutils_uclient %s: want success, got %v:\n%s", strings.Join(args, " "), err, out)
			case tc.fail != "" && (err == nil || relayed || !strings.Contains(string(out), tc.fail)):
				t.Errorf("turnutils_uclient %s: want failure with %q, got %v:\n%s", strings.Join(args, " "), tc.fail, err, out)
			}
		})
	}
	t.Cleanup(func() {
		if n := strictEcho.received(); n != 0 {
			t.Errorf("the loopback peer of the strict server received %d datagrams", n)
		}
	})
}
