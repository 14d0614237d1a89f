package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const messageColumns = `id, channel, seq, user_id, handle, color, avatar, instance, body, html, nonce, ts, home_id`

func scanMessage(row interface{ Scan(...any) error }) (Message, error) {
	var m Message
	var ts, home int64
	err := row.Scan(&m.ID, &m.Channel, &m.Offset, &m.UserID, &m.Handle, &m.Color, &m.Avatar, &m.Instance, &m.Text, &m.HTML, &m.Nonce, &ts, &home)
	m.TS = time.UnixMilli(ts).UTC()
	if home != 0 {
		m.ID = home // a mirrored message is known everywhere by its home id
	}
	return m, err
}

func (s *SQLite) queryMessages(ctx context.Context, query string, args ...any) ([]Message, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// AppendMessage implements Messages.
func (s *SQLite) AppendMessage(ctx context.Context, m *Message) (bool, error) {
	dups, err := s.AppendMessages(ctx, []*Message{m})
	if err != nil {
		return false, err
	}
	return dups[0], nil
}

// AppendMessages implements Messages. Offsets come from the channel row,
// updated in the same transaction, so they never repeat even after a wipe.
func (s *SQLite) AppendMessages(ctx context.Context, ms []*Message) ([]bool, error) {
	dups := make([]bool, len(ms))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for i, m := range ms {
			var err error
			if dups[i], err = appendMessage(ctx, tx, m); err != nil {
				return err
			}
		}
		return nil
	})
	return dups, err
}

func appendMessage(ctx context.Context, tx *sql.Tx, m *Message) (bool, error) {
	if m.Nonce != "" {
		prev, err := scanMessage(tx.QueryRowContext(ctx, `SELECT `+messageColumns+` FROM messages WHERE channel = ? AND user_id = ? AND nonce = ?`,
			m.Channel, m.UserID, m.Nonce))
		if err == nil {
			*m = prev
			return true, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return false, err
		}
	}
	var seq int64
	err := tx.QueryRowContext(ctx, `UPDATE channels SET chat_seq = chat_seq + 1 WHERE name = ? RETURNING chat_seq`, m.Channel).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return false, ErrNotFound
	}
	if err != nil {
		return false, fmt.Errorf("next offset: %w", err)
	}
	m.Offset = seq
	if m.TS.IsZero() {
		m.TS = time.Now().UTC()
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO messages (channel, seq, user_id, handle, color, avatar, instance, body, html, nonce, ts)
		VALUES (?,?,?,?,?,?,?,?,?,?,?)`, m.Channel, m.Offset, m.UserID, m.Handle, m.Color, m.Avatar, m.Instance, m.Text, m.HTML, m.Nonce, m.TS.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("store message: %w", err)
	}
	m.ID, err = res.LastInsertId()
	return false, err
}

// MessagesAfter implements Messages.
func (s *SQLite) MessagesAfter(ctx context.Context, channel string, after int64, limit int) ([]Message, error) {
	return s.queryMessages(ctx, `SELECT `+messageColumns+` FROM messages WHERE channel = ? AND seq > ? ORDER BY seq LIMIT ?`, channel, after, limit)
}

// RecentMessages implements Messages.
func (s *SQLite) RecentMessages(ctx context.Context, channel string, limit int) ([]Message, error) {
	return s.queryMessages(ctx, `SELECT * FROM (SELECT `+messageColumns+` FROM messages WHERE channel = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq`, channel, limit)
}

// Message implements Messages.
func (s *SQLite) Message(ctx context.Context, channel string, id int64) (*Message, error) {
	m, err := scanMessage(s.db.QueryRowContext(ctx, `SELECT `+messageColumns+` FROM messages WHERE channel = ? AND id = ?`, channel, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// DeleteMessage implements Messages.
func (s *SQLite) DeleteMessage(ctx context.Context, channel string, id int64) (bool, error) {
	err := s.execOne(ctx, `DELETE FROM messages WHERE channel = ? AND id = ?`, channel, id)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// DeleteUserMessages implements Messages.
func (s *SQLite) DeleteUserMessages(ctx context.Context, channel string, userID int64) ([]Message, error) {
	q := `DELETE FROM messages WHERE user_id = ? AND (? = '' OR channel = ?) RETURNING ` + messageColumns
	return s.queryMessages(ctx, q, userID, channel, channel)
}

// WipeChannel implements Messages.
func (s *SQLite) WipeChannel(ctx context.Context, channel string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM messages WHERE channel = ?`, channel)
	return err
}

// DeleteMessagesBefore implements Messages.
func (s *SQLite) DeleteMessagesBefore(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM messages WHERE ts < ?`, t.UnixMilli())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// SetBan implements Moderation; a new ban replaces the user's earlier one in
// the same scope.
func (s *SQLite) SetBan(ctx context.Context, b Ban) error {
	var exp int64
	if !b.Expires.IsZero() {
		exp = b.Expires.Unix()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO bans (scope, user_id, kind, reason, by_id, created_at, expires_at) VALUES (?,?,?,?,?,?,?)
		ON CONFLICT (scope, user_id) DO UPDATE SET kind = excluded.kind, reason = excluded.reason, by_id = excluded.by_id,
		created_at = excluded.created_at, expires_at = excluded.expires_at`,
		b.Scope, b.UserID, b.Kind, b.Reason, b.ByID, b.CreatedAt.Unix(), exp)
	return err
}

// RemoveBan implements Moderation.
func (s *SQLite) RemoveBan(ctx context.Context, scope string, userID int64) (bool, error) {
	err := s.execOne(ctx, `DELETE FROM bans WHERE scope = ? AND user_id = ?`, scope, userID)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// ActiveBan implements Moderation.
func (s *SQLite) ActiveBan(ctx context.Context, channel string, userID int64, now time.Time) (*Ban, error) {
	var b Ban
	var created, exp int64
	err := s.db.QueryRowContext(ctx, `SELECT scope, user_id, kind, reason, by_id, created_at, expires_at FROM bans
		WHERE user_id = ? AND (scope = '' OR scope = ?) AND (expires_at = 0 OR expires_at > ?)
		ORDER BY scope = '' DESC, expires_at = 0 DESC, expires_at DESC LIMIT 1`, userID, channel, now.Unix()).
		Scan(&b.Scope, &b.UserID, &b.Kind, &b.Reason, &b.ByID, &created, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	b.CreatedAt = time.Unix(created, 0).UTC()
	if exp != 0 {
		b.Expires = time.Unix(exp, 0).UTC()
	}
	return &b, nil
}

// SetChannelMod implements Moderation.
func (s *SQLite) SetChannelMod(ctx context.Context, channel string, userID int64, on bool) error {
	q := `INSERT INTO channel_mods (channel, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING`
	if !on {
		q = `DELETE FROM channel_mods WHERE channel = ? AND user_id = ?`
	}
	_, err := s.db.ExecContext(ctx, q, channel, userID)
	return err
}

// IsChannelMod implements Moderation.
func (s *SQLite) IsChannelMod(ctx context.Context, channel string, userID int64) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM channel_mods WHERE channel = ? AND user_id = ?`, channel, userID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// SetSlowMode implements Moderation.
func (s *SQLite) SetSlowMode(ctx context.Context, channel string, seconds int) error {
	return s.execOne(ctx, `UPDATE channels SET slow_seconds = ? WHERE name = ?`, seconds, channel)
}

// Audit implements Moderation.
func (s *SQLite) Audit(ctx context.Context, e AuditEntry) error {
	if e.TS.IsZero() {
		e.TS = time.Now()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO audit_log (ts, actor_id, action, target_id, channel, detail) VALUES (?,?,?,?,?,?)`,
		e.TS.UnixMilli(), e.ActorID, e.Action, e.TargetID, e.Channel, e.Detail)
	return err
}

// AuditLog implements Moderation: newest first.
func (s *SQLite) AuditLog(ctx context.Context, limit int) ([]AuditEntry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT ts, actor_id, action, target_id, channel, detail FROM audit_log ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var ts int64
		if err := rows.Scan(&ts, &e.ActorID, &e.Action, &e.TargetID, &e.Channel, &e.Detail); err != nil {
			return nil, err
		}
		e.TS = time.UnixMilli(ts).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}
