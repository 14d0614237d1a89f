package auth

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/store"
)

func newService(t testing.TB) *Service {
	t.Helper()
	dir := t.TempDir()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "fw.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := LoadKeyRing(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Deps{Store: st, Keys: keys, Guests: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSetupLink(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	secret, err := s.SetupLinkToken(ctx)
	if err != nil || secret == "" {
		t.Fatalf("no setup link on an empty instance: %v", err)
	}
	if _, _, err := s.CompleteSetup(ctx, "", "wrong", "boss", "password1"); err == nil {
		t.Fatal("setup with a wrong secret")
	}
	// A taken name gives the link back for another try.
	s.CreateUser(ctx, "taken", "password1", RoleUser)
	if _, _, err := s.CompleteSetup(ctx, "", secret, "taken", "password1"); err == nil {
		t.Fatal("setup reused a name")
	}
	u, tok, err := s.CompleteSetup(ctx, "", secret, "boss", "password1")
	if err != nil || u.Role != "admin" || tok.Token == "" {
		t.Fatalf("setup: %+v %v", u, err)
	}
	if _, _, err := s.CompleteSetup(ctx, "", secret, "boss2", "password1"); err == nil {
		t.Fatal("setup link used twice")
	}
	if again, _ := s.SetupLinkToken(ctx); again != "" {
		t.Fatal("setup link offered although an admin exists")
	}
}

func TestGuestsAndRoles(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	g, tok, err := s.Guest(ctx)
	if err != nil || g.Role != "guest" || time.Until(tok.Expires) > GuestTokenTTL {
		t.Fatalf("guest %+v %v %v", g, tok.Expires, err)
	}
	if _, err := s.Authenticate(ctx, tok.Token); err != nil {
		t.Fatal(err)
	}
	s.SetGuests(false)
	if _, _, err := s.Guest(ctx); err == nil {
		t.Fatal("guest while guests are off")
	}
	if _, err := s.Authenticate(ctx, tok.Token); err == nil {
		t.Fatal("a guest's cached token still works once guests are off")
	}
	u, _ := s.CreateUser(ctx, "mia", "password1", RoleUser)
	if err := s.SetRole(ctx, u.ID, RoleStreamer); err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.Channel(ctx, "mia"); err != nil {
		t.Fatalf("a new streamer has no channel: %v", err)
	}
	if e, ok := fail.As(s.SetRole(ctx, 12345, RoleStreamer)); !ok || e.Kind != fail.NotFound {
		t.Fatal("unknown user")
	}
}

func TestAuthenticateSeesRevocationAndDeletion(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	_, tok, err := s.Register(ctx, "", "nia", "password1", "")
	if err != nil {
		t.Fatal(err)
	}
	sess, err := s.Authenticate(ctx, tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Logout(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, tok.Token); !errors.Is(err, errBadToken) {
		t.Fatalf("revoked token: %v", err)
	}
	g, gtok, _ := s.Guest(ctx)
	s.now = func() time.Time { return time.Now().Add(4 * time.Hour) }
	if err := s.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.User(ctx, g.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("old guest not cleaned up")
	}
	if _, err := s.Authenticate(ctx, gtok.Token); err == nil {
		t.Fatal("token of a deleted guest works")
	}
}

// BenchmarkAuthenticate is what every authenticated request pays: token
// verification plus the revocation and user lookups in SQLite.
func BenchmarkAuthenticate(b *testing.B) {
	ctx := context.Background()
	s := newService(b)
	_, tok, err := s.Register(ctx, "", "bench", "password1", "")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Authenticate(ctx, tok.Token); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPasswordHash is the cost of one login or registration.
func BenchmarkPasswordHash(b *testing.B) {
	h := newHasher(1)
	for b.Loop() {
		h.hash(context.Background(), "correct horse battery")
	}
}

// A page token lives no longer than its parent, chaining cannot extend a
// session, and logging out with any token of a session ends them all.
func TestPageTokensStayInsideTheirSession(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	now := time.Now()
	s.now = func() time.Time { return now }
	s.CreateUser(ctx, "paula", "password1", RoleUser)
	_, root, err := s.Login(ctx, "", "paula", "password1")
	if err != nil {
		t.Fatal(err)
	}
	now = root.Expires.Add(-10 * time.Minute) // the login has 10 minutes left
	tok := root.Token
	var chain []string
	for range 3 {
		sess, err := s.Authenticate(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		page, err := s.IssueForPage(sess)
		if err != nil {
			t.Fatal(err)
		}
		if page.Expires.After(root.Expires) {
			t.Fatalf("page token expires %s, after its login (%s)", page.Expires, root.Expires)
		}
		now = now.Add(2 * time.Second)
		tok = page.Token
		chain = append(chain, tok)
	}
	now = root.Expires.Add(time.Minute)
	if _, err := s.Authenticate(ctx, tok); err == nil {
		t.Fatal("a chained page token outlived its login")
	}
	// Logout with the last token revokes the login and every token from it.
	now = root.Expires.Add(-5 * time.Minute)
	sess, err := s.Authenticate(ctx, chain[2])
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Logout(ctx, sess); err != nil {
		t.Fatal(err)
	}
	for i, tok := range append(chain, root.Token) {
		if _, err := s.Authenticate(ctx, tok); err == nil {
			t.Fatalf("token %d of a logged-out session still works", i)
		}
	}
}
