package httpsig

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
)

// rsaKey is one 2048-bit key shared by the tests (generating is slow).
func rsaKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		testKey = k
	})
	return testKey
}

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

const followBody = `{"@context":"https://www.w3.org/ns/activitystreams","id":"https://mastodon.example/6d1b3e","type":"Follow","actor":"https://mastodon.example/users/bob","object":"https://fedwave.example/ap/channels/alice"}`

// remoteSigned builds a request signed the way another server sends it:
// its own header list and algorithm name, Digest computed by it.
func remoteSigned(t testing.TB, alg, headers, body string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "https://fedwave.example/ap/channels/alice/inbox", strings.NewReader(body))
	r.Header.Set("Date", now.Format(http.TimeFormat))
	r.Header.Set("Content-Type", "application/activity+json")
	sum := sha256.Sum256([]byte(body))
	r.Header.Set("Digest", "SHA-256="+base64.StdEncoding.EncodeToString(sum[:]))
	var lines []string
	for _, h := range strings.Fields(headers) {
		switch h {
		case "(request-target)":
			lines = append(lines, "(request-target): post /ap/channels/alice/inbox")
		case "host":
			lines = append(lines, "host: fedwave.example")
		default:
			lines = append(lines, h+": "+r.Header.Get(h))
		}
	}
	hash := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	sig, err := rsa.SignPKCS1v15(rand.Reader, rsaKey(t), crypto.SHA256, hash[:])
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Signature", fmt.Sprintf(`keyId="https://mastodon.example/users/bob#main-key",algorithm="%s",headers="%s",signature="%s"`,
		alg, headers, base64.StdEncoding.EncodeToString(sig)))
	return r
}

func verify(t *testing.T, r *http.Request, body string, at time.Time) error {
	t.Helper()
	sig, err := Parse(r)
	if err != nil {
		return err
	}
	return Verify(r, []byte(body), sig, &rsaKey(t).PublicKey, at)
}

func TestVerifiesMastodonGoToSocialMisskeyStyles(t *testing.T) {
	for name, r := range map[string]*http.Request{
		// Mastodon signs content-type too, and names the algorithm rsa-sha256.
		"mastodon": remoteSigned(t, "rsa-sha256", "(request-target) host date digest content-type", followBody),
		// GoToSocial says hs2019 and signs the four required headers.
		"gotosocial": remoteSigned(t, "hs2019", "(request-target) host date digest", followBody),
		// Misskey orders them its own way.
		"misskey": remoteSigned(t, "rsa-sha256", "(request-target) date host digest", followBody),
	} {
		if err := verify(t, r, followBody, now.Add(30*time.Second)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	r := remoteSigned(t, "hs2019", "(request-target) host date digest", followBody)
	sig, _ := Parse(r)
	if sig.KeyID != "https://mastodon.example/users/bob#main-key" {
		t.Errorf("keyId = %q", sig.KeyID)
	}
}

func TestRefusesBadSignatures(t *testing.T) {
	good := func() *http.Request {
		return remoteSigned(t, "rsa-sha256", "(request-target) host date digest", followBody)
	}
	tampered := strings.Replace(followBody, "bob", "eve", 1)
	cases := map[string]struct {
		r    *http.Request
		body string
		at   time.Time
	}{
		"tampered body":   {good(), tampered, now},
		"stale date":      {good(), followBody, now.Add(MaxAge + time.Second)},
		"future date":     {good(), followBody, now.Add(-MaxFuture - time.Second)},
		"digest unsigned": {remoteSigned(t, "rsa-sha256", "(request-target) host date", followBody), followBody, now},
		"date unsigned":   {remoteSigned(t, "rsa-sha256", "(request-target) host digest", followBody), followBody, now},
		"target unsigned": {remoteSigned(t, "rsa-sha256", "host date digest", followBody), followBody, now},
	}
	wrongDigest := good()
	wrongDigest.Header.Set("Digest", Digest([]byte(tampered)))
	cases["wrong digest"] = struct {
		r    *http.Request
		body string
		at   time.Time
	}{wrongDigest, followBody, now}
	otherPath := good()
	otherPath.URL.Path = "/ap/inbox"
	cases["other path"] = struct {
		r    *http.Request
		body string
		at   time.Time
	}{otherPath, followBody, now}
	noSig := good()
	noSig.Header.Del("Signature")
	cases["no signature"] = struct {
		r    *http.Request
		body string
		at   time.Time
	}{noSig, followBody, now}
	for name, c := range cases {
		err := verify(t, c.r, c.body, c.at)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func TestOtherKeyRefused(t *testing.T) {
	other, err := rsa.GenerateKey(rand.Reader, 1024) // only a wrong key: size does not matter
	if err != nil {
		t.Fatal(err)
	}
	r := remoteSigned(t, "rsa-sha256", "(request-target) host date digest", followBody)
	sig, _ := Parse(r)
	if err := Verify(r, []byte(followBody), sig, &other.PublicKey, now); !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v", err)
	}
}

func TestSignRoundTrip(t *testing.T) {
	body := []byte(followBody)
	r, _ := http.NewRequest(http.MethodPost, "https://mastodon.example/inbox?x=1", bytes.NewReader(body))
	if err := Sign(r, body, "https://fedwave.example/ap/channels/alice#main-key", rsaKey(t), now); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Header.Get("Signature"), `headers="(request-target) host date digest"`) {
		t.Fatalf("Signature = %s", r.Header.Get("Signature"))
	}
	// As the receiving server sees it.
	in := httptest.NewRequest(http.MethodPost, "/inbox?x=1", bytes.NewReader(body))
	in.Host = "mastodon.example"
	in.Header = r.Header.Clone()
	if err := verify(t, in, followBody, now); err != nil {
		t.Fatal(err)
	}
	get, _ := http.NewRequest(http.MethodGet, "https://mastodon.example/users/bob", nil)
	if err := Sign(get, nil, "https://fedwave.example/ap/actor#main-key", rsaKey(t), now); err != nil {
		t.Fatal(err)
	}
	if get.Header.Get("Digest") != "" {
		t.Error("a GET got a Digest")
	}
}

func TestParseRefusesJunk(t *testing.T) {
	for _, h := range []string{
		`keyId="a",signature="!!"`,
		`signature="YQ=="`,
		`keyId="a",algorithm="hmac-sha256",signature="YQ=="`,
		`keyId="a",keyId="b",signature="YQ=="`,
		`keyId="a,signature="YQ==`,
		strings.Repeat("x", maxHeader+1),
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Signature", h)
		if _, err := Parse(r); err == nil {
			t.Errorf("Parse(%q) accepted", h)
		}
	}
}

// BenchmarkVerify is the cost of checking one incoming activity's
// signature (the key already fetched).
func BenchmarkVerify(b *testing.B) {
	r := remoteSigned(b, "rsa-sha256", "(request-target) host date digest", followBody)
	sig, err := Parse(r)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := Verify(r, []byte(followBody), sig, &rsaKey(b).PublicKey, now); err != nil {
			b.Fatal(err)
		}
	}
}
