// Package keyframe finds where a decoder can start in an RTP stream: the
// first packet of a VP8 or H.264 keyframe. The SFU uses it to start viewers
// and switch layers, the load test to count the keyframes it receives.
package keyframe

import (
	"strings"

	"github.com/pion/webrtc/v4"
)

// Start reports whether an RTP payload is the first packet of a keyframe,
// the place a decoder can start from.
func Start(mime string, payload []byte) bool {
	switch {
	case strings.EqualFold(mime, webrtc.MimeTypeVP8):
		return vp8KeyframeStart(payload)
	case strings.EqualFold(mime, webrtc.MimeTypeH264):
		return h264KeyframeStart(payload)
	}
	return false
}

// vp8KeyframeStart: the start of partition 0 of a frame whose header has
// the P (inter-frame) bit clear.
func vp8KeyframeStart(b []byte) bool {
	n, start, ok := VP8Descriptor(b)
	return ok && start && len(b) > n && b[n]&0x01 == 0
}

// VP8Descriptor reads the VP8 payload descriptor at the start of an RTP
// payload (RFC 7741 §4.2): its size in bytes, and whether the packet
// starts a frame (S set, partition 0). ok is false when the payload is
// too short for the descriptor it announces.
func VP8Descriptor(b []byte) (size int, start, ok bool) {
	if len(b) < 1 {
		return 0, false, false
	}
	start = b[0]&0x10 != 0 && b[0]&0x07 == 0
	i := 1
	if b[0]&0x80 != 0 { // X: extension byte
		if len(b) < 2 {
			return 0, false, false
		}
		x := b[1]
		i = 2
		if x&0x80 != 0 { // I: picture ID, 7 or 15 bits
			if len(b) <= i {
				return 0, false, false
			}
			if b[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if x&0x30 != 0 { // T or K: TID/Y/KEYIDX
			i++
		}
	}
	if i > len(b) {
		return 0, false, false
	}
	return i, start, true
}

// H.264 NAL unit types (RFC 6184).
const (
	naluIDR  = 5
	naluSPS  = 7
	naluSTAP = 24
	naluFU   = 28
)

// h264KeyframeStart: a packet carrying the sequence parameter set (which
// encoders send right before an IDR picture), or the start of an IDR
// picture.
func h264KeyframeStart(b []byte) bool {
	if len(b) < 1 {
		return false
	}
	switch t := b[0] & 0x1f; t {
	case naluIDR, naluSPS:
		return true
	case naluSTAP:
		for i := 1; i+2 < len(b); {
			size := int(b[i])<<8 | int(b[i+1])
			if nt := b[i+2] & 0x1f; nt == naluIDR || nt == naluSPS {
				return true
			}
			i += 2 + size
		}
	case naluFU:
		return len(b) >= 2 && b[1]&0x80 != 0 && b[1]&0x1f == naluIDR
	}
	return false
}
