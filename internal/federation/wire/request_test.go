package wire

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/fail"
)

// signed makes a request from A to B, signed by key as sent by from.
func signed(t *testing.T, key *Key, from, method, url string, body []byte) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	key.SignRequest(r, from, body)
	return r
}

// received is how the server sees a client request: a request line and
// headers, parsed again.
func received(r *http.Request, body []byte) *http.Request {
	s := httptest.NewRequest(r.Method, r.URL.RequestURI(), bytes.NewReader(body))
	s.Host = r.URL.Host
	s.Header = r.Header.Clone()
	return s
}

func TestSignedRequestCrossesRealHTTP(t *testing.T) {
	p := newPeers(t)
	type result struct {
		from string
		err  error
	}
	results := make(chan result, 1)
	var v *Verifier
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		from, err := v.VerifyRequest(r, body)
		results <- result{from, err}
	}))
	defer srv.Close()
	self := strings.TrimPrefix(srv.URL, "http://")
	v = NewVerifier(self, p.lookup, nil)

	body := []byte(`{"text":"héllo <b>"}`)
	r := signed(t, p.a, hostA, "POST", srv.URL+"/federation/inbox/a%2Fb?x=1&y=%20z", body)
	if !IsSigned(r) {
		t.Fatal("IsSigned is false on a signed request")
	}
	resp, err := NewClient(true).Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := <-results; got.err != nil || got.from != hostA {
		t.Fatalf("verify: from %q, %v", got.from, got.err)
	}

	// The same bytes sent again are a replay.
	again := signed(t, p.a, hostA, "GET", srv.URL+"/federation/x", nil)
	again.Header = r.Header.Clone()
	again.Method, again.URL = r.Method, r.URL
	again.Body = io.NopCloser(bytes.NewReader(body))
	if resp, err = NewClient(true).Do(again); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	wantCode(t, (<-results).err, "replayed")
}

func TestVerifyRequestRefusals(t *testing.T) {
	p := newPeers(t)
	body := []byte(`{"n":1}`)
	const url = "https://" + hostB + "/federation/inbox?q=1"
	fresh := func() *http.Request { return signed(t, p.a, hostA, "POST", url, body) }
	cases := []struct {
		name string
		req  func() (*http.Request, []byte)
		skew time.Duration
		code string
	}{
		{"signed by another key", func() (*http.Request, []byte) {
			return received(signed(t, p.c, hostA, "POST", url, body), body), body
		}, 0, "bad_signature"},
		{"sender header changed to another linked host", func() (*http.Request, []byte) {
			r := fresh()
			r.Header.Set(HeaderFrom, hostC)
			return received(r, body), body
		}, 0, "bad_signature"},
		{"body changed", func() (*http.Request, []byte) {
			return received(fresh(), body), []byte(`{"n":2}`)
		}, 0, "bad_signature"},
		{"body dropped", func() (*http.Request, []byte) {
			return received(fresh(), nil), nil
		}, 0, "bad_signature"},
		{"path changed", func() (*http.Request, []byte) {
			s := received(fresh(), body)
			s.URL.Path = "/federation/other"
			return s, body
		}, 0, "bad_signature"},
		{"query changed", func() (*http.Request, []byte) {
			s := received(fresh(), body)
			s.URL.RawQuery = "q=2"
			return s, body
		}, 0, "bad_signature"},
		{"method changed", func() (*http.Request, []byte) {
			s := received(fresh(), body)
			s.Method = "PUT"
			return s, body
		}, 0, "bad_signature"},
		{"signed for another instance", func() (*http.Request, []byte) {
			r := signed(t, p.a, hostA, "POST", "https://"+hostC+"/federation/inbox?q=1", body)
			return received(r, body), body
		}, 0, "bad_signature"},
		{"signature of another request", func() (*http.Request, []byte) {
			r, other := fresh(), fresh()
			r.Header.Set(HeaderSignature, other.Header.Get(HeaderSignature))
			return received(r, body), body
		}, 0, "bad_signature"},
		{"id changed", func() (*http.Request, []byte) {
			r := fresh()
			r.Header.Set(HeaderID, newID())
			return received(r, body), body
		}, 0, "bad_signature"},
		{"signed 61 s ago", func() (*http.Request, []byte) { return received(fresh(), body), body }, 61 * time.Second, "stale"},
		{"signed 61 s ahead", func() (*http.Request, []byte) { return received(fresh(), body), body }, -61 * time.Second, "stale"},
		{"unknown sender", func() (*http.Request, []byte) {
			return received(signed(t, p.a, "d.example", "POST", url, body), body), body
		}, 0, "federation_not_linked"},
		{"sender claims to be the receiver", func() (*http.Request, []byte) {
			return received(signed(t, p.a, hostB, "POST", url, body), body), body
		}, 0, "bad_signature"},
		{"repeated signature header", func() (*http.Request, []byte) {
			r := fresh()
			r.Header.Add(HeaderSignature, r.Header.Get(HeaderSignature))
			return received(r, body), body
		}, 0, "bad_signature"},
		{"malformed signature", func() (*http.Request, []byte) {
			r := fresh()
			r.Header.Set(HeaderSignature, "AAAA")
			return received(r, body), body
		}, 0, "bad_signature"},
		{"date with a sign", func() (*http.Request, []byte) {
			r := fresh()
			r.Header.Set(HeaderDate, "+"+r.Header.Get(HeaderDate))
			return received(r, body), body
		}, 0, "bad_signature"},
		{"upper-case id", func() (*http.Request, []byte) {
			r := fresh()
			r.Header.Set(HeaderID, strings.ToUpper(r.Header.Get(HeaderID)))
			return received(r, body), body
		}, 0, "bad_signature"},
	}
	for _, h := range []string{HeaderFrom, HeaderDate, HeaderID, HeaderSignature} {
		cases = append(cases, struct {
			name string
			req  func() (*http.Request, []byte)
			skew time.Duration
			code string
		}{"missing " + h, func() (*http.Request, []byte) {
			r := fresh()
			r.Header.Del(h)
			return received(r, body), body
		}, 0, "bad_signature"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := p.verifierB(tc.skew)
			r, b := tc.req()
			from, err := v.VerifyRequest(r, b)
			if from != "" {
				t.Errorf("from %q on a refused request", from)
			}
			wantCode(t, err, tc.code)
		})
	}

	// The control: the unchanged request passes, within the skew both ways.
	for _, skew := range []time.Duration{0, 59 * time.Second, -59 * time.Second} {
		if from, err := p.verifierB(skew).VerifyRequest(received(fresh(), body), body); err != nil || from != hostA {
			t.Fatalf("skew %v: from %q, %v", skew, from, err)
		}
	}
}

func TestVerifyRequestPassesLookupErrors(t *testing.T) {
	p := newPeers(t)
	r := received(signed(t, p.a, hostA, "GET", "https://"+hostB+"/federation/x", nil), nil)

	refused := fail.New(fail.Forbidden, "federation_refused", "blocked")
	v := NewVerifier(hostB, func(string) (ed25519.PublicKey, error) { return nil, refused }, nil)
	if _, err := v.VerifyRequest(r, nil); err != refused {
		t.Fatalf("lookup's fail.Error not passed as is: %v", err)
	}

	v = NewVerifier(hostB, func(string) (ed25519.PublicKey, error) { return nil, nil }, nil)
	_, err := v.VerifyRequest(r, nil)
	wantCode(t, err, "federation_not_linked")

	broken := errors.New("database is locked")
	v = NewVerifier(hostB, func(string) (ed25519.PublicKey, error) { return nil, broken }, nil)
	_, err = v.VerifyRequest(r, nil)
	if _, ok := fail.As(err); ok || !errors.Is(err, broken) {
		t.Fatalf("an internal lookup failure should stay internal and wrapped: %v", err)
	}
}

func TestIsSigned(t *testing.T) {
	r := httptest.NewRequest("GET", "/federation/x", nil)
	if IsSigned(r) {
		t.Fatal("unsigned request reported signed")
	}
	r.Header.Set(HeaderSignature, "x")
	if !IsSigned(r) {
		t.Fatal("request with a signature header reported unsigned")
	}
}
