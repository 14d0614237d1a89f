package httpsig

import (
	"bytes"
	"crypto"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	gofed "github.com/go-fed/httpsig"
)

// Our signatures verify with go-fed/httpsig, the implementation behind
// go-fed/activity and GoToSocial's early versions: an independent reading
// of the same draft.
func TestGoFedVerifiesOurSignatures(t *testing.T) {
	body := []byte(followBody)
	for _, method := range []string{http.MethodPost, http.MethodGet} {
		var b []byte
		if method == http.MethodPost {
			b = body
		}
		out, _ := http.NewRequest(method, "https://mastodon.example/users/bob/inbox", bytes.NewReader(b))
		if err := Sign(out, b, "https://fedwave.example/ap/channels/alice#main-key", rsaKey(t), time.Now()); err != nil {
			t.Fatal(err)
		}
		in := httptest.NewRequest(method, "/users/bob/inbox", bytes.NewReader(b))
		in.Host = "mastodon.example"
		in.Header = out.Header.Clone()
		v, err := gofed.NewVerifier(in)
		if err != nil {
			t.Fatalf("%s: go-fed cannot read our signature: %v", method, err)
		}
		if v.KeyId() != "https://fedwave.example/ap/channels/alice#main-key" {
			t.Fatalf("keyId %q", v.KeyId())
		}
		if err := v.Verify(&rsaKey(t).PublicKey, gofed.RSA_SHA256); err != nil {
			t.Fatalf("%s: go-fed refuses our signature: %v", method, err)
		}
	}
}

// And go-fed's signatures (signed as a go-fed server would) verify with
// ours.
func TestWeVerifyGoFedSignatures(t *testing.T) {
	body := []byte(followBody)
	signer, _, err := gofed.NewSigner([]gofed.Algorithm{gofed.RSA_SHA256}, gofed.DigestSha256,
		[]string{gofed.RequestTarget, "host", "date", "digest"}, gofed.Signature, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "https://fedwave.example/ap/inbox", bytes.NewReader(body))
	r.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	r.Header.Set("Host", "fedwave.example")
	if err := signer.SignRequest(crypto.PrivateKey(rsaKey(t)), "https://gofed.example/u/bob#main-key", r, body); err != nil {
		t.Fatal(err)
	}
	sig, err := Parse(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(r, body, sig, &rsaKey(t).PublicKey, time.Now()); err != nil {
		t.Fatalf("go-fed's signature refused: %v", err)
	}
}
