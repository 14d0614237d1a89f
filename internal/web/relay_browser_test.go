package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/browsertest"
	"github.com/fedwave/fedwave/internal/config"
	"github.com/fedwave/fedwave/internal/relay"
)

// The stream chain in a browser (CONTRACT §5a): an origin that serves one
// viewer itself sends the next to a relay (`fedwave relay`, run in this
// process); the player follows, plays through the relay as it would
// directly, and, when that relay dies, plays again through another one
// without a reload.

// chainSite is an origin with --max-viewers 1, the streamer alpha and the
// admin boss.
type chainSite struct {
	s     *apptest.Server
	admin string // boss's API token
}

func startChainSite(t *testing.T) *chainSite {
	t.Helper()
	s := apptest.Start(t, func(c *config.Config) { c.MaxViewers = 1 })
	s.CreateUser("alpha", videoPassword, auth.RoleStreamer)
	s.CreateUser("boss", videoPassword, auth.RoleAdmin)
	return &chainSite{s: s, admin: s.Login("boss", videoPassword)}
}

// runningRelay is a relay process run in the test.
type runningRelay struct {
	name   string
	host   string // host:port of its WHEP endpoint
	cancel func()
	done   chan struct{} // closed when it has ended, with err
	err    error
}

// stop ends the relay (as SIGTERM would) and waits until it has.
func (r *runningRelay) stop() {
	r.cancel()
	<-r.done
}

// startRelay makes a relay token on the origin, runs the relay with it
// and waits until the origin lists it as connected.
func (c *chainSite) startRelay(t *testing.T, name string) *runningRelay {
	t.Helper()
	r := c.s.Do("POST", "/api/v1/relays", map[string]any{"name": name}, c.admin)
	token, _ := r.Body["token"].(string)
	if r.Status != http.StatusCreated || token == "" {
		t.Fatalf("POST /api/v1/relays: %d %s", r.Status, r.Raw)
	}
	return c.runRelay(t, name, token)
}

// runRelay runs `fedwave relay --origin … --token token --media-loopback`
// in this process on a free port, until stop or the test's end, and waits
// until the origin lists it as connected.
func (c *chainSite) runRelay(t *testing.T, name, token string) *runningRelay {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rr := &runningRelay{name: name, cancel: cancel, done: make(chan struct{})}
	bound := make(chan string, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() {
		defer close(rr.done)
		rr.err = relay.Run(ctx, relay.Config{Origin: c.s.URL, Token: token, HTTPAddr: "127.0.0.1:0", MediaLoopback: true,
			Log: log, Listening: func(addr string) { bound <- addr }})
	}()
	t.Cleanup(rr.stop)
	select {
	case rr.host = <-bound:
	case <-rr.done:
		t.Fatalf("relay %s did not start: %v", name, rr.err)
	case <-time.After(20 * time.Second):
		t.Fatalf("relay %s did not start listening", name)
	}
	waitFor(t, "relay "+name+" connected", func() bool { return c.relayState(t, name) == "connected" })
	return rr
}

// relayState is the state the origin's relay API gives for name.
func (c *chainSite) relayState(t *testing.T, name string) string {
	t.Helper()
	r := c.s.Do("GET", "/api/v1/relays", nil, c.admin)
	list, _ := r.Body["relays"].([]any)
	for _, x := range list {
		if m, _ := x.(map[string]any); m["name"] == name {
			s, _ := m["state"].(string)
			return s
		}
	}
	return ""
}

// waitFor polls cond until it holds, for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// takeOriginSlot joins alpha's stream on the origin with a pion viewer
// (not a browser), which fills the origin's one place.
func takeOriginSlot(t *testing.T, s *apptest.Server) {
	t.Helper()
	waitFor(t, "alpha live", func() bool { return channelLive(t, s, "alpha") })
	if res := whepOffer(t, s.URL+"/whep/alpha"); res.StatusCode != http.StatusCreated {
		t.Fatalf("the first viewer's WHEP POST on the origin: %d %v", res.StatusCode, res.Header)
	}
}

// framesJS is the player's count of decoded frames.
const framesJS = `Number(document.querySelector('#player').dataset.framesDecoded)`

// TestRelayBrowserPlayAndRelink: the origin is full, so the player is sent
// to relay one; it plays, shows where from, and switches layers there.
// Relay two joins, relay one dies: the player says "Reconnecting…" over
// the last picture and plays again through relay two, in the same page.
func TestRelayBrowserPlayAndRelink(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	c := startChainSite(t)
	one := c.startRelay(t, "one")
	studio := openPage(t, c.s, "alpha", "/studio", "#studio")
	goLiveFromStudio(t, studio)
	takeOriginSlot(t, c.s)

	viewer := openPage(t, c.s, "", "/c/alpha", "#player")
	waitPlaying(t, viewer)
	var via string
	viewer.Eval(`document.querySelector('#player').dataset.via`, &via)
	if via != one.host {
		t.Fatalf("the player plays via %q, want relay one at %s", via, one.host)
	}
	poll(t, viewer, `document.querySelector('#player-latency').textContent.includes('via relay `+one.host+`')`)

	// A layer switch goes to the relay's session, on the same connection.
	var before int
	viewer.Eval(framesJS, &before)
	setQuality(viewer, "low")
	poll(t, viewer, `document.querySelector('#player').dataset.quality === 'low' && document.querySelector('#player').dataset.state === 'live'`)
	poll(t, viewer, fmt.Sprintf(`%s > %d`, framesJS, before+10))
	var layerOnRelay bool
	viewer.Eval(`performance.getEntriesByType('resource').some((e) => e.name.startsWith(`+jsString("http://"+one.host+"/whep/alpha/")+`) && e.name.endsWith('/layer'))`, &layerOnRelay)
	if !layerOnRelay {
		t.Error("the layer switch was not sent to the relay's session")
	}

	// Audio only, and back, still through relay one.
	setQuality(viewer, "audio")
	poll(t, viewer, `document.querySelector('#player').dataset.state === 'live' && document.querySelector('#player-detail').textContent === 'Audio only' && document.querySelector('#player').dataset.via === `+jsString(one.host))
	setQuality(viewer, "low")
	poll(t, viewer, `document.querySelector('#player').dataset.state === 'live' && document.querySelector('#player-detail').textContent === ''`)
	waitPlaying(t, viewer)

	// Relay one dies with relay two ready: the page plays on, no reload.
	two := c.startRelay(t, "two")
	viewer.Eval(`(() => {
		window.samePage = true;
		window.seen = [];
		const player = document.querySelector('#player');
		window.stateAt = {};
		new MutationObserver(() => {
			window.seen.push(player.dataset.state + ':' + document.querySelector('#player-state').textContent);
			window.stateAt[player.dataset.state] ??= performance.now();
			if (player.dataset.state === 'reconnecting') {
				const v = document.querySelector('#player-video');
				window.pictureKept = (window.pictureKept ?? true) && v.srcObject !== null && v.videoWidth > 0;
			}
		})
			.observe(player, { attributes: true, attributeFilter: ['data-state'] });
	})()`, nil)
	killed := time.Now()
	one.stop()
	poll(t, viewer, `document.querySelector('#player').dataset.via === `+jsString(two.host)+` && document.querySelector('#player').dataset.state === 'live'`)
	poll(t, viewer, framesJS+` > 10`)
	t.Logf("playing through relay two %v after relay one was stopped", time.Since(killed).Round(10*time.Millisecond))
	var gap float64 // logged, never asserted: timings do not decide a test
	viewer.Eval(`window.stateAt.live - window.stateAt.reconnecting`, &gap)
	t.Logf("the page showed Reconnecting… for %.0f ms", gap)
	var seen []string
	viewer.Eval(`window.seen`, &seen)
	if !containsString(seen, "reconnecting:Reconnecting…") {
		t.Errorf("the player never said Reconnecting… (states seen: %q)", seen)
	}
	// It asked the origin again, at the quality it had, naming the lost relay.
	var asked bool
	viewer.Eval(`performance.getEntriesByType('resource').some((e) => e.name === location.origin + '/whep/alpha?quality=low&avoid=' + encodeURIComponent(`+jsString(one.host)+`))`, &asked)
	if !asked {
		var urls []string
		viewer.Eval(`performance.getEntriesByType('resource').map((e) => e.name).filter((u) => u.includes('/whep/'))`, &urls)
		t.Errorf("the player did not post to the origin with avoid=%s at low quality; its WHEP requests: %q", one.host, urls)
	}
	var pictureKept bool
	viewer.Eval(`window.pictureKept === true`, &pictureKept)
	if !pictureKept {
		t.Error("the picture was cleared while reconnecting")
	}
	var samePage, overlayHidden bool
	viewer.Eval(`window.samePage === true`, &samePage)
	viewer.Eval(`getComputedStyle(document.querySelector('.player-overlay')).display === 'none'`, &overlayHidden)
	if !samePage {
		t.Error("the page was reloaded")
	}
	if !overlayHidden {
		t.Error("the Reconnecting… notice is still shown while playing")
	}
	waitPlaying(t, viewer)
	noJSErrors(t, map[string]*browsertest.Page{"viewer": viewer, "studio": studio})
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if strings.TrimSpace(x) == s {
			return true
		}
	}
	return false
}

// setQuality picks a quality in the player's menu.
func setQuality(p *browsertest.Page, q string) {
	p.Eval(`(() => {
		const q = document.querySelector('#player-quality');
		q.value = `+jsString(q)+`;
		q.dispatchEvent(new Event('change', { bubbles: true }));
	})()`, nil)
}
