package store

import (
	"context"
	"database/sql"
	"time"
)

// AuditFilter selects a page of the audit log, newest first.
type AuditFilter struct {
	ActorID  int64  // 0: anyone
	Action   string // "": every action
	BeforeID int64  // 0: from the newest
	Limit    int
}

// Admin holds the queries of the admin pages.
type Admin interface {
	// SearchUsers lists this instance's accounts (not guests) whose name
	// starts with prefix, by name, after the name after ("" from the first).
	SearchUsers(ctx context.Context, prefix, after string, limit int) ([]User, error)
	// DeleteUser removes a local account; its channel, bans, channel
	// moderator rows and one-time links go with it.
	DeleteUser(ctx context.Context, id int64) error
	// AuditPage returns audit entries matching f, newest first, with ids.
	AuditPage(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
}

// SearchUsers implements Admin.
func (s *SQLite) SearchUsers(ctx context.Context, prefix, after string, limit int) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+userColumns+` FROM users
		WHERE instance = '' AND role != 'guest' AND name LIKE ? ESCAPE '\' AND name > ?
		ORDER BY name LIMIT ?`, escapeLike(prefix)+"%", after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *u)
	}
	return out, rows.Err()
}

// DeleteUser implements Admin. The account's one-time links go in the
// same transaction (they name the user but have no foreign key).
func (s *SQLite) DeleteUser(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM onetime_tokens WHERE user_id = ? AND user_id != 0`, id); err != nil {
			return err
		}
		// The channel's fediverse followers and posts go with it: a newcomer
		// who later takes the name must not inherit them.
		for _, table := range []string{"ap_followers", "ap_posts"} {
			q := `DELETE FROM ` + table + ` WHERE channel IN (SELECT name FROM channels WHERE owner_id = ?)`
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = ? AND instance = ''`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// AuditPage implements Admin.
func (s *SQLite) AuditPage(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	q := `SELECT id, ts, actor_id, action, target_id, channel, detail FROM audit_log WHERE 1 = 1`
	var args []any
	if f.ActorID != 0 {
		q += ` AND actor_id = ?`
		args = append(args, f.ActorID)
	}
	if f.Action != "" {
		q += ` AND action = ?`
		args = append(args, f.Action)
	}
	if f.BeforeID > 0 {
		q += ` AND id < ?`
		args = append(args, f.BeforeID)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY id DESC LIMIT ?`, append(args, f.Limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var ts int64
		if err := rows.Scan(&e.ID, &ts, &e.ActorID, &e.Action, &e.TargetID, &e.Channel, &e.Detail); err != nil {
			return nil, err
		}
		e.TS = time.UnixMilli(ts).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}
