package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver (pure Go, no cgo)
)

// SQLite is the embedded Store. Every write is committed with
// synchronous=FULL, so what it acknowledges survives a power cut.
type SQLite struct {
	db *sql.DB
}

var _ Store = (*SQLite)(nil)

// OpenSQLite opens (creating if needed) the database file at path and applies
// pending migrations.
func OpenSQLite(ctx context.Context, path string) (*SQLite, error) {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate") // take the write lock at BEGIN: no upgrade deadlocks
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	s := &SQLite{db: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return s, nil
}

// Ping checks that the database answers.
func (s *SQLite) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Close closes the database.
func (s *SQLite) Close() error { return s.db.Close() }

func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

const userColumns = `id, name, num, color, avatar, role, password_hash, created_at, instance`

func scanUser(row interface{ Scan(...any) error }) (*User, error) {
	var u User
	var created int64
	err := row.Scan(&u.ID, &u.Name, &u.Num, &u.Color, &u.Avatar, &u.Role, &u.PasswordHash, &created, &u.Instance)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	u.CreatedAt = time.Unix(created, 0).UTC()
	return &u, nil
}

// CreateUser implements Users.
func (s *SQLite) CreateUser(ctx context.Context, u *User, channel bool) error {
	if u.CreatedAt.IsZero() {
		u.CreatedAt = time.Now().UTC()
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO users (name, num, color, avatar, role, password_hash, created_at) VALUES (?,?,?,?,?,?,?)`,
			u.Name, u.Num, u.Color, u.Avatar, u.Role, u.PasswordHash, u.CreatedAt.Unix())
		if isUnique(err) {
			return ErrConflict
		}
		if err != nil {
			return fmt.Errorf("create user: %w", err)
		}
		if u.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		if channel {
			return ensureChannel(ctx, tx, u.ID)
		}
		return nil
	})
}

func ensureChannel(ctx context.Context, tx *sql.Tx, owner int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO channels (name, owner_id, created_at)
		SELECT name, id, ? FROM users WHERE id = ? ON CONFLICT DO NOTHING`, time.Now().Unix(), owner)
	if err != nil {
		return fmt.Errorf("create channel: %w", err)
	}
	return nil
}

func (s *SQLite) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// User implements Users.
func (s *SQLite) User(ctx context.Context, id int64) (*User, error) {
	return scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
}

// UserByName implements Users.
func (s *SQLite) UserByName(ctx context.Context, name string) (*User, error) {
	return scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE name = ? AND instance = ''`, name))
}

// SetPassword implements Users.
func (s *SQLite) SetPassword(ctx context.Context, id int64, hash string) error {
	return s.execOne(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, hash, id)
}

// SetRole implements Users.
func (s *SQLite) SetRole(ctx context.Context, id int64, role string, channel bool) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET role = ? WHERE id = ? AND instance = ''`, role, id)
		if err != nil {
			return fmt.Errorf("set role: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if channel {
			return ensureChannel(ctx, tx, id)
		}
		return nil
	})
}

// CountRole implements Users.
func (s *SQLite) CountRole(ctx context.Context, role string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE role = ? AND instance = ''`, role).Scan(&n)
	return n, err
}

// DeleteGuests implements Users. What names a guest goes with it: bans and
// channel-mod rows by foreign key, one-time links here (their user 0 is
// "nobody", so they have no foreign key).
func (s *SQLite) DeleteGuests(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		const guests = `SELECT id FROM users WHERE role = 'guest' AND created_at < ?`
		if _, err := tx.ExecContext(ctx, `DELETE FROM onetime_tokens WHERE user_id IN (`+guests+`)`, before.Unix()); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id IN (`+guests+`)`, before.Unix())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete guests: %w", err)
	}
	return n, nil
}

const channelColumns = `name, owner_id, title, description, nsfw, stream_key_hash, slow_seconds, thumbnail, created_at`

func scanChannel(row interface{ Scan(...any) error }) (*Channel, error) {
	var c Channel
	var created int64
	err := row.Scan(&c.Name, &c.OwnerID, &c.Title, &c.Description, &c.NSFW, &c.StreamKeyHash, &c.SlowSeconds, &c.Thumbnail, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	c.CreatedAt = time.Unix(created, 0).UTC()
	return &c, nil
}

// Channel implements Channels.
func (s *SQLite) Channel(ctx context.Context, name string) (*Channel, error) {
	return scanChannel(s.db.QueryRowContext(ctx, `SELECT `+channelColumns+` FROM channels WHERE name = ?`, name))
}

// Channels implements Channels; they come sorted by name.
func (s *SQLite) Channels(ctx context.Context) ([]Channel, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+channelColumns+` FROM channels ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Channel
	for rows.Next() {
		c, err := scanChannel(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *c)
	}
	return out, rows.Err()
}

// UpdateChannel implements Channels: it saves title, description and nsfw.
func (s *SQLite) UpdateChannel(ctx context.Context, c *Channel) error {
	return s.execOne(ctx, `UPDATE channels SET title = ?, description = ?, nsfw = ? WHERE name = ?`,
		c.Title, c.Description, c.NSFW, c.Name)
}

// SetThumbnail implements Channels.
func (s *SQLite) SetThumbnail(ctx context.Context, name, url string) error {
	return s.execOne(ctx, `UPDATE channels SET thumbnail = ? WHERE name = ?`, url, name)
}

// SetStreamKeyHash implements Channels.
func (s *SQLite) SetStreamKeyHash(ctx context.Context, name, hash string) error {
	return s.execOne(ctx, `UPDATE channels SET stream_key_hash = ? WHERE name = ?`, hash, name)
}

func (s *SQLite) execOne(ctx context.Context, query string, args ...any) error {
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// RevokeToken implements Tokens.
func (s *SQLite) RevokeToken(ctx context.Context, jti string, expires time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING`, jti, expires.Unix())
	return err
}

// TokenRevoked implements Tokens.
func (s *SQLite) TokenRevoked(ctx context.Context, jti string) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM revoked_tokens WHERE jti = ?`, jti).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// PurgeRevoked implements Tokens.
func (s *SQLite) PurgeRevoked(ctx context.Context, now time.Time) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM revoked_tokens WHERE expires_at < ?`, now.Unix()); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `DELETE FROM onetime_tokens WHERE expires_at < ?`, now.Unix())
	return err
}

// CreateOneTime implements OneTimeTokens.
func (s *SQLite) CreateOneTime(ctx context.Context, kind, hash string, userID int64, expires time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO onetime_tokens (hash, kind, user_id, expires_at) VALUES (?,?,?,?)`, hash, kind, userID, expires.Unix())
	if isUnique(err) {
		return ErrConflict
	}
	return err
}

// ConsumeOneTime implements OneTimeTokens.
func (s *SQLite) ConsumeOneTime(ctx context.Context, kind, hash string, now time.Time) (int64, error) {
	var user int64
	err := s.db.QueryRowContext(ctx, `DELETE FROM onetime_tokens WHERE hash = ? AND kind = ? AND expires_at >= ? RETURNING user_id`,
		hash, kind, now.Unix()).Scan(&user)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	return user, err
}

// OneTimeValid implements OneTimeTokens.
func (s *SQLite) OneTimeValid(ctx context.Context, kind, hash string, now time.Time) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM onetime_tokens WHERE hash = ? AND kind = ? AND expires_at >= ?`, hash, kind, now.Unix()).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}
