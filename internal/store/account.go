package store

import (
	"context"
	"fmt"
	"time"
)

// Session is one login of a user: every token derived from it shares its
// sid.
type Session struct {
	SID      string
	UserID   int64
	Created  time.Time
	LastSeen time.Time
	Expires  time.Time
	Agent    string // the client's User-Agent, cut short
}

// Accounts is what a user changes about their own account, and the list
// of their sessions.
type Accounts interface {
	SetColor(ctx context.Context, id int64, color string) error
	SetAvatar(ctx context.Context, id int64, avatar string) error
	// RenameUser gives a local user another name; a taken name
	// (case-insensitive) gives ErrConflict.
	RenameUser(ctx context.Context, id int64, name string) error
	// TouchSession records that session sid of user was used at now from
	// agent: it creates the row (with created = now) or, when its last use
	// is older than minGap or its agent is not known yet, updates last_seen
	// and agent.
	TouchSession(ctx context.Context, sess Session, minGap time.Duration) error
	// Sessions lists a user's sessions that have not expired at now, newest
	// use first.
	Sessions(ctx context.Context, userID int64, now time.Time) ([]Session, error)
	// DeleteSession forgets a session (it has been revoked).
	DeleteSession(ctx context.Context, sid string) error
	// PurgeSessions forgets sessions that have expired at now.
	PurgeSessions(ctx context.Context, now time.Time) error
	// AvatarsInUse is the set of users' avatar paths that start with
	// prefix.
	AvatarsInUse(ctx context.Context, prefix string) (map[string]bool, error)
}

// SetColor implements Accounts.
func (s *SQLite) SetColor(ctx context.Context, id int64, color string) error {
	return s.execOne(ctx, `UPDATE users SET color = ? WHERE id = ? AND instance = ''`, color, id)
}

// SetAvatar implements Accounts.
func (s *SQLite) SetAvatar(ctx context.Context, id int64, avatar string) error {
	return s.execOne(ctx, `UPDATE users SET avatar = ? WHERE id = ? AND instance = ''`, avatar, id)
}

// RenameUser implements Accounts.
func (s *SQLite) RenameUser(ctx context.Context, id int64, name string) error {
	err := s.execOne(ctx, `UPDATE users SET name = ? WHERE id = ? AND instance = ''`, name, id)
	if isUnique(err) {
		return ErrConflict
	}
	return err
}

// TouchSession implements Accounts.
func (s *SQLite) TouchSession(ctx context.Context, sess Session, minGap time.Duration) error {
	now := sess.LastSeen.Unix()
	_, err := s.db.ExecContext(ctx, `INSERT INTO sessions (sid, user_id, created, last_seen, expires, agent) VALUES (?,?,?,?,?,?)
		ON CONFLICT (sid) DO UPDATE SET last_seen = excluded.last_seen,
			agent = CASE WHEN excluded.agent != '' THEN excluded.agent ELSE sessions.agent END
		WHERE sessions.user_id = excluded.user_id AND (sessions.last_seen <= ? OR (sessions.agent = '' AND excluded.agent != ''))`,
		sess.SID, sess.UserID, now, now, sess.Expires.Unix(), sess.Agent, now-int64(minGap/time.Second))
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// Sessions implements Accounts.
func (s *SQLite) Sessions(ctx context.Context, userID int64, now time.Time) ([]Session, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT sid, created, last_seen, expires, agent FROM sessions
		WHERE user_id = ? AND expires > ? AND sid NOT IN (SELECT jti FROM revoked_tokens)
		ORDER BY last_seen DESC, created DESC`, userID, now.Unix())
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		var ss Session
		var created, seen, exp int64
		if err := rows.Scan(&ss.SID, &created, &seen, &exp, &ss.Agent); err != nil {
			return nil, err
		}
		ss.UserID = userID
		ss.Created, ss.LastSeen, ss.Expires = time.Unix(created, 0).UTC(), time.Unix(seen, 0).UTC(), time.Unix(exp, 0).UTC()
		out = append(out, ss)
	}
	return out, rows.Err()
}

// DeleteSession implements Accounts.
func (s *SQLite) DeleteSession(ctx context.Context, sid string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE sid = ?`, sid)
	return err
}

// PurgeSessions implements Accounts.
func (s *SQLite) PurgeSessions(ctx context.Context, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires < ?`, now.Unix())
	return err
}

// AvatarsInUse implements Accounts.
func (s *SQLite) AvatarsInUse(ctx context.Context, prefix string) (map[string]bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT avatar FROM users WHERE substr(avatar, 1, ?) = ?`, len(prefix), prefix)
	if err != nil {
		return nil, fmt.Errorf("avatars in use: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		out[a] = true
	}
	return out, rows.Err()
}
