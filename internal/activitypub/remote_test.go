package activitypub

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fedwave/fedwave/internal/store"
)

// keyServer serves one document at every path, with {base} replaced by
// its own URL.
func keyServer(t *testing.T, doc string) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ContentType)
		w.Write([]byte(strings.ReplaceAll(doc, "{base}", srv.URL)))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func testService(t *testing.T) (*Service, string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "fw.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := New(Deps{Store: st, Key: key, PublicURL: "http://fedwave.example", AllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	pem, _ := json.Marshal(s.pubPEM)
	return s, string(pem)
}

// Keys are found where the fediverse's servers publish them: in the actor
// (Mastodon, keyId actor#main-key) or in a key document of their own
// (GoToSocial, keyId actor/main-key); an owner on another host than the
// document is refused.
func TestPublicKeyLookup(t *testing.T) {
	s, pem := testService(t)
	mastodon := keyServer(t, `{"id":"{base}/users/bob","type":"Person","inbox":"{base}/users/bob/inbox",
		"publicKey":{"id":"{base}/users/bob#main-key","owner":"{base}/users/bob","publicKeyPem":`+pem+`}}`)
	gts := keyServer(t, `{"id":"{base}/users/bob","type":"Person",
		"publicKey":{"id":"{base}/users/bob/main-key","owner":"{base}/users/bob","publicKeyPem":`+pem+`}}`)
	elsewhere := keyServer(t, `{"id":"{base}/users/bob","publicKey":{"id":"{base}/users/bob#main-key","owner":"https://victim.example/users/alice","publicKeyPem":`+pem+`}}`)
	other := keyServer(t, `{"id":"{base}/users/bob","publicKey":{"id":"{base}/users/bob#other-key","owner":"{base}/users/bob","publicKeyPem":`+pem+`}}`)
	ctx := context.Background()
	for _, keyID := range []string{mastodon.URL + "/users/bob#main-key", gts.URL + "/users/bob/main-key"} {
		k, err := s.publicKey(ctx, keyID, false)
		if err != nil {
			t.Fatalf("%s: %v", keyID, err)
		}
		if !strings.HasSuffix(k.owner, "/users/bob") || k.pub.N.Cmp(s.key.N) != 0 {
			t.Fatalf("%s: owner %s", keyID, k.owner)
		}
	}
	for _, keyID := range []string{elsewhere.URL + "/users/bob#main-key", other.URL + "/users/bob#main-key", "ftp://x.example/k", "https://user@x.example/k"} {
		if _, err := s.publicKey(ctx, keyID, false); err == nil {
			t.Errorf("%s: accepted", keyID)
		}
	}
}

func TestSummaryEscapes(t *testing.T) {
	if got := summary("<script>x</script>\nline & more"); got != "<p>&lt;script&gt;x&lt;/script&gt;<br>line &amp; more</p>" {
		t.Fatalf("summary = %q", got)
	}
}
