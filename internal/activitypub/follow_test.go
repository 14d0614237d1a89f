package activitypub_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/activitypub/httpsig"
	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/config"
)

// noRedirect shows redirects instead of following them.
var noRedirect = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// get fetches url with an Accept header, decoding a JSON answer into out.
func get(t *testing.T, url, accept string, out any) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("GET %s: %v in %s", url, err, body)
		}
	}
	return res
}

func startSite(t *testing.T) *apptest.Server {
	t.Helper()
	s := apptest.Start(t, func(c *config.Config) { c.FederationAllowPrivate = true })
	s.CreateUser("alice", "password1", auth.RoleStreamer)
	return s
}

func host(s *apptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

func TestDiscovery(t *testing.T) {
	s := startSite(t)
	var jrd struct {
		Subject string
		Links   []struct{ Rel, Type, Href string }
	}
	res := get(t, s.URL+"/.well-known/webfinger?resource=acct:alice@"+host(s), "", &jrd)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/jrd+json" {
		t.Fatalf("webfinger: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	actor := s.URL + "/ap/channels/alice"
	if jrd.Subject != "acct:alice@"+host(s) || len(jrd.Links) == 0 ||
		jrd.Links[0].Rel != "self" || jrd.Links[0].Type != "application/activity+json" || jrd.Links[0].Href != actor {
		t.Fatalf("webfinger: %+v", jrd)
	}
	for resource, want := range map[string]int{
		"acct:nobody@" + host(s):   404,
		"acct:alice@other.example": 404,
		"alice":                    400,
		"acct:alice":               400,
		"":                         400,
	} {
		if got := get(t, s.URL+"/.well-known/webfinger?resource="+resource, "", nil).StatusCode; got != want {
			t.Errorf("webfinger %q: %d, want %d", resource, got, want)
		}
	}

	var links struct{ Links []struct{ Rel, Href string } }
	get(t, s.URL+"/.well-known/nodeinfo", "", &links)
	if len(links.Links) != 1 || links.Links[0].Href != s.URL+"/nodeinfo/2.1" {
		t.Fatalf("nodeinfo links: %+v", links)
	}
	var ni struct {
		Version   string
		Software  struct{ Name string }
		Protocols []string
		Usage     struct{ Users struct{ Total int } }
	}
	get(t, links.Links[0].Href, "", &ni)
	if ni.Version != "2.1" || ni.Software.Name != "fedwave" || len(ni.Protocols) != 1 || ni.Protocols[0] != "activitypub" || ni.Usage.Users.Total != 1 {
		t.Fatalf("nodeinfo: %+v", ni)
	}
}

func TestActorDocument(t *testing.T) {
	s := startSite(t)
	actor := s.URL + "/ap/channels/alice"
	for _, accept := range []string{"application/activity+json", `application/ld+json; profile="https://www.w3.org/ns/activitystreams"`} {
		var doc struct {
			ID, Type, PreferredUsername, URL, Inbox, Outbox, Followers string
			PublicKey                                                  struct{ ID, Owner, PublicKeyPem string }
		}
		res := get(t, actor, accept, &doc)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/activity+json" {
			t.Fatalf("actor (%s): %d %s", accept, res.StatusCode, res.Header.Get("Content-Type"))
		}
		if doc.ID != actor || doc.Type != "Service" || doc.PreferredUsername != "alice" || doc.URL != s.URL+"/c/alice" ||
			doc.Inbox != actor+"/inbox" || doc.PublicKey.ID != actor+"#main-key" || doc.PublicKey.Owner != actor {
			t.Fatalf("actor: %+v", doc)
		}
		if k := parseKey(t, doc.PublicKey.PublicKeyPem); k.N.BitLen() != 2048 {
			t.Fatalf("key of %d bits", k.N.BitLen())
		}
	}
	res := get(t, actor, "text/html,application/xhtml+xml,*/*;q=0.8", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/c/alice" {
		t.Fatalf("browser on the actor: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if got := get(t, s.URL+"/ap/channels/nobody", "application/activity+json", nil).StatusCode; got != 404 {
		t.Fatalf("unknown actor: %d", got)
	}
	var outbox struct {
		Type       string
		TotalItems int
	}
	get(t, actor+"/outbox", "application/activity+json", &outbox)
	if outbox.Type != "OrderedCollection" || outbox.TotalItems != 0 {
		t.Fatalf("outbox: %+v", outbox)
	}
}

func parseKey(t *testing.T, s string) *rsa.PublicKey {
	t.Helper()
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		t.Fatalf("not PEM: %q", s)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PublicKey)
}

// remote is a fediverse server with one account, bob: it serves bob's
// actor only to signed fetches (authorised-fetch mode) and records what
// reaches bob's inbox.
type remote struct {
	srv       *httptest.Server
	key       *rsa.PrivateKey // what post signs with
	published atomic.Pointer[rsa.PrivateKey]
	fetches   atomic.Int32 // of bob's actor
	inbox     chan *http.Request
	t         *testing.T
}

func newRemote(t *testing.T) *remote {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rm := &remote{key: key, inbox: make(chan *http.Request, 4), t: t}
	rm.published.Store(key)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/bob", func(w http.ResponseWriter, r *http.Request) {
		if _, err := httpsig.Parse(r); err != nil {
			http.Error(w, "sign your fetch", http.StatusUnauthorized)
			return
		}
		rm.fetches.Add(1)
		der, _ := x509.MarshalPKIXPublicKey(&rm.published.Load().PublicKey)
		w.Header().Set("Content-Type", "application/activity+json")
		json.NewEncoder(w).Encode(map[string]any{
			"@context": []string{"https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"},
			"id":       rm.bob(), "type": "Person", "preferredUsername": "bob",
			"inbox": rm.bob() + "/inbox", "endpoints": map[string]string{"sharedInbox": rm.srv.URL + "/inbox"},
			"publicKey": map[string]string{"id": rm.bob() + "#main-key", "owner": rm.bob(),
				"publicKeyPem": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))},
		})
	})
	deliver := func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rm.inbox <- r
		w.WriteHeader(http.StatusAccepted)
	}
	mux.HandleFunc("POST /users/bob/inbox", deliver)
	mux.HandleFunc("POST /inbox", deliver) // the shared inbox
	rm.srv = httptest.NewServer(mux)
	t.Cleanup(rm.srv.Close)
	return rm
}

func (rm *remote) bob() string { return rm.srv.URL + "/users/bob" }

// post sends an activity signed as bob, as Mastodon does.
func (rm *remote) post(url string, activity map[string]any) int {
	rm.t.Helper()
	body, _ := json.Marshal(activity)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/activity+json")
	if err := httpsig.Sign(req, body, rm.bob()+"#main-key", rm.key, time.Now()); err != nil {
		rm.t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		rm.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func followers(t *testing.T, actor string) int {
	t.Helper()
	var c struct{ TotalItems int }
	if res := get(t, actor+"/followers", "application/activity+json", &c); res.StatusCode != 200 {
		t.Fatalf("followers: %d", res.StatusCode)
	}
	return c.TotalItems
}

// A fediverse account follows a channel, gets a signed Accept and is
// counted; its Undo takes it back.
func TestFollowAcceptUndo(t *testing.T) {
	s := startSite(t)
	rm := newRemote(t)
	actor := s.URL + "/ap/channels/alice"
	var doc struct{ PublicKey struct{ PublicKeyPem string } }
	get(t, actor, "application/activity+json", &doc)
	ourKey := parseKey(t, doc.PublicKey.PublicKeyPem)

	follow := map[string]any{"@context": "https://www.w3.org/ns/activitystreams", "id": rm.srv.URL + "/follows/1",
		"type": "Follow", "actor": rm.bob(), "object": actor}
	if got := rm.post(actor+"/inbox", follow); got != http.StatusAccepted {
		t.Fatalf("Follow: %d", got)
	}
	select {
	case r := <-rm.inbox:
		body, _ := io.ReadAll(r.Body)
		sig, err := httpsig.Parse(r)
		if err != nil || sig.KeyID != actor+"#main-key" {
			t.Fatalf("Accept's signature: %v %+v", err, sig)
		}
		if err := httpsig.Verify(r, body, sig, ourKey, time.Now()); err != nil {
			t.Fatalf("Accept's signature: %v", err)
		}
		var accept struct {
			Type, Actor string
			Object      struct{ ID, Type string }
		}
		json.Unmarshal(body, &accept)
		if accept.Type != "Accept" || accept.Actor != actor || accept.Object.Type != "Follow" || accept.Object.ID != rm.srv.URL+"/follows/1" {
			t.Fatalf("Accept: %s", body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no Accept reached the follower")
	}
	if n := followers(t, actor); n != 1 {
		t.Fatalf("%d followers after Follow, want 1", n)
	}

	undo := map[string]any{"@context": "https://www.w3.org/ns/activitystreams", "id": rm.srv.URL + "/follows/1/undo",
		"type": "Undo", "actor": rm.bob(), "object": follow}
	if got := rm.post(s.URL+"/ap/inbox", undo); got != http.StatusAccepted {
		t.Fatalf("Undo: %d", got)
	}
	if n := followers(t, actor); n != 0 {
		t.Fatalf("%d followers after Undo, want 0", n)
	}
}

// Activities not signed by their actor are refused and change nothing.
func TestInboxRefusesForgeries(t *testing.T) {
	s := startSite(t)
	rm := newRemote(t)
	actor := s.URL + "/ap/channels/alice"
	forged := map[string]any{"type": "Follow", "actor": rm.srv.URL + "/users/carol", "object": actor}
	if got := rm.post(actor+"/inbox", forged); got != http.StatusUnauthorized {
		t.Errorf("Follow signed by someone else: %d, want 401", got)
	}
	body := fmt.Sprintf(`{"type":"Follow","actor":%q,"object":%q}`, rm.bob(), actor)
	res, err := http.Post(actor+"/inbox", "application/activity+json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned Follow: %d, want 401", res.StatusCode)
	}
	big := map[string]any{"type": "Follow", "actor": rm.bob(), "object": actor, "pad": strings.Repeat("x", 300<<10)}
	if got := rm.post(actor+"/inbox", big); got != http.StatusRequestEntityTooLarge {
		t.Errorf("huge activity: %d, want 413", got)
	}
	if got := rm.post(s.URL+"/ap/channels/nobody/inbox", map[string]any{"type": "Follow", "actor": rm.bob(), "object": actor}); got != http.StatusNotFound {
		t.Errorf("Follow to an unknown channel's inbox: %d, want 404", got)
	}
	if n := followers(t, actor); n != 0 {
		t.Fatalf("%d followers, want 0", n)
	}
}

// A remote that rotates its key is believed after one fetch of the new
// one; signatures with a key it never published make us fetch no more
// than once a minute.
func TestRotatedKeyRefetched(t *testing.T) {
	s := startSite(t)
	rm := newRemote(t)
	actor := s.URL + "/ap/channels/alice"
	follow := map[string]any{"id": rm.srv.URL + "/follows/1", "type": "Follow", "actor": rm.bob(), "object": actor}
	if got := rm.post(actor+"/inbox", follow); got != http.StatusAccepted {
		t.Fatalf("Follow: %d", got)
	}
	rotated, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rm.key = rotated
	rm.published.Store(rotated)
	before := rm.fetches.Load()
	undo := map[string]any{"id": rm.srv.URL + "/follows/1/undo", "type": "Undo", "actor": rm.bob(), "object": follow}
	if got := rm.post(actor+"/inbox", undo); got != http.StatusAccepted {
		t.Fatalf("Undo signed with the rotated key: %d", got)
	}
	if n := rm.fetches.Load() - before; n != 1 {
		t.Fatalf("%d fetches of the rotated key, want 1", n)
	}
	if n := followers(t, actor); n != 0 {
		t.Fatalf("%d followers after the Undo, want 0", n)
	}

	forger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rm.key = forger
	before = rm.fetches.Load()
	for range 5 {
		if got := rm.post(actor+"/inbox", follow); got != http.StatusUnauthorized {
			t.Fatalf("Follow signed with an unpublished key: %d, want 401", got)
		}
	}
	if n := rm.fetches.Load() - before; n != 0 {
		t.Fatalf("%d fetches for forged signatures within the minute, want 0", n)
	}
}
