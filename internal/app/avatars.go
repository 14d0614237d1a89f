package app

import (
	"context"
	"time"

	"github.com/fedwave/fedwave/internal/avatars"
)

// avatarGrace is how old an avatar file no account names must be before
// it is removed: uploads are saved a moment before they are recorded.
const avatarGrace = time.Hour

// sweepAvatars removes avatar files no account uses any more (an admin
// deleted the account, or an upload was cut short).
func (a *App) sweepAvatars(ctx context.Context) error {
	inUse, err := a.core.Store.AvatarsInUse(ctx, avatars.URLPrefix)
	if err != nil {
		return err
	}
	n, err := a.avatars.Sweep(inUse, time.Now().Add(-avatarGrace))
	if n > 0 {
		a.log.Info("removed unused avatar files", "count", n)
	}
	return err
}
