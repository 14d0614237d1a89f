package web_test

import (
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/browsertest"
)

// TestVideoBrowserTakeoverIsFinal: a second studio of the same streamer
// takes the channel over. The first says it was replaced, with the time,
// and stays off: it does not take the channel back.
func TestVideoBrowserTakeoverIsFinal(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	s := startVideoSite(t)
	first := openPage(t, s, "alpha", "/studio", "#studio")
	goLiveFromStudio(t, first)
	second := openPage(t, s, "alpha", "/studio", "#studio")
	goLiveFromStudio(t, second)
	took := time.Now()

	poll(t, first, `document.querySelector('#studio-state').dataset.state === 'error' &&
		/^Your stream was replaced by another source at \d\d?:\d\d:\d\d/.test(document.querySelector('#studio-error').textContent)`)
	t.Logf("%v after the takeover, the first studio says: %q", time.Since(took).Round(100*time.Millisecond), first.Text("#studio-error"))
	var idle bool // nothing left that would reconnect: Go live is offered again
	first.Eval(`!document.querySelector('#studio-golive').disabled && document.querySelector('#studio-stop').disabled`, &idle)
	if !idle {
		t.Fatal("the replaced studio still wants to be live")
	}
	if st := second.Text("#studio-state"); st != "Live" {
		t.Fatalf("the second studio says %q after the takeover", st)
	}
	if !channelLive(t, s, "alpha") {
		t.Fatal("the channel is offline after the takeover")
	}
	noJSErrors(t, map[string]*browsertest.Page{"first": first, "second": second})
}
