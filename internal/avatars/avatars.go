// Package avatars keeps users' avatar images in the data directory
// (DATA/avatars/RANDOM.png|jpg|gif), served by FedWave itself at
// /avatars/FILE so that no viewer ever loads a picture from another host.
//
// An upload is judged by its bytes, never by its name or stated type: it
// must sniff as PNG, JPEG or GIF, decode with that format's decoder (a
// GIF's first frame) within the size bounds, end where the image ends (nothing appended, as a
// GIF-and-ZIP or image-and-HTML polyglot has) and hold no markup. WebP is
// refused: the standard library has no WebP decoder and golang.org/x/image
// is not a dependency of this build.
package avatars

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/fsutil"
)

// Bounds of an avatar.
const (
	MaxSize = 256 << 10 // bytes
	MaxSide = 1024      // pixels, each side
)

// URLPrefix is where avatar files are served.
const URLPrefix = "/avatars/"

// format is what we accept of one image type.
type format struct {
	ext    string
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) error
	ends   func([]byte) bool // the data ends with the format's own end marker
}

var formats = map[string]format{
	"image/png": {".png", png.DecodeConfig, func(r io.Reader) error { _, err := png.Decode(r); return err },
		func(b []byte) bool {
			return bytes.HasSuffix(b, []byte{0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82})
		}},
	"image/jpeg": {".jpg", jpeg.DecodeConfig, func(r io.Reader) error { _, err := jpeg.Decode(r); return err },
		func(b []byte) bool { return bytes.HasSuffix(b, []byte{0xff, 0xd9}) }},
	// A GIF's first frame only: every frame of an animation decodes to a
	// full picture, and a few KiB of LZW can hold a megabyte each.
	"image/gif": {".gif", gif.DecodeConfig, func(r io.Reader) error { _, err := gif.Decode(r); return err },
		func(b []byte) bool { return bytes.HasSuffix(b, []byte{0x3b}) }},
}

// ContentType is the type to serve a stored file with, by its extension.
func ContentType(file string) string {
	for ct, f := range formats {
		if strings.HasSuffix(file, f.ext) {
			return ct
		}
	}
	return ""
}

var fileRE = regexp.MustCompile(`^[0-9a-f]{32}\.(png|jpg|gif)$`)

// markup is what would make a browser, misled into reading an image as a
// document, run or show something: no honest image holds it.
var markup = [][]byte{[]byte("<script"), []byte("<html"), []byte("<svg"), []byte("<!doctype"), []byte("<?xml"), []byte("<body"), []byte("<iframe"), []byte("<object"), []byte("<embed")}

// Dir is the avatar directory.
type Dir struct{ dir string }

// Open makes sure the directory exists.
func Open(dir string) (*Dir, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("avatars: %w", err)
	}
	return &Dir{dir: dir}, nil
}

// Check validates an upload and returns its content type.
func Check(data []byte) (string, error) {
	if len(data) > MaxSize {
		return "", fail.New(fail.Invalid, "avatar_too_large", "an avatar is at most %d KiB", MaxSize>>10)
	}
	ct := http.DetectContentType(data)
	if ct == "image/webp" {
		return "", fail.New(fail.Invalid, "avatar_type", "WebP is not accepted here; upload a PNG, JPEG or GIF")
	}
	f, ok := formats[ct]
	if !ok {
		return "", fail.New(fail.Invalid, "avatar_type", "an avatar is a PNG, JPEG or GIF image")
	}
	cfg, err := f.config(bytes.NewReader(data))
	if err != nil {
		return "", fail.New(fail.Invalid, "avatar_invalid", "the image cannot be read")
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > MaxSide || cfg.Height > MaxSide {
		return "", fail.New(fail.Invalid, "avatar_too_large", "an avatar is at most %dx%d pixels", MaxSide, MaxSide)
	}
	lower := bytes.ToLower(data)
	for _, m := range markup {
		if bytes.Contains(lower, m) {
			return "", fail.New(fail.Invalid, "avatar_invalid", "the file holds markup besides the image")
		}
	}
	if !f.ends(data) || f.decode(bytes.NewReader(data)) != nil {
		return "", fail.New(fail.Invalid, "avatar_invalid", "the file is not one whole image (damaged, or something appended)")
	}
	return ct, nil
}

// Save validates and stores an upload under a new random name and returns
// its URL path.
func (d *Dir) Save(data []byte) (string, error) {
	ct, err := Check(data)
	if err != nil {
		return "", err
	}
	b := make([]byte, 16)
	rand.Read(b)
	name := hex.EncodeToString(b) + formats[ct].ext
	if err := fsutil.WriteFile(d.dir, name, data); err != nil {
		return "", fmt.Errorf("save avatar: %w", err)
	}
	return URLPrefix + name, nil
}

// Remove deletes the file behind a URL path Save returned; any other
// path (an imported one, "") is left alone.
func (d *Dir) Remove(path string) error {
	file, ok := d.File(strings.TrimPrefix(path, URLPrefix))
	if !ok || !strings.HasPrefix(path, URLPrefix) {
		return nil
	}
	if err := os.Remove(file); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove avatar: %w", err)
	}
	return nil
}

// File returns the path on disk of a served file name, if it is one Save
// could have made.
func (d *Dir) File(name string) (string, bool) {
	if !fileRE.MatchString(name) {
		return "", false
	}
	return filepath.Join(d.dir, name), true
}

// Sweep removes files no user's avatar names (inUse holds URL paths), and
// uploads' leftovers, once they are older than before: an account deleted
// with its avatar, a crash between saving and recording. Younger files are
// spared, since an upload is saved before it is recorded.
func (d *Dir) Sweep(inUse map[string]bool, before time.Time) (int, error) {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return 0, fmt.Errorf("sweep avatars: %w", err)
	}
	n := 0
	for _, e := range entries {
		name := e.Name()
		ours := fileRE.MatchString(name) || strings.HasPrefix(name, ".upload-")
		info, err := e.Info()
		if !ours || err != nil || !info.Mode().IsRegular() || !info.ModTime().Before(before) || inUse[URLPrefix+name] {
			continue
		}
		if err := os.Remove(filepath.Join(d.dir, name)); err == nil {
			n++
		}
	}
	return n, nil
}
