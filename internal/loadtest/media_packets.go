package loadtest

// Synthetic media packets: the stamp every payload ends in, the VP8 and
// H.264 frame builders (Opus is a TOC byte and filler) and the keyframe
// test the viewers use.

import (
	"encoding/binary"
	"time"
)

const (
	stampLen     = 16
	stampMagic   = "FWlt"
	maxPayload   = 1100 // video packet payload bytes
	audioPayload = 160  // 20 ms at 64 kbit/s
)

// A valid H.264 constrained-baseline SPS and PPS (from a small x264
// encode), sent before every IDR picture as real encoders do.
var (
	h264SPS = []byte{0x67, 0x42, 0xc0, 0x1f, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x01, 0xe0, 0xf1, 0x83, 0x24, 0x80}
	h264PPS = []byte{0x68, 0xcb, 0x83, 0xcb, 0x20}
)

// payload is one packet's payload; stamped ones end in the stamp.
type payload struct {
	data    []byte
	stamped bool
}

// stamp writes the send time and counter into a payload's last 16 bytes.
func stamp(p []byte, counter uint32) {
	t := p[len(p)-stampLen:]
	binary.BigEndian.PutUint64(t, uint64(time.Now().UnixNano()))
	binary.BigEndian.PutUint32(t[8:], counter)
	copy(t[12:], stampMagic)
}

// readStamp returns a payload's send time and counter, if it has a stamp.
func readStamp(p []byte) (sentNs int64, counter uint32, ok bool) {
	if len(p) < stampLen || string(p[len(p)-4:]) != stampMagic {
		return 0, 0, false
	}
	t := p[len(p)-stampLen:]
	return int64(binary.BigEndian.Uint64(t)), binary.BigEndian.Uint32(t[8:]), true
}

// packetSizes splits n bytes into packets of at most maxPayload, evenly.
func packetSizes(n int) []int {
	count := max((n+maxPayload-1)/maxPayload, 1)
	sizes := make([]int, count)
	for i := range sizes {
		sizes[i] = n / count
		if i < n%count {
			sizes[i]++
		}
	}
	return sizes
}

// filled returns a payload of size bytes (at least the header and a stamp)
// starting with header.
func filled(header []byte, size int) []byte {
	b := make([]byte, max(size, len(header)+stampLen))
	copy(b, header)
	for i := len(header); i < len(b)-stampLen; i++ {
		b[i] = 0x55
	}
	return b
}

// vp8Frame makes the payloads of one VP8 frame of about size bytes: a
// payload descriptor with a 15-bit picture ID on every packet (S set on the
// first), and on the first the frame tag (P bit clear for a keyframe, plus
// the start code and 1280x720 size of a keyframe header).
func vp8Frame(key bool, size int, pictureID uint16) []payload {
	sizes := packetSizes(size)
	out := make([]payload, len(sizes))
	for i, n := range sizes {
		h := []byte{0x80, 0x80, 0x80 | byte(pictureID>>8)&0x7f, byte(pictureID)}
		if i == 0 {
			h[0] |= 0x10 // S: start of partition 0
			first := uint32(min(size, 1<<19-1))
			tag := uint32(0x10) | first<<5 // show_frame, version 0, first partition size
			if !key {
				tag |= 1 // P: interframe
			}
			h = append(h, byte(tag), byte(tag>>8), byte(tag>>16))
			if key {
				h = append(h, 0x9d, 0x01, 0x2a, 0x00, 0x05, 0xd0, 0x02) // start code, 1280, 720
			}
		}
		out[i] = payload{data: filled(h, n), stamped: true}
	}
	return out
}

// h264Frame makes the payloads of one H.264 access unit of about size
// bytes: for a keyframe a STAP-A with SPS and PPS, then the picture (IDR
// for a keyframe) as a single NAL unit packet or FU-A fragments.
func h264Frame(key bool, size int) []payload {
	var out []payload
	nal := byte(0x41) // NRI 2, non-IDR slice
	if key {
		nal = 0x65 // NRI 3, IDR slice
		stap := []byte{0x78}
		for _, ps := range [][]byte{h264SPS, h264PPS} {
			stap = append(stap, byte(len(ps)>>8), byte(len(ps)))
			stap = append(stap, ps...)
		}
		out = append(out, payload{data: stap})
	}
	if size <= maxPayload {
		return append(out, payload{data: filled([]byte{nal}, size), stamped: true})
	}
	sizes := packetSizes(size)
	for i, n := range sizes {
		fu := byte(nal & 0x1f)
		if i == 0 {
			fu |= 0x80 // start
		}
		if i == len(sizes)-1 {
			fu |= 0x40 // end
		}
		out = append(out, payload{data: filled([]byte{nal&0xe0 | 28, fu}, n), stamped: true})
	}
	return out
}
