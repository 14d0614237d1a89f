package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// SearchUsers matches a name prefix literally (% and _ are letters here),
// leaves out guests and remote users, and pages by name.
func TestSearchUsers(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "db"))
	ctx := context.Background()
	for _, u := range []User{
		{Name: "ann", Role: "user"}, {Name: "anna", Role: "streamer"}, {Name: "annie", Role: "user"},
		{Name: "an_x", Role: "user"}, {Name: "anguest", Role: "guest"},
	} {
		u.Color, u.Num = "#ffffff", 1234
		if err := s.CreateUser(ctx, &u, false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.RemoteUser(ctx, "other.example", "anremote", 1234, "#ffffff", ""); err != nil {
		t.Fatal(err)
	}
	names := func(prefix, after string, limit int) []string {
		list, err := s.SearchUsers(ctx, prefix, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, u := range list {
			out = append(out, u.Name)
		}
		return out
	}
	if got := names("an", "", 10); len(got) != 4 || got[0] != "an_x" || got[3] != "annie" {
		t.Errorf("an: %v", got)
	}
	if got := names("an_", "", 10); len(got) != 1 || got[0] != "an_x" {
		t.Errorf("an_ matched as a pattern: %v", got)
	}
	if got := names("%", "", 10); len(got) != 0 {
		t.Errorf("%% matched as a pattern: %v", got)
	}
	if got := names("ann", "ann", 1); len(got) != 1 || got[0] != "anna" {
		t.Errorf("second page: %v", got)
	}
}

// AuditPage filters by actor and action and pages by id; DeleteUser
// removes the account and its channel.
func TestAuditPageAndDeleteUser(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "db"))
	ctx := context.Background()
	for i, a := range []string{"ban", "role", "ban", "unban"} {
		if err := s.Audit(ctx, AuditEntry{TS: time.Now(), ActorID: int64(1 + i%2), Action: a, TargetID: 9}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := s.AuditPage(ctx, AuditFilter{ActorID: 1, Action: "ban", Limit: 10})
	if err != nil || len(page) != 2 || page[0].ID <= page[1].ID {
		t.Fatalf("actor 1's bans: %+v %v", page, err)
	}
	older, err := s.AuditPage(ctx, AuditFilter{BeforeID: page[0].ID, Limit: 1})
	if err != nil || len(older) != 1 || older[0].Action != "role" {
		t.Fatalf("before %d: %+v %v", page[0].ID, older, err)
	}

	u := User{Name: "gone", Role: "streamer", Color: "#ffffff", Num: 1000}
	if err := s.CreateUser(ctx, &u, true); err != nil {
		t.Fatal(err)
	}
	if err := s.AddFollower(ctx, &Follower{Channel: "gone", Actor: "https://m.example/users/x", Inbox: "https://m.example/users/x/inbox", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddPost(ctx, &Post{Channel: "gone", Title: "t", StartedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CountFollowers(ctx, "gone"); err != nil || n != 0 {
		t.Errorf("the deleted channel's followers: %d %v", n, err)
	}
	if p, err := s.LastPost(ctx, "gone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the deleted channel's posts: %+v %v", p, err)
	}
	if _, err := s.Channel(ctx, "gone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the deleted user's channel: %v", err)
	}
	if err := s.DeleteUser(ctx, u.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting twice: %v", err)
	}
}
