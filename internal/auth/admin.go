package auth

import (
	"context"
	"errors"

	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/store"
)

// DeleteUser removes a local account and its channel. Its tokens stop
// working at once: they name a user that no longer exists.
func (s *Service) DeleteUser(ctx context.Context, userID int64) error {
	err := s.store.DeleteUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return fail.New(fail.NotFound, "no_such_user", "no such user")
	}
	s.cache.forget(func(e *Session) bool { return e.User.ID == userID })
	return err
}
