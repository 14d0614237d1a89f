package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/browsertest"
)

// The video browser tests drive the studio (web/static/js/studio.js) and the
// player (web/static/js/player.js) in real Chromium browsers with a fake
// camera and microphone, against a real server with WebRTC over 127.0.0.1:
// the streamer goes live from /studio over WHIP, viewers play over WHEP.

const videoPassword = "video-password-1"

// startVideoSite starts a server with the streamer alpha.
func startVideoSite(t *testing.T) *apptest.Server {
	t.Helper()
	s := apptest.Start(t)
	s.CreateUser("alpha", videoPassword, auth.RoleStreamer)
	return s
}

// openPage starts a browser and opens path in it, logged in as name through
// the login form, or anonymous when name is empty; then it waits until sel
// is visible and the page's scripts have run (modules run before the load
// event, so a test's events find their listeners).
func openPage(t *testing.T, s *apptest.Server, name, path, sel string) *browsertest.Page {
	t.Helper()
	p := browsertest.New(t).NewPage(t)
	if name == "" {
		p.Run(chromedp.Navigate(s.URL+path), chromedp.WaitVisible(sel))
	} else {
		p.Run(
			chromedp.Navigate(s.URL+"/login?next="+path),
			chromedp.WaitVisible("#login-form"),
			chromedp.SendKeys(`#login-form input[name="name"]`, name),
			chromedp.SendKeys(`#login-form input[name="password"]`, videoPassword),
			chromedp.Submit("#login-form"),
			chromedp.WaitVisible(sel),
		)
	}
	poll(t, p, `document.readyState === 'complete'`)
	return p
}

// goLiveFromStudio picks the camera in the studio, waits for its preview
// and goes live.
func goLiveFromStudio(t *testing.T, studio *browsertest.Page) {
	t.Helper()
	studio.Eval(`(() => {
		const s = document.querySelector('#studio-source');
		s.value = 'camera';
		s.dispatchEvent(new Event('change', { bubbles: true }));
	})()`, nil)
	poll(t, studio, `document.querySelector('#studio-preview').videoWidth > 0`)
	studio.Run(chromedp.Click("#studio-golive"))
	poll(t, studio, `document.querySelector('#studio-state').dataset.state === 'live'`)
	if got := studio.Text("#studio-state"); got != "Live" {
		t.Fatalf("the studio's state says %q while live", got)
	}
}

// waitPlaying waits until the player plays the stream: it says so, the
// picture has a size, and time and decoded frames keep going up.
func waitPlaying(t *testing.T, p *browsertest.Page) {
	t.Helper()
	poll(t, p, `document.querySelector('#player').dataset.state === 'live' && document.querySelector('#player-video').videoWidth > 0`)
	var state string // (the notice is hidden while the video plays)
	p.Eval(`document.querySelector('#player-state').textContent`, &state)
	if state != "Live" {
		t.Fatalf("#player-state says %q while playing", state)
	}
	var start struct {
		Time   float64 `json:"time"`
		Frames int     `json:"frames"`
	}
	p.Eval(`({time: document.querySelector('#player-video').currentTime, frames: Number(document.querySelector('#player').dataset.framesDecoded)})`, &start)
	var firstFrame string // logged, never asserted: timings do not decide a test
	p.Eval(`document.querySelector('#player').dataset.firstFrameMs || ''`, &firstFrame)
	t.Logf("time to first frame: %s ms (from the start of the player's WHEP session)", firstFrame)
	poll(t, p, fmt.Sprintf(`document.querySelector('#player-video').currentTime > %f && Number(document.querySelector('#player').dataset.framesDecoded) > %d`,
		start.Time+0.5, start.Frames+10))
}

// waitOffline waits until the player clearly says the channel is offline.
func waitOffline(t *testing.T, p *browsertest.Page) {
	t.Helper()
	poll(t, p, `document.querySelector('#player').dataset.state === 'offline' && document.querySelector('#player-state').textContent === 'Offline'`)
	var shown bool
	p.Eval(`(() => { const r = document.querySelector('.player-overlay').getBoundingClientRect(); return r.width > 0 && r.height > 0; })()`, &shown)
	if !shown {
		t.Fatal("the offline notice is not visible")
	}
}

func channelLive(t *testing.T, s *apptest.Server, name string) bool {
	t.Helper()
	r := s.Do("GET", "/api/v1/channels/"+name, nil, "")
	if r.Status != http.StatusOK {
		t.Fatalf("GET channel %s: %d %s", name, r.Status, r.Raw)
	}
	live, _ := r.Body["channel"].(map[string]any)["live"].(bool)
	return live
}

// homeCardJS is an expression for alpha's card on the home page.
const homeCardJS = `document.querySelector('#channels li[data-channel="alpha"]')`

// TestVideoBrowserLive: a streamer goes live from the studio; a viewer on
// the channel page sees the video play, the home page shows the channel live
// without a reload; Stop ends it, and the viewer says the channel is offline.
func TestVideoBrowserLive(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	s := startVideoSite(t)
	home := openPage(t, s, "", "/", `#channels li[data-channel="alpha"]`)
	viewer := openPage(t, s, "", "/c/alpha", "#player")
	waitOffline(t, viewer)
	studio := openPage(t, s, "alpha", "/studio", "#studio")
	if got := studio.Text("#studio-whip-url"); got != s.URL+"/whip/alpha" && got != s.Cfg.PublicURL+"/whip/alpha" {
		t.Errorf("the studio shows the WHIP URL %q", got)
	}

	goLiveFromStudio(t, studio)
	waitPlaying(t, viewer) // the viewer was offline: the live news started it
	if !channelLive(t, s, "alpha") {
		t.Fatal("the API does not say alpha is live while the viewer plays")
	}
	poll(t, viewer, `/^~\d+ ms buffer$/.test(document.querySelector('#player-latency').textContent)`)
	poll(t, home, homeCardJS+`.classList.contains('is-live') && `+homeCardJS+`.querySelector('.badge.live')?.textContent === 'LIVE'`)
	poll(t, studio, `Number(document.querySelector('#studio-viewers').textContent) >= 1`)
	poll(t, studio, `/^\d[\d,.]* kbps$/.test(document.querySelector('#studio-bitrate').textContent) && parseInt(document.querySelector('#studio-bitrate').textContent.replace(/\D/g, '')) > 0`)

	// Sound: the player starts muted for autoplay; the button unmutes it.
	var muted bool
	viewer.Eval(`document.querySelector('#player-video').muted`, &muted)
	if !muted {
		t.Error("the player did not start muted")
	}
	viewer.Run(chromedp.Click("#player-unmute"))
	poll(t, viewer, `!document.querySelector('#player-video').muted && document.querySelector('#player-unmute').textContent.trim() === 'Mute'`)

	for _, w := range []struct {
		width, height int64
	}{{1280, 900}, {390, 844}} {
		studio.Run(chromedp.EmulateViewport(w.width, w.height))
		viewer.Run(chromedp.EmulateViewport(w.width, w.height))
		t.Logf("screenshot of /studio at %d px: %s", w.width, studio.Screenshot(fmt.Sprintf("studio-%d", w.width)))
		t.Logf("screenshot of /c/alpha at %d px: %s", w.width, viewer.Screenshot(fmt.Sprintf("channel-%d", w.width)))
	}

	// Switching to the screen while live: the viewer keeps playing.
	studio.Eval(`(() => {
		const s = document.querySelector('#studio-source');
		s.value = 'screen';
		s.dispatchEvent(new Event('change', { bubbles: true }));
	})()`, nil)
	poll(t, studio, `document.querySelector('#studio-preview').srcObject?.getVideoTracks()[0]?.contentHint === 'detail'`)
	waitPlaying(t, viewer)

	studio.Run(chromedp.Click("#studio-stop"))
	poll(t, studio, `document.querySelector('#studio-state').dataset.state === 'offline'`)
	waitOffline(t, viewer)
	if channelLive(t, s, "alpha") {
		t.Error("the API still says alpha is live after Stop")
	}
	poll(t, home, `!`+homeCardJS+`.classList.contains('is-live') && `+homeCardJS+`.querySelector('.badge.offline') !== null`)

	// The stream returns: the viewer plays again by itself.
	studio.Run(chromedp.Click("#studio-golive"))
	poll(t, studio, `document.querySelector('#studio-state').dataset.state === 'live'`)
	waitPlaying(t, viewer)
	studio.Run(chromedp.Click("#studio-stop"))
	waitOffline(t, viewer)
	noJSErrors(t, map[string]*browsertest.Page{"home": home, "viewer": viewer, "studio": studio})
}

// TestVideoBrowserJitterMeter: the "~N ms buffer" figure from WebRTC's
// running counters. The first sample often comes before the first picture,
// when only sound (counted in samples, not frames) has left the buffer; CI
// once waited 20 s for a figure because the video's frame count was held
// against that sample count.
func TestVideoBrowserJitterMeter(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	s := apptest.Start(t)
	p := browsertest.New(t).NewPage(t)
	p.Run(chromedp.Navigate(s.URL + "/"))
	poll(t, p, `document.readyState === 'complete'`)
	var got []any
	p.Eval(`(async () => {
		const { JitterMeter } = await import('/static/js/jitter.js');
		const m = new JitterMeter();
		const buf = (vd, ve, ad, ae) => ({ video: { delay: vd, emitted: ve }, audio: { delay: ad, emitted: ae } });
		return [
			m.sample(buf(0, 0, 2400, 48000), 0),          // sound only: a baseline
			m.sample(buf(0, 0, 3600, 72000), 500),        // less than a second
			m.sample(buf(0, 0, 4800, 96000), 1000),       // 2,400 s over 48,000 samples
			m.sample(buf(0.1, 2, 7200, 144000), 1500),    // the first pictures: a new baseline
			m.sample(buf(3.1, 32, 9600, 192000), 2500),   // 3 s over 30 frames
			m.sample(buf(3.1, 32, 9600, 192000), 3500),   // nothing left the buffer
			m.sample(buf(0, 0, 0, 0), 4500),          // a new session: counters from 0
			m.sample(buf(0.5, 10, 0, 0), 5500),
		];
	})()`, &got)
	want := []any{nil, nil, 50.0, nil, 100.0, nil, nil, nil}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the meter gave %v, want %v", got, want)
	}
}

// TestVideoBrowserEmbed: the embed page plays the stream, switches quality,
// and goes offline when the stream stops.
func TestVideoBrowserEmbed(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	s := startVideoSite(t)
	studio := openPage(t, s, "alpha", "/studio", "#studio")
	goLiveFromStudio(t, studio)

	embed := openPage(t, s, "", "/c/alpha/embed", "#player")
	waitPlaying(t, embed)
	var fills bool
	embed.Eval(`(() => { const r = document.querySelector('#player').getBoundingClientRect(); return r.width === innerWidth && r.height === innerHeight; })()`, &fills)
	if !fills {
		t.Error("the embedded player does not fill its frame")
	}
	if got := embed.Text("#player-channel"); got != "alpha" {
		t.Errorf("the embed names the channel %q", got)
	}

	// Low quality switches layer on the same connection: it plays on,
	// smaller when the studio sends simulcast layers, and the decoder's
	// frame count carries on (a new session would start it from 0).
	poll(t, studio, `/^\d+×\d+/.test(document.querySelector('#studio-video').textContent)`)
	layers := strings.Contains(studio.Text("#studio-video"), "2 layers")
	var highWidth, lowWidth, framesBefore, framesAfter int
	embed.Eval(`document.querySelector('#player-video').videoWidth`, &highWidth)
	embed.Eval(`Number(document.querySelector('#player').dataset.framesDecoded)`, &framesBefore)
	embed.Eval(`(() => {
		const q = document.querySelector('#player-quality');
		q.value = 'low';
		q.dispatchEvent(new Event('change', { bubbles: true }));
	})()`, nil)
	poll(t, embed, `document.querySelector('#player').dataset.quality === 'low'`)
	// While Chromium pauses its top layer, "high" is already served from
	// the low one (the SFU falls back): then there is nothing to shrink.
	var studioWidth int
	studio.Eval(`parseInt(document.querySelector('#studio-video').textContent, 10)`, &studioWidth)
	layers = layers && highWidth >= studioWidth
	if layers {
		poll(t, embed, fmt.Sprintf(`document.querySelector('#player-video').videoWidth < %d`, highWidth))
	}
	waitPlaying(t, embed)
	embed.Eval(`document.querySelector('#player-video').videoWidth`, &lowWidth)
	embed.Eval(`Number(document.querySelector('#player').dataset.framesDecoded)`, &framesAfter)
	t.Logf("simulcast %v: high %d px wide, low %d px; frames decoded %d before the switch, %d after", layers, highWidth, lowWidth, framesBefore, framesAfter)
	if layers && lowWidth >= highWidth {
		t.Errorf("with two layers sent, low quality is %d px wide and high %d px", lowWidth, highWidth)
	}
	if framesAfter <= framesBefore {
		t.Errorf("frames decoded went from %d to %d: the switch made a new session", framesBefore, framesAfter)
	}

	// Audio only: playing, but no picture.
	embed.Eval(`(() => {
		const q = document.querySelector('#player-quality');
		q.value = 'audio';
		q.dispatchEvent(new Event('change', { bubbles: true }));
	})()`, nil)
	poll(t, embed, `document.querySelector('#player').dataset.state === 'live' && document.querySelector('#player').dataset.quality === 'audio' && document.querySelector('#player-detail').textContent === 'Audio only'`)

	studio.Run(chromedp.Click("#studio-stop"))
	waitOffline(t, embed)
	noJSErrors(t, map[string]*browsertest.Page{"embed": embed, "studio": studio})
}

// TestVideoBrowserStudioSettings: the studio sets the title and makes a
// stream key for OBS, which the server then accepts.
func TestVideoBrowserStudioSettings(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	s := startVideoSite(t)
	studio := openPage(t, s, "alpha", "/studio", "#studio")
	studio.Run(
		chromedp.SendKeys("#studio-title", "Night <drive>"),
		chromedp.Click("#studio-title-save"),
	)
	waitText(t, studio, "#studio-title-status", "Saved.")
	ch := s.Do("GET", "/api/v1/channels/alpha", nil, "").Body["channel"].(map[string]any)
	if ch["title"] != "Night <drive>" {
		t.Errorf("title after saving in the studio: %v", ch["title"])
	}

	studio.Run(chromedp.Click("#studio-key-button"), chromedp.WaitVisible("#studio-key"))
	key := browsertest.Get(studio, chromedp.Value("#studio-key"))
	if ok, err := s.App.Core().Channels.CheckStreamKey(t.Context(), "alpha", key); !ok || err != nil {
		t.Fatalf("the key shown (%q) is not the channel's stream key: %v", key, err)
	}
	var guide string
	studio.Eval(`document.querySelector('#studio-obs').textContent`, &guide)
	for _, want := range []string{"WHIP", "B-frames", "Keyframe interval", "zerolatency", "Opus"} {
		if !strings.Contains(guide, want) {
			t.Errorf("the OBS settings do not mention %q", want)
		}
	}
	noJSErrors(t, map[string]*browsertest.Page{"studio": studio})
}
