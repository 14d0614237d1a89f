package keyframe

import (
	"testing"

	"github.com/pion/webrtc/v4"
)

func TestStart(t *testing.T) {
	for _, c := range []struct {
		name, mime string
		payload    []byte
		want       bool
	}{
		{"vp8 key", webrtc.MimeTypeVP8, []byte{0x10, 0x00}, true},
		{"vp8 delta", webrtc.MimeTypeVP8, []byte{0x10, 0x01}, false},
		{"vp8 not a frame start", webrtc.MimeTypeVP8, []byte{0x00, 0x00}, false},
		{"vp8 partition 1", webrtc.MimeTypeVP8, []byte{0x11, 0x00}, false},
		{"vp8 7-bit picture id", webrtc.MimeTypeVP8, []byte{0x90, 0x80, 0x05, 0x00}, true},
		{"vp8 15-bit picture id", webrtc.MimeTypeVP8, []byte{0x90, 0x80, 0x81, 0x05, 0x00}, true},
		{"vp8 15-bit picture id, delta", webrtc.MimeTypeVP8, []byte{0x90, 0x80, 0x81, 0x05, 0x01}, false},
		{"vp8 all extensions", webrtc.MimeTypeVP8, []byte{0x90, 0xf0, 0x81, 0x05, 0x07, 0x20, 0x00}, true},
		{"vp8 truncated", webrtc.MimeTypeVP8, []byte{0x90, 0xf0, 0x81}, false},
		{"vp8 empty", webrtc.MimeTypeVP8, nil, false},
		{"h264 idr", webrtc.MimeTypeH264, []byte{0x65, 0x88}, true},
		{"h264 sps", webrtc.MimeTypeH264, []byte{0x67, 0x42}, true},
		{"h264 slice", webrtc.MimeTypeH264, []byte{0x41, 0x9a}, false},
		{"h264 stap-a with sps", webrtc.MimeTypeH264, []byte{0x78, 0x00, 0x02, 0x09, 0x10, 0x00, 0x02, 0x67, 0x42}, true},
		{"h264 stap-a without", webrtc.MimeTypeH264, []byte{0x78, 0x00, 0x02, 0x09, 0x10, 0x00, 0x02, 0x41, 0x9a}, false},
		{"h264 stap-a lying sizes", webrtc.MimeTypeH264, []byte{0x78, 0xff, 0xff, 0x09}, false},
		{"h264 fu-a idr start", webrtc.MimeTypeH264, []byte{0x7c, 0x85, 0x00}, true},
		{"h264 fu-a idr middle", webrtc.MimeTypeH264, []byte{0x7c, 0x05, 0x00}, false},
		{"h264 fu-a truncated", webrtc.MimeTypeH264, []byte{0x7c}, false},
		{"opus", webrtc.MimeTypeOpus, []byte{0x00}, false},
	} {
		if got := Start(c.mime, c.payload); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func FuzzStart(f *testing.F) {
	f.Add([]byte{0x90, 0xf0, 0x81, 0x05, 0x07, 0x20, 0x00})
	f.Add([]byte{0x78, 0x00, 0x02, 0x09, 0x10, 0x00, 0x02, 0x67, 0x42})
	f.Fuzz(func(t *testing.T, b []byte) {
		Start(webrtc.MimeTypeVP8, b)
		Start(webrtc.MimeTypeH264, b)
	})
}
