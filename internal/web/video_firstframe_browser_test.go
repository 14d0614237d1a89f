package web_test

import (
	"fmt"
	"net"
	"net/http"
	"testing"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/browsertest"
	"github.com/fedwave/fedwave/internal/config"
	"github.com/fedwave/fedwave/internal/udptest"
)

// TestVideoBrowserFirstFrame: the player shows the first frame without
// waiting for ICE gathering to end (the rest of its candidates follow by
// trickle PATCH, answered 204): with the embedded TURN server, and with a TURN server that
// never answers (UDP blocked on the way), where gathering takes the
// longest. The times are logged by waitPlaying, never asserted.
func TestVideoBrowserFirstFrame(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	for _, tc := range []struct {
		name string
		opt  func(t *testing.T, c *config.Config)
	}{
		{"embedded TURN", func(t *testing.T, c *config.Config) { c.TURNPort, c.TURNLoopback = udptest.FreePort(t), true }},
		{"silent TURN", func(t *testing.T, c *config.Config) {
			silent, err := net.ListenPacket("udp", "127.0.0.1:0") // reads nothing, answers nothing
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { silent.Close() })
			c.TURNSecret, c.TURNURL = "test-secret", "turn:"+silent.LocalAddr().String()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := apptest.Start(t, func(c *config.Config) { tc.opt(t, c) })
			s.CreateUser("alpha", videoPassword, auth.RoleStreamer)
			studio := openPage(t, s, "alpha", "/studio", "#studio")
			goLiveFromStudio(t, studio)
			for i := range 2 {
				embed := openPage(t, s, "", "/c/alpha/embed", "#player")
				waitPlaying(t, embed)
				// The candidates that came after the offer went by trickle.
				const patchesJS = `performance.getEntriesByType('resource').filter((e) => /\/whep\/alpha\/[0-9a-f]+$/.test(e.name)).map((e) => e.responseStatus)`
				poll(t, embed, patchesJS+`.length > 0`)
				var patches []int // the trickle PATCHes' answers
				embed.Eval(patchesJS, &patches)
				t.Logf("trickle PATCH answers: %v", patches)
				for _, st := range patches {
					if st != http.StatusNoContent {
						t.Errorf("a trickle PATCH was answered %d", st)
					}
				}
				noJSErrors(t, map[string]*browsertest.Page{fmt.Sprint("embed ", i+1): embed})
			}
			noJSErrors(t, map[string]*browsertest.Page{"studio": studio})
		})
	}
}
