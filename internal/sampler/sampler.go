// Package sampler keeps the last hour of the server's vital signs (CPU,
// memory, network, chat rate) for the admin overview's charts. It reads
// them from the Prometheus registry the server already fills (/metrics)
// every ten seconds, into a ring of fixed size: memory stays bounded
// however long the server runs.
package sampler

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults: a point every ten seconds, an hour of them.
const (
	Every = 10 * time.Second
	Size  = 360
)

// The metrics read, as /metrics names them.
const (
	cpuSeconds = "process_cpu_seconds_total" // user + system
	rss        = "process_resident_memory_bytes"
	heap       = "go_memstats_heap_alloc_bytes"
	netIn      = "process_network_receive_bytes_total" // the network namespace's IP traffic (Linux)
	netOut     = "process_network_transmit_bytes_total"
	// ChatMessages is the counter of chat messages stored, which the
	// server registers for the chat rate.
	ChatMessages = "fedwave_chat_messages_total"
)

// Point is one reading. Rates are over the time since the reading before
// (zero for the first one, or when a counter went back).
type Point struct {
	T          time.Time `json:"t"`
	CPU        float64   `json:"cpu"`        // cores busy: 1 is one core all the time
	RSS        float64   `json:"rss"`        // resident memory, bytes
	Heap       float64   `json:"heap"`       // Go heap in use, bytes
	NetIn      float64   `json:"netIn"`      // bytes received per second
	NetOut     float64   `json:"netOut"`     // bytes sent per second
	ChatPerMin float64   `json:"chatPerMin"` // chat messages stored per minute
}

// counters is a reading of the counters, to make rates of the next one.
type counters struct {
	t                  time.Time
	cpu, in, out, chat float64
}

// Sampler keeps the last readings.
type Sampler struct {
	g   prometheus.Gatherer
	log *slog.Logger

	mu   sync.Mutex
	ring []Point // at most cap(ring) points; once full, next is the oldest
	next int
	prev *counters
}

// New makes a sampler of g keeping size points (Size if size <= 0).
func New(g prometheus.Gatherer, size int, log *slog.Logger) *Sampler {
	if size <= 0 {
		size = Size
	}
	if log == nil {
		log = slog.Default()
	}
	return &Sampler{g: g, log: log, ring: make([]Point, 0, size)}
}

// Run takes a reading every interval (Every if <= 0) until ctx ends.
func (s *Sampler) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = Every
	}
	s.Sample(time.Now())
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.Sample(now)
		}
	}
}

// Sample takes one reading now. Metrics that cannot be read count as
// zero (the process metrics exist on Linux only).
func (s *Sampler) Sample(now time.Time) {
	fams, err := s.g.Gather()
	if err != nil {
		s.log.Debug("gather metrics for the overview", "err", err)
	}
	v := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			// Only the getter of the metric's own type answers non-zero.
			v[f.GetName()] += m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue()
		}
	}
	c := counters{t: now, cpu: v[cpuSeconds], in: v[netIn], out: v[netOut], chat: v[ChatMessages]}
	p := Point{T: now, RSS: v[rss], Heap: v[heap]}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.prev != nil {
		if secs := now.Sub(s.prev.t).Seconds(); secs > 0 {
			rate := func(now, before float64) float64 { return max(now-before, 0) / secs }
			p.CPU = rate(c.cpu, s.prev.cpu)
			p.NetIn, p.NetOut = rate(c.in, s.prev.in), rate(c.out, s.prev.out)
			p.ChatPerMin = rate(c.chat, s.prev.chat) * 60
		}
	}
	s.prev = &c
	if len(s.ring) < cap(s.ring) {
		s.ring = append(s.ring, p)
		return
	}
	s.ring[s.next] = p
	s.next = (s.next + 1) % len(s.ring)
}

// Points returns a copy of the readings kept, oldest first.
func (s *Sampler) Points() []Point {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Point, 0, len(s.ring))
	out = append(out, s.ring[s.next:]...)
	return append(out, s.ring[:s.next]...)
}
