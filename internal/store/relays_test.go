package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// A relay's name is taken until it is revoked; a revoked relay keeps its
// row (the API lists it as revoked) and its old token finds it revoked.
func TestRelaysLifecycle(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "fw.db"))
	r := &Relay{Name: "eu1", TokenHash: "h1", TicketKey: "k1"}
	if err := s.CreateRelay(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRelay(ctx, &Relay{Name: "EU1", TokenHash: "h2", TicketKey: "k2"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("second relay of the same name: %v, want ErrConflict", err)
	}
	got, err := s.RelayByToken(ctx, "h1")
	if err != nil || got.Name != "eu1" || got.TicketKey != "k1" || !got.RevokedAt.IsZero() {
		t.Fatalf("by token: %+v %v", got, err)
	}
	if err := s.RevokeRelay(ctx, "eu1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeRelay(ctx, "eu1", time.Now()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoking twice: %v, want ErrNotFound", err)
	}
	if got, _ := s.RelayByToken(ctx, "h1"); got == nil || got.RevokedAt.IsZero() {
		t.Fatalf("the revoked relay's token: %+v", got)
	}
	if err := s.CreateRelay(ctx, &Relay{Name: "eu1", TokenHash: "h3", TicketKey: "k3"}); err != nil {
		t.Fatalf("a new relay under a revoked name: %v", err)
	}
	if _, err := s.RelayByToken(ctx, "h1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the replaced token still finds a relay: %v", err)
	}
	all, err := s.Relays(ctx)
	if err != nil || len(all) != 1 || all[0].TokenHash != "h3" || !all[0].RevokedAt.IsZero() {
		t.Fatalf("relays: %+v %v", all, err)
	}
}
