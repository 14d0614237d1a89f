package turn

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the scheme under test
	"encoding/base64"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCredentialsRoundTrip(t *testing.T) {
	secret := []byte("s3cret-s3cret-s3cret")
	c := NewCredentials(secret, 10*time.Minute)
	now := time.Unix(1_700_000_000, 0)

	user, pass, exp := c.Issue("alice", now)
	if user != "1700000600:alice" {
		t.Fatalf("username = %q, want expiry:userid", user)
	}
	if !exp.Equal(time.Unix(1_700_000_600, 0)) {
		t.Fatalf("expires = %v", exp)
	}
	// The password is the REST scheme's, computed independently here.
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(user))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); pass != want {
		t.Fatalf("password = %q, want %q", pass, want)
	}

	id, got, ok := c.Check(user, now.Add(9*time.Minute))
	if !ok || id != "alice" || got != pass {
		t.Fatalf("Check = %q, %q, %v; want alice, %q, true", id, got, ok, pass)
	}
}

func TestCredentialsUserIDWithColon(t *testing.T) {
	c := NewCredentials([]byte("secret-secret-secret"), time.Minute)
	now := time.Now()
	user, _, _ := c.Issue("guest:42", now)
	if id, _, ok := c.Check(user, now); !ok || id != "guest:42" {
		t.Fatalf("Check = %q, %v; want the whole user ID after the first colon", id, ok)
	}
}

func TestCredentialsRefused(t *testing.T) {
	c := NewCredentials([]byte("secret-secret-secret"), time.Hour)
	now := time.Unix(1_700_000_000, 0)
	user, pass, exp := c.Issue("bob", now)

	if _, _, ok := c.Check(user, exp); ok {
		t.Error("accepted at the expiry instant")
	}
	if _, _, ok := c.Check(user, exp.Add(time.Second)); ok {
		t.Error("accepted after expiry")
	}

	// A tampered username (longer validity, someone else's ID) yields a
	// different password, so the client's MESSAGE-INTEGRITY cannot match.
	exp2 := strconv.FormatInt(exp.Unix()+30, 10)
	for _, tampered := range []string{exp2 + ":bob", strconv.FormatInt(exp.Unix(), 10) + ":mallory"} {
		_, p, ok := c.Check(tampered, now)
		if !ok {
			t.Fatalf("Check(%q) refused a well-formed username", tampered)
		}
		if p == pass {
			t.Errorf("Check(%q) gave the original password", tampered)
		}
	}

	// Another secret gives another password.
	other := NewCredentials([]byte("other-secret-other"), time.Hour)
	if _, p, _ := other.Check(user, now); p == pass {
		t.Error("a different secret produced the same password")
	}

	far := strconv.FormatInt(now.Add(48*time.Hour).Unix(), 10) + ":bob"
	for _, bad := range []string{
		"", "bob", ":bob", strconv.FormatInt(exp.Unix(), 10) + ":", "abc:bob",
		"-5:bob", "+" + strconv.FormatInt(exp.Unix(), 10) + ":bob", "99999999999999999999:bob",
		far, // longer than the TTL allows
	} {
		if _, _, ok := c.Check(bad, now); ok {
			t.Errorf("Check(%q) accepted", bad)
		}
	}
}

func TestNewCredentialsCopiesSecret(t *testing.T) {
	secret := []byte("secret-secret-secret")
	c := NewCredentials(secret, 0)
	if c.TTL() != DefaultTTL {
		t.Errorf("TTL = %v, want DefaultTTL", c.TTL())
	}
	now := time.Now()
	user, pass, _ := c.Issue("u", now)
	secret[0] = 'X'
	if _, p, _ := c.Check(user, now); p != pass {
		t.Error("changing the caller's slice changed the credentials")
	}
}

func TestLoadSecret(t *testing.T) {
	dir := t.TempDir()
	s1, err := LoadSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(string(s1))
	if err != nil || len(raw) != 32 {
		t.Fatalf("secret %q is not 32 bytes of base64 (%v)", s1, err)
	}
	info, err := os.Stat(filepath.Join(dir, "turn.secret"))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("mode = %v, want 0600", perm)
	}
	s2, err := LoadSecret(dir)
	if err != nil || !bytes.Equal(s1, s2) {
		t.Fatalf("second load = %q, %v; want the same secret", s2, err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".turn.secret-*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

func TestLoadSecretConcurrentCreate(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	got := make([][]byte, 8)
	errs := make([]error, len(got))
	for i := range got {
		wg.Go(func() { got[i], errs[i] = LoadSecret(dir) })
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !bytes.Equal(got[i], got[0]) {
			t.Fatalf("concurrent first loads disagree: %q vs %q", got[i], got[0])
		}
	}
}

func TestLoadSecretRefusesBadFiles(t *testing.T) {
	for name, tc := range map[string]struct {
		content string
		mode    os.FileMode
		want    string
	}{
		"world readable": {"c2VjcmV0LXNlY3JldC1zZWNyZXQ=\n", 0o644, "chmod 600"},
		"too short":      {"abc\n", 0o600, "too short"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "turn.secret")
			if err := os.WriteFile(path, []byte(tc.content), tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil { // umask-proof
				t.Fatal(err)
			}
			_, err := LoadSecret(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestLoadSecretMissingDir(t *testing.T) {
	if _, err := LoadSecret(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Fatal("no error for a missing data directory")
	}
}
