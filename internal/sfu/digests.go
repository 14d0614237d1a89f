package sfu

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"

	"github.com/fedwave/fedwave/internal/framedigest"
)

// DigestQueue is how many digests wait for a subscriber that is slow to
// take them (about three seconds of audio and video): beyond, new ones are
// dropped for it, and its viewers skip those frames.
const DigestQueue = 256

// Digest is the digest of one encoded frame of a stream, for viewers fed
// by fellow viewers to check the frames they get (package framedigest).
type Digest struct {
	Track string // the layer: "audio", or "video/"+rid
	framedigest.Frame
}

// Kind is "audio" or "video".
func (d Digest) Kind() string {
	if d.Track == "audio" {
		return "audio"
	}
	return "video"
}

// RID is the video layer's simulcast rid ("" without simulcast or for
// audio).
func (d Digest) RID() string {
	if rid, ok := strings.CutPrefix(d.Track, "video/"); ok {
		return rid
	}
	return ""
}

// digestFeed hands a stream's digests to its subscribers. Its lock comes
// after the layers' digest locks (emit runs under them).
type digestFeed struct {
	mu      sync.Mutex
	subs    []chan Digest
	dropped atomic.Int64
}

func (f *digestFeed) emit(d Digest) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ch := range f.subs {
		select {
		case ch <- d:
		default:
			f.dropped.Add(1)
		}
	}
}

// DigestsDropped counts the digests a slow subscriber missed.
func (st *Stream) DigestsDropped() int64 { return st.feed.dropped.Load() }

// SubscribeDigests starts a feed of the digests of every frame the stream
// receives from now on, on every layer. The stream digests its frames
// only while someone subscribes: the first subscriber turns it on, the
// last one's cancel off. cancel closes the channel; call it once.
func (st *Stream) SubscribeDigests() (digests <-chan Digest, cancel func()) {
	ch := make(chan Digest, DigestQueue)
	st.mu.Lock()
	st.feed.mu.Lock()
	st.feed.subs = append(slices.Clone(st.feed.subs), ch)
	st.feed.mu.Unlock()
	st.digestSubs++
	if st.digestSubs == 1 {
		for _, l := range st.layers {
			l.digest(st.emitDigest)
		}
	}
	st.mu.Unlock()
	var once sync.Once
	return ch, func() { once.Do(func() { st.unsubscribeDigests(ch) }) }
}

func (st *Stream) unsubscribeDigests(ch chan Digest) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.feed.mu.Lock()
	st.feed.subs = slices.DeleteFunc(slices.Clone(st.feed.subs), func(c chan Digest) bool { return c == ch })
	close(ch) // under the feed's lock: no emit is sending to it
	st.feed.mu.Unlock()
	st.digestSubs--
	if st.digestSubs == 0 {
		for _, l := range st.layers {
			l.digest(nil)
		}
	}
	st.idle()
}

func (st *Stream) emitDigest(d Digest) { st.feed.emit(d) }

// layerDigests is a layer's frame assembler, there while the stream's
// digests have a subscriber. On is read on every packet without a lock,
// so that a stream nobody asks digests of pays one atomic load.
type layerDigests struct {
	on  atomic.Bool
	mu  sync.Mutex // a publisher taking over writes beside the one leaving
	asm *framedigest.Assembler
}

// digest turns the layer's digests on (emit non-nil) or off.
func (l *Layer) digest(emit func(Digest)) {
	l.digests.mu.Lock()
	defer l.digests.mu.Unlock()
	l.digests.asm = nil
	if c, ok := framedigest.CodecOf(l.codec.MimeType); ok && emit != nil {
		key := l.key
		l.digests.asm = framedigest.New(c, func(f framedigest.Frame) { emit(Digest{Track: key, Frame: f}) })
	}
	l.digests.on.Store(l.digests.asm != nil)
}

// pushDigest feeds a packet to the layer's assembler, if it has one.
func (l *Layer) pushDigest(ssrc uint32, p *rtp.Packet) {
	l.digests.mu.Lock()
	if l.digests.asm != nil {
		l.digests.asm.Push(ssrc, p.SequenceNumber, p.Timestamp, p.Marker, p.Payload)
	}
	l.digests.mu.Unlock()
}
