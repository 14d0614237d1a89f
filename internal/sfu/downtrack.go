package sfu

import (
	"errors"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

const (
	videoQueue = 256 // packets waiting for one viewer: about a second of video
	audioQueue = 64  // about a second of audio
	historyLen = 512 // packets a viewer can ask to be sent again (NACK)
	sendBatch  = 4   // packets a writer sends to one viewer before the next viewer's turn: bursts to one viewer stay short
	// resendGap: the same packet is sent again at most this often.
	resendGap = 50 * time.Millisecond
)

// sent is a packet as one viewer gets it: renumbered.
type sent struct {
	p        *packet
	seq      uint16
	ts       uint32
	resentAt time.Time
}

// DownTrack is what one viewer receives of one kind (audio or video): the
// packets of one layer, renumbered so that the viewer sees one continuous
// stream across layer switches and publisher reconnects. It implements
// webrtc.TrackLocal; the stream's writer pool sends its queue.
type DownTrack struct {
	kind     webrtc.RTPCodecType
	codec    webrtc.RTPCodecCapability
	streamID string
	pool     *writers
	keyframe func() // asks the publisher for a keyframe (rate-limited)
	counters *Counters

	// Set by Bind, before any packet is queued.
	ssrc uint32
	pt   uint8
	out  webrtc.TrackLocalWriter

	mu        sync.Mutex
	cur, next *Layer // the layer forwarded, and the one to switch to at its next keyframe
	needKey   bool   // video: waiting for a keyframe (start, switch, or after dropping a backlog)
	closed    bool
	queue     ring
	scheduled bool // in the writer pool's run queue, or a writer is sending its batch

	// Renumbering: out = in + delta, rebased on every change of source.
	started  bool
	rebase   bool // the next packet starts a new base
	source   uint32
	left     uint32 // the source before: its late packets are dropped
	base     uint16 // first incoming sequence number of the current base
	seqDelta uint16
	tsDelta  uint32
	lastSeq  uint16
	lastTS   uint32
	lastAt   time.Time

	history []sent // video: by seq % historyLen

	// hdr is the header drain sends with, reused: given to WriteRTP (an
	// interface) a header of its own would be a heap allocation per packet
	// and viewer, a fifth of all the server allocates. Only drain uses it,
	// and one writer at a time drains a down-track.
	hdr rtp.Header
}

func newDownTrack(kind webrtc.RTPCodecType, codec webrtc.RTPCodecCapability, streamID string, pool *writers, keyframe func(), counters *Counters) *DownTrack {
	d := &DownTrack{kind: kind, codec: codec, streamID: streamID, pool: pool, keyframe: keyframe, counters: counters}
	if kind == webrtc.RTPCodecTypeVideo {
		d.queue.buf = make([]sent, videoQueue)
		d.history = make([]sent, historyLen)
	} else {
		d.queue.buf = make([]sent, audioQueue)
	}
	return d
}

// ID, RID, StreamID and Kind implement webrtc.TrackLocal.
func (d *DownTrack) ID() string                { return d.kind.String() }
func (d *DownTrack) RID() string               { return "" }
func (d *DownTrack) StreamID() string          { return d.streamID }
func (d *DownTrack) Kind() webrtc.RTPCodecType { return d.kind }

// Bind implements webrtc.TrackLocal: the viewer's connection chose a
// payload type for the layer's codec.
func (d *DownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	var match *webrtc.RTPCodecParameters
	for _, c := range ctx.CodecParameters() {
		if !strings.EqualFold(c.MimeType, d.codec.MimeType) {
			continue
		}
		if match == nil || c.SDPFmtpLine == d.codec.SDPFmtpLine {
			match = &c
		}
	}
	if match == nil {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	d.mu.Lock() // orders these before the first packet queued (under mu) and sent
	d.ssrc, d.pt, d.out = uint32(ctx.SSRC()), uint8(match.PayloadType), ctx.WriteStream()
	d.mu.Unlock()
	return *match, nil
}

// bound reports whether the viewer's connection negotiated the track.
func (d *DownTrack) bound() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out != nil
}

// Unbind implements webrtc.TrackLocal: the viewer is gone.
func (d *DownTrack) Unbind(webrtc.TrackLocalContext) error {
	d.close()
	return nil
}

func (d *DownTrack) close() {
	d.mu.Lock()
	d.closed, d.cur, d.next = true, nil, nil
	d.queue.clear()
	d.mu.Unlock()
}

// follow makes the down-track forward layer l: at once if it forwards
// nothing yet, else from l's next keyframe on (a seamless switch). A nil l
// stops it (an audio-only viewer gets no video packets). Without a fresh
// cached keyframe to start from, it asks the publisher for one.
func (d *DownTrack) follow(l *Layer) {
	d.mu.Lock()
	switch {
	case d.closed || d.out == nil: // gone, or never negotiated (an offer without video)
		d.mu.Unlock()
		return
	case l == nil:
		d.cur, d.next = nil, nil
		d.queue.clear()
		d.mu.Unlock()
		return
	case d.cur == nil: // starting, or resuming after audio only: what was skipped leaves no gap
		d.cur, d.next, d.needKey, d.rebase = l, nil, l.video, true
	case d.cur != l:
		d.next = l
	default: // already on it
		d.next = nil
		d.mu.Unlock()
		return
	}
	d.mu.Unlock()
	if !l.subscribe(d) && l.video {
		d.keyframe()
	}
}

// wants reports whether the down-track forwards l or is switching to it.
func (d *DownTrack) wants(l *Layer) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.closed && (d.cur == l || d.next == l)
}

// push queues a packet of layer l for the viewer. It returns false when
// the down-track no longer wants l's packets (l unsubscribes it). It runs
// on l's read loop and never blocks.
func (d *DownTrack) push(l *Layer, p *packet) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	switched := false
	switch {
	case d.closed:
		return false
	case l == d.next:
		if !p.key {
			return true
		}
		d.cur, d.next, d.needKey = l, nil, false // the switch: the old layer's next packet unsubscribes
		switched = true
	case l != d.cur:
		return false
	case d.needKey:
		if !p.key {
			return true
		}
		d.needKey = false
	}
	if d.queue.full() {
		if !l.video {
			d.queue.pop() // audio: the oldest goes
		} else { // a slow viewer: drop its backlog, start again at a keyframe
			d.counters.BacklogDrops.Add(1)
			d.dropBacklog()
			go d.keyframe()
			if !p.key {
				return true
			}
			d.needKey = false
		}
	}
	switch {
	case d.started && p.source == d.left && !switched:
		return true // a late packet of a publisher session that ended
	case d.started && p.source != d.source && l.video && !p.key:
		// A new publisher session: start at its keyframe.
		d.needKey = true
		go d.keyframe()
		return true
	case !d.started || d.rebase || p.source != d.source:
		d.newBase(p, switched)
	case int16(p.seq-d.base) < 0:
		return true // a late packet from before the new base
	}
	s := sent{p: p, seq: p.seq + d.seqDelta, ts: p.ts + d.tsDelta}
	if !d.started || int16(s.seq-d.lastSeq) > 0 {
		d.started, d.lastSeq, d.lastTS, d.lastAt = true, s.seq, s.ts, p.at
	}
	d.queue.push(s)
	if d.history != nil {
		d.history[s.seq%historyLen] = s
	}
	if !d.scheduled {
		d.scheduled = true
		d.pool.schedule(d)
	}
	return true
}

// newBase renumbers from p on: its sequence number follows the last one
// sent, its timestamp the last one plus the time that passed. A new
// source on the same layer is a new publisher session: the old one's late
// packets are dropped from now on.
func (d *DownTrack) newBase(p *packet, switched bool) {
	if d.started {
		elapsed := max(p.at.Sub(d.lastAt), 0) // layers are read on their own goroutines: it can be negative
		ticks := uint32(elapsed.Seconds() * float64(d.codec.ClockRate))
		d.seqDelta = d.lastSeq + 1 - p.seq
		d.tsDelta = d.lastTS + max(ticks, 1) - p.ts
	}
	if p.source != d.source && !switched {
		d.left = d.source
	}
	d.source, d.base, d.rebase = p.source, p.seq, false
}

// dropBacklog discards what is queued and waits for a keyframe. The
// numbering continues from the last packet actually taken for sending, so
// the viewer sees no gap to ask about.
func (d *DownTrack) dropBacklog() {
	if first, ok := d.queue.peek(); ok {
		d.lastSeq = first.seq - 1
	}
	for s, ok := d.queue.pop(); ok; s, ok = d.queue.pop() {
		if h := &d.history[s.seq%historyLen]; h.p == s.p {
			*h = sent{}
		}
	}
	d.needKey, d.rebase = true, true
}

// drain sends up to sendBatch queued packets; the writer pool calls it.
// The down-track stays scheduled while it sends, so no other writer takes
// it meanwhile (its packets stay in order). It reports whether more are
// waiting: then the writer puts it back on the run queue.
func (d *DownTrack) drain() (more bool) {
	var batch [sendBatch]sent
	d.mu.Lock()
	n := 0
	for ; n < sendBatch; n++ {
		s, ok := d.queue.pop()
		if !ok {
			break
		}
		batch[n] = s
	}
	d.mu.Unlock()
	for _, s := range batch[:n] {
		if err := d.send(&d.hdr, s); err != nil {
			d.close()
			break
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	more = !d.closed && !d.queue.empty()
	d.scheduled = more
	return more
}

// send writes one packet with header h, which it fills.
func (d *DownTrack) send(h *rtp.Header, s sent) error {
	*h = rtp.Header{Version: 2, Marker: s.p.marker, PayloadType: d.pt, SequenceNumber: s.seq, Timestamp: s.ts, SSRC: d.ssrc}
	_, err := d.out.WriteRTP(h, s.p.payload)
	if errors.Is(err, io.ErrClosedPipe) || errors.Is(err, io.EOF) {
		return err
	}
	return nil // a transient error loses one packet
}

// Feedback handles the viewer's RTCP for this track: NACKs are answered
// from the shared packets, keyframe requests go to the source
// (rate-limited by the stream).
func (d *DownTrack) Feedback(pkts []rtcp.Packet) {
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.TransportLayerNack:
			d.resend(p)
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			d.keyframe()
		case *rtcp.ReceiverReport:
			for _, r := range p.Reports {
				d.counters.Reports.Add(1)
				d.counters.FractionLost.Add(int64(r.FractionLost))
			}
		}
	}
}

// resend answers a viewer's NACK from the history: the packets are the
// shared ones, renumbered as they were first sent.
func (d *DownTrack) resend(n *rtcp.TransportLayerNack) {
	if d.history == nil {
		return
	}
	now := time.Now()
	var again []sent
	d.mu.Lock()
	for _, pair := range n.Nacks {
		for _, seq := range pair.PacketList() {
			h := &d.history[seq%historyLen]
			if h.p != nil && h.seq == seq && now.Sub(h.resentAt) >= resendGap {
				h.resentAt = now
				again = append(again, *h)
			}
		}
	}
	d.mu.Unlock()
	d.counters.Resent.Add(int64(len(again)))
	var h rtp.Header // resend runs on the feedback goroutine, beside drain
	for _, s := range again {
		if d.send(&h, s) != nil {
			return
		}
	}
}

// ring is a bounded FIFO of packets to send.
type ring struct {
	buf        []sent
	head, size int
}

func (r *ring) full() bool  { return r.size == len(r.buf) }
func (r *ring) empty() bool { return r.size == 0 }

func (r *ring) push(s sent) {
	r.buf[(r.head+r.size)%len(r.buf)] = s
	r.size++
}

func (r *ring) peek() (sent, bool) {
	if r.size == 0 {
		return sent{}, false
	}
	return r.buf[r.head], true
}

func (r *ring) pop() (sent, bool) {
	s, ok := r.peek()
	if ok {
		r.buf[r.head] = sent{}
		r.head = (r.head + 1) % len(r.buf)
		r.size--
	}
	return s, ok
}

func (r *ring) clear() {
	for r.size > 0 {
		r.pop()
	}
}
