package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
)

// oldDatabase creates a database at schema version n with the migrations
// of that version, as an older FedWave left it.
func oldDatabase(t *testing.T, path string, n int, setup string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, m := range migrations[:n] {
		if _, err := db.Exec(m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(setup); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, n)); err != nil {
		t.Fatal(err)
	}
}

func TestMigrationKeepsDataAndNeverReusesIDs(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	// Version 3: alice streams; guest 3 was made a mod, banned, wrote, and
	// was deleted, leaving its rows behind (no foreign keys then).
	oldDatabase(t, path, 3, `
		INSERT INTO users (id, name, num, color, role, created_at) VALUES
			(1, 'alice', 1111, '#111111', 'streamer', 1), (2, 'bob', 2222, '#222222', 'user', 1),
			(3, 'guest-abcd', 3333, '#333333', 'guest', 1);
		INSERT INTO channels (name, owner_id, title, chat_seq, created_at) VALUES ('alice', 1, 'hello', 2, 1);
		INSERT INTO channel_mods VALUES ('alice', 2), ('alice', 3);
		INSERT INTO bans (scope, user_id, kind, by_id, created_at) VALUES ('alice', 3, 'ban', 1, 1);
		INSERT INTO messages (id, channel, seq, user_id, handle, color, avatar, body, html, ts) VALUES
			(1, 'alice', 1, 1, 'alice#1111', '#111111', '', 'one', 'one', 1),
			(2, 'alice', 2, 3, 'guest-abcd#3333', '#333333', '', 'two', 'two', 1);
		INSERT INTO audit_log (id, ts, actor_id, action, target_id) VALUES (1, 1, 1, 'ban', 3);
		DELETE FROM users WHERE id = 3;`)
	s := open(t, path)

	ch, err := s.Channel(ctx, "alice")
	if err != nil || ch.OwnerID != 1 || ch.Title != "hello" {
		t.Fatalf("channel lost in the rebuild: %+v %v", ch, err)
	}
	if u, err := s.User(ctx, 2); err != nil || u.Name != "bob" {
		t.Fatalf("user lost: %+v %v", u, err)
	}
	if msgs, err := s.RecentMessages(ctx, "alice", 10); err != nil || len(msgs) != 2 || msgs[1].ID != 2 {
		t.Fatalf("messages lost: %+v %v", msgs, err)
	}
	if mod, _ := s.IsChannelMod(ctx, "alice", 2); !mod {
		t.Fatal("bob's mod row lost")
	}
	// The next user gets an id that nothing names yet.
	u := &User{Name: "carol", Num: 4444, Color: "#444444", Role: "user"}
	if err := s.CreateUser(ctx, u, false); err != nil {
		t.Fatal(err)
	}
	if u.ID <= 3 {
		t.Fatalf("new user got id %d, which the deleted guest had", u.ID)
	}
	if mod, _ := s.IsChannelMod(ctx, "alice", 3); mod {
		t.Fatal("the deleted guest's mod row survived")
	}
	// And ids freed later are not reused either.
	v := &User{Name: "guest-zzzz", Num: 5555, Color: "#555555", Role: "guest"}
	if err := s.CreateUser(ctx, v, false); err != nil {
		t.Fatal(err)
	}
	if err := s.SetChannelMod(ctx, "alice", v.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetBan(ctx, Ban{Scope: "alice", UserID: v.ID, Kind: "timeout", ByID: 1}); err != nil {
		t.Fatal(err)
	}
	m := &Message{Channel: "alice", UserID: v.ID, Handle: "guest-zzzz#5555", Text: "x", HTML: "x"}
	if _, err := s.AppendMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteMessage(ctx, "alice", m.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteGuests(ctx, v.CreatedAt.Add(1e9)); err != nil || n != 1 {
		t.Fatalf("delete guests: %d %v", n, err)
	}
	w := &User{Name: "dave", Num: 6666, Color: "#666666", Role: "user"}
	if err := s.CreateUser(ctx, w, false); err != nil {
		t.Fatal(err)
	}
	if w.ID <= v.ID {
		t.Fatalf("user id %d reused", w.ID)
	}
	if mod, _ := s.IsChannelMod(ctx, "alice", v.ID); mod {
		t.Fatal("a deleted guest's mod row survived")
	}
	if b, _ := s.ActiveBan(ctx, "alice", v.ID, v.CreatedAt); b != nil {
		t.Fatal("a deleted guest's ban survived")
	}
	m2 := &Message{Channel: "alice", UserID: w.ID, Handle: "dave#6666", Text: "y", HTML: "y"}
	if _, err := s.AppendMessage(ctx, m2); err != nil {
		t.Fatal(err)
	}
	if m2.ID <= m.ID {
		t.Fatalf("message id %d reused", m2.ID)
	}
	var fk int
	if err := s.db.QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign keys are off after migrating: %d %v", fk, err)
	}
}
