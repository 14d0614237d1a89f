// Package emotes keeps the instance's own emote images in the data
// directory (DATA/emotes/NAME.png|gif|webp). Chat shows them for :NAME:;
// they are served by FedWave itself, so no viewer ever loads an image from
// another host.
package emotes

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/fsutil"
	"github.com/fedwave/fedwave/internal/imagecheck"
)

// Bounds of an emote image. Chat shows emotes at line height; 512 pixels
// leave room for sharp pictures on dense screens.
const (
	MaxSize = 256 << 10 // bytes
	MaxSide = 512       // pixels, each side
)

// URLPrefix is where emote files are served.
const URLPrefix = "/emotes/"

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,32}$`)

// Rules are what an emote upload must be (see imagecheck).
var Rules = imagecheck.Rules{
	Noun:    "emote",
	Types:   []string{imagecheck.PNG, imagecheck.GIF, imagecheck.WebP},
	MaxSize: MaxSize,
	MaxSide: MaxSide,
}

// Emote is one entry of the set.
type Emote struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// Set is the emote set; safe for concurrent use.
type Set struct {
	dir string

	mu    sync.RWMutex
	files map[string]string // name -> file name
}

// Open reads the emote directory, creating it if needed.
func Open(dir string) (*Set, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("emotes: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("emotes: %w", err)
	}
	s := &Set{dir: dir, files: map[string]string{}}
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		name := strings.TrimSuffix(e.Name(), ext)
		if e.Type().IsRegular() && nameRE.MatchString(name) && Rules.KnownExt(ext) {
			s.files[name] = e.Name()
		}
	}
	return s, nil
}

// Dir is where the files are.
func (s *Set) Dir() string { return s.dir }

// EmoteURL returns the local URL of an emote (markup.Emotes).
func (s *Set) EmoteURL(name string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f, ok := s.files[name]
	return URLPrefix + f, ok
}

// List returns the emotes by name.
func (s *Set) List() []Emote {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Emote, 0, len(s.files))
	for name, f := range s.files {
		out = append(out, Emote{Name: name, URL: URLPrefix + f})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Add stores an image as emote name, replacing one of that name. Only PNG,
// GIF and WebP within the bounds are accepted, judged by content, not by
// what the uploader claims (imagecheck).
func (s *Set) Add(name string, data []byte) (Emote, error) {
	if !nameRE.MatchString(name) {
		return Emote{}, fail.New(fail.Invalid, "invalid_emote_name", "an emote name has 1 to 32 letters, digits or _")
	}
	ct, err := imagecheck.Check(data, Rules)
	if err != nil {
		return Emote{}, err
	}
	ext := imagecheck.Ext(ct)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := fsutil.WriteFile(s.dir, name+ext, data); err != nil {
		return Emote{}, fmt.Errorf("save emote: %w", err)
	}
	if old, ok := s.files[name]; ok && old != name+ext {
		os.Remove(filepath.Join(s.dir, old)) // the same emote in another format
	}
	s.files[name] = name + ext
	return Emote{Name: name, URL: URLPrefix + name + ext}, nil
}

// Remove deletes an emote.
func (s *Set) Remove(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[name]
	if !ok {
		return fail.New(fail.NotFound, "emote_not_found", "no such emote")
	}
	if err := os.Remove(filepath.Join(s.dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	delete(s.files, name)
	return nil
}

// Has reports whether file is one of the set's files (for serving).
func (s *Set) Has(file string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	name := strings.TrimSuffix(file, filepath.Ext(file))
	return s.files[name] == file
}

// Rename gives an emote a new name, keeping its image. Messages already
// sent keep the old image URL, which stops working (as after Remove).
func (s *Set) Rename(old, name string) (Emote, error) {
	if !nameRE.MatchString(name) {
		return Emote{}, fail.New(fail.Invalid, "invalid_emote_name", "an emote name has 1 to 32 letters, digits or _")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[old]
	if !ok {
		return Emote{}, fail.New(fail.NotFound, "emote_not_found", "no such emote")
	}
	if _, taken := s.files[name]; taken {
		return Emote{}, fail.New(fail.Conflict, "emote_exists", "an emote called %s exists; delete it first", name)
	}
	nf := name + filepath.Ext(f)
	if err := os.Rename(filepath.Join(s.dir, f), filepath.Join(s.dir, nf)); err != nil {
		return Emote{}, fmt.Errorf("rename emote: %w", err)
	}
	delete(s.files, old)
	s.files[name] = nf
	return Emote{Name: name, URL: URLPrefix + nf}, nil
}
