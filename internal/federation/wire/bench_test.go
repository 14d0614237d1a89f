package wire

import (
	"net/http/httptest"
	"testing"
	"time"
)

// What one link can carry is bounded by these: a chat message crossing
// instances is one Seal on the sender and one Open on the receiver.
func BenchmarkSealOpen(b *testing.B) {
	p := newPeers(b)
	v := p.verifierB(0)
	body := chatBody{"alice", "a chat message of ordinary length, with an emote or two :wave:"}
	b.ReportAllocs()
	for b.Loop() {
		data, err := p.a.Seal(hostA, hostB, "chat.send", body, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.Open(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	p := newPeers(b)
	v := p.verifierB(0)
	envs := make([][]byte, 10_000)
	for i := range envs {
		envs[i], _ = p.a.Seal(hostA, hostB, "chat.send", chatBody{"alice", "hi"}, time.Now())
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(envs) {
			b.StopTimer()
			v = p.verifierB(0) // a fresh cache, so the same envelopes are new again
			i = 0
			b.StartTimer()
		}
		if _, err := v.Open(envs[i]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkSignVerifyRequest(b *testing.B) {
	p := newPeers(b)
	v := p.verifierB(0)
	body := []byte(`{"channels":[{"name":"alice","live":true}]}`)
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", "https://"+hostB+"/federation/inbox", nil)
		p.a.SignRequest(r, hostA, body)
		if _, err := v.VerifyRequest(r, body); err != nil {
			b.Fatal(err)
		}
	}
}
