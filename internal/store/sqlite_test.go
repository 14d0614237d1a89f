package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func open(t *testing.T, path string) *SQLite {
	t.Helper()
	s, err := OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestUsersAndChannelsPersist(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fw.db")
	s := open(t, path)
	u := &User{Name: "Alice", Num: 1234, Color: "#112233", Role: "user", PasswordHash: "h"}
	if err := s.CreateUser(ctx, u, false); err != nil {
		t.Fatal(err)
	}
	if u.ID == 0 {
		t.Fatal("no id")
	}
	if err := s.CreateUser(ctx, &User{Name: "alice", Num: 1, Role: "user"}, false); !errors.Is(err, ErrConflict) {
		t.Fatalf("same name in other case: %v", err)
	}
	if _, err := s.Channel(ctx, "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a user has no channel: %v", err)
	}
	if err := s.SetRole(ctx, u.ID, "streamer", true); err != nil {
		t.Fatal(err)
	}
	// Granting twice keeps one channel.
	if err := s.SetRole(ctx, u.ID, "streamer", true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRole(ctx, 999, "streamer", true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
	ch, err := s.Channel(ctx, "ALICE")
	if err != nil || ch.OwnerID != u.ID || ch.Name != "Alice" {
		t.Fatalf("channel %+v %v", ch, err)
	}
	ch.Title, ch.NSFW = "t", true
	if err := s.UpdateChannel(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if err := s.SetStreamKeyHash(ctx, "alice", "kh"); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open(t, path)
	got, err := s.UserByName(ctx, "alice")
	if err != nil || got.ID != u.ID || got.Num != 1234 || got.Role != "streamer" || got.PasswordHash != "h" {
		t.Fatalf("user after reopen %+v %v", got, err)
	}
	chs, err := s.Channels(ctx)
	if err != nil || len(chs) != 1 || chs[0].Title != "t" || !chs[0].NSFW || chs[0].StreamKeyHash != "kh" {
		t.Fatalf("channels after reopen %+v %v", chs, err)
	}
}

func TestOneTimeTokens(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "fw.db"))
	now := time.Now()
	s.CreateOneTime(ctx, "reset", "h1", 7, now.Add(time.Hour))
	s.CreateOneTime(ctx, "reset", "old", 7, now.Add(-time.Hour))
	if err := s.CreateOneTime(ctx, "reset", "h1", 8, now.Add(time.Hour)); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate: %v", err)
	}
	if ok, _ := s.OneTimeValid(ctx, "setup", "h1", now); ok {
		t.Fatal("kind ignored")
	}
	if _, err := s.ConsumeOneTime(ctx, "reset", "old", now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired consumed: %v", err)
	}
	id, err := s.ConsumeOneTime(ctx, "reset", "h1", now)
	if err != nil || id != 7 {
		t.Fatal(id, err)
	}
	if _, err := s.ConsumeOneTime(ctx, "reset", "h1", now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("consumed twice: %v", err)
	}
}

func TestRevocationsAndGuests(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "fw.db"))
	now := time.Now()
	s.RevokeToken(ctx, "a", now.Add(time.Hour))
	s.RevokeToken(ctx, "b", now.Add(-time.Hour))
	s.RevokeToken(ctx, "a", now.Add(time.Hour)) // twice is fine
	if err := s.PurgeRevoked(ctx, now); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.TokenRevoked(ctx, "a"); !r {
		t.Fatal("live revocation purged")
	}
	if r, _ := s.TokenRevoked(ctx, "b"); r {
		t.Fatal("expired revocation kept")
	}

	s.CreateUser(ctx, &User{Name: "guest-old1", Role: "guest", CreatedAt: now.Add(-5 * time.Hour)}, false)
	s.CreateUser(ctx, &User{Name: "guest-new1", Role: "guest", CreatedAt: now}, false)
	s.CreateUser(ctx, &User{Name: "olduser", Role: "user", CreatedAt: now.Add(-5 * time.Hour)}, false)
	n, err := s.DeleteGuests(ctx, now.Add(-time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("deleted %d, %v", n, err)
	}
	if _, err := s.UserByName(ctx, "olduser"); err != nil {
		t.Fatal("a real account was deleted with the guests")
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fw.db")
	s := open(t, path)
	s.db.Exec(`PRAGMA user_version = 999`)
	s.Close()
	if _, err := OpenSQLite(context.Background(), path); err == nil {
		t.Fatal("opened a database from a newer FedWave")
	}
}

// BenchmarkAppendMessage is one durable chat message (a committed,
// fsynced transaction).
func BenchmarkAppendMessage(b *testing.B) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, filepath.Join(b.TempDir(), "fw.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	u := &User{Name: "alpha", Role: "streamer"}
	s.CreateUser(ctx, u, true)
	for b.Loop() {
		m := &Message{Channel: "alpha", UserID: u.ID, Handle: "alpha#0001", Text: "hello", HTML: "hello"}
		if _, err := s.AppendMessage(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}
