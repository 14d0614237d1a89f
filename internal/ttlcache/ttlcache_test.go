package ttlcache

import (
	"testing"
	"time"
)

func TestBoundedAndShort(t *testing.T) {
	c := Cache[int, string]{TTL: time.Second, Max: 100}
	now := time.Now()
	for i := range 110 {
		c.Put(i, "v", now)
		if c.Len() > 100 {
			t.Fatalf("cache grew to %d entries", c.Len())
		}
	}
	c.Put(-1, "x", now)
	if v, ok := c.Get(-1, now.Add(time.Second/2)); !ok || v != "x" {
		t.Fatal("fresh entry missed")
	}
	if _, ok := c.Get(-1, now.Add(time.Second)); ok {
		t.Fatal("entry outlived its TTL")
	}
	if _, ok := c.Get(-1, now.Add(-time.Millisecond)); ok {
		t.Fatal("an entry from the future counts as fresh")
	}
	c.Put(1, "a", now)
	c.Put(2, "b", now)
	c.Forget(1)
	c.ForgetIf(func(v string) bool { return v == "b" })
	if _, ok := c.Get(1, now); ok {
		t.Fatal("Forget kept the entry")
	}
	if _, ok := c.Get(2, now); ok {
		t.Fatal("ForgetIf kept the entry")
	}
	c.Put(3, "c", now)
	c.Clear()
	if c.Len() != 0 {
		t.Fatal("Clear kept entries")
	}
}
