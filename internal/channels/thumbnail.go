package channels

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/fsutil"
	"github.com/fedwave/fedwave/internal/store"
)

// MaxThumbnail bounds a thumbnail upload.
const MaxThumbnail = 256 << 10

// ThumbPrefix is where thumbnails are served.
const ThumbPrefix = "/thumbs/"

var thumbTypes = map[string]string{"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}

// SetThumbnail stores a preview image the studio captured. The type is
// judged from the bytes; nothing is decoded.
func (s *Service) SetThumbnail(ctx context.Context, u *store.User, name string, data []byte) (string, error) {
	ch, err := s.find(ctx, name)
	if err != nil {
		return "", err
	}
	if !auth.CanManageChannel(u, ch) {
		return "", fail.New(fail.Forbidden, "forbidden", "only the channel's owner can set its thumbnail")
	}
	if len(data) > MaxThumbnail {
		return "", fail.New(fail.Invalid, "thumbnail_too_large", "a thumbnail is at most %d KiB", MaxThumbnail>>10)
	}
	ext, ok := thumbTypes[http.DetectContentType(data)]
	if !ok {
		return "", fail.New(fail.Invalid, "invalid_thumbnail", "a thumbnail is a JPEG, PNG or WebP image")
	}
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
	valid := false
	for _, e := range thumbTypes {
		valid = valid || e == ext
	}
	if !valid || auth.CheckNameFormat(name) != nil {
		return "", false
	}
	return filepath.Join(s.thumbDir, file), true
}
