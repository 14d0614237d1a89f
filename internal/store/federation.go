package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Peer is another FedWave instance this one is linked with, or asked to be.
type Peer struct {
	Domain    string // host[:port] that names the instance
	URL       string // its base URL
	Name      string // its display name
	PublicKey string // its Ed25519 key, base64
	State     string // pending_out, pending_in, linked, blocked
	Incoming  bool   // we accept what it sends
	Outgoing  bool   // we send it ours
	Since     time.Time
}

// OutboxItem is an event waiting to be delivered to a peer, in order.
type OutboxItem struct {
	ID        int64
	Peer      string
	Body      []byte
	CreatedAt time.Time
}

// Federation stores what links this instance with others.
type Federation interface {
	Peers(ctx context.Context) ([]Peer, error)
	// Peer returns one peer or ErrNotFound.
	Peer(ctx context.Context, domain string) (*Peer, error)
	// PutPeer inserts or replaces a peer.
	PutPeer(ctx context.Context, p *Peer) error
	// DeletePeer forgets a peer with what is mirrored from it and what
	// waits for it; it reports whether the peer existed.
	DeletePeer(ctx context.Context, domain string) (bool, error)

	// RemoteUser finds or creates the row of a linked instance's user,
	// refreshing its colour and avatar.
	RemoteUser(ctx context.Context, instance, name string, num int, color, avatar string) (*User, error)
	// RemoteUserByHandle finds a known remote user, or ErrNotFound.
	RemoteUserByHandle(ctx context.Context, instance, name string, num int) (*User, error)

	// MirrorMessages stores messages of another instance's room as they
	// are at home (offset, id); one already stored is left alone.
	MirrorMessages(ctx context.Context, ms []Message) error
	// DeleteMirrored removes mirrored messages by their home ids.
	DeleteMirrored(ctx context.Context, channel string, ids []int64) error
	// LastOffset is the highest offset stored for a channel (0: none).
	LastOffset(ctx context.Context, channel string) (int64, error)

	// AddOutbox queues an event for a peer unless it already holds max
	// items (then ErrFull); it returns the item's id.
	AddOutbox(ctx context.Context, peer string, body []byte, max int) (int64, error)
	// Outbox returns a peer's items after an id, oldest first.
	Outbox(ctx context.Context, peer string, after int64, limit int) ([]OutboxItem, error)
	// DeleteOutbox removes a peer's delivered item.
	DeleteOutbox(ctx context.Context, peer string, id int64) error
}

// ErrFull is returned when a bounded queue has no room left.
var ErrFull = errors.New("queue full")

const peerColumns = `domain, url, name, public_key, state, incoming, outgoing, since`

func scanPeer(row interface{ Scan(...any) error }) (*Peer, error) {
	var p Peer
	var since int64
	err := row.Scan(&p.Domain, &p.URL, &p.Name, &p.PublicKey, &p.State, &p.Incoming, &p.Outgoing, &since)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	p.Since = time.UnixMilli(since).UTC()
	return &p, nil
}

// Peers implements Federation.
func (s *SQLite) Peers(ctx context.Context) ([]Peer, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+peerColumns+` FROM peers ORDER BY domain`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Peer
	for rows.Next() {
		p, err := scanPeer(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *p)
	}
	return out, rows.Err()
}

// Peer implements Federation.
func (s *SQLite) Peer(ctx context.Context, domain string) (*Peer, error) {
	return scanPeer(s.db.QueryRowContext(ctx, `SELECT `+peerColumns+` FROM peers WHERE domain = ?`, domain))
}

// PutPeer implements Federation.
func (s *SQLite) PutPeer(ctx context.Context, p *Peer) error {
	if p.Since.IsZero() {
		p.Since = time.Now().UTC()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO peers (`+peerColumns+`) VALUES (?,?,?,?,?,?,?,?)
		ON CONFLICT (domain) DO UPDATE SET url = excluded.url, name = excluded.name, public_key = excluded.public_key,
		state = excluded.state, incoming = excluded.incoming, outgoing = excluded.outgoing, since = excluded.since`,
		p.Domain, p.URL, p.Name, p.PublicKey, p.State, p.Incoming, p.Outgoing, p.Since.UnixMilli())
	if err != nil {
		return fmt.Errorf("save peer %s: %w", p.Domain, err)
	}
	return nil
}

// DeletePeer implements Federation.
func (s *SQLite) DeletePeer(ctx context.Context, domain string) (bool, error) {
	var existed bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM peers WHERE domain = ?`, domain)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		existed = n > 0
		if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE peer = ?`, domain); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM messages WHERE home_id != 0 AND channel LIKE ? ESCAPE '\'`, "%@"+escapeLike(domain))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("delete peer %s: %w", domain, err)
	}
	return existed, nil
}

// escapeLike makes text match literally in LIKE ... ESCAPE '\'.
func escapeLike(s string) string { return likeEscaper.Replace(s) }

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// RemoteUser implements Federation.
func (s *SQLite) RemoteUser(ctx context.Context, instance, name string, num int, color, avatar string) (*User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `INSERT INTO users (name, num, color, avatar, role, created_at, instance) VALUES (?,?,?,?,'user',?,?)
		ON CONFLICT (instance, name, num) WHERE instance != '' DO UPDATE SET color = excluded.color, avatar = excluded.avatar
		RETURNING `+userColumns, name, num, color, avatar, time.Now().Unix(), instance))
	if err != nil {
		return nil, fmt.Errorf("remote user %s#%04d@%s: %w", name, num, instance, err)
	}
	return u, nil
}

// RemoteUserByHandle implements Federation.
func (s *SQLite) RemoteUserByHandle(ctx context.Context, instance, name string, num int) (*User, error) {
	return scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE instance = ? AND name = ? AND num = ?`, instance, name, num))
}

// MirrorMessages implements Federation.
func (s *SQLite) MirrorMessages(ctx context.Context, ms []Message) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, m := range ms {
			_, err := tx.ExecContext(ctx, `INSERT INTO messages (channel, seq, user_id, handle, color, avatar, instance, body, html, nonce, ts, home_id)
				VALUES (?,?,0,?,?,?,?,?,?,'',?,?) ON CONFLICT (channel, seq) DO NOTHING`,
				m.Channel, m.Offset, m.Handle, m.Color, m.Avatar, m.Instance, m.Text, m.HTML, m.TS.UnixMilli(), m.ID)
			if err != nil {
				return fmt.Errorf("mirror message: %w", err)
			}
		}
		return nil
	})
}

// DeleteMirrored implements Federation.
func (s *SQLite) DeleteMirrored(ctx context.Context, channel string, ids []int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `DELETE FROM messages WHERE channel = ? AND home_id = ?`, channel, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// LastOffset implements Federation.
func (s *SQLite) LastOffset(ctx context.Context, channel string) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM messages WHERE channel = ?`, channel).Scan(&n)
	return n, err
}

// AddOutbox implements Federation.
func (s *SQLite) AddOutbox(ctx context.Context, peer string, body []byte, max int) (int64, error) {
	var id int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE peer = ?`, peer).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return ErrFull
		}
		return tx.QueryRowContext(ctx, `INSERT INTO outbox (peer, body, created_at) VALUES (?,?,?) RETURNING id`,
			peer, string(body), time.Now().UnixMilli()).Scan(&id)
	})
	return id, err
}

// Outbox implements Federation.
func (s *SQLite) Outbox(ctx context.Context, peer string, after int64, limit int) ([]OutboxItem, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, peer, body, created_at FROM outbox WHERE peer = ? AND id > ? ORDER BY id LIMIT ?`, peer, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []OutboxItem
	for rows.Next() {
		var it OutboxItem
		var body string
		var created int64
		if err := rows.Scan(&it.ID, &it.Peer, &body, &created); err != nil {
			return nil, err
		}
		it.Body, it.CreatedAt = []byte(body), time.UnixMilli(created).UTC()
		out = append(out, it)
	}
	return out, rows.Err()
}

// DeleteOutbox implements Federation.
func (s *SQLite) DeleteOutbox(ctx context.Context, peer string, id int64) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM outbox WHERE peer = ? AND id = ?`, peer, id)
	return err
}
