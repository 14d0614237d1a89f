// Package auth owns accounts, passwords, tokens, roles and one-time links
// (setup, password reset). It is the one place that decides who someone is
// and what their role allows.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"regexp"
	"runtime"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/ratelimit"
	"github.com/fedwave/fedwave/internal/store"
	"github.com/fedwave/fedwave/internal/ttlcache"
)

// Password length bounds, in characters.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 256
)

// One-time link kinds and lifetimes.
const (
	linkSetup = "setup"
	linkReset = "reset"
	SetupTTL  = time.Hour
	ResetTTL  = 7 * 24 * time.Hour
)

// Deps is what the service needs.
type Deps struct {
	Store  store.Store
	Keys   *KeyRing
	Guests bool // whether guest identities may be created (SetGuests changes it)
	// AttemptsPerMinute bounds password checks (login, register, setup,
	// reset) per client address; 0 means no bound.
	AttemptsPerMinute int
	Log               *slog.Logger
	Now               func() time.Time // nil: time.Now
}

// Service implements accounts and tokens.
type Service struct {
	store  store.Store
	keys   *KeyRing
	guests atomic.Bool
	// registration is the current Registration mode (SetRegistration).
	registration atomic.Pointer[Registration]
	log          *slog.Logger
	now          func() time.Time
	hasher       *hasher
	// attempts limits password checks per client address (nil: no limit).
	attempts *ratelimit.Keyed
	// dummyHash is verified against when a login names no account, so that
	// the answer takes as long as for a wrong password.
	dummyHash string
	cache     *authCache
	// seen remembers sessions whose last use was recorded in the last
	// minute, so that a page or API call costs no write.
	seen *ttlcache.Cache[string, struct{}]
}

// New builds the service.
func New(d Deps) (*Service, error) {
	s := &Service{store: d.Store, keys: d.Keys, log: d.Log, now: d.Now, hasher: newHasher(runtime.NumCPU()), cache: newAuthCache(),
		seen: &ttlcache.Cache[string, struct{}]{TTL: sessionSeenEvery, Max: 65536}}
	s.guests.Store(d.Guests)
	s.SetRegistration(RegistrationOpen)
	if s.now == nil {
		s.now = time.Now
	}
	if d.AttemptsPerMinute > 0 {
		s.attempts = ratelimit.PerMinute(d.AttemptsPerMinute)
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.dummyHash = dummyHash()
	return s, nil
}

// Session is an authenticated request's user and token claims.
type Session struct {
	User   *store.User
	Claims Claims
	// Token is the raw token, for holders that act on it later (a chat
	// connection) and must check it again each time.
	Token string
}

var errBadCredentials = fail.New(fail.Unauthorized, "invalid_credentials", "wrong name or password")

// Register creates a user account for a client at address from and logs it
// in, as the registration mode allows: always when open, with an invite
// link's secret when invite-only, never when closed.
func (s *Service) Register(ctx context.Context, from, name, password, invite string) (*store.User, Issued, error) {
	var u *store.User
	var err error
	switch *s.registration.Load() {
	case RegistrationOpen:
		u, err = s.createUser(ctx, from, name, password, RoleUser)
	case RegistrationInvite:
		u, err = s.registerInvited(ctx, from, name, password, invite)
	default:
		err = errRegistrationClosed
	}
	if err != nil {
		return nil, Issued{}, err
	}
	tok, err := s.issue(ctx, u)
	return u, tok, err
}

// CreateUser creates an account with a password and role for the operator
// (the CLI; reserved words are allowed, CheckOperatorName). Register is the
// public path. A streamer or higher role gets their channel at once.
func (s *Service) CreateUser(ctx context.Context, name, password string, role Role) (*store.User, error) {
	return s.createUser(ctx, "", name, password, role)
}

// createUser makes an account for a client at address from; "" is the
// operator.
func (s *Service) createUser(ctx context.Context, from, name, password string, role Role) (*store.User, error) {
	check := CheckName
	if from == "" {
		check = CheckOperatorName
	}
	if err := check(name); err != nil {
		return nil, err
	}
	if err := checkPassword(password); err != nil {
		return nil, err
	}
	hash, err := s.hashFor(ctx, from, password)
	if err != nil {
		return nil, err
	}
	u := &store.User{Name: name, Color: RandomColor(), Role: string(role), PasswordHash: hash}
	return u, s.insertUser(ctx, u)
}

// hashFor hashes a new password for a client at address from, within its
// attempt limit.
func (s *Service) hashFor(ctx context.Context, from, password string) (string, error) {
	if err := s.allowAttempt(from); err != nil {
		return "", err
	}
	return s.hasher.hash(ctx, password)
}

// allowAttempt spends one of from's password checks. Only well-formed
// attempts count, so a typo in a name costs nothing. An empty from is a
// trusted local caller (the CLI).
func (s *Service) allowAttempt(from string) error {
	if s.attempts == nil || from == "" || s.attempts.Allow(from) {
		return nil
	}
	return fail.New(fail.TooMany, "rate_limited", "too many attempts from your address; wait a minute and try again")
}

// ValidColor reports whether c is a name colour FedWave keeps: #rrggbb.
func ValidColor(c string) bool { return colorRE.MatchString(c) }

// ImportUser creates an account that has no password yet, with a given num
// and colour (from the prototype's JSON files). It returns store.ErrConflict
// if the name is taken.
func (s *Service) ImportUser(ctx context.Context, name string, num int, color, avatar string, role Role) (*store.User, error) {
	if err := CheckNameFormat(name); err != nil {
		return nil, err
	}
	if num < 0 || num > 9999 {
		num = randomNum()
	}
	if !ValidColor(color) {
		color = RandomColor()
	}
	if !avatarRE.MatchString(avatar) {
		avatar = "" // only local paths: a remote image would leak viewers' addresses
	}
	u := &store.User{Name: name, Num: num, Color: color, Avatar: avatar, Role: string(role)}
	if err := s.store.CreateUser(ctx, u, role.HasChannel()); err != nil {
		return nil, err
	}
	return u, nil
}

var (
	colorRE  = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	avatarRE = regexp.MustCompile(`^/[A-Za-z0-9/_.-]{1,200}$`)
)

func (s *Service) insertUser(ctx context.Context, u *store.User) error {
	if u.Num == 0 {
		u.Num = randomNum()
	}
	err := s.store.CreateUser(ctx, u, Role(u.Role).HasChannel())
	if errors.Is(err, store.ErrConflict) {
		return fail.New(fail.Conflict, "name_taken", "the name %q is already taken", u.Name)
	}
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

func checkPassword(p string) error {
	n := utf8.RuneCountInString(p)
	if n < MinPasswordLen || n > MaxPasswordLen || !utf8.ValidString(p) {
		return fail.New(fail.Invalid, "invalid_password", "a password has %d to %d characters", MinPasswordLen, MaxPasswordLen)
	}
	return nil
}

// Login checks a name (or handle name#num) and password for a client at
// address from.
func (s *Service) Login(ctx context.Context, from, login, password string) (*store.User, Issued, error) {
	name, num, err := ParseHandle(login)
	if err != nil || len(password) > 4*MaxPasswordLen {
		return nil, Issued{}, errBadCredentials
	}
	if err := s.allowAttempt(from); err != nil {
		return nil, Issued{}, err
	}
	u, err := s.store.UserByName(ctx, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, Issued{}, err
	}
	hash := s.dummyHash
	if u != nil && u.PasswordHash != "" && (num < 0 || num == u.Num) {
		hash = u.PasswordHash
	}
	ok, err := s.hasher.verify(ctx, hash, password)
	if err != nil {
		return nil, Issued{}, err
	}
	if !ok || hash == s.dummyHash {
		return nil, Issued{}, errBadCredentials
	}
	tok, err := s.issue(ctx, u)
	return u, tok, err
}

// GuestsAllowed reports whether guest identities can be created.
func (s *Service) GuestsAllowed() bool { return s.guests.Load() }

// SetGuests allows or refuses guests from now on. Turned off, new guests
// are refused and existing guests' tokens stop working at once.
func (s *Service) SetGuests(on bool) {
	s.guests.Store(on)
	if !on {
		s.cache.forget(func(e *Session) bool { return Role(e.User.Role) == RoleGuest })
	}
}

// Guest creates a guest identity guest-xxxx#num with a short-lived token.
func (s *Service) Guest(ctx context.Context) (*store.User, Issued, error) {
	if !s.guests.Load() {
		return nil, Issued{}, fail.New(fail.Forbidden, "guests_disabled", "this instance does not allow guests; register an account")
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	for range 8 {
		b := make([]byte, 4)
		for i := range b {
			n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
			b[i] = alphabet[n.Int64()]
		}
		u := &store.User{Name: "guest-" + string(b), Num: randomNum(), Color: RandomColor(), Role: string(RoleGuest)}
		err := s.store.CreateUser(ctx, u, false)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, Issued{}, fmt.Errorf("create guest: %w", err)
		}
		tok, err := s.issue(ctx, u)
		return u, tok, err
	}
	return nil, Issued{}, fail.New(fail.Unavailable, "guests_exhausted", "could not find a free guest name; try again")
}

// PageTokenTTL is the longest lifetime of tokens a signed-in page asks for.
const PageTokenTTL = time.Hour

// IssueForPage signs a short-lived token for an authenticated session: a
// browser page asking for a bearer token of its own session (the studio's
// WHIP request). The token belongs to the same session (logging out
// revokes it too) and never outlives the token it came from, so asking
// again and again cannot extend a session.
func (s *Service) IssueForPage(sess *Session) (Issued, error) {
	now := s.now()
	exp := now.Add(PageTokenTTL)
	if sess.Claims.Expires.Before(exp) {
		exp = sess.Claims.Expires
	}
	return s.keys.sign(sess.User.ID, sess.Claims.Session, now, exp)
}

func (s *Service) issue(ctx context.Context, u *store.User) (Issued, error) {
	ttl := UserTokenTTL
	if Role(u.Role) == RoleGuest {
		ttl = GuestTokenTTL
	}
	tok, err := s.keys.Issue(u.ID, s.now(), ttl)
	if err != nil {
		return Issued{}, err
	}
	return tok, s.recordSession(ctx, u.ID, tok)
}

// Authenticate verifies a token and returns its user's current state: the
// token's session must not be revoked, its user must still exist, and a
// guest's token works only while the instance allows guests. Answers are
// cached for at most authCacheTTL, so that callers may check a token at
// every action.
func (s *Service) Authenticate(ctx context.Context, raw string) (*Session, error) {
	now := s.now()
	if sess, ok := s.cache.get(raw, now); ok {
		if Role(sess.User.Role) == RoleGuest && !s.guests.Load() {
			return nil, errBadToken // (cached just before guests were turned off)
		}
		return sess, nil
	}
	c, err := s.keys.Verify(raw, now)
	if err != nil {
		return nil, err
	}
	revoked, err := s.store.TokenRevoked(ctx, c.Session)
	if err != nil {
		return nil, fmt.Errorf("check token revocation: %w", err)
	}
	if revoked {
		return nil, errBadToken
	}
	u, err := s.store.User(ctx, c.UserID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Instance != "") {
		return nil, errBadToken // a linked instance's user signs in at home
	}
	if err != nil {
		return nil, fmt.Errorf("load user: %w", err)
	}
	if Role(u.Role) == RoleGuest && !s.guests.Load() {
		return nil, errBadToken
	}
	sess := &Session{User: u, Claims: c, Token: raw}
	s.cache.put(raw, sess, now)
	return sess, nil
}

// Logout revokes the session's token and every token derived from the same
// login. The revocation is kept as long as any of them can live.
func (s *Service) Logout(ctx context.Context, sess *Session) error {
	sid := sess.Claims.Session
	return s.revoke(ctx, sid)
}

// SetRole changes a user's role; streamers and above get their channel.
func (s *Service) SetRole(ctx context.Context, userID int64, role Role) error {
	err := s.store.SetRole(ctx, userID, string(role), role.HasChannel())
	if errors.Is(err, store.ErrNotFound) {
		return fail.New(fail.NotFound, "no_such_user", "no such user")
	}
	s.cache.forget(func(e *Session) bool { return e.User.ID == userID })
	return err
}

// Cleanup forgets expired revocations, one-time links and guests whose
// tokens can no longer be valid.
func (s *Service) Cleanup(ctx context.Context) error {
	now := s.now()
	if err := s.store.PurgeRevoked(ctx, now); err != nil {
		return err
	}
	if err := s.store.PurgeSessions(ctx, now); err != nil {
		return err
	}
	_, err := s.store.DeleteGuests(ctx, now.Add(-GuestTokenTTL-time.Hour))
	return err
}

// SetupLinkToken returns a fresh one-time secret for /setup if the instance
// has no admin yet, or "" if it has one.
func (s *Service) SetupLinkToken(ctx context.Context) (string, error) {
	n, err := s.store.CountRole(ctx, string(RoleAdmin))
	if err != nil || n > 0 {
		return "", err
	}
	return s.newLink(ctx, linkSetup, 0, SetupTTL)
}

// ResetLinkToken returns a one-time secret that lets a user set a password.
func (s *Service) ResetLinkToken(ctx context.Context, userID int64) (string, error) {
	return s.newLink(ctx, linkReset, userID, ResetTTL)
}

func (s *Service) newLink(ctx context.Context, kind string, userID int64, ttl time.Duration) (string, error) {
	secret := make([]byte, 24)
	rand.Read(secret)
	tok := base64.RawURLEncoding.EncodeToString(secret)
	if err := s.store.CreateOneTime(ctx, kind, hashSecret(tok), userID, s.now().Add(ttl)); err != nil {
		return "", fmt.Errorf("create %s link: %w", kind, err)
	}
	return tok, nil
}

var errBadLink = fail.New(fail.NotFound, "invalid_link", "this link is invalid, used or expired")

// SetupValid reports whether a setup link secret can still be used.
func (s *Service) SetupValid(ctx context.Context, secret string) bool {
	ok, err := s.store.OneTimeValid(ctx, linkSetup, hashSecret(secret), s.now())
	return err == nil && ok
}

// ResetValid reports whether a reset link secret can still be used.
func (s *Service) ResetValid(ctx context.Context, secret string) bool {
	ok, err := s.store.OneTimeValid(ctx, linkReset, hashSecret(secret), s.now())
	return err == nil && ok
}

// CompleteSetup uses a setup link to create the first admin and log in.
func (s *Service) CompleteSetup(ctx context.Context, from, secret, name, password string) (*store.User, Issued, error) {
	if err := CheckSetupName(name); err != nil {
		return nil, Issued{}, err
	}
	if err := checkPassword(password); err != nil {
		return nil, Issued{}, err
	}
	if !s.SetupValid(ctx, secret) {
		return nil, Issued{}, errBadLink
	}
	hash, err := s.hashFor(ctx, from, password)
	if err != nil {
		return nil, Issued{}, err
	}
	exp := s.now().Add(SetupTTL) // only used to put the link back if the name is taken
	if _, err := s.store.ConsumeOneTime(ctx, linkSetup, hashSecret(secret), s.now()); err != nil {
		return nil, Issued{}, errBadLink
	}
	u := &store.User{Name: name, Color: RandomColor(), Role: string(RoleAdmin), PasswordHash: hash}
	if err := s.insertUser(ctx, u); err != nil {
		s.store.CreateOneTime(ctx, linkSetup, hashSecret(secret), 0, exp)
		return nil, Issued{}, err
	}
	tok, err := s.issue(ctx, u)
	return u, tok, err
}

// CompleteReset uses a reset link to set a password and log in.
func (s *Service) CompleteReset(ctx context.Context, from, secret, password string) (*store.User, Issued, error) {
	if err := checkPassword(password); err != nil {
		return nil, Issued{}, err
	}
	if !s.ResetValid(ctx, secret) {
		return nil, Issued{}, errBadLink
	}
	hash, err := s.hashFor(ctx, from, password)
	if err != nil {
		return nil, Issued{}, err
	}
	id, err := s.store.ConsumeOneTime(ctx, linkReset, hashSecret(secret), s.now())
	if err != nil {
		return nil, Issued{}, errBadLink
	}
	if err := s.store.SetPassword(ctx, id, hash); err != nil {
		return nil, Issued{}, errBadLink
	}
	// Whoever knew the old password is signed out everywhere.
	if _, err := s.revokeSessions(ctx, id, ""); err != nil {
		return nil, Issued{}, err
	}
	u, err := s.store.User(ctx, id)
	if err != nil {
		return nil, Issued{}, err
	}
	tok, err := s.issue(ctx, u)
	return u, tok, err
}

// hashSecret is how one-time secrets and stream keys are stored: they are
// long random strings, so a plain SHA-256 is enough (no dictionary to try).
func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// HashSecret exposes hashSecret for other services' random secrets.
func HashSecret(secret string) string { return hashSecret(secret) }

func randomNum() int {
	n, _ := rand.Int(rand.Reader, big.NewInt(9000))
	return int(n.Int64()) + 1000
}

// palette holds name colours that read well on dark and light backgrounds.
var palette = []string{
	"#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4",
	"#f032e6", "#bfef45", "#fabed4", "#469990", "#dcbeff", "#ffe119",
}

// RandomColor picks a name colour.
func RandomColor() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(palette))))
	return palette[n.Int64()]
}
