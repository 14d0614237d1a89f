// Package channels owns streamers' channels: their public view, edits by the
// owner, and stream keys.
package channels

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/store"
)

// Limits on what an owner can write.
const (
	MaxTitleLen       = 140
	MaxDescriptionLen = 2000
)

// LiveState is what the media service tells about a channel. Until a media
// service is plugged in, every channel is offline.
type LiveState interface {
	Live(channel string) (live bool, startedAt time.Time, viewers int)
}

// Remote gives the channels of linked instances, named "name@host".
type Remote interface {
	Channels(ctx context.Context) []View
	Channel(ctx context.Context, name, host string) (View, error)
}

// Deps is what the service needs.
type Deps struct {
	Store     store.Store
	PublicURL string    // e.g. https://live.example.org
	Live      LiveState // may be nil
	ThumbDir  string    // where thumbnails are kept (DATA/thumbs)
	Remote    Remote    // nil: no federation
}

// Service implements channels.
type Service struct {
	store     store.Store
	publicURL string
	live      LiveState
	thumbDir  string
	remote    Remote
}

// New builds the service.
func New(d Deps) *Service {
	return &Service{store: d.Store, publicURL: strings.TrimSuffix(d.PublicURL, "/"), live: d.Live, thumbDir: d.ThumbDir, remote: d.Remote}
}

// View is a channel as CONTRACT §3 shows it.
type View struct {
	Name        string     `json:"name"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	NSFW        bool       `json:"nsfw"`
	Owner       string     `json:"owner"` // handle name#num
	Live        bool       `json:"live"`
	Viewers     int        `json:"viewers"`
	StartedAt   *time.Time `json:"startedAt"`
	Thumbnail   string     `json:"thumbnail"`
	Instance    string     `json:"instance"` // empty for local channels
	URL         string     `json:"url"`
	WHEP        string     `json:"whep"`
}

// host is this site's host[:port].
func (s *Service) host() string {
	_, rest, _ := strings.Cut(s.publicURL, "://")
	return rest
}

var errNoChannel = fail.New(fail.NotFound, "channel_not_found", "no such channel")

func (s *Service) view(ctx context.Context, ch *store.Channel) (View, error) {
	owner, err := s.store.User(ctx, ch.OwnerID)
	if err != nil {
		return View{}, fmt.Errorf("load owner of %s: %w", ch.Name, err)
	}
	v := View{
		Name:        ch.Name,
		Title:       ch.Title,
		Description: ch.Description,
		NSFW:        ch.NSFW,
		Thumbnail:   ch.Thumbnail,
		Owner:       auth.Handle(owner.Name, owner.Num),
		URL:         s.publicURL + "/c/" + ch.Name,
		WHEP:        s.publicURL + "/whep/" + ch.Name,
	}
	if s.live != nil {
		live, started, viewers := s.live.Live(ch.Name)
		v.Live, v.Viewers = live, viewers
		if live {
			started = started.UTC()
			v.StartedAt = &started
		}
	}
	return v, nil
}

// List returns local channels, then those of linked instances; in each
// part live ones first (most viewers first), then the rest by name.
func (s *Service) List(ctx context.Context) ([]View, error) {
	out, err := s.Local(ctx)
	if err != nil || s.remote == nil {
		return out, err
	}
	remote := s.remote.Channels(ctx)
	sort.Slice(remote, func(i, j int) bool { return remote[i].Name < remote[j].Name })
	byLive(remote)
	return append(out, remote...), nil
}

// Local returns this instance's channels, live ones first (most viewers
// first), then the rest by name.
func (s *Service) Local(ctx context.Context) ([]View, error) {
	chs, err := s.store.Channels(ctx)
	if err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	out := make([]View, 0, len(chs))
	for i := range chs {
		v, err := s.view(ctx, &chs[i])
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	byLive(out)
	return out, nil
}

func byLive(out []View) {
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Live != out[j].Live {
			return out[i].Live
		}
		return out[i].Live && out[i].Viewers > out[j].Viewers
	})
}

// Get returns one channel: local, or name@host of a linked instance.
func (s *Service) Get(ctx context.Context, name string) (View, error) {
	if local, host, remote := strings.Cut(name, "@"); remote {
		if !strings.EqualFold(host, s.host()) {
			if s.remote == nil {
				return View{}, errNoChannel
			}
			return s.remote.Channel(ctx, local, host)
		}
		name = local // our own host
	}
	ch, err := s.find(ctx, name)
	if err != nil {
		return View{}, err
	}
	return s.view(ctx, ch)
}

func (s *Service) find(ctx context.Context, name string) (*store.Channel, error) {
	if auth.CheckNameFormat(name) != nil {
		return nil, errNoChannel
	}
	ch, err := s.store.Channel(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoChannel
	}
	if err != nil {
		return nil, fmt.Errorf("load channel: %w", err)
	}
	return ch, nil
}

// Patch is a partial update; nil fields are left alone.
type Patch struct {
	Title       *string `json:"title"`
	Description *string `json:"description"`
	NSFW        *bool   `json:"nsfw"`
}

// Update applies p on behalf of u (the owner or an admin).
func (s *Service) Update(ctx context.Context, u *store.User, name string, p Patch) (View, error) {
	ch, err := s.find(ctx, name)
	if err != nil {
		return View{}, err
	}
	if !auth.CanManageChannel(u, ch) {
		return View{}, fail.New(fail.Forbidden, "forbidden", "only the channel's owner or an admin can change it")
	}
	if p.Title != nil {
		if ch.Title, err = cleanText("title", *p.Title, MaxTitleLen, false); err != nil {
			return View{}, err
		}
	}
	if p.Description != nil {
		if ch.Description, err = cleanText("description", *p.Description, MaxDescriptionLen, true); err != nil {
			return View{}, err
		}
	}
	if p.NSFW != nil {
		ch.NSFW = *p.NSFW
	}
	if err := s.store.UpdateChannel(ctx, ch); err != nil {
		return View{}, fmt.Errorf("update channel: %w", err)
	}
	return s.view(ctx, ch)
}

// cleanText trims s and refuses text that is too long, not UTF-8, or holds
// control characters (newlines are allowed where multiline is).
func cleanText(field, s string, maxLen int, multiline bool) (string, error) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) {
		return "", fail.New(fail.Invalid, "invalid_"+field, "the %s is not valid UTF-8", field)
	}
	if n := utf8.RuneCountInString(s); n > maxLen {
		return "", fail.New(fail.Invalid, field+"_too_long", "the %s has %d characters; at most %d are allowed", field, n, maxLen)
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t')) || r == '\r' {
			return "", fail.New(fail.Invalid, "invalid_"+field, "the %s contains control characters", field)
		}
	}
	return s, nil
}

// Managed returns the name of a channel u may manage (its owner, an
// admin).
func (s *Service) Managed(ctx context.Context, u *store.User, name string) (string, error) {
	ch, err := s.find(ctx, name)
	if err != nil {
		return "", err
	}
	if !auth.CanManageChannel(u, ch) {
		return "", fail.New(fail.Forbidden, "forbidden", "only the channel's owner or an admin can see this")
	}
	return ch.Name, nil
}

// RotateStreamKey makes a new stream key for the channel, replacing the old
// one, and returns it; only its hash is kept.
func (s *Service) RotateStreamKey(ctx context.Context, u *store.User, name string) (string, error) {
	ch, err := s.find(ctx, name)
	if err != nil {
		return "", err
	}
	if !auth.CanManageChannel(u, ch) {
		return "", fail.New(fail.Forbidden, "forbidden", "only the channel's owner or an admin can make a stream key")
	}
	secret := make([]byte, 24)
	rand.Read(secret)
	key := "sk_" + base64.RawURLEncoding.EncodeToString(secret)
	if err := s.store.SetStreamKeyHash(ctx, ch.Name, auth.HashSecret(key)); err != nil {
		return "", fmt.Errorf("save stream key: %w", err)
	}
	return key, nil
}

// CheckStreamKey reports whether key is the channel's current stream key.
func (s *Service) CheckStreamKey(ctx context.Context, name, key string) (bool, error) {
	ch, err := s.find(ctx, name)
	if err != nil {
		return false, err
	}
	if ch.StreamKeyHash == "" || len(key) > 256 {
		return false, nil
	}
	return subtle.ConstantTimeCompare([]byte(auth.HashSecret(key)), []byte(ch.StreamKeyHash)) == 1, nil
}
