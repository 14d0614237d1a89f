package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Invite is an invite link for invite-only registration. Only the hash of
// its secret is kept: the link is shown once, when it is made.
type Invite struct {
	ID        int64
	Hash      string
	MaxUses   int
	Uses      int
	CreatedBy int64
	CreatedAt time.Time
	Expires   time.Time
}

// Site keeps the settings saved from the admin pages and the invite links.
type Site interface {
	// SiteSettings returns the saved settings document, or "" when an
	// admin never saved any.
	SiteSettings(ctx context.Context) (string, error)
	// SaveSiteSettings replaces the saved settings document.
	SaveSiteSettings(ctx context.Context, data string) error
	// CreateInvite stores inv and sets its ID.
	CreateInvite(ctx context.Context, inv *Invite) error
	// Invites lists every invite, newest first.
	Invites(ctx context.Context) ([]Invite, error)
	// DeleteInvite removes an invite (revoking it); ErrNotFound if none.
	DeleteInvite(ctx context.Context, id int64) error
	// UseInvite spends one use of the invite with that hash, if it has
	// one left and has not expired; else ErrNotFound.
	UseInvite(ctx context.Context, hash string, now time.Time) error
	// UnuseInvite gives a use back (the account it was spent on could
	// not be made).
	UnuseInvite(ctx context.Context, hash string) error
	// InviteValid reports whether the invite can still be used, without
	// using it.
	InviteValid(ctx context.Context, hash string, now time.Time) (bool, error)
}

// SiteSettings implements Site.
func (s *SQLite) SiteSettings(ctx context.Context) (string, error) {
	var data string
	err := s.db.QueryRowContext(ctx, `SELECT data FROM site_settings WHERE id = 1`).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read site settings: %w", err)
	}
	return data, nil
}

// SaveSiteSettings implements Site.
func (s *SQLite) SaveSiteSettings(ctx context.Context, data string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO site_settings (id, data, updated_at) VALUES (1, ?, ?)
		ON CONFLICT (id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`, data, time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("save site settings: %w", err)
	}
	return nil
}

// CreateInvite implements Site.
func (s *SQLite) CreateInvite(ctx context.Context, inv *Invite) error {
	if inv.CreatedAt.IsZero() {
		inv.CreatedAt = time.Now().UTC()
	}
	err := s.db.QueryRowContext(ctx, `INSERT INTO invites (hash, max_uses, created_by, created_at, expires_at)
		VALUES (?,?,?,?,?) RETURNING id`, inv.Hash, inv.MaxUses, inv.CreatedBy, inv.CreatedAt.Unix(), inv.Expires.Unix()).Scan(&inv.ID)
	if isUnique(err) {
		return ErrConflict
	}
	if err != nil {
		return fmt.Errorf("create invite: %w", err)
	}
	return nil
}

// Invites implements Site.
func (s *SQLite) Invites(ctx context.Context) ([]Invite, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, hash, max_uses, uses, created_by, created_at, expires_at FROM invites ORDER BY id DESC LIMIT 500`)
	if err != nil {
		return nil, fmt.Errorf("list invites: %w", err)
	}
	defer rows.Close()
	var out []Invite
	for rows.Next() {
		var inv Invite
		var created, expires int64
		if err := rows.Scan(&inv.ID, &inv.Hash, &inv.MaxUses, &inv.Uses, &inv.CreatedBy, &created, &expires); err != nil {
			return nil, err
		}
		inv.CreatedAt, inv.Expires = time.Unix(created, 0).UTC(), time.Unix(expires, 0).UTC()
		out = append(out, inv)
	}
	return out, rows.Err()
}

// DeleteInvite implements Site.
func (s *SQLite) DeleteInvite(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM invites WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete invite: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// UseInvite implements Site: one statement, so two sign-ups racing for
// the last use cannot both get it.
func (s *SQLite) UseInvite(ctx context.Context, hash string, now time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE invites SET uses = uses + 1 WHERE hash = ? AND uses < max_uses AND expires_at >= ?`, hash, now.Unix())
	if err != nil {
		return fmt.Errorf("use invite: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// UnuseInvite implements Site.
func (s *SQLite) UnuseInvite(ctx context.Context, hash string) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE invites SET uses = uses - 1 WHERE hash = ? AND uses > 0`, hash); err != nil {
		return fmt.Errorf("give back invite: %w", err)
	}
	return nil
}

// InviteValid implements Site.
func (s *SQLite) InviteValid(ctx context.Context, hash string, now time.Time) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM invites WHERE hash = ? AND uses < max_uses AND expires_at >= ?`, hash, now.Unix()).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check invite: %w", err)
	}
	return true, nil
}
