// Package store keeps FedWave's durable state behind small interfaces, so that
// a PostgreSQL implementation can be added beside the SQLite one without
// touching the callers.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a row would break a uniqueness rule
// (a taken name, a reused one-time token).
var ErrConflict = errors.New("already exists")

// User is an account, including guests.
type User struct {
	ID           int64
	Name         string
	Num          int // the 4-digit part of the handle name#num
	Color        string
	Avatar       string
	Role         string
	PasswordHash string // empty: the account cannot log in with a password
	CreatedAt    time.Time
	// Instance is the host of a linked instance the user belongs to; empty
	// for this instance's own accounts. Remote users never sign in here.
	Instance string
}

// Channel is a streamer's channel. Live state is not stored here.
type Channel struct {
	Name          string
	OwnerID       int64
	Title         string
	Description   string
	NSFW          bool
	StreamKeyHash string
	SlowSeconds   int    // chat slow mode: seconds between one user's messages
	Thumbnail     string // URL path of the latest preview image, or ""
	CreatedAt     time.Time
}

// Users stores accounts.
type Users interface {
	// CreateUser inserts u and sets u.ID; with channel, it also creates the
	// channel named after the user in the same transaction. A taken name
	// (case-insensitive) gives ErrConflict.
	CreateUser(ctx context.Context, u *User, channel bool) error
	User(ctx context.Context, id int64) (*User, error)
	// UserByName finds a local user by name, case-insensitively.
	UserByName(ctx context.Context, name string) (*User, error)
	SetPassword(ctx context.Context, id int64, hash string) error
	// SetRole changes a user's role; with channel, it also makes sure the user
	// owns their channel, in the same transaction.
	SetRole(ctx context.Context, id int64, role string, channel bool) error
	CountRole(ctx context.Context, role string) (int, error)
	// DeleteGuests removes guest accounts created before t.
	DeleteGuests(ctx context.Context, before time.Time) (int64, error)
}

// Channels stores channels.
type Channels interface {
	Channel(ctx context.Context, name string) (*Channel, error)
	Channels(ctx context.Context) ([]Channel, error)
	UpdateChannel(ctx context.Context, c *Channel) error
	SetStreamKeyHash(ctx context.Context, name, hash string) error
	SetThumbnail(ctx context.Context, name, url string) error
}

// Tokens keeps the revocation list of signed tokens.
type Tokens interface {
	RevokeToken(ctx context.Context, jti string, expires time.Time) error
	TokenRevoked(ctx context.Context, jti string) (bool, error)
	// PurgeRevoked forgets revocations of tokens that have expired anyway.
	PurgeRevoked(ctx context.Context, now time.Time) error
}

// OneTimeTokens keeps hashes of single-use secrets such as the setup link
// and password-reset links.
type OneTimeTokens interface {
	CreateOneTime(ctx context.Context, kind, hash string, userID int64, expires time.Time) error
	// ConsumeOneTime deletes the token and returns its user; an unknown or
	// expired token gives ErrNotFound.
	ConsumeOneTime(ctx context.Context, kind, hash string, now time.Time) (userID int64, err error)
	// OneTimeValid reports whether the token exists and has not expired,
	// without consuming it.
	OneTimeValid(ctx context.Context, kind, hash string, now time.Time) (bool, error)
}

// Store is everything FedWave persists.
type Store interface {
	Users
	Channels
	Tokens
	OneTimeTokens
	Messages
	Moderation
	Federation
	Relays
	Fediverse
	Admin
	Site
	Accounts
	Ping(ctx context.Context) error
	Close() error
}
