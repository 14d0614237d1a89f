package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// A session's last use is written at most once per gap, its client as
// soon as it is known; revoked and expired sessions are not listed, and
// a deleted user's sessions go with it.
func TestSessions(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "fw.db"))
	u := &User{Name: "alice", Num: 1, Color: "#112233", Role: "user"}
	if err := s.CreateUser(ctx, u, false); err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_800_000_000, 0).UTC()
	touch := func(sid string, at time.Time, agent string) {
		t.Helper()
		err := s.TouchSession(ctx, Session{SID: sid, UserID: u.ID, Created: at, LastSeen: at, Expires: t0.Add(24 * time.Hour), Agent: agent}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
	}
	list := func(at time.Time) []Session {
		t.Helper()
		l, err := s.Sessions(ctx, u.ID, at)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	touch("a", t0, "")
	touch("a", t0.Add(10*time.Second), "Firefox") // the client, as soon as it is known
	touch("a", t0.Add(20*time.Second), "Chrome")  // within the gap: nothing
	if l := list(t0); len(l) != 1 || l[0].Agent != "Firefox" || !l[0].LastSeen.Equal(t0.Add(10*time.Second)) || !l[0].Created.Equal(t0) {
		t.Fatalf("after touches within a minute: %+v", l)
	}
	touch("a", t0.Add(2*time.Minute), "Chrome")
	if l := list(t0); l[0].Agent != "Chrome" || !l[0].LastSeen.Equal(t0.Add(2*time.Minute)) || !l[0].Created.Equal(t0) {
		t.Fatalf("after a minute: %+v", l)
	}
	touch("b", t0.Add(3*time.Minute), "curl")
	if err := s.RevokeToken(ctx, "a", t0.Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if l := list(t0); len(l) != 1 || l[0].SID != "b" {
		t.Fatalf("a revoked session is listed: %+v", l)
	}
	if l := list(t0.Add(25 * time.Hour)); len(l) != 0 {
		t.Fatalf("expired sessions are listed: %+v", l)
	}
	s.SetAvatar(ctx, u.ID, "/avatars/a.png")
	if in, err := s.AvatarsInUse(ctx, "/avatars/"); err != nil || len(in) != 1 || !in["/avatars/a.png"] {
		t.Fatalf("avatars in use: %v %v", in, err)
	}
	if err := s.RenameUser(ctx, u.ID, "ALICE2"); err != nil {
		t.Fatal(err)
	}
	other := &User{Name: "bob", Num: 2, Color: "#112233", Role: "guest"}
	s.CreateUser(ctx, other, false)
	if err := s.RenameUser(ctx, other.ID, "alice2"); !errors.Is(err, ErrConflict) {
		t.Fatalf("rename to a taken name: %v", err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, u.ID); err != nil {
		t.Fatal(err)
	}
	var n int
	s.db.QueryRowContext(ctx, `SELECT count(*) FROM sessions`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d sessions outlive their user", n)
	}
}
