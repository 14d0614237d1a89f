package channels

import (
	"context"
	"errors"
	"fmt"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/store"
)

var errMayNotStream = fail.New(fail.Forbidden, "forbidden", "the channel's owner may not stream any more")

// Publisher returns the channel and its owner while the owner may stream
// to it (auth.CanStream), read from the store each time: a role change
// made by another process (fedwave user role) counts at the next call.
func (s *Service) Publisher(ctx context.Context, name string) (*store.Channel, *store.User, error) {
	ch, err := s.find(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	owner, err := s.store.User(ctx, ch.OwnerID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, errMayNotStream
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load owner of %s: %w", ch.Name, err)
	}
	if !auth.CanStream(owner, ch) {
		return nil, nil, errMayNotStream
	}
	return ch, owner, nil
}
