package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/store"
)

// Registration says who may create an account.
type Registration string

// The registration modes.
const (
	RegistrationOpen   Registration = "open"   // anyone
	RegistrationInvite Registration = "invite" // with an invite link
	RegistrationClosed Registration = "closed" // nobody (admins still create accounts)
)

// Valid reports whether r is one of the modes.
func (r Registration) Valid() bool {
	return r == RegistrationOpen || r == RegistrationInvite || r == RegistrationClosed
}

// Invite bounds.
const (
	MaxInviteUses = 1000
	MaxInviteTTL  = 365 * 24 * time.Hour
)

var (
	errRegistrationClosed = fail.New(fail.Forbidden, "registration_closed", "this site does not take new accounts; ask its admin")
	errInviteRequired     = fail.New(fail.Forbidden, "invite_required", "this site takes new accounts by invitation only: open the invite link you were given")
	errBadInvite          = fail.New(fail.Forbidden, "invalid_invite", "this invite link is invalid, used up or expired; ask for a new one")
)

// SetRegistration changes who may register, from the next attempt on.
func (s *Service) SetRegistration(r Registration) {
	if !r.Valid() {
		r = RegistrationClosed // an unknown mode lets nobody in
	}
	s.registration.Store(&r)
}

// RegistrationMode is the current registration mode.
func (s *Service) RegistrationMode() Registration { return *s.registration.Load() }

// registerInvited creates an account with one use of an invite. The use is
// spent before the account is made (two sign-ups cannot share the last
// one) and given back if the account cannot be made (a taken name).
func (s *Service) registerInvited(ctx context.Context, from, name, password, invite string) (*store.User, error) {
	if invite == "" {
		return nil, errInviteRequired
	}
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if err := checkPassword(password); err != nil {
		return nil, err
	}
	if !s.InviteValid(ctx, invite) {
		return nil, errBadInvite
	}
	hash, err := s.hashFor(ctx, from, password)
	if err != nil {
		return nil, err
	}
	h := hashSecret(invite)
	if err := s.store.UseInvite(ctx, h, s.now()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, errBadInvite
		}
		return nil, err
	}
	u := &store.User{Name: name, Color: RandomColor(), Role: string(RoleUser), PasswordHash: hash}
	if err := s.insertUser(ctx, u); err != nil {
		if uerr := s.store.UnuseInvite(ctx, h); uerr != nil {
			s.log.Error("give an invite use back", "err", uerr)
		}
		return nil, err
	}
	return u, nil
}

// InviteValid reports whether an invite link's secret can still be used.
func (s *Service) InviteValid(ctx context.Context, secret string) bool {
	if secret == "" || len(secret) > 128 {
		return false
	}
	ok, err := s.store.InviteValid(ctx, hashSecret(secret), s.now())
	return err == nil && ok
}

// CreateInvite makes an invite link's secret good for uses sign-ups within
// ttl; the secret is returned once and only its hash is kept.
func (s *Service) CreateInvite(ctx context.Context, by int64, uses int, ttl time.Duration) (string, store.Invite, error) {
	if uses < 1 || uses > MaxInviteUses {
		return "", store.Invite{}, fail.New(fail.Invalid, "invalid_uses", "an invite is good for 1 to %d sign-ups", MaxInviteUses)
	}
	if ttl < time.Minute || ttl > MaxInviteTTL {
		return "", store.Invite{}, fail.New(fail.Invalid, "invalid_expiry", "an invite lasts from a minute to a year")
	}
	secret := make([]byte, 24)
	rand.Read(secret)
	tok := base64.RawURLEncoding.EncodeToString(secret)
	now := s.now()
	inv := store.Invite{Hash: hashSecret(tok), MaxUses: uses, CreatedBy: by, CreatedAt: now, Expires: now.Add(ttl)}
	if err := s.store.CreateInvite(ctx, &inv); err != nil {
		return "", store.Invite{}, fmt.Errorf("create invite: %w", err)
	}
	return tok, inv, nil
}

// Invites lists the invite links, newest first.
func (s *Service) Invites(ctx context.Context) ([]store.Invite, error) {
	return s.store.Invites(ctx)
}

// RevokeInvite deletes an invite link: it stops working at once.
func (s *Service) RevokeInvite(ctx context.Context, id int64) error {
	err := s.store.DeleteInvite(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fail.New(fail.NotFound, "no_such_invite", "no such invite")
	}
	return err
}
