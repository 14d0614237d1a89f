package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Post is a channel's go-live post to the fediverse: made when a stream
// starts, ended (and updated) when it ends.
type Post struct {
	ID        int64
	Channel   string
	Title     string
	Thumbnail string // URL path or URL of the image shown, or ""
	NSFW      bool
	StartedAt time.Time
	EndedAt   time.Time // zero while the stream is live
}

// Posts stores the channels' go-live posts.
type Posts interface {
	// AddPost stores p and sets its ID.
	AddPost(ctx context.Context, p *Post) error
	// EndPost records that post id's stream ended at.
	EndPost(ctx context.Context, id int64, at time.Time) error
	// LastPost is channel's newest post (ErrNotFound if none).
	LastPost(ctx context.Context, channel string) (*Post, error)
	// OpenPosts lists the posts whose stream has not ended.
	OpenPosts(ctx context.Context) ([]Post, error)
	// Post is channel's post id (ErrNotFound if none).
	Post(ctx context.Context, channel string, id int64) (*Post, error)
	// ChannelPosts lists up to limit of channel's posts older than
	// beforeID (0: from the newest), newest first, and how many it has.
	ChannelPosts(ctx context.Context, channel string, beforeID int64, limit int) ([]Post, int, error)
}

const postColumns = `id, channel, title, thumbnail, nsfw, started_at, ended_at`

func scanPost(row interface{ Scan(...any) error }) (*Post, error) {
	var p Post
	var started, ended int64
	if err := row.Scan(&p.ID, &p.Channel, &p.Title, &p.Thumbnail, &p.NSFW, &started, &ended); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	p.StartedAt = time.UnixMilli(started).UTC()
	if ended != 0 {
		p.EndedAt = time.UnixMilli(ended).UTC()
	}
	return &p, nil
}

// AddPost implements Posts.
func (s *SQLite) AddPost(ctx context.Context, p *Post) error {
	res, err := s.db.ExecContext(ctx, `INSERT INTO ap_posts (channel, title, thumbnail, nsfw, started_at) VALUES (?,?,?,?,?)`,
		p.Channel, p.Title, p.Thumbnail, p.NSFW, p.StartedAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("add post of %s: %w", p.Channel, err)
	}
	p.ID, err = res.LastInsertId()
	return err
}

// EndPost implements Posts.
func (s *SQLite) EndPost(ctx context.Context, id int64, at time.Time) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE ap_posts SET ended_at = ? WHERE id = ?`, at.UnixMilli(), id); err != nil {
		return fmt.Errorf("end post %d: %w", id, err)
	}
	return nil
}

// LastPost implements Posts.
func (s *SQLite) LastPost(ctx context.Context, channel string) (*Post, error) {
	p, err := scanPost(s.db.QueryRowContext(ctx, `SELECT `+postColumns+` FROM ap_posts WHERE channel = ? ORDER BY id DESC LIMIT 1`, channel))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("last post of %s: %w", channel, err)
	}
	return p, err
}

// Post implements Posts.
func (s *SQLite) Post(ctx context.Context, channel string, id int64) (*Post, error) {
	p, err := scanPost(s.db.QueryRowContext(ctx, `SELECT `+postColumns+` FROM ap_posts WHERE channel = ? AND id = ?`, channel, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("post %d of %s: %w", id, channel, err)
	}
	return p, err
}

// OpenPosts implements Posts.
func (s *SQLite) OpenPosts(ctx context.Context) ([]Post, error) {
	return s.posts(ctx, `SELECT `+postColumns+` FROM ap_posts WHERE ended_at = 0 ORDER BY id`)
}

// ChannelPosts implements Posts.
func (s *SQLite) ChannelPosts(ctx context.Context, channel string, beforeID int64, limit int) ([]Post, int, error) {
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM ap_posts WHERE channel = ?`, channel).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count posts of %s: %w", channel, err)
	}
	if beforeID <= 0 {
		beforeID = 1<<63 - 1
	}
	ps, err := s.posts(ctx, `SELECT `+postColumns+` FROM ap_posts WHERE channel = ? AND id < ? ORDER BY id DESC LIMIT ?`, channel, beforeID, limit)
	return ps, total, err
}

func (s *SQLite) posts(ctx context.Context, query string, args ...any) ([]Post, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list posts: %w", err)
	}
	defer rows.Close()
	var out []Post
	for rows.Next() {
		p, err := scanPost(rows)
		if err != nil {
			return nil, fmt.Errorf("list posts: %w", err)
		}
		out = append(out, *p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list posts: %w", err)
	}
	return out, nil
}
