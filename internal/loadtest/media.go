package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// The media load test publishes a synthetic stream over WHIP and watches it
// with pion viewers over WHEP. It speaks only WHIP and WHEP, so it works
// against any server that does.
//
// Every media packet the publisher sends ends in a 16-byte stamp, after the
// codec's own headers: the send time (unix nanoseconds, 8 bytes, big
// endian), a frame counter (4 bytes; a packet counter for audio) and the
// magic "FWlt". Viewers compare the send time with their receive time (same
// machine, same clock) for the end-to-end delay. A packet without the magic
// (H.264 parameter sets) is counted but not timed.
//
// This file holds the options and RunMedia's orchestration; the publisher,
// the viewers, the packet builders, the WHIP/WHEP signalling and the report
// are in the other media_*.go files.

// MediaOptions sets up a media load run.
type MediaOptions struct {
	WHIP         string        // WHIP endpoint to publish to
	Key          string        // bearer token for WHIP (the stream key)
	WHEP         string        // WHEP endpoint; default: WHIP with /whip/ replaced by /whep/
	WHEPKey      string        // bearer token for WHEP, for servers that want one (Broadcast Box: the stream key); "" sends none
	Viewers      int           // WHEP viewers
	Duration     time.Duration // how long to measure once every viewer has joined
	Bitrate      int           // video bits per second (audio adds 64 kbit/s)
	Codec        string        // "vp8" (default) or "h264"
	FPS          int           // video frames per second, default 30
	Pace         float64       // >0: send a frame's packets at Pace × Bitrate, as a browser's pacer does; 0: back to back
	JoinParallel int           // viewers joining at the same time, default 10
	Metrics      string        // base URL whose /metrics to read; default the WHIP URL's origin, "-" for none
	Log          io.Writer     // progress lines
}

const (
	joinTimeout = 15 * time.Second
	lateGrace   = 500 * time.Millisecond // for packets in flight when the publisher stops
)

// mediaRun is the state of one RunMedia.
type mediaRun struct {
	o      MediaOptions
	client *http.Client
	logf   func(string, ...any)
	plog   *slog.Logger

	measuring atomic.Bool // in the measuring window: delays are recorded
}

// RunMedia publishes, attaches the viewers, measures for the duration and
// reports. Cancelling ctx ends the measurement early; the sessions are
// still deleted and every connection closed.
func RunMedia(ctx context.Context, o MediaOptions) (MediaReport, error) {
	start := time.Now()
	o.Codec = strings.ToLower(o.Codec)
	if o.Codec == "" {
		o.Codec = "vp8"
	}
	rep := MediaReport{Codec: o.Codec, Bitrate: o.Bitrate, LoadCPU: -1}
	vc, err := videoCodec(o.Codec)
	if err != nil {
		return rep, err
	}
	if o.FPS <= 0 {
		o.FPS = 30
	}
	if o.JoinParallel <= 0 {
		o.JoinParallel = 10
	}
	if o.Bitrate <= 0 {
		o.Bitrate = 2_500_000
		rep.Bitrate = o.Bitrate
	}
	if o.WHEP == "" {
		if !strings.Contains(o.WHIP, "/whip/") {
			return rep, errors.New("give the WHEP URL: the WHIP URL has no /whip/ to replace")
		}
		o.WHEP = strings.Replace(o.WHIP, "/whip/", "/whep/", 1)
	}
	metricsBase := o.Metrics
	if metricsBase == "" {
		if u, err := url.Parse(o.WHIP); err == nil {
			metricsBase = u.Scheme + "://" + u.Host
		}
	}
	r := &mediaRun{o: o, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.JoinParallel, IdleConnTimeout: 30 * time.Second}, Timeout: 30 * time.Second}}
	defer r.client.CloseIdleConnections()
	r.logf = progress(o.Log)
	logOut := o.Log
	if logOut == nil {
		logOut = io.Discard
	}
	r.plog = slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	metrics := func() map[string]float64 {
		if metricsBase == "-" || metricsBase == "" {
			return nil
		}
		mctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m, _ := readMetrics(mctx, metricsBase)
		return m
	}
	// sample waits for d (or ctx), reading the metrics at its start, its
	// end and every interval. It returns the first and last readings, and
	// the smallest Go heap seen: the closest to the live heap, which /metrics
	// cannot show between collections.
	type reading struct {
		m       map[string]float64
		at      time.Time
		minHeap float64
	}
	sample := func(d, interval time.Duration) (first, last reading, ok bool) {
		first = reading{m: metrics(), at: time.Now()}
		first.minHeap = first.m[metricHeap]
		end := first.at.Add(d)
		ok = true
		for ok {
			left := time.Until(end)
			if left <= 0 {
				break
			}
			ok = sleepCtx(ctx, min(left, interval))
			if m := metrics(); m != nil && m[metricHeap] > 0 {
				first.minHeap = min(first.minHeap, m[metricHeap])
			}
		}
		last = reading{m: metrics(), at: time.Now(), minHeap: first.minHeap}
		return first, last, ok
	}

	pubAPI, err := newAPI(&vc, r.plog)
	if err != nil {
		return rep, err
	}
	viewAPI, err := newAPI(nil, r.plog)
	if err != nil {
		return rep, err
	}

	// The publisher, alone for two seconds (the server goes live, and its
	// CPU for ingest alone is measured).
	pub, err := r.publish(ctx, pubAPI, vc)
	if err != nil {
		return rep, err
	}
	defer pub.close(r)
	paced := "frames sent back to back"
	if o.Pace > 0 {
		paced = fmt.Sprintf("paced at %.1f× the bit rate", o.Pace)
	}
	r.logf("publishing %s at %d kbit/s (%s) to %s", o.Codec, o.Bitrate/1000, paced, o.WHIP)
	r0, r1, ok := sample(2*time.Second, 500*time.Millisecond)
	if !ok {
		return rep, ctx.Err()
	}

	// The viewers, JoinParallel at a time; each holds its slot until its
	// first video packet (or failure).
	viewers := make([]*mediaViewer, o.Viewers)
	var wg sync.WaitGroup
	sem := make(chan struct{}, o.JoinParallel)
	joinStart := time.Now()
	for i := range viewers {
		v := &mediaViewer{n: i + 1, measuring: &r.measuring, gotVideo: make(chan struct{}), reading: map[webrtc.RTPCodecType]bool{}}
		viewers[i] = v
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r.watch(ctx, viewAPI, v)
		}()
		if ctx.Err() != nil {
			break
		}
	}
	wg.Wait()
	defer func() {
		// Viewers first, so that they do not see the stream end.
		r.closeAll(viewers)
	}()
	for _, v := range viewers {
		if v != nil && v.err.Load() == nil {
			rep.Joined++
		}
	}
	r.logf("%d of %d viewers joined in %s", rep.Joined, o.Viewers, time.Since(joinStart).Round(time.Millisecond))
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	if !sleepCtx(ctx, time.Second) { // let the joins' work end before measuring
		return rep, ctx.Err()
	}

	// The measuring window.
	cpu2 := processCPU()
	r.measuring.Store(true)
	r.logf("measuring for %s", o.Duration)
	r2, r3, _ := sample(o.Duration, time.Second)
	r.measuring.Store(false)
	cpu3 := processCPU()
	rep.Measured = r3.at.Sub(r2.at)
	if cpu2 >= 0 && cpu3 >= 0 {
		rep.LoadCPU = (cpu3 - cpu2) / rep.Measured.Seconds()
	}
	if r0.m != nil && r1.m != nil && r2.m != nil && r3.m != nil {
		rep.Server = MediaServerUsage{
			IngestCPU:  (r1.m[metricCPU] - r0.m[metricCPU]) / r1.at.Sub(r0.at).Seconds(),
			CPU:        (r3.m[metricCPU] - r2.m[metricCPU]) / r3.at.Sub(r2.at).Seconds(),
			RSSBefore:  r1.m[metricRSS],
			RSSAfter:   r3.m[metricRSS],
			HeapBefore: r1.minHeap,
			HeapAfter:  r3.minHeap,
			Available:  r3.m[metricCPU] > 0,
		}
	}

	// Stop sending, let the last packets arrive, then close everything.
	pub.stop()
	time.Sleep(lateGrace)
	r.closeAll(viewers)
	pub.close(r)
	rep.Publisher = pub.stats()
	r.summarize(&rep, viewers)
	rep.Elapsed = time.Since(start)
	if rep.Joined == 0 && o.Viewers > 0 {
		return rep, errors.New("no viewer received video")
	}
	return rep, nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// processCPU is this process's CPU time in seconds (Linux), or -1.
func processCPU() float64 {
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return -1
	}
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return -1
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return (utime + stime) / 100 // USER_HZ
}

// ParseBitrate reads "2500k", "2.5M", "2500000" or "2500kbit" as bits per
// second.
func ParseBitrate(s string) (int, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), "bps"), "bit")
	mult := 1.0
	switch {
	case strings.HasSuffix(t, "k"):
		mult, t = 1e3, strings.TrimSuffix(t, "k")
	case strings.HasSuffix(t, "m"):
		mult, t = 1e6, strings.TrimSuffix(t, "m")
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f*mult < 10e3 || f*mult > 1e9 {
		return 0, fmt.Errorf("bitrate %q: want e.g. 2500k or 2.5M (10k to 1000M)", s)
	}
	return int(f * mult), nil
}
