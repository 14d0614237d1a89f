package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fedwave/fedwave/internal/browsertest"
)

// relayCard is an expression for the card of relay name on /relays.
func relayCard(name string) string {
	return `document.querySelector('#relays-list li[data-name="` + name + `"]')`
}

// TestRelayBrowserAdminPageAndTree: the admin makes a relay on /relays and
// sees its token and command once; the relay run with that command shows
// up connected; once it serves a viewer of alpha, alpha's studio and the
// admin's page draw it in the channel's tree; Revoke ends it.
func TestRelayBrowserAdminPageAndTree(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	c := startChainSite(t)
	admin := openPage(t, c.s, "boss", "/relays", `#relays[data-loaded="true"]`)
	if got := admin.Text("#nav-relays"); got != "Relays" {
		t.Errorf("the admin's header links to the page as %q", got)
	}

	admin.Run(chromedp.SendKeys("#relay-name", "edge1"), chromedp.Click("#relay-create"), chromedp.WaitVisible("#relay-token-box"))
	token := browsertest.Get(admin, chromedp.Value("#relay-token"))
	command := admin.Text("#relay-command")
	if !strings.HasPrefix(token, "rl_") {
		t.Fatalf("the page shows the token %q", token)
	}
	if command != "fedwave relay --origin "+c.s.URL+" --token "+token && command != "fedwave relay --origin "+c.s.Cfg.PublicURL+" --token "+token {
		t.Errorf("the page shows the command %q", command)
	}
	poll(t, admin, relayCard("edge1")+`?.dataset.state === 'disconnected'`)

	// The relay run as shown joins the chain.
	edge := c.runRelay(t, "edge1", token)
	poll(t, admin, relayCard("edge1")+`.dataset.state === 'connected' && `+relayCard("edge1")+`.querySelector('.relay-url').textContent === `+jsString("http://"+edge.host))

	// Once shown and put away, the token is nowhere on the page.
	admin.Run(chromedp.Click("#relay-token-done"))
	poll(t, admin, `document.querySelector('#relay-token-box').hidden`)
	var leaked bool
	admin.Eval(`document.documentElement.outerHTML.includes(`+jsString(token)+`) || document.querySelector('#relay-token').value !== ''`, &leaked)
	if leaked {
		t.Error("the token is still in the page after Done")
	}

	// alpha goes live; the origin's place is taken, the next viewer is
	// placed on the relay, and both trees show it.
	studio := openPage(t, c.s, "alpha", "/studio", "#studio")
	goLiveFromStudio(t, studio)
	takeOriginSlot(t, c.s)
	res := whepOffer(t, c.s.URL+"/whep/alpha")
	if res.StatusCode != http.StatusCreated || res.Request.URL.Host != edge.host {
		t.Fatalf("the second viewer: %d from %s, want 201 from the relay at %s", res.StatusCode, res.Request.URL.Host, edge.host)
	}
	const relayNode = `.chain-node[data-id="relay:edge1"][data-kind="relay"][data-viewers="1"]`
	poll(t, studio, `document.querySelector('#studio-tree `+relayNode+`') !== null && document.querySelector('#studio-tree .chain-node[data-kind="origin"][data-viewers="1"]') !== null`)
	poll(t, studio, `document.querySelector('#studio-tree .sr-only').textContent.includes('relay edge1: 1 viewer')`)
	if got := studio.Text("#studio-tree .chain-summary"); got != "2 viewers through this site and 1 relay." {
		t.Errorf("the studio's tree says %q", got)
	}
	poll(t, admin, `document.querySelector('#relay-trees figure[data-channel="alpha"] `+relayNode+`[data-health="ok"]') !== null`)
	t.Logf("screenshot of /studio: %s", studio.Screenshot("studio-tree"))
	t.Logf("screenshot of /relays: %s", admin.Screenshot("relays"))

	// Revoke, confirmed in the card: the relay is told and ends.
	admin.Run(chromedp.Click(`#relays-list li[data-name="edge1"] .relay-revoke`), chromedp.WaitVisible(`#relays-list li[data-name="edge1"] .relay-revoke-confirm`))
	admin.Run(chromedp.Click(`#relays-list li[data-name="edge1"] .relay-revoke-confirm`))
	poll(t, admin, relayCard("edge1")+`.dataset.state === 'revoked' && `+relayCard("edge1")+`.querySelector('.relay-revoke').hidden`)
	select {
	case <-edge.done:
		t.Logf("the revoked relay ended: %v", edge.err)
		if edge.err == nil {
			t.Error("the revoked relay ended without saying why")
		}
	case <-time.After(10 * time.Second):
		t.Error("the revoked relay still runs 10 s later")
	}
	poll(t, admin, `document.querySelector('#relay-trees .chain-node[data-id="relay:edge1"]') === null`)
	noJSErrors(t, map[string]*browsertest.Page{"admin": admin, "studio": studio})
}
