package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// The settings document is kept across a reopen; an invite is spent use by
// use, refused once used up or expired, and gone once deleted.
func TestSiteSettingsAndInvites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s := open(t, path)
	ctx := context.Background()
	if d, err := s.SiteSettings(ctx); err != nil || d != "" {
		t.Fatalf("fresh settings: %q %v", d, err)
	}
	if err := s.SaveSiteSettings(ctx, `{"name":"a"}`); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSiteSettings(ctx, `{"name":"b"}`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path)
	if d, _ := s.SiteSettings(ctx); d != `{"name":"b"}` {
		t.Fatalf("settings after reopen: %q", d)
	}

	now := time.Now()
	two := &Invite{Hash: "h2", MaxUses: 2, CreatedBy: 1, Expires: now.Add(time.Hour)}
	old := &Invite{Hash: "old", MaxUses: 1, CreatedBy: 1, Expires: now.Add(-time.Minute)}
	for _, inv := range []*Invite{two, old} {
		if err := s.CreateInvite(ctx, inv); err != nil || inv.ID == 0 {
			t.Fatalf("create: %v %d", err, inv.ID)
		}
	}
	if err := s.CreateInvite(ctx, &Invite{Hash: "h2", MaxUses: 1, Expires: now}); !errors.Is(err, ErrConflict) {
		t.Errorf("same hash twice: %v", err)
	}
	if err := s.UseInvite(ctx, "old", now); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired invite used: %v", err)
	}
	for i := range 2 {
		if err := s.UseInvite(ctx, "h2", now); err != nil {
			t.Fatalf("use %d: %v", i+1, err)
		}
	}
	if ok, _ := s.InviteValid(ctx, "h2", now); ok {
		t.Error("used-up invite still valid")
	}
	if err := s.UseInvite(ctx, "h2", now); !errors.Is(err, ErrNotFound) {
		t.Errorf("third use of a two-use invite: %v", err)
	}
	s.UnuseInvite(ctx, "h2")
	if ok, _ := s.InviteValid(ctx, "h2", now); !ok {
		t.Error("a use given back is not usable again")
	}
	list, err := s.Invites(ctx)
	if err != nil || len(list) != 2 || list[0].ID != old.ID || list[1].Uses != 1 || list[1].MaxUses != 2 {
		t.Fatalf("list: %+v %v", list, err)
	}
	if err := s.DeleteInvite(ctx, two.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteInvite(ctx, two.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete twice: %v", err)
	}
	if ok, _ := s.InviteValid(ctx, "h2", now); ok {
		t.Error("revoked invite still valid")
	}
}
