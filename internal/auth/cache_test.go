package auth

import (
	"strconv"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/store"
)

func TestAuthCacheIsBoundedAndShort(t *testing.T) {
	c := newAuthCache()
	now := time.Now()
	u := &store.User{ID: 1, Role: "user"}
	for i := range authCacheMax + 10 {
		c.put(strconv.Itoa(i), &Session{User: u}, now)
		if n := c.c.Len(); n > authCacheMax {
			t.Fatalf("cache grew to %d entries", n)
		}
	}
	c.put("x", &Session{User: u}, now)
	got, ok := c.get("x", now.Add(authCacheTTL/2))
	if !ok {
		t.Fatal("fresh entry missed")
	}
	got.User.Role = "admin" // a caller's change must not leak into the cache
	if again, _ := c.get("x", now); again.User.Role != "user" {
		t.Fatal("cache hands out shared users")
	}
	if _, ok := c.get("x", now.Add(authCacheTTL)); ok {
		t.Fatal("entry outlived authCacheTTL")
	}
}
