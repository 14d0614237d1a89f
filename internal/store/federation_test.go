package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// A linked instance's user has a row of its own: it never takes a local
// name, never signs in by name, never gets a role or a channel, and its id
// is stable across messages (bans and ranks hang on it).
func TestRemoteUsersAreApart(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "fw.db"))
	local := &User{Name: "bob", Num: 1, Color: "#111111", Role: "user"}
	if err := s.CreateUser(ctx, local, false); err != nil {
		t.Fatal(err)
	}
	r1, err := s.RemoteUser(ctx, "b.example", "bob", 1234, "#222222", "")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.RemoteUser(ctx, "B.example", "Bob", 1234, "#333333", "")
	if err != nil {
		t.Fatal(err)
	}
	if r1.ID != r2.ID || r1.ID == local.ID || r2.Color != "#333333" || r2.Instance != "b.example" {
		t.Fatalf("remote rows: %+v %+v (local %d)", r1, r2, local.ID)
	}
	if u, err := s.UserByName(ctx, "bob"); err != nil || u.ID != local.ID {
		t.Fatalf("by name: %+v %v", u, err)
	}
	if err := s.SetRole(ctx, r1.ID, "streamer", true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a remote user got a role: %v", err)
	}
	if got, err := s.RemoteUserByHandle(ctx, "b.example", "bob", 1234); err != nil || got.ID != r1.ID {
		t.Fatalf("by handle: %+v %v", got, err)
	}
	if err := s.CreateUser(ctx, &User{Name: "BOB", Num: 2, Role: "user"}, false); !errors.Is(err, ErrConflict) {
		t.Fatalf("local names stay unique: %v", err)
	}
}

// Mirrored messages keep their home offsets and ids, are stored once, and
// go with their peer.
func TestMirrorAndOutbox(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "fw.db"))
	ch := "alice@a.example:8080"
	now := time.Now()
	ms := []Message{{ID: 70, Channel: ch, Offset: 5, Handle: "x#0001", Text: "a", HTML: "a", TS: now},
		{ID: 71, Channel: ch, Offset: 6, Handle: "x#0001", Text: "b", HTML: "b", TS: now}}
	if err := s.MirrorMessages(ctx, ms); err != nil {
		t.Fatal(err)
	}
	if err := s.MirrorMessages(ctx, ms[1:]); err != nil {
		t.Fatal(err)
	}
	got, err := s.MessagesAfter(ctx, ch, 4, 10)
	if err != nil || len(got) != 2 || got[0].ID != 70 || got[1].Offset != 6 {
		t.Fatalf("mirror: %+v %v", got, err)
	}
	if n, _ := s.LastOffset(ctx, ch); n != 6 {
		t.Fatalf("last offset %d", n)
	}
	if err := s.DeleteMirrored(ctx, ch, []int64{70}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.MessagesAfter(ctx, ch, 0, 10); len(got) != 1 || got[0].ID != 71 {
		t.Fatalf("after delete: %+v", got)
	}
	p := &Peer{Domain: "a.example:8080", URL: "http://a.example:8080", State: "linked", Incoming: true, Outgoing: true}
	if err := s.PutPeer(ctx, p); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := s.AddOutbox(ctx, p.Domain, []byte{'0' + byte(i)}, 2); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AddOutbox(ctx, p.Domain, []byte("x"), 2); !errors.Is(err, ErrFull) {
		t.Fatalf("outbox bound: %v", err)
	}
	items, _ := s.Outbox(ctx, p.Domain, 0, 10)
	if len(items) != 2 || string(items[0].Body) != "0" {
		t.Fatalf("outbox: %+v", items)
	}
	if ok, err := s.DeletePeer(ctx, p.Domain); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if items, _ := s.Outbox(ctx, p.Domain, 0, 10); len(items) != 0 {
		t.Fatal("outbox kept after unlink")
	}
	if got, _ := s.MessagesAfter(ctx, ch, 0, 10); len(got) != 0 {
		t.Fatal("mirror kept after unlink")
	}
}
