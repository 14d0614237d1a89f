package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
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

// migrations are applied in order; PRAGMA user_version records how many ran.
// Never edit one that has shipped: append a new one.
var migrations = []string{
	`CREATE TABLE users (
		id INTEGER PRIMARY KEY,
		name TEXT NOT NULL COLLATE NOCASE UNIQUE,
		num INTEGER NOT NULL,
		color TEXT NOT NULL,
		avatar TEXT NOT NULL DEFAULT '',
		role TEXT NOT NULL,
		password_hash TEXT NOT NULL DEFAULT '',
		created_at INTEGER NOT NULL
	);
	CREATE INDEX users_role ON users(role);
	CREATE TABLE channels (
		name TEXT PRIMARY KEY COLLATE NOCASE,
		owner_id INTEGER NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
		title TEXT NOT NULL DEFAULT '',
		description TEXT NOT NULL DEFAULT '',
		nsfw INTEGER NOT NULL DEFAULT 0,
		stream_key_hash TEXT NOT NULL DEFAULT '',
		created_at INTEGER NOT NULL
	);
	CREATE TABLE revoked_tokens (
		jti TEXT PRIMARY KEY,
		expires_at INTEGER NOT NULL
	);
	CREATE TABLE onetime_tokens (
		hash TEXT PRIMARY KEY,
		kind TEXT NOT NULL,
		user_id INTEGER NOT NULL,
		expires_at INTEGER NOT NULL
	);`,
	`ALTER TABLE channels ADD COLUMN chat_seq INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE channels ADD COLUMN slow_seconds INTEGER NOT NULL DEFAULT 0;
	CREATE TABLE messages (
		id INTEGER PRIMARY KEY,
		channel TEXT NOT NULL COLLATE NOCASE,
		seq INTEGER NOT NULL,
		user_id INTEGER NOT NULL,
		handle TEXT NOT NULL,
		color TEXT NOT NULL,
		avatar TEXT NOT NULL,
		instance TEXT NOT NULL DEFAULT '',
		body TEXT NOT NULL,
		html TEXT NOT NULL,
		nonce TEXT NOT NULL DEFAULT '',
		ts INTEGER NOT NULL,
		UNIQUE (channel, seq)
	);
	CREATE UNIQUE INDEX messages_nonce ON messages(channel, user_id, nonce) WHERE nonce != '';
	CREATE INDEX messages_ts ON messages(ts);
	CREATE INDEX messages_user ON messages(user_id);
	CREATE TABLE bans (
		scope TEXT NOT NULL COLLATE NOCASE,
		user_id INTEGER NOT NULL,
		kind TEXT NOT NULL,
		reason TEXT NOT NULL DEFAULT '',
		by_id INTEGER NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (scope, user_id)
	);
	CREATE TABLE channel_mods (
		channel TEXT NOT NULL COLLATE NOCASE,
		user_id INTEGER NOT NULL,
		PRIMARY KEY (channel, user_id)
	);
	CREATE TABLE audit_log (
		id INTEGER PRIMARY KEY,
		ts INTEGER NOT NULL,
		actor_id INTEGER NOT NULL,
		action TEXT NOT NULL,
		target_id INTEGER NOT NULL DEFAULT 0,
		channel TEXT NOT NULL DEFAULT '',
		detail TEXT NOT NULL DEFAULT ''
	);`,
	`ALTER TABLE channels ADD COLUMN thumbnail TEXT NOT NULL DEFAULT '';`,
	// Ids are handed out (tokens name a user id, clients a message id), so
	// they must never be reused: AUTOINCREMENT, whose sqlite_sequence the
	// copies below seed with each table's current largest id (for users,
	// the largest id named anywhere). Rows that
	// name a user go with the user (ON DELETE CASCADE); orphans left by
	// older versions are dropped on the way. Rebuilt the documented way
	// (create, copy, drop, rename), which migrate runs with foreign keys
	// off and checks afterwards.
	`CREATE TABLE users_new (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		name TEXT NOT NULL COLLATE NOCASE UNIQUE,
		num INTEGER NOT NULL,
		color TEXT NOT NULL,
		avatar TEXT NOT NULL DEFAULT '',
		role TEXT NOT NULL,
		password_hash TEXT NOT NULL DEFAULT '',
		created_at INTEGER NOT NULL
	);
	INSERT INTO users_new (id, name, num, color, avatar, role, password_hash, created_at)
		SELECT id, name, num, color, avatar, role, password_hash, created_at FROM users;
	DROP TABLE users;
	ALTER TABLE users_new RENAME TO users;
	CREATE INDEX users_role ON users(role);
	-- A deleted user's id may still be named elsewhere (their messages, an
	-- orphan mod row, the audit log): start above every id named anywhere.
	DELETE FROM sqlite_sequence WHERE name = 'users';
	INSERT INTO sqlite_sequence (name, seq) SELECT 'users', max(
		(SELECT coalesce(max(id), 0) FROM users),
		(SELECT coalesce(max(user_id), 0) FROM messages),
		(SELECT coalesce(max(max(actor_id, target_id)), 0) FROM audit_log),
		(SELECT coalesce(max(max(user_id, by_id)), 0) FROM bans),
		(SELECT coalesce(max(user_id), 0) FROM channel_mods),
		(SELECT coalesce(max(user_id), 0) FROM onetime_tokens));

	CREATE TABLE messages_new (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		channel TEXT NOT NULL COLLATE NOCASE,
		seq INTEGER NOT NULL,
		user_id INTEGER NOT NULL,
		handle TEXT NOT NULL,
		color TEXT NOT NULL,
		avatar TEXT NOT NULL,
		instance TEXT NOT NULL DEFAULT '',
		body TEXT NOT NULL,
		html TEXT NOT NULL,
		nonce TEXT NOT NULL DEFAULT '',
		ts INTEGER NOT NULL,
		UNIQUE (channel, seq)
	);
	INSERT INTO messages_new (id, channel, seq, user_id, handle, color, avatar, instance, body, html, nonce, ts)
		SELECT id, channel, seq, user_id, handle, color, avatar, instance, body, html, nonce, ts FROM messages;
	DROP TABLE messages;
	ALTER TABLE messages_new RENAME TO messages;
	CREATE UNIQUE INDEX messages_nonce ON messages(channel, user_id, nonce) WHERE nonce != '';
	CREATE INDEX messages_ts ON messages(ts);
	CREATE INDEX messages_user ON messages(user_id);

	CREATE TABLE audit_log_new (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		ts INTEGER NOT NULL,
		actor_id INTEGER NOT NULL,
		action TEXT NOT NULL,
		target_id INTEGER NOT NULL DEFAULT 0,
		channel TEXT NOT NULL DEFAULT '',
		detail TEXT NOT NULL DEFAULT ''
	);
	INSERT INTO audit_log_new (id, ts, actor_id, action, target_id, channel, detail)
		SELECT id, ts, actor_id, action, target_id, channel, detail FROM audit_log;
	DROP TABLE audit_log;
	ALTER TABLE audit_log_new RENAME TO audit_log;

	CREATE TABLE bans_new (
		scope TEXT NOT NULL COLLATE NOCASE,
		user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
		kind TEXT NOT NULL,
		reason TEXT NOT NULL DEFAULT '',
		by_id INTEGER NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (scope, user_id)
	);
	INSERT INTO bans_new (scope, user_id, kind, reason, by_id, created_at, expires_at)
		SELECT scope, user_id, kind, reason, by_id, created_at, expires_at FROM bans
		WHERE user_id IN (SELECT id FROM users);
	DROP TABLE bans;
	ALTER TABLE bans_new RENAME TO bans;
	CREATE INDEX bans_user ON bans(user_id);

	CREATE TABLE channel_mods_new (
		channel TEXT NOT NULL COLLATE NOCASE REFERENCES channels(name) ON DELETE CASCADE,
		user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
		PRIMARY KEY (channel, user_id)
	);
	INSERT INTO channel_mods_new (channel, user_id)
		SELECT channel, user_id FROM channel_mods
		WHERE user_id IN (SELECT id FROM users) AND channel IN (SELECT name FROM channels);
	DROP TABLE channel_mods;
	ALTER TABLE channel_mods_new RENAME TO channel_mods;
	CREATE INDEX channel_mods_user ON channel_mods(user_id);

	DELETE FROM onetime_tokens WHERE user_id != 0 AND user_id NOT IN (SELECT id FROM users);`,
}

func (s *SQLite) migrate(ctx context.Context) error {
	var version int
	if err := s.db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("database schema %d is newer than this build knows (%d): upgrade FedWave", version, len(migrations))
	}
	if version == len(migrations) {
		return nil
	}
	// Rebuilding a table that others reference needs foreign keys off
	// (else dropping it would cascade), and that pragma is a no-op inside
	// a transaction: so one connection turns them off around the
	// migrations, and each checks the keys before it commits.
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	for i := version; i < len(migrations); i++ {
		if err := migrateOne(ctx, conn, i); err != nil {
			conn.Raw(func(any) error { return driver.ErrBadConn }) // never reuse it with keys off
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys = ON`); err != nil {
		conn.Raw(func(any) error { return driver.ErrBadConn })
		return fmt.Errorf("migrations: %w", err)
	}
	return nil
}

// migrateOne applies migration i in one transaction, refusing to commit
// if it left a foreign key dangling.
func migrateOne(ctx context.Context, conn *sql.Conn, i int) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return err
	}
	if version > i {
		return nil // another process (the CLI beside the server) got here first
	}
	if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return err
	}
	var table string
	bad := rows.Next()
	if bad {
		rows.Scan(&table)
	}
	rows.Close()
	if bad {
		return fmt.Errorf("foreign key check failed in table %s", table)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, i+1)); err != nil {
		return err
	}
	return tx.Commit()
}

// Ping checks that the database answers.
func (s *SQLite) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Close closes the database.
func (s *SQLite) Close() error { return s.db.Close() }

func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

const userColumns = `id, name, num, color, avatar, role, password_hash, created_at`

func scanUser(row interface{ Scan(...any) error }) (*User, error) {
	var u User
	var created int64
	err := row.Scan(&u.ID, &u.Name, &u.Num, &u.Color, &u.Avatar, &u.Role, &u.PasswordHash, &created)
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
	return scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE name = ?`, name))
}

// SetPassword implements Users.
func (s *SQLite) SetPassword(ctx context.Context, id int64, hash string) error {
	return s.execOne(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, hash, id)
}

// SetRole implements Users.
func (s *SQLite) SetRole(ctx context.Context, id int64, role string, channel bool) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET role = ? WHERE id = ?`, role, id)
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
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE role = ?`, role).Scan(&n)
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
