package auth

import (
	"context"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/fail"
)

func failCode(err error) string {
	if e, ok := fail.As(err); ok {
		return e.Code
	}
	return ""
}

// Registration follows the mode set last: closed refuses, invite-only
// needs a live invite (spent by the sign-up, given back when the name is
// taken), open takes anyone.
func TestRegistrationModes(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	clock := time.Now()
	s.now = func() time.Time { return clock }

	s.SetRegistration(RegistrationClosed)
	if _, _, err := s.Register(ctx, "", "ann", "password1", ""); failCode(err) != "registration_closed" {
		t.Fatalf("closed: %v", err)
	}
	s.SetRegistration(RegistrationInvite)
	if _, _, err := s.Register(ctx, "", "ann", "password1", ""); failCode(err) != "invite_required" {
		t.Fatalf("invite-only without invite: %v", err)
	}
	if _, _, err := s.Register(ctx, "", "ann", "password1", "made-up"); failCode(err) != "invalid_invite" {
		t.Fatalf("made-up invite: %v", err)
	}
	one, _, err := s.CreateInvite(ctx, 1, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s.CreateUser(ctx, "taken", "password1", RoleUser)
	if _, _, err := s.Register(ctx, "", "taken", "password1", one); failCode(err) != "name_taken" {
		t.Fatalf("taken name: %v", err)
	}
	if _, _, err := s.Register(ctx, "", "ann", "password1", one); err != nil {
		t.Fatalf("with the invite, after a failed try: %v", err)
	}
	if _, _, err := s.Register(ctx, "", "bob", "password1", one); failCode(err) != "invalid_invite" {
		t.Fatalf("one-time invite used twice: %v", err)
	}
	short, _, _ := s.CreateInvite(ctx, 1, 5, time.Minute)
	clock = clock.Add(2 * time.Minute)
	if _, _, err := s.Register(ctx, "", "bob", "password1", short); failCode(err) != "invalid_invite" {
		t.Fatalf("expired invite: %v", err)
	}
	s.SetRegistration(RegistrationOpen)
	if _, _, err := s.Register(ctx, "", "bob", "password1", ""); err != nil {
		t.Fatalf("open: %v", err)
	}
	for _, bad := range [][2]int{{0, 60}, {MaxInviteUses + 1, 60}, {1, 1}} {
		if _, _, err := s.CreateInvite(ctx, 1, bad[0], time.Duration(bad[1])*time.Second); err == nil {
			t.Errorf("invite with %d uses for %d s accepted", bad[0], bad[1])
		}
	}
}
