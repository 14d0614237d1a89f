package store

import (
	"context"
	"time"
)

// Message is a stored chat message. The sender's handle, colour and avatar
// are kept as they were when it was sent.
type Message struct {
	ID       int64
	Channel  string
	Offset   int64 // grows by one per channel, never reused (not even after a wipe)
	UserID   int64
	Handle   string
	Color    string
	Avatar   string
	Instance string // empty for local users
	Text     string // as typed
	HTML     string // rendered and sanitised
	Nonce    string // client's idempotency key; may be empty
	TS       time.Time
}

// Ban keeps a user from chatting: instance-wide (Scope "") or in one
// channel (Scope = channel name). A timeout is a ban with an expiry.
type Ban struct {
	Scope     string
	UserID    int64
	Kind      string // "ban" or "timeout"
	Reason    string
	ByID      int64
	CreatedAt time.Time
	Expires   time.Time // zero: permanent
}

// AuditEntry records one moderation action.
type AuditEntry struct {
	ID       int64 // filled when read back; grows with time
	TS       time.Time
	ActorID  int64 // 0: the system (automatic flood timeout)
	Action   string
	TargetID int64
	Channel  string
	Detail   string
}

// Messages stores chat history.
type Messages interface {
	// AppendMessage gives m the channel's next offset and an id and stores
	// it durably. If the same user already sent a message with the same
	// non-empty nonce in that channel, nothing is stored: m is filled from
	// the earlier message and dup is true.
	AppendMessage(ctx context.Context, m *Message) (dup bool, err error)
	// AppendMessages stores several messages in one transaction (one disk
	// sync for all), in order, with AppendMessage's rules for each.
	AppendMessages(ctx context.Context, ms []*Message) (dups []bool, err error)
	// MessagesAfter returns up to limit messages with an offset above
	// after, oldest first.
	MessagesAfter(ctx context.Context, channel string, after int64, limit int) ([]Message, error)
	// RecentMessages returns the last limit messages, oldest first.
	RecentMessages(ctx context.Context, channel string, limit int) ([]Message, error)
	// Message returns one message of a channel, or ErrNotFound.
	Message(ctx context.Context, channel string, id int64) (*Message, error)
	// DeleteMessage removes one message; it reports whether it existed.
	DeleteMessage(ctx context.Context, channel string, id int64) (bool, error)
	// DeleteUserMessages removes a user's messages in one channel, or in
	// all channels when channel is "", and returns what was removed.
	DeleteUserMessages(ctx context.Context, channel string, userID int64) ([]Message, error)
	// WipeChannel removes every message of a channel. Offsets go on.
	WipeChannel(ctx context.Context, channel string) error
	// DeleteMessagesBefore removes messages older than t (retention).
	DeleteMessagesBefore(ctx context.Context, t time.Time) (int64, error)
}

// Moderation stores bans, channel moderators, slow mode and the audit log.
type Moderation interface {
	SetBan(ctx context.Context, b Ban) error
	// RemoveBan lifts a ban or timeout; it reports whether one existed.
	RemoveBan(ctx context.Context, scope string, userID int64) (bool, error)
	// ActiveBan returns the ban in force for a user in a channel (an
	// instance-wide one first), or nil.
	ActiveBan(ctx context.Context, channel string, userID int64, now time.Time) (*Ban, error)
	SetChannelMod(ctx context.Context, channel string, userID int64, on bool) error
	IsChannelMod(ctx context.Context, channel string, userID int64) (bool, error)
	SetSlowMode(ctx context.Context, channel string, seconds int) error
	Audit(ctx context.Context, e AuditEntry) error
	AuditLog(ctx context.Context, limit int) ([]AuditEntry, error)
}
