// Package imagecheck judges an uploaded image (an avatar, an emote, a
// channel's thumbnail) by its bytes, never by its name or stated type.
//
// An upload must sniff as one of the accepted types, have sides within the
// bounds, decode with that format's decoder (a GIF's first frame), end
// where the image ends (nothing appended, as a GIF-and-ZIP or
// image-and-HTML polyglot has) and hold no markup. An animated WebP is not
// decoded (golang.org/x/image decodes still pictures only); its RIFF chunks
// must fill the file exactly instead.
package imagecheck

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"slices"
	"strings"

	"golang.org/x/image/webp"

	"github.com/fedwave/fedwave/internal/fail"
)

// The content types an upload may have.
const (
	PNG  = "image/png"
	JPEG = "image/jpeg"
	GIF  = "image/gif"
	WebP = "image/webp"
)

// Rules are what one kind of upload accepts.
type Rules struct {
	Noun    string   // "avatar": errors say "an avatar …", codes are avatar_type, avatar_invalid, avatar_too_large
	Types   []string // accepted content types
	MaxSize int      // bytes
	MaxSide int      // pixels, each side
}

// format is what we know of one image type.
type format struct {
	ext    string
	name   string
	config func(io.Reader) (image.Config, error)
	decode func([]byte) error
	ends   func([]byte) bool // the data ends where the image does
}

var formats = map[string]format{
	PNG: {".png", "PNG", png.DecodeConfig, func(b []byte) error { _, err := png.Decode(bytes.NewReader(b)); return err },
		func(b []byte) bool {
			return bytes.HasSuffix(b, []byte{0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82})
		}},
	JPEG: {".jpg", "JPEG", jpeg.DecodeConfig, func(b []byte) error { _, err := jpeg.Decode(bytes.NewReader(b)); return err },
		func(b []byte) bool { return bytes.HasSuffix(b, []byte{0xff, 0xd9}) }},
	// A GIF's first frame only: every frame of an animation decodes to a
	// full picture, and a few KiB of LZW can hold a megabyte each.
	GIF: {".gif", "GIF", gif.DecodeConfig, func(b []byte) error { _, err := gif.Decode(bytes.NewReader(b)); return err },
		func(b []byte) bool { return bytes.HasSuffix(b, []byte{0x3b}) }},
	WebP: {".webp", "WebP", webp.DecodeConfig, decodeWebP, riffWhole},
}

// markup is what would make a browser, misled into reading an image as a
// document, run or show something: no honest image holds it.
var markup = [][]byte{[]byte("<script"), []byte("<html"), []byte("<svg"), []byte("<!doctype"), []byte("<?xml"), []byte("<body"), []byte("<iframe"), []byte("<object"), []byte("<embed")}

// Check validates an upload against r and returns its content type. Its
// errors are fail.Invalid with the codes named in Rules.
func Check(data []byte, r Rules) (string, error) {
	if len(data) > r.MaxSize {
		return "", fail.New(fail.Invalid, r.Noun+"_too_large", "%s is at most %d KiB", article(r.Noun), r.MaxSize>>10)
	}
	ct := http.DetectContentType(data)
	f, ok := formats[ct]
	if !ok || !slices.Contains(r.Types, ct) {
		return "", fail.New(fail.Invalid, r.Noun+"_type", "%s is %s image", article(r.Noun), names(r.Types))
	}
	cfg, err := f.config(bytes.NewReader(data))
	if err != nil {
		return "", fail.New(fail.Invalid, r.Noun+"_invalid", "the image cannot be read")
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > r.MaxSide || cfg.Height > r.MaxSide {
		return "", fail.New(fail.Invalid, r.Noun+"_too_large", "%s is at most %dx%d pixels", article(r.Noun), r.MaxSide, r.MaxSide)
	}
	lower := bytes.ToLower(data)
	for _, m := range markup {
		if bytes.Contains(lower, m) {
			return "", fail.New(fail.Invalid, r.Noun+"_invalid", "the file holds markup besides the image")
		}
	}
	if !f.ends(data) || f.decode(data) != nil {
		return "", fail.New(fail.Invalid, r.Noun+"_invalid", "the file is not one whole image (damaged, or something appended)")
	}
	return ct, nil
}

// Ext is the file extension to store an image of type ct under.
func Ext(ct string) string { return formats[ct].ext }

// ContentType is the type to serve a stored file with, by its extension;
// "" for none of ours.
func ContentType(file string) string {
	for ct, f := range formats {
		if strings.HasSuffix(file, f.ext) {
			return ct
		}
	}
	return ""
}

// KnownExt reports whether ext (".png") is the extension of one of r's
// types: whether a stored file could be one of these uploads.
func (r Rules) KnownExt(ext string) bool {
	for _, t := range r.Types {
		if formats[t].ext == ext {
			return true
		}
	}
	return false
}

// names is "a PNG, JPEG or GIF".
func names(types []string) string {
	var b strings.Builder
	for i, t := range types {
		switch {
		case i == 0:
		case i == len(types)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(formats[t].name)
	}
	return article(b.String())
}

// article puts "a" or "an" before a noun.
func article(noun string) string {
	if noun != "" && strings.ContainsRune("aeiouAEIOU", rune(noun[0])) {
		return "an " + noun
	}
	return "a " + noun
}

// decodeWebP decodes a still WebP. An animation is left to riffWhole: its
// canvas is bounded by the config, and each frame is a VP8 stream the
// browser decodes in its own process.
func decodeWebP(b []byte) error {
	const animation = 1 << 1
	if len(b) >= 21 && string(b[12:16]) == "VP8X" && b[20]&animation != 0 {
		return nil
	}
	_, err := webp.Decode(bytes.NewReader(b))
	return err
}

// riffWhole reports whether b is a RIFF file whose chunks fill it exactly:
// the header's size is the file's, each chunk's size (padded to even) leads
// to the next, and so do the chunks inside each animation frame (ANMF).
func riffWhole(b []byte) bool {
	return len(b) >= 12 && int(binary.LittleEndian.Uint32(b[4:8])) == len(b)-8 && chunksFill(b[12:])
}

func chunksFill(b []byte) bool {
	for len(b) > 0 {
		if len(b) < 8 {
			return false
		}
		n := int(binary.LittleEndian.Uint32(b[4:8]))
		if 8+n > len(b) {
			return false
		}
		if string(b[:4]) == "ANMF" && (n < 16 || !chunksFill(b[8+16:8+n])) {
			return false
		}
		b = b[min(8+n+n&1, len(b)):]
	}
	return true
}
