package turn

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // HMAC-SHA1 is what the TURN REST scheme specifies.
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultTTL is how long issued credentials stay valid for new allocations
// when NewCredentials is given no TTL.
const DefaultTTL = time.Hour

// clockSkew is how far in the future (beyond the TTL) an expiry may lie and
// still be accepted, to tolerate clocks of several nodes sharing a secret.
const clockSkew = time.Minute

// Anonymous is the REST user ID of credentials for callers who are not
// signed in (and for WHIP/WHEP sessions, which only ever talk to this
// server's media port). Allocations made with it are counted against their
// client address, not a user, and relay only to the media addresses (see
// Config.MediaPeers). The user ID is covered by the credential's HMAC, so a
// client cannot turn an anonymous credential into a signed-in one.
const Anonymous = "anon"

// User returns the REST user ID of credentials for the signed-in user with
// this id: "u" and the id, never a name, handle or session id.
func User(id int64) string { return "u" + strconv.FormatInt(id, 10) }

// signedIn reports whether a REST user ID names a signed-in user (see User).
// Anything else, Anonymous and the IDs of older releases alike, gets the
// anonymous quota and peer policy: unknown identities fail closed.
func signedIn(userID string) bool {
	digits, ok := strings.CutPrefix(userID, "u")
	if !ok || digits == "" || len(digits) > 19 {
		return false
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Credentials implements the TURN REST API credential scheme
// (draft-uberti-behave-turn-rest-00): the username is "expiry:userid" with
// expiry in unix seconds, and the password is
// base64(HMAC-SHA1(secret, username)). Nothing is stored per credential; the
// server recomputes the password from the username. A Credentials is safe for
// concurrent use.
type Credentials struct {
	secret []byte
	ttl    time.Duration
}

// NewCredentials returns credentials signed with secret (used as-is as the
// HMAC key, like coturn's static-auth-secret) that are valid for ttl after
// they are issued; ttl <= 0 means DefaultTTL. The secret is copied.
func NewCredentials(secret []byte, ttl time.Duration) *Credentials {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Credentials{secret: append([]byte(nil), secret...), ttl: ttl}
}

// TTL returns how long issued credentials are valid.
func (c *Credentials) TTL() time.Duration { return c.ttl }

// Issue returns a username and password for userID valid until expires
// (now + TTL, truncated to the second). userID must not be empty: Check
// refuses credentials without a user ID, since the per-user allocation quota
// is keyed on it.
func (c *Credentials) Issue(userID string, now time.Time) (username, password string, expires time.Time) {
	expiry := now.Add(c.ttl).Unix()
	username = strconv.FormatInt(expiry, 10) + ":" + userID
	return username, c.password(username), time.Unix(expiry, 0)
}

// Check verifies that username is well formed and not expired at now, and
// returns the user ID it names and the password it must have been issued
// with. The password itself is not checked here: TURN never sends it, the
// server proves the client knows it through MESSAGE-INTEGRITY, which needs
// this password to compute the key (see turn.GenerateAuthKey).
func (c *Credentials) Check(username string, now time.Time) (userID, password string, ok bool) {
	expiry, userID, ok := c.parse(username, now)
	if !ok || !now.Before(expiry) {
		return "", "", false
	}
	return userID, c.password(username), true
}

// parse splits username into its expiry and user ID and refuses malformed
// ones and ones whose expiry lies further ahead than this TTL allows (a
// credential must never outlive the configured TTL, even one minted before
// the TTL was shortened). It does not check whether the expiry has passed.
func (c *Credentials) parse(username string, now time.Time) (expiry time.Time, userID string, ok bool) {
	ts, userID, found := strings.Cut(username, ":")
	if !found || userID == "" || ts == "" || len(ts) > 19 {
		return time.Time{}, "", false
	}
	for _, r := range ts {
		if r < '0' || r > '9' {
			return time.Time{}, "", false
		}
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return time.Time{}, "", false
	}
	expiry = time.Unix(secs, 0)
	if expiry.After(now.Add(c.ttl + clockSkew)) {
		return time.Time{}, "", false
	}
	return expiry, userID, true
}

func (c *Credentials) password(username string) string {
	mac := hmac.New(sha1.New, c.secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// secretFile is the name of the secret inside the data directory.
const secretFile = "turn.secret"

// LoadSecret returns the TURN REST secret kept in dataDir/turn.secret,
// creating the file (32 random bytes, base64, mode 0600) on first use. The
// secret is the file's text without surrounding whitespace, used as-is as the
// HMAC key, so the same line can serve as coturn's static-auth-secret. A
// secret file readable by group or others is refused rather than used.
func LoadSecret(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, secretFile)
	secret, err := readSecret(path)
	if err == nil {
		return secret, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := createSecret(dataDir, path); err != nil {
		return nil, err
	}
	// Read back what is there: if another process created the file at the
	// same time, its secret wins and both agree.
	return readSecret(path)
}

func readSecret(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("turn: opening secret: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("turn: reading secret: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("turn: secret %s is not a regular file", path)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("turn: secret %s is accessible to other users (mode %v); chmod 600 it", path, info.Mode().Perm())
	}
	text, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, fmt.Errorf("turn: reading secret %s: %w", path, err)
	}
	secret := []byte(strings.TrimSpace(string(text)))
	// 16 bytes of base64 text carry at least 96 bits; anything shorter is a
	// mistake, not a secret.
	if len(secret) < 16 {
		return nil, fmt.Errorf("turn: secret %s is too short (%d bytes)", path, len(secret))
	}
	return secret, nil
}

func createSecret(dataDir, path string) error {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("turn: generating secret: %w", err)
	}
	text := base64.StdEncoding.EncodeToString(raw) + "\n"

	// Write a private temporary file, then link it into place: the secret
	// appears whole or not at all, and an existing one is never replaced.
	tmp, err := os.CreateTemp(dataDir, ".turn.secret-*")
	if err != nil {
		return fmt.Errorf("turn: creating secret: %w", err)
	}
	defer os.Remove(tmp.Name()) // CreateTemp made it 0600.
	if _, err := tmp.WriteString(text); err != nil {
		tmp.Close()
		return fmt.Errorf("turn: writing secret: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("turn: writing secret: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("turn: writing secret: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("turn: installing secret: %w", err)
	}
	return nil
}
