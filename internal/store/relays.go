package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Relay is a `fedwave relay` process allowed to join this origin's stream
// chain. Only hashes of its token are kept: TokenHash finds it, TicketKey
// (derived from the token, not revealing it) signs its placements.
type Relay struct {
	Name      string
	TokenHash string
	TicketKey string
	CreatedAt time.Time
	RevokedAt time.Time // zero while it may join
}

// Relays stores the relays of the stream chain.
type Relays interface {
	// CreateRelay adds a relay; a name in use by a relay that is not
	// revoked is ErrConflict (a revoked one is replaced).
	CreateRelay(ctx context.Context, r *Relay) error
	// Relays lists every relay, revoked ones included, by name.
	Relays(ctx context.Context) ([]Relay, error)
	// RelayByToken finds a relay by its token's hash, or ErrNotFound.
	RelayByToken(ctx context.Context, hash string) (*Relay, error)
	// RevokeRelay marks a relay revoked; ErrNotFound if there is none.
	RevokeRelay(ctx context.Context, name string, at time.Time) error
}

const relayColumns = `name, token_hash, ticket_key, created_at, revoked_at`

func scanRelay(row interface{ Scan(...any) error }) (*Relay, error) {
	var r Relay
	var created, revoked int64
	err := row.Scan(&r.Name, &r.TokenHash, &r.TicketKey, &created, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	r.CreatedAt = time.UnixMilli(created).UTC()
	if revoked != 0 {
		r.RevokedAt = time.UnixMilli(revoked).UTC()
	}
	return &r, nil
}

// CreateRelay implements Relays.
func (s *SQLite) CreateRelay(ctx context.Context, r *Relay) error {
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now().UTC()
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO relays (`+relayColumns+`) VALUES (?,?,?,?,0)
		ON CONFLICT (name) DO UPDATE SET token_hash = excluded.token_hash, ticket_key = excluded.ticket_key,
		created_at = excluded.created_at, revoked_at = 0 WHERE relays.revoked_at != 0`,
		r.Name, r.TokenHash, r.TicketKey, r.CreatedAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("create relay %s: %w", r.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrConflict
	}
	return nil
}

// Relays implements Relays.
func (s *SQLite) Relays(ctx context.Context) ([]Relay, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+relayColumns+` FROM relays ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Relay
	for rows.Next() {
		r, err := scanRelay(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

// RelayByToken implements Relays.
func (s *SQLite) RelayByToken(ctx context.Context, hash string) (*Relay, error) {
	return scanRelay(s.db.QueryRowContext(ctx, `SELECT `+relayColumns+` FROM relays WHERE token_hash = ?`, hash))
}

// RevokeRelay implements Relays.
func (s *SQLite) RevokeRelay(ctx context.Context, name string, at time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE relays SET revoked_at = ? WHERE name = ? AND revoked_at = 0`, at.UnixMilli(), name)
	if err != nil {
		return fmt.Errorf("revoke relay %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
