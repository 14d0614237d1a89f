// Package loadtest drives a running FedWave (or compatible) server from the
// outside, as many real clients would, and reports what they saw.
package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// ChatOptions sets up a chat load run.
type ChatOptions struct {
	URL      string        // base URL of the site
	Channel  string        // channel to load
	Clients  int           // receiving connections (anonymous)
	Senders  int           // sending connections (guests)
	Rate     float64       // messages per second, all senders together
	Duration time.Duration // how long to send
	Log      io.Writer     // progress lines
}

// ChatReport is what a run measured.
type ChatReport struct {
	Clients, Connected int
	Sent, Acked        int64
	Errors             map[string]int64 // error frames the senders got, by code
	Deleted            int64            // messages the server deleted during the run (e.g. automatic timeouts)
	Expected, Received int64
	Duration           time.Duration
	ConnectTime        time.Duration
	Latency            Percentiles
	Server             ServerUsage
}

// Percentiles of send-to-receive latency.
type Percentiles struct{ P50, P90, P99, Max time.Duration }

// percentilesOf reads the reported percentiles from a quantile function.
func percentilesOf(at func(q float64) time.Duration, maximum time.Duration) Percentiles {
	return Percentiles{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: maximum}
}

// ServerUsage is read from the server's /metrics (from loopback).
type ServerUsage struct {
	RSSIdleBefore, RSSIdleAfter float64 // bytes, before and after the receivers connected
	HeapBefore, HeapAfter       float64
	StackBefore, StackAfter     float64
	CPUSeconds                  float64 // during the sending phase
	Available                   bool
}

// Refused reports whether the server turned messages away or deleted
// them: then the run measured its flood limits, not its speed.
func (r ChatReport) Refused() bool { return len(r.Errors) > 0 || r.Deleted > 0 }

func (r ChatReport) String() string {
	var b strings.Builder
	if r.Refused() {
		fmt.Fprintf(&b, "WARNING             the server refused %d messages %v and deleted %d: these figures show its flood\n", r.refusals(), r.Errors, r.Deleted)
		fmt.Fprintf(&b, "                    limits at work, not its speed; start it with --chat-rate and --chat-burst above\n")
		fmt.Fprintf(&b, "                    the rate per sender (rate / senders)\n")
	}
	fmt.Fprintf(&b, "clients connected   %d of %d in %s\n", r.Connected, r.Clients, r.ConnectTime.Round(time.Millisecond))
	fmt.Fprintf(&b, "messages            %d sent, %d acknowledged in %s (%.1f/s)\n", r.Sent, r.Acked, r.Duration.Round(time.Millisecond), float64(r.Acked)/r.Duration.Seconds())
	if len(r.Errors) > 0 {
		fmt.Fprintf(&b, "refused             %v\n", r.Errors)
	}
	loss := r.Expected - r.Received
	fmt.Fprintf(&b, "deliveries          %d of %d expected (%.0f/s), lost %d (%.4f%%)\n", r.Received, r.Expected,
		float64(r.Received)/r.Duration.Seconds(), loss, 100*float64(loss)/float64(max(r.Expected, 1)))
	fmt.Fprintf(&b, "send→receive        p50 %s  p90 %s  p99 %s  max %s\n", r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max)
	if s := r.Server; s.Available {
		per := func(a, b float64) float64 { return (b - a) / float64(max(r.Connected, 1)) / 1024 }
		fmt.Fprintf(&b, "server memory/conn  %.1f KiB RSS, %.1f KiB Go heap, %.1f KiB stacks (idle)\n",
			per(s.RSSIdleBefore, s.RSSIdleAfter), per(s.HeapBefore, s.HeapAfter), per(s.StackBefore, s.StackAfter))
		fmt.Fprintf(&b, "server CPU          %.2f s over %s = %.0f%% of one core\n", s.CPUSeconds, r.Duration.Round(time.Millisecond), 100*s.CPUSeconds/r.Duration.Seconds())
	}
	return b.String()
}

func (r ChatReport) refusals() int64 {
	var n int64
	for _, c := range r.Errors {
		n += c
	}
	return n
}

// histogram counts latencies in 100 µs buckets up to 10 s.
type histogram struct {
	buckets [100000]atomic.Int64
	max     atomic.Int64
}

func (h *histogram) add(d time.Duration) {
	i := min(max(int(d/(100*time.Microsecond)), 0), len(h.buckets)-1)
	h.buckets[i].Add(1)
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

func (h *histogram) percentiles() Percentiles {
	var total int64
	for i := range h.buckets {
		total += h.buckets[i].Load()
	}
	at := func(q float64) time.Duration {
		want := int64(q * float64(total))
		var seen int64
		for i := range h.buckets {
			if seen += h.buckets[i].Load(); seen > want {
				return time.Duration(i+1) * 100 * time.Microsecond
			}
		}
		return 0
	}
	return percentilesOf(at, time.Duration(h.max.Load()).Round(100*time.Microsecond))
}

// RunChat connects the receivers, then the senders, sends for the duration
// and reports.
func RunChat(ctx context.Context, o ChatOptions) (ChatReport, error) {
	rep := ChatReport{Clients: o.Clients}
	wsURL := "ws" + strings.TrimPrefix(strings.TrimSuffix(o.URL, "/"), "http") + "/ws"
	logf := progress(o.Log)
	before, _ := readMetrics(ctx, o.URL)

	var hist histogram
	var received, deletes atomic.Int64
	var distinct sync.Map // messages seen by any receiver
	var distinctN atomic.Int64
	runCtx, stop := context.WithCancel(ctx)
	defer stop()

	// Receivers: dial a hundred at a time.
	start := time.Now()
	var wg sync.WaitGroup
	var connected atomic.Int64
	sem := make(chan struct{}, 100)
	var dialErr atomic.Value
	for range o.Clients {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := join(runCtx, wsURL, o.Channel, "")
			<-sem
			if err != nil {
				dialErr.Store(err)
				return
			}
			connected.Add(1)
			context.AfterFunc(runCtx, func() { conn.CloseNow() })
			receive(conn, &hist, &received, &deletes, func(ns int64) {
				if _, seen := distinct.LoadOrStore(ns, true); !seen {
					distinctN.Add(1)
				}
			})
		}()
	}
	for len(sem) > 0 || int(connected.Load()) < o.Clients && dialErr.Load() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	rep.ConnectTime = time.Since(start)
	rep.Connected = int(connected.Load())
	if err, _ := dialErr.Load().(error); err != nil {
		logf("some receivers failed to connect: %v", err)
	}
	logf("%d receivers connected in %s", rep.Connected, rep.ConnectTime.Round(time.Millisecond))
	time.Sleep(2 * time.Second) // let the server settle before measuring idle memory
	idle, _ := readMetrics(ctx, o.URL)

	// Senders: guests, each sending its share of the rate.
	senders := make([]*websocket.Conn, 0, o.Senders)
	for range o.Senders {
		tok, err := guestToken(ctx, o.URL)
		if err != nil {
			return rep, fmt.Errorf("make a guest sender: %w", err)
		}
		conn, err := join(runCtx, wsURL, o.Channel, tok)
		if err != nil {
			return rep, fmt.Errorf("connect a sender: %w", err)
		}
		senders = append(senders, conn)
	}
	var sent, acked atomic.Int64
	var errMu sync.Mutex
	rep.Errors = map[string]int64{}
	interval := time.Duration(float64(time.Second) * float64(o.Senders) / o.Rate)
	sendStart := time.Now()
	deadline := sendStart.Add(o.Duration)
	var swg sync.WaitGroup
	for i, conn := range senders {
		swg.Add(2)
		go func() { // acks
			defer swg.Done()
			for {
				_, data, err := conn.Read(runCtx)
				if err != nil {
					return
				}
				for line := range bytes.SplitSeq(data, []byte("\n")) {
					switch {
					case bytes.HasPrefix(line, []byte(`{"type":"ack"`)):
						acked.Add(1)
					case bytes.HasPrefix(line, []byte(`{"type":"error"`)):
						var e struct{ Code string }
						json.Unmarshal(line, &e)
						errMu.Lock()
						rep.Errors[e.Code]++
						errMu.Unlock()
					}
				}
			}
		}()
		go func() {
			defer swg.Done()
			// Spread the senders over the interval.
			time.Sleep(time.Duration(i) * interval / time.Duration(len(senders)))
			t := time.NewTicker(interval)
			defer t.Stop()
			for seq := 0; time.Now().Before(deadline); seq++ {
				frame := fmt.Sprintf(`{"type":"send","channel":%q,"text":"lt %d","nonce":"%d-%d"}`, o.Channel, time.Now().UnixNano(), i, seq)
				if conn.Write(runCtx, websocket.MessageText, []byte(frame)) != nil {
					return
				}
				sent.Add(1)
				select {
				case <-t.C:
				case <-runCtx.Done():
					return
				}
			}
		}()
	}
	time.Sleep(time.Until(deadline))
	rep.Duration = time.Since(sendStart)
	after, _ := readMetrics(ctx, o.URL)
	// Wait for the last acks and deliveries: until nothing has moved for
	// two seconds (or half a minute has passed).
	for last, quiet := int64(-1), time.Now(); time.Since(quiet) < 2*time.Second && time.Since(sendStart) < o.Duration+30*time.Second; {
		if now := acked.Load() + received.Load(); now != last {
			last, quiet = now, time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
	rep.Sent, rep.Acked = sent.Load(), acked.Load()
	rep.Received = received.Load()
	rep.Deleted = deletes.Load() / int64(max(rep.Connected, 1)) // every receiver sees each deletion
	// Every message acknowledged, or seen by any receiver (its ack may be
	// late), should reach every receiver.
	rep.Expected = max(rep.Acked, distinctN.Load()) * int64(rep.Connected)
	rep.Latency = hist.percentiles()
	if before != nil && idle != nil && after != nil {
		rep.Server = ServerUsage{
			RSSIdleBefore: before[metricRSS], RSSIdleAfter: idle[metricRSS],
			HeapBefore: before[metricHeap], HeapAfter: idle[metricHeap],
			StackBefore: before[metricStack], StackAfter: idle[metricStack],
			CPUSeconds: after[metricCPU] - idle[metricCPU],
			Available:  true,
		}
	}
	stop()
	for _, c := range senders {
		c.CloseNow()
	}
	swg.Wait()
	wg.Wait()
	return rep, nil
}

// join opens a connection, signs in if token is set, joins the channel and
// waits for the presence frame that ends the history replay.
func join(ctx context.Context, wsURL, channel, token string) (*websocket.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, wsURL, nil)
	if err != nil {
		return nil, err
	}
	write := func(v any) error {
		b, _ := json.Marshal(v)
		return conn.Write(dctx, websocket.MessageText, b)
	}
	if token != "" {
		if err := write(map[string]string{"type": "auth", "token": token}); err != nil {
			return nil, err
		}
	}
	if err := write(map[string]string{"type": "join", "channel": channel}); err != nil {
		return nil, err
	}
	for {
		_, data, err := conn.Read(dctx)
		if err != nil {
			return nil, err
		}
		for line := range bytes.SplitSeq(data, []byte("\n")) {
			if bytes.HasPrefix(line, []byte(`{"type":"presence"`)) {
				return conn, nil
			}
			if bytes.HasPrefix(line, []byte(`{"type":"error"`)) {
				conn.CloseNow()
				return nil, errors.New(string(line))
			}
		}
	}
}

var (
	ltMarker     = []byte(`"html":"lt `)
	deletePrefix = []byte(`{"type":"delete"`)
)

// receive counts load-test messages and their latency, and deletions,
// without decoding whole frames (the client must not be the bottleneck).
// A WebSocket message may hold several frames, one per line (CONTRACT §4).
func receive(conn *websocket.Conn, hist *histogram, received, deletes *atomic.Int64, seen func(sentAt int64)) {
	defer conn.CloseNow()
	buf := make([]byte, 0, 1024)
	for {
		// A context that is never done: the run's end closes the connection.
		_, r, err := conn.Reader(context.Background())
		if err != nil {
			return
		}
		buf = buf[:0]
		for {
			if len(buf) == cap(buf) {
				buf = append(buf, 0)[:len(buf)]
			}
			n, err := r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
		}
		for line := range bytes.SplitSeq(buf, []byte("\n")) {
			if bytes.HasPrefix(line, deletePrefix) {
				deletes.Add(1)
				continue
			}
			if ns, ok := sentAt(line); ok {
				hist.add(time.Since(time.Unix(0, ns)))
				received.Add(1)
				seen(ns)
			}
		}
	}
}

// sentAt reads the send time out of a load-test message frame.
func sentAt(frame []byte) (int64, bool) {
	i := bytes.Index(frame, ltMarker)
	if i < 0 {
		return 0, false
	}
	rest := frame[i+len(ltMarker):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return 0, false
	}
	ns, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	return ns, err == nil
}

func guestToken(ctx context.Context, base string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, "POST", strings.TrimSuffix(base, "/")+"/api/v1/guest", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var body struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != 201 {
		return "", fmt.Errorf("POST /api/v1/guest: %s", res.Status)
	}
	return body.Token, nil
}

// progress returns a printf for progress lines to w (nil: none).
func progress(w io.Writer) func(format string, args ...any) {
	return func(format string, args ...any) {
		if w != nil {
			fmt.Fprintf(w, format+"\n", args...)
		}
	}
}

// The /metrics samples the runs read (Prometheus process and Go collectors).
const (
	metricCPU   = "process_cpu_seconds_total"
	metricRSS   = "process_resident_memory_bytes"
	metricHeap  = "go_memstats_heap_inuse_bytes"
	metricStack = "go_memstats_stack_inuse_bytes"
)

// readMetrics reads the plain-number samples of /metrics (no labels).
func readMetrics(ctx context.Context, base string) (map[string]float64, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", strings.TrimSuffix(base, "/")+"/metrics", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return nil, fmt.Errorf("metrics: %s", res.Status)
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(data), "\n") {
		name, val, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") || strings.Contains(name, "{") {
			continue
		}
		if f, err := strconv.ParseFloat(val, 64); err == nil {
			out[name] = f
		}
	}
	return out, nil
}
