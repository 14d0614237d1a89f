package loadtest

// The media report: what was measured, its text form, and the delay
// histograms and per-viewer summary it is built from.

import (
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MediaReport is what a media run measured.
type MediaReport struct {
	Codec     string
	Bitrate   int // target video bit rate
	Publisher PublisherStats
	Viewers   []ViewerStats
	Joined    int // viewers that received video

	Join        Percentiles // POST to first video packet, joined viewers
	Answer      Percentiles // of Join: POST to answer
	Connected   Percentiles // of Join: POST to connection up (ICE and DTLS)
	Delay       Percentiles // send to receive, every timed packet of every viewer in the measuring window
	DelayAll    Percentiles // the same over the whole run, joins included
	Expected    int64       // packets the viewers should have had (sequence number span)
	Lost        int64
	LostVideo   int64   // of Lost: video packets (recoverable by NACK), the rest audio (not)
	Late        int64   // packets that came out of order: reordered, or lost once and resent (NACK)
	LateVideo   int64   // of Late: video packets
	MeanBitrate float64 // bit/s received, mean over joined viewers

	Measured time.Duration // the measuring window (all viewers joined)
	Elapsed  time.Duration // the whole run
	Server   MediaServerUsage
	LoadCPU  float64 // this process's CPU during the window, in cores (-1: unknown)
}

// PublisherStats counts what the synthetic publisher sent.
type PublisherStats struct {
	Frames, Keyframes, PLIs    int64
	VideoPackets, AudioPackets int64
	Bytes                      int64 // RTP payload bytes, video and audio
	Duration                   time.Duration
}

// ViewerStats is one WHEP viewer's view of the stream.
type ViewerStats struct {
	N         int
	Err       string // why it did not join or broke off; "" if fine
	Join      time.Duration
	Answer    time.Duration // POST to answer
	Connected time.Duration // POST to connection up; 0 if it never was
	Packets   int64         // video and audio
	Late      int64         // video and audio packets that came out of order
	Expected  int64         // sequence number span, video and audio
	Lost      int64
	Bytes     int64 // RTP bytes (header and payload)
	Bitrate   float64
	Frames    int64 // video packets with the marker bit
	Keyframes int64
	FrameSpan int64       // frames the publisher sent between the first and last one seen
	Delay     Percentiles // in the measuring window
}

// MediaServerUsage is read from the server's /metrics (Prometheus process
// and Go collectors), if it has them.
type MediaServerUsage struct {
	IngestCPU             float64 // cores, publisher alone
	CPU                   float64 // cores, during the measuring window
	RSSBefore, RSSAfter   float64 // bytes, publisher alone and at the end of the window
	HeapBefore, HeapAfter float64 // Go heap in use, the least seen in either phase
	Available             bool
}

func (r MediaReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "viewer  join       kbit/s  packets    lost  frames/span  key  delay p50/p99/max (window)\n")
	for _, v := range r.Viewers {
		if v.Join == 0 {
			fmt.Fprintf(&b, "%5d   failed: %s\n", v.N, v.Err)
			continue
		}
		fmt.Fprintf(&b, "%5d  %6s  %7.0f  %7d  %6d  %5d/%-5d  %3d  %s/%s/%s", v.N, ms(v.Join), v.Bitrate/1000, v.Packets, v.Lost,
			v.Frames, v.FrameSpan, v.Keyframes, ms(v.Delay.P50), ms(v.Delay.P99), ms(v.Delay.Max))
		if v.Err != "" {
			fmt.Fprintf(&b, "  (%s)", v.Err)
		}
		b.WriteByte('\n')
	}
	p := r.Publisher
	fmt.Fprintf(&b, "publisher           %s at %d kbit/s + Opus: %d frames (%d key, %d PLIs), %d video + %d audio packets, %.0f kbit/s sent over %s\n",
		r.Codec, r.Bitrate/1000, p.Frames, p.Keyframes, p.PLIs, p.VideoPackets, p.AudioPackets,
		float64(p.Bytes)*8/max(p.Duration.Seconds(), 1e-9)/1000, p.Duration.Round(time.Millisecond))
	fmt.Fprintf(&b, "viewers             %d of %d received video\n", r.Joined, len(r.Viewers))
	fmt.Fprintf(&b, "join                p50 %s  p99 %s  max %s (answer p50 %s p99 %s, connected p50 %s p99 %s)\n", ms(r.Join.P50), ms(r.Join.P99), ms(r.Join.Max),
		ms(r.Answer.P50), ms(r.Answer.P99), ms(r.Connected.P50), ms(r.Connected.P99))
	fmt.Fprintf(&b, "packets             %d of %d, lost %d (%.4f%%): %d video, %d audio\n", r.Expected-r.Lost, r.Expected, r.Lost,
		100*float64(r.Lost)/float64(max(r.Expected, 1)), r.LostVideo, r.Lost-r.LostVideo)
	fmt.Fprintf(&b, "out of order        %d packets (lost once and resent, or reordered): %d video, %d audio\n", r.Late, r.LateVideo, r.Late-r.LateVideo)
	fmt.Fprintf(&b, "send→receive        p50 %s  p90 %s  p99 %s  max %s (whole run, joins included: p99 %s  max %s)\n",
		ms(r.Delay.P50), ms(r.Delay.P90), ms(r.Delay.P99), ms(r.Delay.Max), ms(r.DelayAll.P99), ms(r.DelayAll.Max))
	fmt.Fprintf(&b, "received bitrate    %.0f kbit/s mean per viewer\n", r.MeanBitrate/1000)
	if s := r.Server; s.Available {
		n := float64(max(r.Joined, 1))
		fmt.Fprintf(&b, "server CPU          %.1f%% of one core with %d viewers (publisher alone %.1f%%): %.3f%% per viewer\n",
			100*s.CPU, r.Joined, 100*s.IngestCPU, 100*(s.CPU-s.IngestCPU)/n)
		fmt.Fprintf(&b, "server memory       RSS %.1f → %.1f MiB with the viewers: %.0f KiB per viewer (Go heap in use %.1f → %.1f MiB, least seen)\n",
			s.RSSBefore/(1<<20), s.RSSAfter/(1<<20), (s.RSSAfter-s.RSSBefore)/n/1024, s.HeapBefore/(1<<20), s.HeapAfter/(1<<20))
	}
	if r.LoadCPU >= 0 {
		fmt.Fprintf(&b, "load generator CPU  %.1f%% of one core\n", 100*r.LoadCPU)
	}
	fmt.Fprintf(&b, "elapsed             %s (measured %s with every viewer joined)\n", r.Elapsed.Round(time.Millisecond), r.Measured.Round(time.Millisecond))
	return b.String()
}

// ms formats a duration in milliseconds with a precision that suits it.
func ms(d time.Duration) string {
	f := float64(d) / float64(time.Millisecond)
	switch {
	case f < 10:
		return strconv.FormatFloat(f, 'f', 2, 64) + "ms"
	case f < 100:
		return strconv.FormatFloat(f, 'f', 1, 64) + "ms"
	}
	return strconv.FormatFloat(f, 'f', 0, 64) + "ms"
}

// delayHist is a small log-linear histogram of delays: microseconds, exact
// below 64 µs, then 32 buckets per power of two (3% resolution), up to a
// minute. One per track reader, so no locking.
type delayHist struct {
	counts [delayBuckets]uint32
	n      int64
	max    time.Duration
}

const delayBuckets = 64 + 21*32

func delayBucket(us uint64) int {
	if us < 64 {
		return int(us)
	}
	shift := bits.Len64(us) - 6 // us>>shift is in [32, 64)
	return min(64+(shift-1)*32+int(us>>shift)-32, delayBuckets-1)
}

// delayUpper is the upper bound of a bucket.
func delayUpper(i int) time.Duration {
	if i < 64 {
		return time.Duration(i+1) * time.Microsecond
	}
	shift := (i-64)/32 + 1
	return time.Duration(uint64((i-64)%32+32+1)<<shift) * time.Microsecond
}

func (h *delayHist) add(d time.Duration) {
	h.counts[delayBucket(uint64(max(d, 0)/time.Microsecond))]++
	h.n++
	h.max = max(h.max, d)
}

func (h *delayHist) merge(o *delayHist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

func (h *delayHist) percentiles() Percentiles {
	at := func(q float64) time.Duration {
		want := int64(q * float64(h.n))
		var seen int64
		for i, c := range h.counts {
			if seen += int64(c); seen > want {
				return min(delayUpper(i), h.max)
			}
		}
		return 0
	}
	return percentilesOf(at, h.max)
}

// summarize fills the report from the viewers (after they have closed).
func (r *mediaRun) summarize(rep *MediaReport, viewers []*mediaViewer) {
	var all, whole delayHist
	var joins, answers, conns []time.Duration
	var bitrates float64
	rep.Joined = 0
	for _, v := range viewers {
		if v == nil {
			continue
		}
		s := ViewerStats{N: v.n}
		if e := v.err.Load(); e != nil {
			s.Err = (*e).Error()
		}
		vs, as := &v.video, &v.audio
		if vs.packets > 0 {
			s.Join = vs.joinedAt.Sub(v.postAt)
			s.Answer = v.answerAt.Sub(v.postAt)
			joins, answers = append(joins, s.Join), append(answers, s.Answer)
			if c := v.connAt.Load(); c != nil {
				s.Connected = c.Sub(v.postAt)
				conns = append(conns, s.Connected)
			}
			rep.Joined++
		}
		s.Packets = vs.packets + as.packets
		s.Late = vs.late + as.late
		rep.Late += s.Late
		rep.LateVideo += vs.late
		s.Expected = vs.expected() + as.expected()
		s.Lost = max(s.Expected-s.Packets, 0)
		s.Bytes = vs.bytes + as.bytes
		first, last := vs.first, vs.last
		if as.started && (first.IsZero() || as.first.Before(first)) {
			first = as.first
		}
		if as.last.After(last) {
			last = as.last
		}
		if span := last.Sub(first).Seconds(); span > 0 {
			s.Bitrate = float64(s.Bytes) * 8 / span
		}
		s.Frames, s.Keyframes = vs.frames, vs.keyframes
		if vs.counted {
			s.FrameSpan = int64(vs.counterMax-vs.counterMin) + 1
		}
		var h delayHist
		h.merge(&vs.delay)
		h.merge(&as.delay)
		s.Delay = h.percentiles()
		all.merge(&h)
		whole.merge(&vs.delayAll)
		whole.merge(&as.delayAll)
		rep.Expected += s.Expected
		rep.Lost += s.Lost
		rep.LostVideo += max(vs.expected()-vs.packets, 0)
		if s.Join > 0 {
			bitrates += s.Bitrate
		}
		rep.Viewers = append(rep.Viewers, s)
	}
	rep.Delay, rep.DelayAll = all.percentiles(), whole.percentiles()
	if len(joins) > 0 {
		rep.Join, rep.Answer, rep.Connected = durationPercentiles(joins), durationPercentiles(answers), durationPercentiles(conns)
		rep.MeanBitrate = bitrates / float64(len(joins))
	}
}

// durationPercentiles sorts ds and returns their percentiles; zero for
// none.
func durationPercentiles(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration { return ds[min(int(q*float64(len(ds))), len(ds)-1)] }
	return percentilesOf(at, ds[len(ds)-1])
}
