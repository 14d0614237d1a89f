package imagecheck

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"

	"github.com/fedwave/fedwave/internal/fail"
)

// still is every type, up to 64 pixels a side.
var still = Rules{Noun: "avatar", Types: []string{PNG, JPEG, GIF, WebP}, MaxSize: 4 << 10, MaxSide: 64}

// encode makes a w×h picture in a standard library format.
func encode(t testing.TB, ct string, w, h int) []byte {
	t.Helper()
	img := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.Black, color.White})
	img.SetColorIndex(0, 0, 1)
	var buf bytes.Buffer
	var err error
	switch ct {
	case PNG:
		err = png.Encode(&buf, img)
	case JPEG:
		err = jpeg.Encode(&buf, img, nil)
	case GIF:
		err = gif.Encode(&buf, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Two 6×4 pictures Chromium's encoder made (canvas.toDataURL), as their
// chunks' payloads: lossy (VP8) and lossless (VP8L).
var (
	vp8, _  = hex.DecodeString("b002009d012a0600040000c01225a8027447007f00ca00fd00057fe4de8000fefa9e53dc1dab0501915d6c61e48bc141fb4294dbcaba5e7ff8d4171ecffff8ca9fff8d4171ecfff1e4000000")
	vp8l, _ = hex.DecodeString("2f05c000000f30339fc9fc19f3fc470b3ef213d1ff48")
)

// chunk is a RIFF chunk, padded to an even length.
func chunk(fourCC string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint32([]byte(fourCC), uint32(len(data)))
	b = append(b, data...)
	if len(data)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

// webpFile wraps chunks in a RIFF WEBP header.
func webpFile(chunks ...[]byte) []byte {
	body := []byte("WEBP")
	for _, c := range chunks {
		body = append(body, c...)
	}
	return append(binary.LittleEndian.AppendUint32([]byte("RIFF"), uint32(len(body))), body...)
}

// animated is a one-frame animated WebP of a 6×4 canvas: VP8X with the
// animation flag, ANIM and an ANMF frame holding the lossless picture.
func animated(frame []byte) []byte {
	vp8x := []byte{1 << 1, 0, 0, 0, 5, 0, 0, 3, 0, 0} // flags, reserved, width-1, height-1
	anim := []byte{0, 0, 0, 0, 0, 0}                  // background colour, loop count
	anmf := append([]byte{0, 0, 0, 0, 0, 0, 5, 0, 0, 3, 0, 0, 100, 0, 0, 0}, frame...)
	return webpFile(chunk("VP8X", vp8x), chunk("ANIM", anim), chunk("ANMF", anmf))
}

func TestCheck(t *testing.T) {
	pngData := encode(t, PNG, 8, 8)
	lossy := webpFile(chunk("VP8 ", vp8))
	lossless := webpFile(chunk("VP8L", vp8l))
	anim := animated(chunk("VP8L", vp8l))
	for name, c := range map[string]struct {
		data  []byte
		rules Rules
		ct    string // or the error code
	}{
		"png":                                 {pngData, still, PNG},
		"jpeg":                                {encode(t, JPEG, 8, 8), still, JPEG},
		"gif":                                 {encode(t, GIF, 8, 8), still, GIF},
		"webp, lossy":                         {lossy, still, WebP},
		"webp, lossless":                      {lossless, still, WebP},
		"webp, animated":                      {anim, still, WebP},
		"not one of the types":                {encode(t, JPEG, 8, 8), Rules{Noun: "emote", Types: []string{PNG, GIF}, MaxSize: 4 << 10, MaxSide: 64}, "emote_type"},
		"svg":                                 {[]byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`), still, "avatar_type"},
		"html":                                {[]byte("<!doctype html><script>alert(1)</script>"), still, "avatar_type"},
		"empty":                               {nil, still, "avatar_type"},
		"too many bytes":                      {append(bytes.Clone(pngData), make([]byte, 4<<10)...), still, "avatar_too_large"},
		"too wide":                            {encode(t, PNG, 65, 1), still, "avatar_too_large"},
		"webp too wide":                       {lossy, Rules{Noun: "emote", Types: []string{WebP}, MaxSize: 4 << 10, MaxSide: 5}, "emote_too_large"},
		"png with html after":                 {append(bytes.Clone(pngData), "<html><script>alert(1)</script></html>"...), still, "avatar_invalid"},
		"gif with a zip after":                {append(encode(t, GIF, 8, 8), "PK\x03\x04\x14\x00\x00\x00"...), still, "avatar_invalid"},
		"truncated png":                       {pngData[:len(pngData)/2], still, "avatar_invalid"},
		"png header only":                     {pngData[:40], still, "avatar_invalid"},
		"webp, zip appended":                  {append(bytes.Clone(lossy), "PK\x03\x04\x14\x00\x00\x00"...), still, "avatar_invalid"},
		"webp, size covers an appended chunk": {webpFile(chunk("VP8 ", vp8), chunk("ZZZZ", []byte("<script>"))), still, "avatar_invalid"},
		"webp, a chunk runs past the end":     {lossy[:len(lossy)-4], still, "avatar_invalid"},
		"webp, damaged picture":               {webpFile(chunk("VP8 ", make([]byte, len(vp8)))), still, "avatar_invalid"},
		"webp header, no picture":             {webpFile(chunk("VP8 ", vp8[:10])), still, "avatar_invalid"},
		"animated webp, a frame cut short":    {animated(chunk("VP8L", vp8l)[:20]), still, "avatar_invalid"},
		"animated webp, markup in a chunk":    {webpFile(chunk("VP8X", []byte{2, 0, 0, 0, 5, 0, 0, 3, 0, 0}), chunk("EXIF", []byte("<svg onload=alert(1)>"))), still, "avatar_invalid"},
	} {
		ct, err := Check(c.data, c.rules)
		var f *fail.Error
		if errors.As(err, &f) {
			ct = f.Code
		} else if err != nil {
			t.Errorf("%s: %v is not a fail.Error", name, err)
		}
		if ct != c.ct {
			t.Errorf("%s: got %q (%v), want %q", name, ct, err, c.ct)
		}
	}
}

func TestMessages(t *testing.T) {
	emote := Rules{Noun: "emote", Types: []string{PNG, GIF, WebP}, MaxSize: 1 << 10, MaxSide: 4}
	for _, c := range []struct {
		data []byte
		want string
	}{
		{[]byte("hello"), "an emote is a PNG, GIF or WebP image"},
		{make([]byte, 2<<10), "an emote is at most 1 KiB"},
		{encode(t, PNG, 5, 5), "an emote is at most 4x4 pixels"},
	} {
		if _, err := Check(c.data, emote); err == nil || err.Error() != c.want {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
	thumb := Rules{Noun: "thumbnail", Types: []string{JPEG}, MaxSize: 1 << 10, MaxSide: 4}
	if _, err := Check(nil, thumb); err == nil || err.Error() != "a thumbnail is a JPEG image" {
		t.Errorf("got %v", err)
	}
}

func TestFiles(t *testing.T) {
	if Ext(WebP) != ".webp" || ContentType("ab.webp") != WebP || ContentType("ab.jpg") != JPEG || ContentType("ab.svg") != "" {
		t.Error("extensions and types do not match")
	}
	if !still.KnownExt(".gif") || (Rules{Types: []string{PNG}}).KnownExt(".gif") || still.KnownExt("") {
		t.Error("KnownExt")
	}
}

// BenchmarkCheck: judging the largest avatar taken (1024×1024), which
// decodes it whole.
func BenchmarkCheck(b *testing.B) {
	img := image.NewGray(image.Rect(0, 0, 1024, 1024))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7 % 251)
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	r := Rules{Noun: "avatar", Types: []string{PNG}, MaxSize: buf.Len(), MaxSide: 1024}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Check(buf.Bytes(), r); err != nil {
			b.Fatal(err)
		}
	}
}
