package bus

import (
	"sync"
	"sync/atomic"
	"testing"
)

// Conformance runs the behaviour every Bus must have; a NATS implementation
// will run it too.
func Conformance(t *testing.T, b Bus) {
	var a1, a2, other [][]byte
	var mu sync.Mutex
	c1, err := b.Subscribe("room.a", func(m []byte) { mu.Lock(); a1 = append(a1, m); mu.Unlock() })
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := b.Subscribe("room.a", func(m []byte) { mu.Lock(); a2 = append(a2, m); mu.Unlock() })
	c3, _ := b.Subscribe("room.b", func(m []byte) { mu.Lock(); other = append(other, m); mu.Unlock() })
	defer c3()
	b.Publish("room.a", []byte("1"))
	b.Publish("room.a", []byte("2"))
	c1()
	c1() // cancelling twice is harmless
	b.Publish("room.a", []byte("3"))
	c2()
	b.Publish("room.a", []byte("4"))

	mu.Lock()
	defer mu.Unlock()
	if len(a1) != 2 || string(a1[0]) != "1" || string(a1[1]) != "2" {
		t.Errorf("first subscriber got %q, want 1 2 in order and nothing after cancel", a1)
	}
	if len(a2) != 3 || string(a2[2]) != "3" {
		t.Errorf("second subscriber got %q", a2)
	}
	if len(other) != 0 {
		t.Errorf("another subject received %q", other)
	}
}

func TestLocalConformance(t *testing.T) { Conformance(t, NewLocal()) }

func TestLocalConcurrent(t *testing.T) {
	b := NewLocal()
	var n atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				cancel, _ := b.Subscribe("s", func([]byte) { n.Add(1) })
				b.Publish("s", nil)
				cancel()
			}
		})
	}
	wg.Wait()
	if n.Load() < 8*200 {
		t.Fatalf("%d deliveries, want at least %d (each subscriber sees its own publish)", n.Load(), 8*200)
	}
}
