package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
)

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
	// Federation. Users of linked instances get a row (instance = their
	// host) so that bans, timeouts, flood limits and ranks apply to them by
	// id like to local users; names are unique per instance, so the
	// column-level UNIQUE on name becomes two partial indexes (rebuild, as
	// in the migration before, keeping the id counter where it was).
	// Messages mirrored from another instance keep their home id; peers and
	// the outbox of messages waiting for a peer are new.
	`CREATE TABLE users_new (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		name TEXT NOT NULL COLLATE NOCASE,
		num INTEGER NOT NULL,
		color TEXT NOT NULL,
		avatar TEXT NOT NULL DEFAULT '',
		role TEXT NOT NULL,
		password_hash TEXT NOT NULL DEFAULT '',
		created_at INTEGER NOT NULL,
		instance TEXT NOT NULL DEFAULT '' COLLATE NOCASE
	);
	INSERT INTO users_new (id, name, num, color, avatar, role, password_hash, created_at)
		SELECT id, name, num, color, avatar, role, password_hash, created_at FROM users;
	CREATE TEMP TABLE users_seq AS SELECT seq FROM sqlite_sequence WHERE name = 'users';
	DROP TABLE users;
	ALTER TABLE users_new RENAME TO users;
	DELETE FROM sqlite_sequence WHERE name = 'users';
	INSERT INTO sqlite_sequence (name, seq) SELECT 'users', max(
		(SELECT coalesce(max(seq), 0) FROM users_seq), (SELECT coalesce(max(id), 0) FROM users));
	DROP TABLE users_seq;
	CREATE INDEX users_role ON users(role);
	CREATE UNIQUE INDEX users_local_name ON users(name) WHERE instance = '';
	CREATE UNIQUE INDEX users_remote_handle ON users(instance, name, num) WHERE instance != '';

	ALTER TABLE messages ADD COLUMN home_id INTEGER NOT NULL DEFAULT 0;

	CREATE TABLE peers (
		domain TEXT PRIMARY KEY COLLATE NOCASE,
		url TEXT NOT NULL,
		name TEXT NOT NULL DEFAULT '',
		public_key TEXT NOT NULL DEFAULT '',
		state TEXT NOT NULL,
		incoming INTEGER NOT NULL DEFAULT 1,
		outgoing INTEGER NOT NULL DEFAULT 1,
		since INTEGER NOT NULL
	);
	CREATE TABLE outbox (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		peer TEXT NOT NULL COLLATE NOCASE,
		body TEXT NOT NULL,
		created_at INTEGER NOT NULL
	);
	CREATE INDEX outbox_peer ON outbox(peer, id);`,
	// The stream chain's relays: hashes of their tokens only.
	`CREATE TABLE relays (
		name TEXT PRIMARY KEY COLLATE NOCASE,
		token_hash TEXT NOT NULL UNIQUE,
		ticket_key TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		revoked_at INTEGER NOT NULL DEFAULT 0
	);`,
	// Fediverse (ActivityPub) accounts following a local channel.
	`CREATE TABLE ap_followers (
		channel TEXT NOT NULL COLLATE NOCASE,
		actor TEXT NOT NULL,
		inbox TEXT NOT NULL,
		shared_inbox TEXT NOT NULL DEFAULT '',
		created_at INTEGER NOT NULL,
		PRIMARY KEY (channel, actor)
	);`,
	// 8: fediverse go-live posts, and the durable delivery queue of
	// outgoing activities: one body per activity, one row per inbox.
	`CREATE TABLE ap_posts (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		channel TEXT NOT NULL COLLATE NOCASE,
		title TEXT NOT NULL,
		thumbnail TEXT NOT NULL DEFAULT '',
		nsfw INTEGER NOT NULL DEFAULT 0,
		started_at INTEGER NOT NULL,
		ended_at INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX ap_posts_channel ON ap_posts(channel, id);
	CREATE TABLE ap_activities (
		id INTEGER PRIMARY KEY,
		signer TEXT NOT NULL,
		body BLOB NOT NULL,
		created_at INTEGER NOT NULL
	);
	CREATE TABLE ap_deliveries (
		id INTEGER PRIMARY KEY,
		activity_id INTEGER NOT NULL REFERENCES ap_activities(id) ON DELETE CASCADE,
		inbox TEXT NOT NULL,
		host TEXT NOT NULL,
		attempts INTEGER NOT NULL DEFAULT 0,
		next_at INTEGER NOT NULL,
		created_at INTEGER NOT NULL,
		UNIQUE (activity_id, inbox)
	);
	CREATE INDEX ap_deliveries_due ON ap_deliveries(next_at);
	CREATE INDEX ap_deliveries_host ON ap_deliveries(host, next_at, id);`,
	// 9: site settings saved from /admin (one row of JSON, so a setting
	// added later falls back to its flag until saved), and invite links
	// for invite-only registration (N uses, an expiry, revocable).
	`CREATE TABLE site_settings (
		id INTEGER PRIMARY KEY CHECK (id = 1),
		data TEXT NOT NULL,
		updated_at INTEGER NOT NULL
	);
	CREATE TABLE invites (
		id INTEGER PRIMARY KEY,
		hash TEXT NOT NULL UNIQUE,
		max_uses INTEGER NOT NULL,
		uses INTEGER NOT NULL DEFAULT 0,
		created_by INTEGER NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL
	);`,
	// 10: sessions: each login's sid with when it began, was last used and
	// from what client, so that a user can list their sessions and sign
	// the others out (the revocation itself stays in revoked_tokens).
	`CREATE TABLE sessions (
		sid TEXT PRIMARY KEY,
		user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
		created INTEGER NOT NULL,
		last_seen INTEGER NOT NULL,
		expires INTEGER NOT NULL,
		agent TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX sessions_user ON sessions(user_id);`,
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
