package federation_test

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
)

// BenchmarkChatHop measures what crossing instances adds to chat: a
// message sent by a user of B into A's room and received by a user of C,
// against one sent and received on A, at 10 and 100 messages a second.
// Reported: p50 and p99 in ms of both paths.
//
//	go test -run XXX -bench ChatHop -benchtime 200x ./internal/federation/
func BenchmarkChatHop(b *testing.B) {
	for _, rate := range []int{10, 100} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
			tb := b
			a, bb, c := startSite(tb), startSite(tb), startSite(tb)
			link(tb, bb, a)
			link(tb, c, a)
			_, aliceT := a.user(tb, "alice", auth.RoleStreamer)
			_, bobT := bb.user(tb, "bob", auth.RoleUser)
			_, carolT := c.user(tb, "carol", auth.RoleUser)
			_, daveT := a.user(tb, "dave", auth.RoleUser)
			room := "alice@" + a.host
			ca, cb, cc, cd := a.Dial(aliceT), bb.Dial(bobT), c.Dial(carolT), a.Dial(daveT)
			ca.Join("alice", nil)
			cd.Join("alice", nil)
			eventually(tb, "alice@A listed", func() bool { return bb.channel(tb, room) != nil && c.channel(tb, room) != nil })
			cb.Join(room, nil)
			cc.Join(room, nil)
			cb.Say(room, "warm-up", "w") // the mirrors are set up
			cc.Expect("message")
			ca.Drop()
			cd.Drop()
			cb.Drop()

			gap := time.Second / time.Duration(rate)
			var hop, local []time.Duration
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				cb.Send(map[string]any{"type": "send", "channel": room, "text": fmt.Sprintf("h%d", i), "nonce": fmt.Sprintf("h%d", i)})
				cc.ExpectWhere(func(f map[string]any) bool { return f["type"] == "message" && f["html"] == fmt.Sprintf("h%d", i) })
				hop = append(hop, time.Since(start))
				start = time.Now()
				ca.Send(map[string]any{"type": "send", "channel": "alice", "text": fmt.Sprintf("l%d", i), "nonce": fmt.Sprintf("l%d", i)})
				cd.ExpectWhere(func(f map[string]any) bool { return f["type"] == "message" && f["html"] == fmt.Sprintf("l%d", i) })
				local = append(local, time.Since(start))
				cb.Drop()
				ca.Drop()
				if d := gap - time.Since(start); d > 0 {
					time.Sleep(d)
				}
			}
			b.StopTimer()
			report(b, "hop", hop)
			report(b, "local", local)
		})
	}
}

func report(b *testing.B, name string, ds []time.Duration) {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	q := func(p float64) float64 { return float64(ds[int(p*float64(len(ds)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), name+"-p50-ms")
	b.ReportMetric(q(0.99), name+"-p99-ms")
}

// BenchmarkLinkThroughput measures the messages per second one link
// carries: B's users send into A's room as fast as acks allow (50 in
// flight each), and the messages are counted as they reach a reader on C.
//
//	go test -run XXX -bench LinkThroughput -benchtime 2000x ./internal/federation/
func BenchmarkLinkThroughput(b *testing.B) {
	a, bb, c := startSite(b), startSite(b), startSite(b)
	link(b, bb, a)
	link(b, c, a)
	a.user(b, "alice", auth.RoleStreamer)
	room := "alice@" + a.host
	eventually(b, "alice@A listed", func() bool { return bb.channel(b, room) != nil && c.channel(b, room) != nil })
	const senders, window = 4, 50
	var clients []*apptest.ChatClient
	for i := range senders {
		_, tok := bb.user(b, fmt.Sprintf("bob%d", i), auth.RoleUser)
		clients = append(clients, bb.Dial(tok))
	}
	_, carolT := c.user(b, "carol", auth.RoleUser)
	cc := c.Dial(carolT)
	cc.Join(room, nil)
	clients[0].Say(room, "warm-up", "w")
	cc.Expect("message")

	b.ResetTimer()
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range b.N {
			cc.Expect("message")
		}
	}()
	var wg sync.WaitGroup
	for i, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := b.N / senders
			if i < b.N%senders {
				n++
			}
			inFlight := 0
			for k := range n {
				if inFlight == window {
					cl.Expect("ack")
					inFlight--
				}
				cl.Send(map[string]any{"type": "send", "channel": room, "text": "x", "nonce": fmt.Sprintf("%d-%d", i, k)})
				inFlight++
			}
			for ; inFlight > 0; inFlight-- {
				cl.Expect("ack")
			}
		}()
	}
	wg.Wait()
	<-done
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
}
