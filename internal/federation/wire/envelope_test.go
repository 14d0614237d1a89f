package wire

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type chatBody struct {
	Channel string `json:"channel"`
	Text    string `json:"text"`
}

func TestEnvelopeRoundTrip(t *testing.T) {
	p := newPeers(t)
	v := p.verifierB(0)
	for _, body := range []any{
		chatBody{"alice", "hi"},
		chatBody{"alice", "<script>&\u2028\u2029 ünï \"q\"\n"},
		nil,
		json.RawMessage(`{"spaced" :  [1, 2]}`),
	} {
		data, err := p.a.Seal(hostA, hostB, "chat.send", body, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		e, err := v.Open(data)
		if err != nil {
			t.Fatalf("open %s: %v", data, err)
		}
		if e.From != hostA || e.To != hostB || e.Type != "chat.send" || !validID(e.ID) {
			t.Fatalf("opened %+v", e)
		}
		if body == nil {
			if len(e.Body) != 0 {
				t.Fatalf("nil body came back as %s", e.Body)
			}
			continue
		}
		want, _ := json.Marshal(body)
		var gotV, wantV any
		json.Unmarshal(e.Body, &gotV)
		json.Unmarshal(want, &wantV)
		if g, w := mustJSON(t, gotV), mustJSON(t, wantV); g != w {
			t.Fatalf("body %s, want %s", g, w)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// edit decodes a sealed envelope into a map, lets change alter it and encodes
// it again, so that a test can tamper with one field.
func edit(t *testing.T, data []byte, change func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	change(m)
	return []byte(mustJSON(t, m))
}

func TestOpenRefusals(t *testing.T) {
	p := newPeers(t)
	seal := func(k *Key, from, to string) []byte {
		data, err := k.Seal(from, to, "chat.send", chatBody{"alice", "hi"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	good := func() []byte { return seal(p.a, hostA, hostB) }
	cases := []struct {
		name string
		data func() []byte
		skew time.Duration
		code string
	}{
		{"signed by another key", func() []byte { return seal(p.c, hostA, hostB) }, 0, "bad_signature"},
		{"body changed", func() []byte {
			return bytes.Replace(good(), []byte(`"hi"`), []byte(`"ho"`), 1)
		}, 0, "bad_signature"},
		{"body dropped", func() []byte { return edit(t, good(), func(m map[string]any) { delete(m, "body") }) }, 0, "bad_signature"},
		{"body null", func() []byte { return edit(t, good(), func(m map[string]any) { m["body"] = nil }) }, 0, "bad_signature"},
		{"type changed", func() []byte { return edit(t, good(), func(m map[string]any) { m["type"] = "chat.delete" }) }, 0, "bad_signature"},
		{"id changed", func() []byte { return edit(t, good(), func(m map[string]any) { m["id"] = newID() }) }, 0, "bad_signature"},
		{"ts changed", func() []byte {
			return edit(t, good(), func(m map[string]any) { m["ts"] = m["ts"].(float64) + 1 })
		}, 0, "bad_signature"},
		{"from changed to another linked host", func() []byte {
			return edit(t, good(), func(m map[string]any) { m["from"] = hostC })
		}, 0, "bad_signature"},
		{"addressed to another instance", func() []byte { return seal(p.a, hostA, hostC) }, 0, "bad_signature"},
		{"readdressed to this instance", func() []byte {
			return edit(t, seal(p.a, hostA, hostC), func(m map[string]any) { m["to"] = hostB })
		}, 0, "bad_signature"},
		{"no signature", func() []byte { return edit(t, good(), func(m map[string]any) { delete(m, "sig") }) }, 0, "bad_signature"},
		{"unknown field", func() []byte { return edit(t, good(), func(m map[string]any) { m["admin"] = true }) }, 0, "bad_signature"},
		{"trailing data", func() []byte { return append(good(), []byte(` {}`)...) }, 0, "bad_signature"},
		{"not an object", func() []byte { return []byte(`[1,2]`) }, 0, "bad_signature"},
		{"empty type", func() []byte { return edit(t, good(), func(m map[string]any) { m["type"] = "" }) }, 0, "bad_signature"},
		{"long type", func() []byte {
			return edit(t, good(), func(m map[string]any) { m["type"] = strings.Repeat("t", maxType+1) })
		}, 0, "bad_signature"},
		{"too large", func() []byte {
			return append(good(), bytes.Repeat([]byte(" "), MaxEnvelope)...)
		}, 0, "bad_signature"},
		{"signed 61 s ago", good, 61 * time.Second, "stale"},
		{"signed 61 s ahead", good, -61 * time.Second, "stale"},
		{"unknown sender", func() []byte { return seal(p.a, "d.example", hostB) }, 0, "federation_not_linked"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := p.verifierB(tc.skew).Open(tc.data())
			if e != nil {
				t.Errorf("refused envelope returned: %+v", e)
			}
			wantCode(t, err, tc.code)
		})
	}

	v := p.verifierB(0)
	data := good()
	if _, err := v.Open(data); err != nil {
		t.Fatalf("control: %v", err)
	}
	_, err := v.Open(data)
	wantCode(t, err, "replayed")
	// With whitespace around it, it is still the same envelope.
	_, err = v.Open(append(append([]byte(" \n"), data...), '\n'))
	wantCode(t, err, "replayed")
}

func TestSealRefusesWhatOpenWould(t *testing.T) {
	k := testKey(t)
	if _, err := k.Seal(hostA, hostB, "", nil, time.Now()); err == nil {
		t.Error("sealed an envelope without a type")
	}
	if _, err := k.Seal(hostA, "B.example", "x", nil, time.Now()); err == nil {
		t.Error("sealed an envelope to a non-canonical host")
	}
	if _, err := k.Seal(hostA, hostB, "x", strings.Repeat("a", MaxEnvelope), time.Now()); err == nil {
		t.Error("sealed an envelope larger than MaxEnvelope")
	}
	if _, err := k.Seal(hostA, hostB, "x", func() {}, time.Now()); err == nil {
		t.Error("sealed a body that is not JSON")
	}
}

// Many links open envelopes at once; each is accepted exactly once.
func TestOpenConcurrentAcceptsEachEnvelopeOnce(t *testing.T) {
	p := newPeers(t)
	v := NewVerifier(hostB, func(host string) (ed25519.PublicKey, error) {
		// lookup itself must be safe for concurrent use; the test's counter is not.
		switch host {
		case hostA:
			return p.a.Public(), nil
		}
		return p.c.Public(), nil
	}, nil)
	const n = 50
	envs := make([][]byte, n)
	for i := range envs {
		k, from := p.a, hostA
		if i%2 == 1 {
			k, from = p.c, hostC
		}
		data, err := k.Seal(from, hostB, "chat.send", chatBody{"alice", "x"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		envs[i] = data
	}
	var accepted atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for _, data := range envs {
				if _, err := v.Open(data); err == nil {
					accepted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := accepted.Load(); got != n {
		t.Fatalf("%d accepted, want each of %d exactly once", got, n)
	}
}
