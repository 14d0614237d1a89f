// Package avatars keeps users' avatar images in the data directory
// (DATA/avatars/RANDOM.png|jpg|gif|webp), served by FedWave itself at
// /avatars/FILE so that no viewer ever loads a picture from another host.
//
// An upload is a PNG, JPEG, GIF or WebP, judged by its bytes (imagecheck).
package avatars

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/fedwave/fedwave/internal/fsutil"
	"github.com/fedwave/fedwave/internal/imagecheck"
)

// Bounds of an avatar.
const (
	MaxSize = 256 << 10 // bytes
	MaxSide = 1024      // pixels, each side
)

// URLPrefix is where avatar files are served.
const URLPrefix = "/avatars/"

// Rules are what an avatar upload must be (see imagecheck).
var Rules = imagecheck.Rules{
	Noun:    "avatar",
	Types:   []string{imagecheck.PNG, imagecheck.JPEG, imagecheck.GIF, imagecheck.WebP},
	MaxSize: MaxSize,
	MaxSide: MaxSide,
}

var stemRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// isOurs reports whether name is one Save could have made: a random stem
// and the extension of an accepted type.
func isOurs(name string) bool {
	ext := filepath.Ext(name)
	return stemRE.MatchString(strings.TrimSuffix(name, ext)) && Rules.KnownExt(ext)
}

// Dir is the avatar directory.
type Dir struct{ dir string }

// Open makes sure the directory exists.
func Open(dir string) (*Dir, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("avatars: %w", err)
	}
	return &Dir{dir: dir}, nil
}

// Save validates and stores an upload under a new random name and returns
// its URL path.
func (d *Dir) Save(data []byte) (string, error) {
	ct, err := imagecheck.Check(data, Rules)
	if err != nil {
		return "", err
	}
	b := make([]byte, 16)
	rand.Read(b)
	name := hex.EncodeToString(b) + imagecheck.Ext(ct)
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
	if !isOurs(name) {
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
		ours := isOurs(name) || strings.HasPrefix(name, ".upload-")
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
