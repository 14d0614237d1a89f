package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// `fedwave user role` run beside a serving process takes channel management
// away from a demoted streamer within seconds, with no restart.
func TestUserRoleReachesRunningServer(t *testing.T) {
	dir := t.TempDir()
	if out, err := runCLI(t, "password1\n", "user", "create", "alpha", "--role", "streamer", "--password-stdin", "--data", dir); err != nil {
		t.Fatalf("%q %v", out, err)
	}
	base := startChild(t, dir)
	tok := loginToken(t, base, "alpha")
	do := func(method, path string) int {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(`{"title":"mine"}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if st := do("PATCH", "/api/v1/channels/alpha"); st != http.StatusOK {
		t.Fatalf("PATCH before demotion: %d", st)
	}
	if out, err := runCLI(t, "", "user", "role", "alpha", "user", "--data", dir); err != nil {
		t.Fatalf("user role: %q %v", out, err)
	}
	for _, req := range [][2]string{{"PATCH", "/api/v1/channels/alpha"}, {"POST", "/api/v1/channels/alpha/stream-key"}} {
		deadline := time.Now().Add(5 * time.Second)
		for do(req[0], req[1]) != http.StatusForbidden {
			if time.Now().After(deadline) {
				t.Fatalf("%s %s still allowed 5 s after the demotion", req[0], req[1])
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
