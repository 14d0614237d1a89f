package web_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/browsertest"
	"github.com/fedwave/fedwave/internal/config"
)

// The federation's browser side (CONTRACT §6, §8) with two real instances,
// A and B, on 127.0.0.1: the admins link them on /federation, and B's users
// watch and chat on A's channel from B's pages. Each site gets browsers of
// its own: both serve on 127.0.0.1, where cookies do not tell ports apart.

const fedPassword = "fed-password-1"

// fedSite is one instance with its admin (boss) and its users.
type fedSite struct {
	s       *apptest.Server
	host    string            // the instance's host as peers know it (/.well-known/fedwave)
	handles map[string]string // name -> name#1234
}

// startFedSite starts an instance that accepts peers on loopback, with the
// admin boss and the given users.
func startFedSite(t *testing.T, users map[string]auth.Role) *fedSite {
	t.Helper()
	s := apptest.Start(t, allowPrivatePeers)
	f := &fedSite{s: s, handles: map[string]string{}}
	f.handles["boss"] = s.CreateUser("boss", fedPassword, auth.RoleAdmin)
	for name, role := range users {
		f.handles[name] = s.CreateUser(name, fedPassword, role)
	}
	r := s.Do("GET", "/.well-known/fedwave", nil, "")
	domain, _ := r.Body["domain"].(string)
	if r.Status != http.StatusOK || domain == "" {
		t.Fatalf("GET /.well-known/fedwave: %d %s", r.Status, r.Raw)
	}
	f.host = domain
	return f
}

// allowPrivatePeers sets --federation-allow-private: the instances link
// over loopback and plain http.
func allowPrivatePeers(c *config.Config) { c.FederationAllowPrivate = true }

// login opens a tab of b on path of f, logged in as name through the login
// form, and waits until sel is visible and the page's scripts have run.
func (f *fedSite) login(t *testing.T, b *browsertest.Browser, name, path, sel string) *browsertest.Page {
	t.Helper()
	p := b.NewPage(t)
	p.Run(
		chromedp.Navigate(f.s.URL+"/login?next="+path),
		chromedp.WaitVisible("#login-form"),
		chromedp.SendKeys(`#login-form input[name="name"]`, name),
		chromedp.SendKeys(`#login-form input[name="password"]`, fedPassword),
		chromedp.Submit("#login-form"),
		chromedp.WaitVisible(sel),
	)
	poll(t, p, `document.readyState === 'complete'`)
	return p
}

// peerCard is an expression for the card of domain on the federation page.
func peerCard(domain string) string {
	return `document.querySelector('#federation li.peer[data-domain="` + domain + `"]')`
}

// waitPeerState waits until the card of domain on the page is in list
// (#fed-requests or #fed-peers) and in state.
func waitPeerState(t *testing.T, p *browsertest.Page, list, domain, state string) {
	t.Helper()
	poll(t, p, peerCard(domain)+`?.parentElement?.id === `+jsString(list)+` && `+peerCard(domain)+`.dataset.state === `+jsString(state))
}

// waitConnected waits until the card of domain says the link is up.
func waitConnected(t *testing.T, p *browsertest.Page, domain string) {
	t.Helper()
	card := peerCard(domain)
	poll(t, p, card+`?.dataset.state === 'linked' && `+card+`.querySelector('.peer-connected').dataset.connected === 'true' && `+
		card+`.querySelector('.peer-connected').textContent.trim() === 'connected' && /ms$/.test(`+card+`.querySelector('.peer-rtt').textContent)`)
}

// peerOf returns the peer object that f's API gives for domain, or nil.
func (f *fedSite) peerOf(t *testing.T, token, domain string) map[string]any {
	t.Helper()
	r := f.s.Do("GET", "/api/v1/federation/peers", nil, token)
	if r.Status != http.StatusOK {
		t.Fatalf("GET peers: %d %s", r.Status, r.Raw)
	}
	list, _ := r.Body["peers"].([]any)
	for _, p := range list {
		if m, _ := p.(map[string]any); m["domain"] == domain {
			return m
		}
	}
	return nil
}

// TestFederationBrowserLinking: B's admin pastes A's address on B's
// /federation page; A's admin sees the request on A's page and approves;
// both pages then show the link as connected. The switches, a refused
// request, a block and an unlink all work through the pages.
func TestFederationBrowserLinking(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	a := startFedSite(t, nil)
	b := startFedSite(t, nil)
	pa := a.login(t, browsertest.New(t), "boss", "/federation", `#federation[data-loaded="true"]`)
	pb := b.login(t, browsertest.New(t), "boss", "/federation", `#federation[data-loaded="true"]`)
	if got := pa.Text("#nav-federation"); got != "Federation" {
		t.Errorf("the admin's header links to the page as %q", got)
	}

	// A wrong address is refused with the server's words, not a code.
	pb.Run(chromedp.SendKeys("#fed-link-url", "not an address"), chromedp.Click("#fed-link-submit"))
	poll(t, pb, `document.querySelector('#fed-link-status').classList.contains('bad') && document.querySelector('#fed-link-status').textContent.length > 10`)
	var msg string
	pb.Eval(`document.querySelector('#fed-link-status').textContent`, &msg)
	t.Logf("a wrong address: %q", msg)

	// B asks A.
	pb.Eval(`document.querySelector('#fed-link-url').value = ''`, nil)
	pb.Run(chromedp.SendKeys("#fed-link-url", a.s.URL), chromedp.Click("#fed-link-submit"))
	waitPeerState(t, pb, "fed-peers", a.host, "pending_out")
	if got := pb.Text(`#federation li.peer[data-domain="` + a.host + `"] .peer-state`); got != "waiting for their admin" {
		t.Errorf("B's page shows its unanswered request as %q", got)
	}

	// A's admin sees it under Requests (the page refreshes by itself) and
	// approves it.
	waitPeerState(t, pa, "fed-requests", b.host, "pending_in")
	if got := pa.Text("#fed-requests-count"); got != "1" {
		t.Errorf("A's page counts %s requests", got)
	}
	pa.Run(chromedp.Click(`#fed-requests li.peer[data-domain="` + b.host + `"] .peer-approve`))
	waitConnected(t, pa, b.host)
	waitConnected(t, pb, a.host)
	poll(t, pa, `document.querySelector('#fed-requests-empty').hidden === false`)
	for who, p := range map[string]*browsertest.Page{"A": pa, "B": pb} {
		var on []bool
		p.Eval(`[...document.querySelectorAll('#fed-peers li.peer input[role=switch]')].map(i => i.checked)`, &on)
		if len(on) != 2 || !on[0] || !on[1] {
			t.Errorf("%s: a new link's switches are %v, want both on", who, on)
		}
	}
	t.Logf("screenshot of A's /federation: %s", pa.Screenshot("federation-linked"))

	// B turns its outgoing switch off and on again; the server has it, and
	// the page keeps showing it across its refreshes.
	bossB := b.s.Login("boss", fedPassword)
	outgoing := `#fed-peers li.peer[data-domain="` + a.host + `"] input.peer-outgoing`
	pb.Run(chromedp.Click(outgoing))
	poll(t, pb, `!document.querySelector('`+outgoing+`').checked && !document.querySelector('`+outgoing+`').disabled`)
	if p := b.peerOf(t, bossB, a.host); p["outgoing"] != false || p["incoming"] != true {
		t.Fatalf("after the click B's API has outgoing=%v incoming=%v", p["outgoing"], p["incoming"])
	}
	pb.Run(chromedp.Reload())
	poll(t, pb, `document.querySelector('#federation').dataset.loaded === 'true' && document.querySelector('`+outgoing+`')?.checked === false`)
	pb.Run(chromedp.Click(outgoing))
	poll(t, pb, `document.querySelector('`+outgoing+`').checked && !document.querySelector('`+outgoing+`').disabled`)
	if p := b.peerOf(t, bossB, a.host); p["outgoing"] != true {
		t.Fatalf("after the second click B's API has outgoing=%v", p["outgoing"])
	}

	// Unlink asks first; Cancel keeps the link; confirming ends it on both
	// sides.
	card := `#fed-peers li.peer[data-domain="` + a.host + `"]`
	pb.Run(chromedp.Click(card+" .peer-unlink"), chromedp.WaitVisible(card+" .peer-confirm"))
	pb.Run(chromedp.Click(card+" .peer-unlink-cancel"), chromedp.WaitNotVisible(card+" .peer-confirm"))
	if b.peerOf(t, bossB, a.host) == nil {
		t.Fatal("Cancel unlinked")
	}
	pb.Run(chromedp.Click(card+" .peer-unlink"), chromedp.WaitVisible(card+" .peer-unlink-confirm"), chromedp.Click(card+" .peer-unlink-confirm"))
	poll(t, pb, peerCard(a.host)+` === null && !document.querySelector('#fed-peers-empty').hidden`)
	poll(t, pa, peerCard(b.host)+` === null`)

	// B asks again; A refuses; B asks once more and A blocks it.
	pb.Run(chromedp.SendKeys("#fed-link-url", a.s.URL), chromedp.Click("#fed-link-submit"))
	waitPeerState(t, pa, "fed-requests", b.host, "pending_in")
	pa.Run(chromedp.Click(`#fed-requests li.peer[data-domain="` + b.host + `"] .peer-refuse`))
	poll(t, pa, peerCard(b.host)+` === null`)
	pb.Eval(`document.querySelector('#fed-link-url').value = ''`, nil)
	pb.Run(chromedp.SendKeys("#fed-link-url", a.s.URL), chromedp.Click("#fed-link-submit"))
	waitPeerState(t, pa, "fed-requests", b.host, "pending_in")
	pa.Run(chromedp.Click(`#fed-requests li.peer[data-domain="` + b.host + `"] .peer-block`))
	waitPeerState(t, pa, "fed-peers", b.host, "blocked")
	if got := pa.Text(`#fed-peers li.peer[data-domain="` + b.host + `"] .peer-block`); got != "Unblock" {
		t.Errorf("a blocked peer's button says %q", got)
	}
	pa.Run(chromedp.Click(`#fed-peers li.peer[data-domain="` + b.host + `"] .peer-block`))
	poll(t, pa, peerCard(b.host)+`?.dataset.state !== 'blocked'`)
	noJSErrors(t, map[string]*browsertest.Page{"A": pa, "B": pb})
}

// remoteSite is A with alice live from a Chromium studio, and B linked to
// A, with its own offline channel (zed) and a user (bob).
type remoteSite struct {
	a, b     *fedSite
	remote   string // alice@A
	browserA *browsertest.Browser
	studio   *browsertest.Page
}

func startRemoteSite(t *testing.T) *remoteSite {
	t.Helper()
	r := &remoteSite{
		a: startFedSite(t, map[string]auth.Role{"alice": auth.RoleStreamer}),
		b: startFedSite(t, map[string]auth.Role{"zed": auth.RoleStreamer, "bob": auth.RoleUser}),
	}
	link(t, r.a, r.b)
	r.remote = "alice@" + r.a.host
	r.browserA = browsertest.New(t)
	r.studio = r.a.login(t, r.browserA, "alice", "/studio", "#studio")
	goLiveFromStudio(t, r.studio)
	return r
}

// TestFederationBrowserRemoteChat: with A and B linked and alice live on
// A, B's home page lists alice@A (live first, with its host); its channel
// page on B shows the host and no owner controls, and chats both ways with
// A's own page; the chat-only page works under the remote name; a message
// sent while A is down waits, says for whom, and arrives when A is back.
func TestFederationBrowserRemoteChat(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	r := startRemoteSite(t)
	a, b, remote := r.a, r.b, r.remote
	alice := r.browserA.NewPage(t)
	alice.Run(chromedp.Navigate(a.s.URL + "/c/alice"))
	waitJoined(t, alice)

	// B's home: alice@A, live, before B's own offline channel. B learns of
	// the stream from A's listing first: on a loaded machine that can take
	// longer than the home page's wait, and its next refresh is 30 s away.
	for deadline := time.Now().Add(30 * time.Second); !listedLive(t, b.s, remote); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("B's channel list never showed %s live", remote)
		}
	}
	browserB := browsertest.New(t)
	bob := b.login(t, browserB, "bob", "/", "#channels")
	card := `document.querySelector('#channels li[data-channel="` + remote + `"]')`
	poll(t, bob, card+`?.classList.contains('is-live') === true`)
	var home struct {
		Host   string `json:"host"`
		Name   string `json:"name"`
		Href   string `json:"href"`
		Before bool   `json:"before"`
	}
	bob.Eval(`(() => { const c = `+card+`, z = document.querySelector('#channels li[data-channel="zed"]');
		return {host: c.querySelector('.badge.remote')?.textContent ?? '', name: c.querySelector('.channel-name').textContent,
			href: c.querySelector('a').getAttribute('href'), before: !!z && [...c.parentElement.children].indexOf(c) < [...c.parentElement.children].indexOf(z)}; })()`, &home)
	if home.Host != "on "+a.host || home.Name != "alice" || !home.Before {
		t.Errorf("B's home shows alice@A as %+v: want the badge %q, the name alice, before the offline zed", home, "on "+a.host)
	}
	if home.Href != "/c/"+remote {
		t.Errorf("the card links to %q", home.Href)
	}
	t.Logf("screenshot of B's home: %s", bob.Screenshot("federation-home"))

	// The channel page on B, by the card's link.
	bob.Run(chromedp.Navigate(b.s.URL + home.Href))
	waitJoined(t, bob)
	if got := bob.Text("#channel-host"); got != "on "+a.host {
		t.Errorf("the channel page on B says %q", got)
	}
	var owners int
	bob.Eval(`document.querySelectorAll('#channel-settings, #chat-obs, #stream-key-button').length`, &owners)
	if owners != 0 {
		t.Errorf("a viewer on B sees %d owner controls of a remote channel", owners)
	}

	// Chat both ways; B's user carries B's host on A.
	say(t, bob, "hello from B")
	waitMessage(t, alice, "hello from B")
	poll(t, bob, messagesJS("hello from B")+`.length === 1 && document.querySelectorAll('#chat-log .chat-pending').length === 0`)
	var from string
	alice.Eval(messagesJS("hello from B")+`[0].dataset.handle`, &from)
	if want := b.handles["bob"] + "@" + b.host; from != want {
		t.Errorf("on A, bob's message is from %q, want %q", from, want)
	}
	say(t, alice, "hello from A")
	waitMessage(t, bob, "hello from A")

	// The chat-only page under the remote name.
	pop := browserB.NewPage(t)
	pop.Run(chromedp.Navigate(b.s.URL + "/c/" + remote + "/chat"))
	waitJoined(t, pop)
	waitMessage(t, pop, "hello from A")
	if got := pop.Text("#channel-host"); got != "on "+a.host {
		t.Errorf("the chat pop-out on B says %q", got)
	}
	t.Logf("screenshot of the channel page on B: %s", bob.Screenshot("federation-channel"))

	// A goes away: bob's message waits, says for whom, and arrives once
	// A is back.
	a.s.Stop()
	say(t, bob, "while A is down")
	poll(t, bob, fmt.Sprintf(`[...document.querySelectorAll('#chat-log .chat-pending')].some(m => m.textContent.includes('while A is down') && m.querySelector('.chat-note').textContent === %s)`,
		jsString("waiting for "+a.host)))
	t.Logf("screenshot of a message waiting for A: %s", bob.Screenshot("federation-waiting"))
	a.s.Restart()
	waitMessage(t, bob, "while A is down")
	poll(t, bob, `document.querySelectorAll('#chat-log .chat-pending').length === 0`)
	if n := countMessages(t, bob, "while A is down"); n != 1 {
		t.Errorf("after A's restart bob sees his message %d times", n)
	}
	checkOffsets(t, bob, "bob on B")
	noJSErrors(t, map[string]*browsertest.Page{"bob": bob, "alice": alice, "pop-out": pop})
}

// TestFederationBrowserRemoteVideo: alice@A plays on B's channel page and
// on B's embed page (video frames decoded), which shows the host; when
// alice stops, B's player says the channel is offline.
func TestFederationBrowserRemoteVideo(t *testing.T) {
	t.Parallel() // browser tests wait on Chromium more than they compute: two at a time
	r := startRemoteSite(t)
	browserB := browsertest.New(t)
	viewer := browserB.NewPage(t)
	viewer.Run(chromedp.Navigate(r.b.s.URL + "/c/" + r.remote))
	waitPlaying(t, viewer)
	embed := browserB.NewPage(t)
	embed.Run(chromedp.Navigate(r.b.s.URL + "/c/" + r.remote + "/embed"))
	waitPlaying(t, embed)
	if got := embed.Text("#player-host"); got != "on "+r.a.host {
		t.Errorf("the embed on B says %q", got)
	}
	r.studio.Run(chromedp.Click("#studio-stop"))
	waitOffline(t, viewer)
	noJSErrors(t, map[string]*browsertest.Page{"viewer": viewer, "embed": embed})
}

// link links b to a through the API and waits until both sides say the
// link is up.
func link(t *testing.T, a, b *fedSite) {
	t.Helper()
	bossA, bossB := a.s.Login("boss", fedPassword), b.s.Login("boss", fedPassword)
	if r := b.s.Do("POST", "/api/v1/federation/peers", map[string]string{"url": a.s.URL}, bossB); r.Status != http.StatusCreated {
		t.Fatalf("B asks A: %d %s", r.Status, r.Raw)
	}
	if r := a.s.Do("PATCH", "/api/v1/federation/peers/"+b.host, map[string]bool{"approve": true}, bossA); r.Status != http.StatusOK {
		t.Fatalf("A approves B: %d %s", r.Status, r.Raw)
	}
	eventually(t, "both sides connected", func() bool {
		pa, pb := a.peerOf(t, bossA, b.host), b.peerOf(t, bossB, a.host)
		return pa["connected"] == true && pb["connected"] == true
	})
}

// listedLive reports whether s's channel list shows name live.
func listedLive(t *testing.T, s *apptest.Server, name string) bool {
	t.Helper()
	list, _ := s.Do("GET", "/api/v1/channels", nil, "").Body["channels"].([]any)
	for _, c := range list {
		if ch, _ := c.(map[string]any); ch["name"] == name {
			return ch["live"] == true
		}
	}
	return false
}
