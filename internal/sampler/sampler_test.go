package sampler

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// fakeMetrics registers the metrics the sampler reads, with values the
// test sets.
type fakeMetrics struct {
	cpu, rss, in, out, chat float64
}

func (f *fakeMetrics) registry(t *testing.T) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	counter := func(name string, v *float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: name}, func() float64 { return *v })
	}
	reg.MustRegister(
		counter(cpuSeconds, &f.cpu), counter(netIn, &f.in), counter(netOut, &f.out), counter(ChatMessages, &f.chat),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: rss, Help: rss}, func() float64 { return f.rss }),
	)
	return reg
}

// TestRingBoundedAndRates: an hour and more of readings keeps the last
// Size points, oldest first, with the counters turned into rates.
func TestRingBoundedAndRates(t *testing.T) {
	f := &fakeMetrics{}
	s := New(f.registry(t), Size, nil)
	start := time.Unix(1_700_000_000, 0)
	const n = Size + 40
	for i := range n {
		f.cpu += 5      // half a core over 10 s
		f.in += 10_000  // 1000 B/s
		f.out += 20_000 // 2000 B/s
		f.chat += 3     // 18 a minute
		f.rss = float64(i)
		s.Sample(start.Add(time.Duration(i) * Every))
	}
	pts := s.Points()
	if len(pts) != Size || cap(s.ring) != Size {
		t.Fatalf("kept %d points (ring capacity %d), want %d", len(pts), cap(s.ring), Size)
	}
	for i, p := range pts {
		want := start.Add(time.Duration(n-Size+i) * Every)
		if !p.T.Equal(want) || p.RSS != float64(n-Size+i) {
			t.Fatalf("point %d is from %v (rss %v), want %v: not the last hour in order", i, p.T, p.RSS, want)
		}
		if p.CPU != 0.5 || p.NetIn != 1000 || p.NetOut != 2000 || p.ChatPerMin != 18 {
			t.Fatalf("point %d: %+v", i, p)
		}
	}
	// A counter that goes back (a restarted process's) gives no negative rate.
	f.cpu = 0
	s.Sample(start.Add(n * Every))
	if last := s.Points()[Size-1]; last.CPU != 0 {
		t.Fatalf("CPU after the counter went back: %v", last.CPU)
	}
}

// TestRunStops: Run reads at once and on every tick, and returns when its
// context ends.
func TestRunStops(t *testing.T) {
	f := &fakeMetrics{}
	s := New(f.registry(t), 4, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx, time.Millisecond); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.Points()) < 4 {
		if time.Now().After(deadline) {
			t.Fatal("Run took no readings")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if n := len(s.Points()); n != 4 {
		t.Fatalf("%d points kept, want 4", n)
	}
}

// BenchmarkSample: one reading of a registry with the Go and process
// collectors, as the server's (every 10 s).
func BenchmarkSample(b *testing.B) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s := New(reg, Size, nil)
	now := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Sample(now.Add(time.Duration(i) * Every))
	}
}
