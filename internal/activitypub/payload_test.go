package activitypub_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// recorded is a fediverse server made of testdata documents (see
// testdata/README.md): the documents' origin is replaced by the server's
// own, and their public key by a test key, since the real private keys
// are not ours.
type recorded struct {
	t      *testing.T
	srv    *httptest.Server
	origin string // the documents' origin, e.g. https://ap.example.com
	key    *rsa.PrivateKey
	docs   map[string]string // path → document
	inbox  chan []byte
}

func newRecorded(t *testing.T, origin string) *recorded {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rc := &recorded{t: t, origin: origin, key: key, docs: map[string]string{}, inbox: make(chan []byte, 8)}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			rc.inbox <- body
			w.WriteHeader(http.StatusAccepted)
			return
		}
		doc, ok := rc.docs[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/activity+json")
		io.WriteString(w, doc)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// load reads a testdata file with the origin, the key and the {object}
// (our channel's actor) and {followee} placeholders replaced.
func (rc *recorded) load(file, object string) string {
	rc.t.Helper()
	b, err := os.ReadFile("testdata/" + file)
	if err != nil {
		rc.t.Fatal(err)
	}
	doc := strings.ReplaceAll(string(b), rc.origin, rc.srv.URL)
	doc = strings.ReplaceAll(doc, "{object}", object)
	doc = strings.ReplaceAll(doc, "{followee}", "alice")
	return replacePEM(rc.t, doc, &rc.key.PublicKey)
}

// replacePEM puts pub in place of the document's publicKeyPem.
func replacePEM(t *testing.T, doc string, pub *rsa.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	pemText, _ := json.Marshal(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	i := strings.Index(doc, `"publicKeyPem"`)
	if i < 0 {
		return doc
	}
	start := i + strings.Index(doc[i:], ":") + 1
	rest := strings.TrimLeft(doc[start:], " ")
	var old string
	if err := json.NewDecoder(strings.NewReader(rest)).Decode(&old); err != nil {
		t.Fatalf("publicKeyPem: %v", err)
	}
	quoted, _ := json.Marshal(old)
	return doc[:start] + strings.Replace(doc[start:], string(bytes.TrimSpace(quoted)), string(pemText), 1)
}

// style is how a server signs its POSTs.
type style struct {
	keyID     string // appended to the actor
	algorithm string // "" for none
	headers   []string
}

// Header sets as each server signs an inbox POST (testdata/README.md).
var (
	mastodonStyle = style{keyID: "#main-key", headers: []string{"(request-target)", "host", "date", "digest"}}
	gtsStyle      = style{keyID: "/main-key", algorithm: "hs2019", headers: []string{"(request-target)", "host", "date", "digest"}}
	misskeyStyle  = style{keyID: "#main-key", algorithm: "rsa-sha256", headers: []string{"(request-target)", "date", "host", "digest"}}
)

// post sends body to url signed as actor in st's layout.
func (rc *recorded) post(url, actor, body string, st style) int {
	rc.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/activity+json")
	req.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	sum := sha256.Sum256([]byte(body))
	req.Header.Set("Digest", "SHA-256="+base64.StdEncoding.EncodeToString(sum[:]))
	var lines []string
	for _, h := range st.headers {
		switch h {
		case "(request-target)":
			lines = append(lines, "(request-target): post "+req.URL.RequestURI())
		case "host":
			lines = append(lines, "host: "+req.URL.Host)
		default:
			lines = append(lines, h+": "+req.Header.Get(h))
		}
	}
	digest := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	sig, err := rsa.SignPKCS1v15(rand.Reader, rc.key, crypto.SHA256, digest[:])
	if err != nil {
		rc.t.Fatal(err)
	}
	v := fmt.Sprintf(`keyId="%s%s",`, actor, st.keyID)
	if st.algorithm != "" {
		v += fmt.Sprintf(`algorithm="%s",`, st.algorithm)
	}
	req.Header.Set("Signature", v+fmt.Sprintf(`headers="%s",signature="%s"`, strings.Join(st.headers, " "), base64.StdEncoding.EncodeToString(sig)))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		rc.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// accepted waits for the Accept of follow at the follower's inbox.
func (rc *recorded) accepted(followID string) {
	rc.t.Helper()
	select {
	case body := <-rc.inbox:
		var a struct {
			Type   string
			Object struct{ ID string }
		}
		json.Unmarshal(body, &a)
		if a.Type != "Accept" || a.Object.ID != followID {
			rc.t.Fatalf("want the Accept of %s: %s", followID, body)
		}
	case <-time.After(20 * time.Second):
		rc.t.Fatal("no Accept reached the follower")
	}
}

// Follow and Undo as Mastodon, GoToSocial and Misskey send them, signed
// with their header layouts, go through the real inbox.
func TestRecordedPayloads(t *testing.T) {
	s := startSite(t)
	actor := s.URL + "/ap/channels/alice"
	idOf := func(doc string) string {
		var v struct{ ID string }
		json.Unmarshal([]byte(doc), &v)
		return v.ID
	}

	t.Run("mastodon", func(t *testing.T) {
		rc := newRecorded(t, "https://ap.example.com")
		rc.docs["/users/foo"] = rc.load("mastodon-actor.json", actor)
		who := rc.srv.URL + "/users/foo"
		follow := rc.load("mastodon-follow.json", actor)
		if got := rc.post(actor+"/inbox", who, follow, mastodonStyle); got != http.StatusAccepted {
			t.Fatalf("Follow: %d", got)
		}
		rc.accepted(idOf(follow))
		if n := followers(t, actor); n != 1 {
			t.Fatalf("%d followers, want 1", n)
		}
		// An Accept (of a follow we never sent) is taken and ignored.
		if got := rc.post(s.URL+"/ap/inbox", who, rc.load("mastodon-accept.json", actor), mastodonStyle); got != http.StatusAccepted {
			t.Fatalf("Accept: %d", got)
		}
		if got := rc.post(s.URL+"/ap/inbox", who, rc.load("mastodon-undo-follow.json", actor), mastodonStyle); got != http.StatusAccepted {
			t.Fatalf("Undo: %d", got)
		}
		if n := followers(t, actor); n != 0 {
			t.Fatalf("%d followers after Undo, want 0", n)
		}
	})

	t.Run("gotosocial", func(t *testing.T) {
		rc := newRecorded(t, "http://example.org")
		rc.docs["/users/1happyturtle"] = rc.load("gotosocial-actor.json", actor)
		// The key stub GoToSocial serves at the keyId, for this account.
		rc.docs["/users/1happyturtle/main-key"] = strings.ReplaceAll(
			strings.ReplaceAll(rc.load("gotosocial-key.json", actor), "https://example.org", rc.srv.URL), "example_user", "1happyturtle")
		who := rc.srv.URL + "/users/1happyturtle"
		follow := rc.load("gotosocial-follow.json", actor)
		if got := rc.post(actor+"/inbox", who, follow, gtsStyle); got != http.StatusAccepted {
			t.Fatalf("Follow: %d", got)
		}
		rc.accepted(idOf(follow))
		if n := followers(t, actor); n != 1 {
			t.Fatalf("%d followers, want 1", n)
		}
		undo := fmt.Sprintf(`{"@context":"https://www.w3.org/ns/activitystreams","actor":%q,"id":%q,"object":%s,"type":"Undo"}`,
			who, idOf(follow)+"/undo", follow)
		if got := rc.post(actor+"/inbox", who, undo, gtsStyle); got != http.StatusAccepted {
			t.Fatalf("Undo: %d", got)
		}
		if n := followers(t, actor); n != 0 {
			t.Fatalf("%d followers after Undo, want 0", n)
		}
	})

	t.Run("misskey", func(t *testing.T) {
		rc := newRecorded(t, "https://misskey.example")
		rc.docs["/users/9abcdefghi"] = rc.load("misskey-actor.json", actor)
		who := rc.srv.URL + "/users/9abcdefghi"
		follow := rc.load("misskey-follow.json", actor)
		if got := rc.post(s.URL+"/ap/inbox", who, follow, misskeyStyle); got != http.StatusAccepted {
			t.Fatalf("Follow: %d", got)
		}
		rc.accepted(idOf(follow))
		if n := followers(t, actor); n != 1 {
			t.Fatalf("%d followers, want 1", n)
		}
		if got := rc.post(s.URL+"/ap/inbox", who, rc.load("misskey-undo-follow.json", actor), misskeyStyle); got != http.StatusAccepted {
			t.Fatalf("Undo: %d", got)
		}
		if n := followers(t, actor); n != 0 {
			t.Fatalf("%d followers after Undo, want 0", n)
		}
		// The same Follow signed with another key is refused.
		rc.key, _ = rsa.GenerateKey(rand.Reader, 2048)
		if got := rc.post(s.URL+"/ap/inbox", who, follow, misskeyStyle); got != http.StatusUnauthorized {
			t.Fatalf("Follow with a key not published: %d, want 401", got)
		}
	})
}
