package wire

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fuzzClock is a fixed instant, so that sealed seeds stay fresh however long
// the fuzzer runs.
var fuzzClock = time.UnixMilli(1_800_000_000_000)

// fixedKey is a deterministic key for fuzz seeds (its seed is public, which
// does not matter: the fuzzer is the attacker, and it does not read it).
func fixedKey(b byte) *Key {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))
	return &Key{priv: priv, pub: priv.Public().(ed25519.PublicKey)}
}

// FuzzOpen feeds arbitrary bytes to Open. It must never panic, and whatever
// it accepts must be one of the envelopes A really sealed: same id, sender,
// recipient, time, type and body bytes (the fuzzer cannot forge Ed25519, so
// accepting anything else means a field escaped the signature).
func FuzzOpen(f *testing.F) {
	a := fixedKey(1)
	// Fixed ids, so that every fuzz worker builds the same seeds.
	sealed := map[string]*Envelope{}
	for i, s := range []struct{ typ, body string }{
		{"chat.send", `{"text":"hi \u003cb\u003e"}`},
		{"ping", ""},
		{"live", `[1,2]`},
	} {
		e := &Envelope{ID: fmt.Sprintf("%032x", i+1), From: hostA, To: hostB, TS: fuzzClock.UnixMilli(), Type: s.typ, Body: json.RawMessage(s.body)}
		e.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(a.priv, e.signedString()))
		data, err := json.Marshal(e)
		if err != nil {
			f.Fatal(err)
		}
		if _, err := NewVerifier(hostB, func(string) (ed25519.PublicKey, error) { return a.Public(), nil },
			func() time.Time { return fuzzClock }).Open(data); err != nil {
			f.Fatalf("seed refused: %v", err)
		}
		sealed[e.ID] = e
		f.Add(data)
	}
	f.Add([]byte(`{"id":"","from":"","to":"","ts":0,"type":"","sig":""}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v := NewVerifier(hostB, func(host string) (ed25519.PublicKey, error) {
			if host == hostA {
				return a.Public(), nil
			}
			return nil, nil
		}, func() time.Time { return fuzzClock })
		e, err := v.Open(data)
		if err != nil {
			if e != nil {
				t.Fatal("envelope returned with an error")
			}
			return
		}
		want, ok := sealed[e.ID]
		if !ok || e.From != want.From || e.To != want.To || e.TS != want.TS || e.Type != want.Type || !bytes.Equal(e.Body, want.Body) {
			t.Fatalf("accepted an envelope A never sealed: %+v", e)
		}
		if _, err := v.Open(data); err == nil {
			t.Fatal("the same envelope was accepted twice")
		}
	})
}

// FuzzVerifyHeaders sets arbitrary FedWave header values on a request A
// signed. Verification must never panic, and must accept only the values A
// signed, in their one spelling.
func FuzzVerifyHeaders(f *testing.F) {
	a := fixedKey(1)
	// Fixed id and time, so that every fuzz worker signs the same seed.
	h := signedHeaders{from: hostA, date: strconv.FormatInt(fuzzClock.UnixMilli(), 10), id: fmt.Sprintf("%032x", 7)}
	sig := ed25519.Sign(a.priv, requestString("POST", "/federation/inbox", hostB, h, []byte("body")))
	orig := [4]string{h.from, h.date, h.id, base64.StdEncoding.EncodeToString(sig)}
	verifier := func() *Verifier {
		return NewVerifier(hostB, func(host string) (ed25519.PublicKey, error) {
			if host == hostA {
				return a.Public(), nil
			}
			return nil, nil
		}, func() time.Time { return fuzzClock })
	}
	seed := httptest.NewRequest("POST", "/federation/inbox", nil)
	for i, name := range []string{HeaderFrom, HeaderDate, HeaderID, HeaderSignature} {
		seed.Header.Set(name, orig[i])
	}
	if _, err := verifier().VerifyRequest(seed, []byte("body")); err != nil {
		f.Fatalf("seed refused: %v", err)
	}
	f.Add(orig[0], orig[1], orig[2], orig[3])
	f.Add("", "", "", "")
	f.Add(hostA+"\n", "+1", "AB", "====")
	// One field off at a time, so that each check is reached.
	f.Add("d.example", orig[1], orig[2], orig[3])
	f.Add(orig[0], "1", orig[2], orig[3])
	f.Add(orig[0], orig[1], strings.ToUpper(orig[2]), orig[3])
	f.Add(orig[0], orig[1], orig[2], orig[3][:87]+"A")
	f.Fuzz(func(t *testing.T, from, date, id, sig string) {
		v := verifier()
		s := httptest.NewRequest("POST", "/federation/inbox", nil)
		for i, val := range [4]string{from, date, id, sig} {
			// Set the map directly: the fuzzer may hand us values net/http
			// would never deliver, and parsing must survive them too.
			s.Header[[...]string{HeaderFrom, HeaderDate, HeaderID, HeaderSignature}[i]] = []string{val}
		}
		got, err := v.VerifyRequest(s, []byte("body"))
		if err != nil {
			return
		}
		if got != hostA || [4]string{from, date, id, sig} != orig {
			t.Fatalf("accepted headers A never signed: %q %q %q %q", from, date, id, sig)
		}
	})
}
