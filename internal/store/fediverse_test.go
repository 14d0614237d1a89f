package store

import (
	"context"
	"path/filepath"
	"testing"
)

// A follower is counted once however often it follows, per channel, and
// is gone after an unfollow.
func TestFollowers(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "fw.db"))
	count := func(ch string) int {
		t.Helper()
		n, err := s.CountFollowers(ctx, ch)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	f := &Follower{Channel: "alice", Actor: "https://m.example/users/bob", Inbox: "https://m.example/users/bob/inbox"}
	for range 2 {
		if err := s.AddFollower(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddFollower(ctx, &Follower{Channel: "carol", Actor: f.Actor, Inbox: f.Inbox}); err != nil {
		t.Fatal(err)
	}
	if got := count("ALICE"); got != 1 {
		t.Fatalf("alice has %d followers, want 1", got)
	}
	if err := s.RemoveFollower(ctx, "alice", f.Actor); err != nil {
		t.Fatal(err)
	}
	if a, c := count("alice"), count("carol"); a != 0 || c != 1 {
		t.Fatalf("after unfollow: alice %d, carol %d; want 0, 1", a, c)
	}
}
