package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/store"
)

// sessionSeenEvery is how often a session's last use is written: at most
// once a minute, whatever the traffic.
const sessionSeenEvery = time.Minute

// maxAgent bounds the User-Agent kept for a session.
const maxAgent = 256

// Palette is the set of name colours users pick from (and registration
// draws from).
func Palette() []string { return slices.Clone(palette) }

// SetColor gives the session's user a name colour of the palette; chat
// uses it for the messages they send next.
func (s *Service) SetColor(ctx context.Context, sess *Session, color string) (*store.User, error) {
	color = strings.ToLower(color)
	if !slices.Contains(palette, color) {
		return nil, fail.New(fail.Invalid, "invalid_color", "pick one of the site's colours: %s", strings.Join(palette, ", "))
	}
	if err := s.store.SetColor(ctx, sess.User.ID, color); err != nil {
		return nil, fmt.Errorf("set colour: %w", err)
	}
	return s.changed(ctx, sess.User.ID)
}

// SetAvatar sets the session's user's avatar to a local path ("" removes
// it) and returns the path it replaced.
func (s *Service) SetAvatar(ctx context.Context, sess *Session, path string) (old string, err error) {
	if path != "" && !avatarRE.MatchString(path) {
		return "", fail.New(fail.Invalid, "invalid_avatar", "an avatar is a path on this site")
	}
	u, err := s.store.User(ctx, sess.User.ID)
	if err != nil {
		return "", fmt.Errorf("load user: %w", err)
	}
	if err := s.store.SetAvatar(ctx, u.ID, path); err != nil {
		return "", fmt.Errorf("set avatar: %w", err)
	}
	s.cache.forget(func(e *Session) bool { return e.User.ID == u.ID })
	return u.Avatar, nil
}

// Rename gives a guest another name (registered names are fixed: a
// streamer's channel is named after them). The name follows the rules of
// new accounts, and names are unique on the instance whoever holds them,
// so a guest cannot take a registered user's name, nor one another guest
// holds; a guest's name is free again when the guest expires.
func (s *Service) Rename(ctx context.Context, sess *Session, name string) (*store.User, error) {
	if Role(sess.User.Role) != RoleGuest {
		return nil, fail.New(fail.Forbidden, "not_guest", "only guests can change their name; a registered name stays")
	}
	if err := CheckName(name); err != nil {
		return nil, err
	}
	err := s.store.RenameUser(ctx, sess.User.ID, name)
	if errors.Is(err, store.ErrConflict) {
		return nil, fail.New(fail.Conflict, "name_taken", "the name %q is already taken", name)
	}
	if err != nil {
		return nil, fmt.Errorf("rename: %w", err)
	}
	return s.changed(ctx, sess.User.ID)
}

// changed forgets cached answers about user id, so that open chat
// connections see the change at their next action, and returns the user.
func (s *Service) changed(ctx context.Context, id int64) (*store.User, error) {
	s.cache.forget(func(e *Session) bool { return e.User.ID == id })
	return s.store.User(ctx, id)
}

var errWrongPassword = fail.New(fail.Forbidden, "wrong_password", "the current password is wrong")

// ChangePassword sets a new password for the session's user, a client at
// address from, after checking the current one (counted against from's
// attempts as a login is). Every other session of the user is signed out;
// this one stays.
func (s *Service) ChangePassword(ctx context.Context, from string, sess *Session, current, next string) error {
	if err := checkPassword(next); err != nil {
		return err
	}
	if len(current) > 4*MaxPasswordLen {
		return errWrongPassword
	}
	if err := s.allowAttempt(from); err != nil {
		return err
	}
	u, err := s.store.User(ctx, sess.User.ID)
	if err != nil {
		return fmt.Errorf("load user: %w", err)
	}
	if u.PasswordHash == "" {
		return fail.New(fail.Forbidden, "no_password", "this account has no password to change; ask an admin for a password link")
	}
	ok, err := s.hasher.verify(ctx, u.PasswordHash, current)
	if err != nil {
		return err
	}
	if !ok {
		return errWrongPassword
	}
	hash, err := s.hasher.hash(ctx, next)
	if err != nil {
		return err
	}
	if err := s.store.SetPassword(ctx, u.ID, hash); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	_, err = s.RevokeOtherSessions(ctx, sess)
	return err
}

// recordSession stores a new login's session; its client is recorded at
// its first use (Seen), where the web layer knows it.
func (s *Service) recordSession(ctx context.Context, userID int64, tok Issued) error {
	now := s.now()
	return s.store.TouchSession(ctx, store.Session{SID: tok.Session, UserID: userID, Created: now, LastSeen: now, Expires: tok.Expires}, sessionSeenEvery)
}

// Seen records that sess was used by a client calling itself agent: at
// most one write a minute per session. Sessions from before the list
// existed are added at their first use.
func (s *Service) Seen(ctx context.Context, sess *Session, agent string) {
	now := s.now()
	sid := sess.Claims.Session
	if _, ok := s.seen.Get(sid, now); ok {
		return
	}
	s.seen.Put(sid, struct{}{}, now)
	if len(agent) > maxAgent {
		agent = agent[:maxAgent]
	}
	row := store.Session{SID: sid, UserID: sess.User.ID, Created: now, LastSeen: now, Expires: sess.Claims.Expires, Agent: agent}
	if err := s.store.TouchSession(ctx, row, sessionSeenEvery); err != nil {
		s.log.Warn("record session use", "err", err)
	}
}

// Sessions lists the signed-in sessions of sess's user.
func (s *Service) Sessions(ctx context.Context, sess *Session) ([]store.Session, error) {
	return s.store.Sessions(ctx, sess.User.ID, s.now())
}

// RevokeSession signs out one session of sess's user.
func (s *Service) RevokeSession(ctx context.Context, sess *Session, sid string) error {
	list, err := s.Sessions(ctx, sess)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(list, func(e store.Session) bool { return e.SID == sid }) {
		return fail.New(fail.NotFound, "no_such_session", "no such session of yours")
	}
	return s.revoke(ctx, sid)
}

// RevokeOtherSessions signs out every session of sess's user but sess
// itself, and says how many.
func (s *Service) RevokeOtherSessions(ctx context.Context, sess *Session) (int, error) {
	return s.revokeSessions(ctx, sess.User.ID, sess.Claims.Session)
}

// revokeSessions signs out every session of the user but except (which may
// be ""), and says how many.
func (s *Service) revokeSessions(ctx context.Context, userID int64, except string) (int, error) {
	list, err := s.store.Sessions(ctx, userID, s.now())
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range list {
		if e.SID == except {
			continue
		}
		if err := s.revoke(ctx, e.SID); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// revoke signs session sid out everywhere: its tokens are refused from
// now on (kept as long as any of them can live), and open chat
// connections holding one are signed out at their next action.
func (s *Service) revoke(ctx context.Context, sid string) error {
	if err := s.store.RevokeToken(ctx, sid, s.now().Add(UserTokenTTL+time.Minute)); err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	s.cache.forget(func(e *Session) bool { return e.Claims.Session == sid })
	if err := s.store.DeleteSession(ctx, sid); err != nil {
		return fmt.Errorf("forget session: %w", err)
	}
	return nil
}
