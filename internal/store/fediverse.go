package store

import (
	"context"
	"fmt"
	"time"
)

// Follower is a fediverse account (an ActivityPub actor) following a
// local channel, with where its posts are delivered.
type Follower struct {
	Channel     string
	Actor       string // the actor's id (URL)
	Inbox       string
	SharedInbox string // empty when the server has none
	CreatedAt   time.Time
}

// Fediverse stores the channels' ActivityPub followers, their go-live
// posts and the deliveries of what they send.
type Fediverse interface {
	// AddFollower records f, replacing the inboxes of a follower already
	// there (a repeated Follow is not an error).
	AddFollower(ctx context.Context, f *Follower) error
	// RemoveFollower forgets actor as a follower of channel; removing one
	// that is not there is not an error.
	RemoveFollower(ctx context.Context, channel, actor string) error
	// CountFollowers is how many actors follow channel.
	CountFollowers(ctx context.Context, channel string) (int, error)
	// FollowerInboxes lists where a public post of channel goes: each
	// follower's shared inbox, or its own when its server has none, each
	// once.
	FollowerInboxes(ctx context.Context, channel string) ([]string, error)
	Posts
	DeliveryQueue
}

// AddFollower implements Fediverse.
func (s *SQLite) AddFollower(ctx context.Context, f *Follower) error {
	if f.CreatedAt.IsZero() {
		f.CreatedAt = time.Now().UTC()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO ap_followers (channel, actor, inbox, shared_inbox, created_at)
		VALUES (?,?,?,?,?) ON CONFLICT (channel, actor) DO UPDATE SET inbox = excluded.inbox, shared_inbox = excluded.shared_inbox`,
		f.Channel, f.Actor, f.Inbox, f.SharedInbox, f.CreatedAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("add follower %s of %s: %w", f.Actor, f.Channel, err)
	}
	return nil
}

// RemoveFollower implements Fediverse.
func (s *SQLite) RemoveFollower(ctx context.Context, channel, actor string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM ap_followers WHERE channel = ? AND actor = ?`, channel, actor); err != nil {
		return fmt.Errorf("remove follower %s of %s: %w", actor, channel, err)
	}
	return nil
}

// CountFollowers implements Fediverse.
func (s *SQLite) CountFollowers(ctx context.Context, channel string) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM ap_followers WHERE channel = ?`, channel).Scan(&n); err != nil {
		return 0, fmt.Errorf("count followers of %s: %w", channel, err)
	}
	return n, nil
}

// FollowerInboxes implements Fediverse.
func (s *SQLite) FollowerInboxes(ctx context.Context, channel string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT CASE WHEN shared_inbox != '' THEN shared_inbox ELSE inbox END
		FROM ap_followers WHERE channel = ? ORDER BY 1`, channel)
	if err != nil {
		return nil, fmt.Errorf("inboxes of %s's followers: %w", channel, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var inbox string
		if err := rows.Scan(&inbox); err != nil {
			return nil, fmt.Errorf("inboxes of %s's followers: %w", channel, err)
		}
		out = append(out, inbox)
	}
	return out, rows.Err()
}
