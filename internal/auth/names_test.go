package auth

import (
	"strings"
	"testing"
)

// The operator may take the names kept from strangers, but not a guest's.
func TestOperatorNames(t *testing.T) {
	for _, ok := range []string{"admin", "mod", "Moderator", "staff", "alice"} {
		if err := CheckOperatorName(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"guest-1234", "GUEST-ab", "a", "a b", "<script>"} {
		if err := CheckOperatorName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestNames(t *testing.T) {
	for _, ok := range []string{"ab", "Alice_99", "a-b", strings.Repeat("x", 24)} {
		if err := CheckName(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a", strings.Repeat("x", 25), "a b", "zoë", "a#b", "a@b", "<script>", "admin", "Admin", "guest-1234", "null"} {
		if err := CheckName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseHandle(t *testing.T) {
	cases := []struct {
		in   string
		name string
		num  int
		ok   bool
	}{
		{"bob", "bob", -1, true},
		{"bob#0042", "bob", 42, true},
		{"bob#9999", "bob", 9999, true},
		{"bob#42", "", 0, false},
		{"bob#-001", "", 0, false},
		{"bob#12345", "", 0, false},
		{"#1234", "", 0, false},
		{"b o#1234", "", 0, false},
	}
	for _, c := range cases {
		name, num, err := ParseHandle(c.in)
		if (err == nil) != c.ok || (c.ok && (name != c.name || num != c.num)) {
			t.Errorf("ParseHandle(%q) = %q, %d, %v", c.in, name, num, err)
		}
	}
	if Handle("bob", 42) != "bob#0042" {
		t.Fatal(Handle("bob", 42))
	}
}

func FuzzParseHandle(f *testing.F) {
	for _, s := range []string{"bob#1234", "a", "x#", "#", "guest-abcd#0001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, num, err := ParseHandle(s)
		if err != nil {
			return
		}
		if CheckNameFormat(name) != nil || num < -1 || num > 9999 {
			t.Fatalf("ParseHandle(%q) accepted %q %d", s, name, num)
		}
		if num >= 0 && Handle(name, num) != s {
			t.Fatalf("round trip %q -> %q", s, Handle(name, num))
		}
	})
}

func TestRoles(t *testing.T) {
	if !RoleAdmin.AtLeast(RoleModerator) || RoleUser.AtLeast(RoleStreamer) || Role("bogus").AtLeast(RoleGuest) {
		t.Fatal("role order")
	}
	if RoleUser.HasChannel() || !RoleStreamer.HasChannel() || !RoleAdmin.HasChannel() {
		t.Fatal("who has a channel")
	}
	if _, err := ParseRole("guest"); err == nil {
		t.Fatal("guest is not a role one can grant")
	}
	if r, err := ParseRole("moderator"); err != nil || r != RoleModerator {
		t.Fatal(r, err)
	}
}
