package auth

import (
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/store"
)

// Role is what a user may do. Roles are ordered: each one may do everything
// the ones below it may.
type Role string

// The roles, lowest first.
const (
	RoleGuest     Role = "guest"
	RoleUser      Role = "user"
	RoleStreamer  Role = "streamer"
	RoleModerator Role = "moderator"
	RoleAdmin     Role = "admin"
)

var roleRank = map[Role]int{RoleGuest: 0, RoleUser: 1, RoleStreamer: 2, RoleModerator: 3, RoleAdmin: 4}

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	if _, ok := roleRank[Role(s)]; !ok || s == string(RoleGuest) {
		return "", fail.New(fail.Invalid, "invalid_role", "role must be admin, moderator, streamer or user")
	}
	return Role(s), nil
}

// AtLeast reports whether r ranks at or above min. Unknown roles rank below
// everything.
func (r Role) AtLeast(min Role) bool {
	rank, ok := roleRank[r]
	return ok && rank >= roleRank[min]
}

// HasChannel reports whether a user of this role owns a channel: every
// approved streamer does, and so do the roles above.
func (r Role) HasChannel() bool { return r.AtLeast(RoleStreamer) }

// This file is the one place that says who may do what.

// ownsChannel: u is ch's owner and still an approved streamer (or above).
// A demoted streamer keeps the channel and its history, offline, but
// neither its management, nor publishing, nor the owner's chat rank.
func ownsChannel(u *store.User, ch *store.Channel) bool {
	return u != nil && u.ID == ch.OwnerID && Role(u.Role).HasChannel()
}

// CanManageChannel: the channel's owner while still a streamer, or an
// admin (title, description, stream key, thumbnail).
func CanManageChannel(u *store.User, ch *store.Channel) bool {
	return ownsChannel(u, ch) || (u != nil && Role(u.Role).AtLeast(RoleAdmin))
}

// CanStream: the channel's owner, while still an approved streamer.
func CanStream(u *store.User, ch *store.Channel) bool { return ownsChannel(u, ch) }

// CanAdminister: instance administration (metrics, roles, settings).
func CanAdminister(u *store.User) bool {
	return u != nil && Role(u.Role).AtLeast(RoleAdmin)
}

// CanModerateSite: instance moderators and admins (the admin page's
// reduced view: overview, bans, stopping streams, the audit log).
func CanModerateSite(u *store.User) bool {
	return u != nil && Role(u.Role).AtLeast(RoleModerator)
}

// Chat ranks, for moderation: who may act on whom in a channel.
const (
	rankNone         = 1 // guests, users, streamers outside their channel
	rankChannelMod   = 2
	rankChannelOwner = 3
	rankModerator    = 4
	rankAdmin        = 5
)

// ChatRank is u's standing in channel ch; isChannelMod says whether u is
// one of the channel's moderators.
func ChatRank(u *store.User, ch *store.Channel, isChannelMod bool) int {
	switch {
	case u == nil:
		return 0
	case Role(u.Role).AtLeast(RoleAdmin):
		return rankAdmin
	case Role(u.Role).AtLeast(RoleModerator):
		return rankModerator
	case ownsChannel(u, ch):
		return rankChannelOwner
	case isChannelMod:
		return rankChannelMod
	}
	return rankNone
}

// CanModerate: channel moderators and above may moderate a channel (slow
// mode, wipe, delete, ban and timeout in that channel); they are exempt
// from slow mode.
func CanModerate(rank int) bool { return rank >= rankChannelMod }

// CanSanction: a moderator may ban, time out or delete the messages of
// someone of lower rank only.
func CanSanction(actorRank, targetRank int) bool {
	return CanModerate(actorRank) && actorRank > targetRank
}

// BansInstanceWide: bans by instance moderators and admins apply on every
// channel; bans by channel owners and moderators apply to their channel.
func BansInstanceWide(actorRank int) bool { return actorRank >= rankModerator }

// CanWipe: clearing a channel's whole history removes messages of every
// rank, so it is for the channel owner and above, not channel moderators.
func CanWipe(actorRank int) bool { return actorRank >= rankChannelOwner }

// CanDeleteMessage: moderators may delete their own messages and those of
// authors of lower rank (the rule of CanSanction).
func CanDeleteMessage(actorRank, authorRank int, own bool) bool {
	return CanModerate(actorRank) && (own || CanSanction(actorRank, authorRank))
}

// CanAppointChannelMods: the channel owner and admins.
func CanAppointChannelMods(actorRank int) bool {
	return actorRank == rankChannelOwner || actorRank == rankAdmin
}

// CanGrantStreamer: admins approve streamers.
func CanGrantStreamer(actorRank int) bool { return actorRank >= rankAdmin }
