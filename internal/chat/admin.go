package chat

import (
	"context"
	"time"

	"github.com/fedwave/fedwave/internal/store"
)

// The admin pages' moderation: the same bans as !ban and !unban with an
// instance moderator's reach (scope ""), so the ban cache and the audit
// log see them the same way.

// BanInstance bans target from chatting anywhere on this instance until
// until (zero: for good), removes their messages as !ban does, and records
// it in the audit log.
func (h *Hub) BanInstance(ctx context.Context, actor, target *store.User, reason string, until time.Time) error {
	return h.sanction(ctx, actor, target, "", "ban", reason, until, true)
}

// UnbanInstance lifts an instance-wide ban; it reports whether there was
// one, and records the lifting in the audit log.
func (h *Hub) UnbanInstance(ctx context.Context, actor, target *store.User) (bool, error) {
	ok, err := h.store.RemoveBan(ctx, "", target.ID)
	if err != nil || !ok {
		return ok, err
	}
	h.banCache.Clear()
	return true, h.store.Audit(ctx, store.AuditEntry{ActorID: actor.ID, Action: "unban", TargetID: target.ID})
}

// PurgeUser removes every message of a user and tells the rooms, for an
// account being deleted.
func (h *Hub) PurgeUser(ctx context.Context, userID int64) error {
	return h.purge(ctx, "", userID)
}
