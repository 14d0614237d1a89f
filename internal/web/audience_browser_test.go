package web_test

import (
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/browsertest"
)

// TestVideoBrowserOneViewerNumber: a person counts once, whatever they have
// open (the channel page's player and chat, an embed in another tab), and
// the channel page shows the number once.
func TestVideoBrowserOneViewerNumber(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	s := startVideoSite(t)
	studio := openPage(t, s, "alpha", "/studio", "#studio")
	goLiveFromStudio(t, studio)
	before := apiViewers(t, s)

	b := browsertest.New(t)
	channel := b.NewPage(t)
	channel.Run(chromedp.Navigate(s.URL+"/c/alpha"), chromedp.WaitVisible("#player"))
	waitPlaying(t, channel)
	embed := b.NewPage(t)
	embed.Run(chromedp.Navigate(s.URL+"/c/alpha/embed"), chromedp.WaitVisible("#player"))
	waitPlaying(t, embed)

	want := strconv.Itoa(before + 1)
	poll(t, channel, `document.querySelector('#chat-viewers').textContent === '`+want+`'`)
	poll(t, embed, `document.querySelector('#player-viewers').textContent === '`+want+` watching'`)
	if n := apiViewers(t, s); n != before+1 {
		t.Fatalf("the API counts %d viewers, want %d (one browser with two players and a chat)", n, before+1)
	}
	var shown int
	channel.Eval(`[...document.querySelectorAll('#player-viewers, #chat-viewers')].filter(e => e.offsetParent !== null).length`, &shown)
	if shown != 1 {
		t.Fatalf("the channel page shows the viewer number %d times, want once", shown)
	}
	noJSErrors(t, map[string]*browsertest.Page{"channel": channel, "embed": embed, "studio": studio})
}

// apiViewers is alpha's viewer number as the API says it.
func apiViewers(t *testing.T, s *apptest.Server) int {
	t.Helper()
	ch, _ := s.Do("GET", "/api/v1/channels/alpha", nil, "").Body["channel"].(map[string]any)
	n, ok := ch["viewers"].(float64)
	if !ok {
		t.Fatalf("alpha has no viewer number: %v", ch)
	}
	return int(n)
}
