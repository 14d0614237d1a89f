// Package framedigest computes a digest of every encoded frame of a track
// from its RTP packets, as the origin receives them: the bytes a browser's
// encoded-frame API (RTCEncodedVideoFrame.data, RTCEncodedAudioFrame.data)
// exposes for that frame, reassembled without decoding. A viewer fed by a
// fellow viewer checks each frame against these digests, which reach it
// from the origin over its own connection, so that the fellow viewer
// cannot show it a frame the origin did not send.
//
// What the bytes of a frame are, as Chromium gives them:
//   - VP8: the payloads of the frame's packets (one RTP timestamp, up to
//     the marker bit) in sequence order, each without its VP8 payload
//     descriptor (RFC 7741 §4.2).
//   - H.264: Annex B, each NAL unit after a 4-byte start code: single NAL
//     units as they are, STAP-A split into its NAL units, FU-A joined
//     with the NAL header rebuilt (RFC 6184 §5.6-5.8).
//   - Opus: one packet is one frame, its payload as it is.
//
// A frame with a packet missing gets no digest: a viewer then skips
// frames until the next keyframe, as after a loss on its own connection.
package framedigest

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"strings"

	"github.com/pion/webrtc/v4"

	"github.com/fedwave/fedwave/internal/keyframe"
)

// Size is the length of a digest: the first 16 bytes of SHA-256 over the
// frame's bytes. 128 bits is beyond any forgery a relaying viewer could
// compute in the second a frame matters.
const Size = 16

// window is how many recent packets a video assembler keeps (a ring by
// sequence number): a frame must fit in it, and a packet reordered or
// retransmitted later than this no longer completes its frame. 512 packets
// hold a 600 KB keyframe; it is the bound on an assembler's memory (the
// packets' payloads are shared with the forwarding, not copied).
const window = 512

// Codec is a codec whose frames an Assembler reassembles.
type Codec uint8

// The codecs FedWave forwards.
const (
	VP8 Codec = iota + 1
	H264
	Opus
)

// CodecOf returns the Codec of a MIME type, and false for any other.
func CodecOf(mime string) (Codec, bool) {
	switch {
	case strings.EqualFold(mime, webrtc.MimeTypeVP8):
		return VP8, true
	case strings.EqualFold(mime, webrtc.MimeTypeH264):
		return H264, true
	case strings.EqualFold(mime, webrtc.MimeTypeOpus):
		return Opus, true
	}
	return 0, false
}

// Sum is a frame's digest.
type Sum [Size]byte

// String is the digest in lower-case hex, as the browser writes it.
func (s Sum) String() string { return hex.EncodeToString(s[:]) }

// Frame is what an Assembler yields for each whole frame.
type Frame struct {
	Timestamp uint32 // the RTP timestamp of the frame's packets
	Key       bool   // a keyframe: a viewer that skipped frames resumes here
	Sum       Sum
}

// slot is one packet in the ring.
type slot struct {
	seq     uint16
	ts      uint32
	used    bool // holds the packet seq
	done    bool // its frame was yielded (a retransmission of it is ignored)
	marker  bool
	start   bool // VP8: the frame's first packet
	padding bool // no payload: of no frame (a sender probing bandwidth sends these between frames)
	payload []byte
}

// Assembler reassembles the frames of one track. It is fed by the track's
// one read loop: it is not safe for concurrent use.
type Assembler struct {
	codec Codec
	emit  func(Frame)
	ring  []slot // video only
	ssrc  uint32 // the source the ring's packets came from
	// The first packet from the source: H.264 takes it for a frame's
	// start if it looks like one, since no packet before it will come.
	first     uint16
	haveFirst bool
	h         hash.Hash
	sum       [sha256.Size]byte
	nal       [1]byte // a rebuilt FU-A NAL header, here so that it is no allocation
}

// New makes an assembler for a track of codec c; emit is called, on the
// caller's goroutine, with each whole frame.
func New(c Codec, emit func(Frame)) *Assembler {
	a := &Assembler{codec: c, emit: emit, h: sha256.New()}
	if c != Opus {
		a.ring = make([]slot, window)
	}
	return a
}

// Push takes one RTP packet of the track from source ssrc (a new one
// is a new publisher session, numbered anew). The payload is kept (not
// copied) until its frame is yielded or the ring moves past it: the
// caller must not modify it.
func (a *Assembler) Push(ssrc uint32, seq uint16, ts uint32, marker bool, payload []byte) {
	if ssrc != a.ssrc && a.ring != nil {
		clear(a.ring)
		a.haveFirst = false
	}
	a.ssrc = ssrc
	if !a.haveFirst {
		a.first, a.haveFirst = seq, true
	}
	if a.codec == Opus {
		if len(payload) == 0 {
			return // padding: no frame
		}
		a.h.Reset()
		a.h.Write(payload)
		a.yield(ts, false)
		return
	}
	s := &a.ring[seq%window]
	if s.used && s.seq == seq {
		return // a duplicate (a retransmission that crossed the original)
	}
	if len(payload) == 0 {
		// Padding is of no frame, but it tells H.264 where the next
		// frame starts: it is kept in the ring.
		*s = slot{seq: seq, ts: ts, used: true, padding: true}
		a.complete(seq + 1)
		return
	}
	start := false
	if a.codec == VP8 {
		_, st, ok := keyframe.VP8Descriptor(payload)
		if !ok {
			return
		}
		start = st
	}
	*s = slot{seq: seq, ts: ts, used: true, marker: marker, start: start, payload: payload}
	a.complete(seq)
	// A late packet that ended its frame also starts the next one (H.264
	// knows a frame's first packet by the one before it).
	if n := a.at(seq + 1); n != nil && n.ts != ts {
		a.complete(seq + 1)
	}
}

// at returns the slot of packet seq, nil if the ring does not hold it.
func (a *Assembler) at(seq uint16) *slot {
	s := &a.ring[seq%window]
	if !s.used || s.seq != seq {
		return nil
	}
	return s
}

// complete yields the frame of packet seq if all its packets are there
// and it was not yielded yet.
func (a *Assembler) complete(seq uint16) {
	s := a.at(seq)
	if s == nil || s.done || s.padding {
		return
	}
	ts := s.ts
	last := seq
	for n := 0; ; n++ { // forward to the marker: in order, this stops at once
		if n >= window {
			return
		}
		l := a.at(last)
		if l == nil || l.ts != ts || l.done || l.padding {
			return
		}
		if l.marker {
			break
		}
		last++
	}
	first := seq
	for n := 0; ; n++ { // back to the frame's first packet
		if n >= window {
			return
		}
		f := a.at(first)
		if f == nil || f.ts != ts || f.done || f.padding {
			return
		}
		if a.codec == VP8 && f.start {
			break
		}
		if a.codec == H264 {
			// The first packet is the one after another frame's packet.
			if p := a.at(first - 1); p != nil && (p.ts != ts || p.marker || p.padding) {
				break
			}
			if first == a.first && accessUnitStart(f.payload) {
				break
			}
		}
		first--
	}
	ok, key := a.hash(first, last), a.isKey(first, last)
	a.drop(first, last)
	if ok {
		a.yield(ts, key)
	}
}

// hash digests the frame made of packets first..last; false when a
// packet cannot be depacketised.
func (a *Assembler) hash(first, last uint16) bool {
	a.h.Reset()
	for seq := first; ; seq++ {
		p := a.ring[seq%window].payload
		var ok bool
		if a.codec == VP8 {
			n, _, _ := keyframe.VP8Descriptor(p)
			a.h.Write(p[n:])
			ok = true
		} else {
			ok = a.annexB(p)
		}
		if !ok {
			return false
		}
		if seq == last {
			return true
		}
	}
}

// startCode precedes every NAL unit of an Annex B frame.
var startCode = []byte{0, 0, 0, 1}

// H.264 packet types (RFC 6184 §5.4).
const (
	stapA = 24
	fuA   = 28
)

// annexB digests an H.264 packet's NAL units as Annex B; false for
// packet types browsers do not take (STAP-B, MTAP, FU-B) or a payload
// that lies about its sizes.
func (a *Assembler) annexB(p []byte) bool {
	switch t := p[0] & 0x1f; {
	case t >= 1 && t <= 23:
		a.h.Write(startCode)
		a.h.Write(p)
	case t == stapA:
		for i := 1; i < len(p); {
			if i+2 > len(p) {
				return false
			}
			n := int(p[i])<<8 | int(p[i+1])
			i += 2
			if n == 0 || i+n > len(p) {
				return false
			}
			a.h.Write(startCode)
			a.h.Write(p[i : i+n])
			i += n
		}
	case t == fuA:
		if len(p) < 3 {
			return false
		}
		if p[1]&0x80 != 0 { // S: the fragmented NAL unit starts here
			a.h.Write(startCode)
			a.nal[0] = p[0]&0xe0 | p[1]&0x1f
			a.h.Write(a.nal[:])
		}
		a.h.Write(p[2:])
	default:
		return false
	}
	return true
}

// H.264 NAL unit types that begin an access unit (ITU-T H.264 §7.4.1.2.3).
const (
	naluSlice = 1
	naluIDR   = 5
	naluSEI   = 6
	naluAUD   = 9
)

// accessUnitStart reports whether an H.264 packet can begin a frame: its
// first NAL unit is an access unit delimiter, SEI, SPS or PPS, or the
// first slice of a picture (first_mb_in_slice 0: its first bit set).
func accessUnitStart(p []byte) bool {
	switch t := p[0] & 0x1f; t {
	case stapA:
		return len(p) > 3 && accessUnitStart(p[3:])
	case fuA: // the start of a fragmented NAL unit: its type in the FU header
		return len(p) > 2 && p[1]&0x80 != 0 && nalStarts(p[1]&0x1f, p[2:])
	default:
		return nalStarts(t, p[1:])
	}
}

// nalStarts: a NAL unit of type t, whose bytes after the header are
// body, can begin an access unit.
func nalStarts(t byte, body []byte) bool {
	if t == naluSlice || t == naluIDR {
		return len(body) > 0 && body[0]&0x80 != 0
	}
	return t >= naluSEI && t <= naluAUD // SEI, SPS, PPS, AUD
}

// isKey: VP8 marks a keyframe in its first packet; H.264 has an IDR
// slice or a sequence parameter set in any.
func (a *Assembler) isKey(first, last uint16) bool {
	mime := webrtc.MimeTypeVP8
	if a.codec == H264 {
		mime = webrtc.MimeTypeH264
	}
	for seq := first; ; seq++ {
		if keyframe.Start(mime, a.ring[seq%window].payload) {
			return true
		}
		if seq == last || a.codec == VP8 {
			return false
		}
	}
}

// drop marks packets first..last done and lets their payloads go; their
// numbers stay, so that retransmissions of them are recognised.
func (a *Assembler) drop(first, last uint16) {
	for seq := first; ; seq++ {
		s := &a.ring[seq%window]
		s.done = true
		s.payload = nil
		if seq == last {
			return
		}
	}
}

// yield sends the digest of what a.h has taken.
func (a *Assembler) yield(ts uint32, key bool) {
	var f Frame
	f.Timestamp, f.Key = ts, key
	copy(f.Sum[:], a.h.Sum(a.sum[:0]))
	a.emit(f)
}
