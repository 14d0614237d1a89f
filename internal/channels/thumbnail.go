package channels

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/fsutil"
	"github.com/fedwave/fedwave/internal/imagecheck"
	"github.com/fedwave/fedwave/internal/store"
)

// MaxThumbnail bounds a thumbnail upload.
const MaxThumbnail = 256 << 10

// thumbRules are what a thumbnail upload must be (see imagecheck). The
// studio sends 320x180 JPEGs; other clients may send up to full HD.
var thumbRules = imagecheck.Rules{
	Noun:    "thumbnail",
	Types:   []string{imagecheck.JPEG, imagecheck.PNG, imagecheck.WebP},
	MaxSize: MaxThumbnail,
	MaxSide: 1920,
}

// ThumbPrefix is where thumbnails are served.
const ThumbPrefix = "/thumbs/"

// SetThumbnail stores a preview image the studio captured, judged by its
// bytes (imagecheck).
func (s *Service) SetThumbnail(ctx context.Context, u *store.User, name string, data []byte) (string, error) {
	ch, err := s.find(ctx, name)
	if err != nil {
		return "", err
	}
	if !auth.CanManageChannel(u, ch) {
		return "", fail.New(fail.Forbidden, "forbidden", "only the channel's owner can set its thumbnail")
	}
	ct, err := imagecheck.Check(data, thumbRules)
	if err != nil {
		return "", err
	}
	ext := imagecheck.Ext(ct)
	if err := os.MkdirAll(s.thumbDir, 0o700); err != nil {
		return "", err
	}
	file := ch.Name + ext
	if err := fsutil.WriteFile(s.thumbDir, file, data); err != nil {
		return "", fmt.Errorf("save thumbnail: %w", err)
	}
	url := ThumbPrefix + file + "?v=" + strconv.FormatInt(time.Now().Unix(), 10)
	if err := s.store.SetThumbnail(ctx, ch.Name, url); err != nil {
		return "", err
	}
	return url, nil
}

// ThumbnailFile returns the path of a served thumbnail file name, if it is
// one.
func (s *Service) ThumbnailFile(file string) (string, bool) {
	ext := filepath.Ext(file)
	name := file[:len(file)-len(ext)]
	if !thumbRules.KnownExt(ext) || auth.CheckNameFormat(name) != nil {
		return "", false
	}
	return filepath.Join(s.thumbDir, file), true
}
