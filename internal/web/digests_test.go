package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/config"
)

// openFeed starts a digest feed and returns its response; its body stays
// open until cancel. from names the client behind a trusted proxy.
func openFeed(t *testing.T, s *apptest.Server, channel string, from ...string) (*http.Response, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/api/v1/channels/"+channel+"/digests", nil)
	for _, ip := range from {
		req.Header.Set("X-Forwarded-For", ip)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); res.Body.Close() })
	return res, func() { cancel(); res.Body.Close() }
}

// TestDigestFeedLimits: the digest feed is an event stream of existing
// local channels; one address opens a few at once and starts a few a
// minute.
func TestDigestFeedLimits(t *testing.T) {
	s := apptest.Start(t)
	s.CreateUser("alpha", videoPassword, auth.RoleStreamer)
	if r, _ := openFeed(t, s, "nobody"); r.StatusCode != http.StatusNotFound {
		t.Errorf("the feed of a channel that does not exist: %d, want 404", r.StatusCode)
	}
	first, closeFirst := openFeed(t, s, "alpha")
	if first.StatusCode != http.StatusOK || first.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("the feed of alpha: %d %s", first.StatusCode, first.Header.Get("Content-Type"))
	}
	if r, _ := openFeed(t, s, "alpha"); r.StatusCode != http.StatusOK {
		t.Fatalf("a second feed: %d", r.StatusCode)
	}
	if r, _ := openFeed(t, s, "alpha"); r.StatusCode != http.StatusTooManyRequests || errorCode(r) != "too_many_connections" {
		t.Fatalf("a third feed open from one address: %d, want 429 too_many_connections", r.StatusCode)
	}
	closeFirst()
	status := 0
	for try := 0; try < 4 && status != http.StatusOK; try++ { // the server notices the close at once, or nearly
		if try > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		r, _ := openFeed(t, s, "alpha")
		status = r.StatusCode
	}
	if status != http.StatusOK {
		t.Fatalf("after closing one feed, another: %d, want 200", status)
	}
	code := ""
	for range 10 {
		r, cancel := openFeed(t, s, "alpha")
		code = errorCode(r)
		cancel()
	}
	if code != "rate_limited" {
		t.Errorf("after more than 10 starts in a minute the answer's code is %q, want rate_limited", code)
	}
}

// TestDigestFeedsPerChannel: however many addresses ask, a channel has
// a few open feeds here.
func TestDigestFeedsPerChannel(t *testing.T) {
	s := apptest.Start(t, func(c *config.Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")} })
	s.CreateUser("alpha", videoPassword, auth.RoleStreamer)
	for i := range 8 {
		if r, _ := openFeed(t, s, "alpha", fmt.Sprintf("192.0.2.%d", i+1)); r.StatusCode != http.StatusOK {
			t.Fatalf("feed %d: %d", i+1, r.StatusCode)
		}
	}
	if r, _ := openFeed(t, s, "alpha", "192.0.2.99"); r.StatusCode != http.StatusTooManyRequests || errorCode(r) != "too_many_connections" {
		t.Fatalf("a ninth feed of one channel: %d, want 429 too_many_connections", r.StatusCode)
	}
}

// errorCode is the code of a contract error body ("" for none).
func errorCode(r *http.Response) string {
	var b struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if r.StatusCode < 400 {
		return ""
	}
	json.NewDecoder(r.Body).Decode(&b)
	return b.Error.Code
}
