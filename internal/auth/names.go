package auth

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/fedwave/fedwave/internal/fail"
)

// Name rules: 2-24 characters of ASCII letters, digits, '_' and '-'.
const (
	MinNameLen = 2
	MaxNameLen = 24
)

// reserved names would be confusing as accounts or clash with site paths.
var reserved = map[string]bool{
	"admin": true, "administrator": true, "root": true, "system": true, "fedwave": true,
	"guest": true, "guests": true, "anonymous": true, "everyone": true, "here": true,
	"mod": true, "mods": true, "moderator": true, "staff": true, "support": true, "server": true,
	"api": true, "static": true, "assets": true, "emotes": true, "www": true, "c": true,
	"setup": true, "login": true, "logout": true, "register": true, "reset": true,
	"studio": true, "federation": true, "whip": true, "whep": true, "ws": true,
	"metrics": true, "healthz": true, "readyz": true, "null": true, "undefined": true,
}

// CheckNameFormat reports whether name has the allowed length and characters.
func CheckNameFormat(name string) error {
	if len(name) < MinNameLen || len(name) > MaxNameLen {
		return fail.New(fail.Invalid, "invalid_name", "a name has %d to %d characters", MinNameLen, MaxNameLen)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return fail.New(fail.Invalid, "invalid_name", "a name may only contain letters a-z, digits, '_' and '-'")
		}
	}
	return nil
}

// CheckName is CheckNameFormat plus the reserved-word rule for new accounts.
func CheckName(name string) error {
	if err := CheckNameFormat(name); err != nil {
		return err
	}
	lower := strings.ToLower(name)
	if reserved[lower] || strings.HasPrefix(lower, "guest-") {
		return fail.New(fail.Invalid, "reserved_name", "the name %q is reserved", name)
	}
	return nil
}

// CheckOperatorName is the rule for accounts the operator makes on the
// command line: any well-formed name but a guest's. The reserved words keep
// strangers who register from passing as the site's staff ("admin",
// "mod"); the operator is the staff, and `user create admin --role admin`
// is what they type.
func CheckOperatorName(name string) error {
	if err := CheckNameFormat(name); err != nil {
		return err
	}
	if strings.HasPrefix(strings.ToLower(name), "guest-") {
		return fail.New(fail.Invalid, "reserved_name", "names starting with guest- are for guests")
	}
	return nil
}

// CheckSetupName is CheckName for the first admin, made at /setup: the
// setup form asks for an admin name, and "admin" is the obvious answer.
func CheckSetupName(name string) error {
	if strings.EqualFold(name, "admin") {
		return CheckNameFormat(name)
	}
	return CheckName(name)
}

// Handle formats the local handle name#num.
func Handle(name string, num int) string {
	return fmt.Sprintf("%s#%04d", name, num)
}

// ParseHandle splits "name#num"; for a bare name, num is -1.
func ParseHandle(s string) (name string, num int, err error) {
	name, numStr, hasNum := strings.Cut(s, "#")
	if err := CheckNameFormat(name); err != nil {
		return "", 0, err
	}
	if !hasNum {
		return name, -1, nil
	}
	if len(numStr) != 4 || strings.Trim(numStr, "0123456789") != "" {
		return "", 0, fail.New(fail.Invalid, "invalid_handle", "a handle looks like name#1234")
	}
	num, _ = strconv.Atoi(numStr)
	return name, num, nil
}
