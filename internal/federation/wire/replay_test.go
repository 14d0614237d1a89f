package wire

import "testing"

func TestReplayCacheStaysBoundedWithoutReopeningReplays(t *testing.T) {
	c := newReplayCache(3)
	const now = 1_000_000
	for i, key := range []string{"a", "b", "c"} {
		if got := c.add(key, now+int64(i), now); got != seenNew {
			t.Fatalf("%s: %v", key, got)
		}
	}
	if got := c.add("b", now+1, now); got != seenBefore {
		t.Fatalf("b again: %v, want seenBefore", got)
	}
	// Full: d pushes a out; a's id is forgotten, so a message as old as a
	// can no longer be told new, and is refused.
	if got := c.add("d", now+3, now); got != seenNew {
		t.Fatalf("d: %v", got)
	}
	if len(c.ids) != 3 {
		t.Fatalf("%d ids remembered, capacity 3", len(c.ids))
	}
	if got := c.add("a", now, now); got != seenMaybe {
		t.Fatalf("a after eviction: %v, want seenMaybe (refused)", got)
	}
	if got := c.add("e", now+4, now); got != seenNew {
		t.Fatalf("e newer than the floor: %v", got)
	}

	// Entries stale by the clock go without raising the floor.
	later := now + 10 + MaxSkew.Milliseconds()
	if got := c.add("f", later, later); got != seenNew {
		t.Fatalf("f: %v", got)
	}
	if len(c.ids) != 1 || c.floor != now+1 {
		t.Fatalf("after expiry: %d ids, floor %d; want 1 id, floor unchanged at %d", len(c.ids), c.floor, now+1)
	}
}

func TestReplayCacheCompactsItsQueue(t *testing.T) {
	c := newReplayCache(100)
	for i := range 10_000 {
		c.add(newID(), int64(i+1), int64(i+1))
	}
	if len(c.ids) != 100 || len(c.queue)-c.head != 100 || cap(c.queue) > 4096 {
		t.Fatalf("ids %d, live %d, queue cap %d: the queue grows without bound", len(c.ids), len(c.queue)-c.head, cap(c.queue))
	}
}
