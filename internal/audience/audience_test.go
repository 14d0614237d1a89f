package audience

import "testing"

func TestDistinctKeysAndChanges(t *testing.T) {
	var changes []string
	r := New(func(ch string) { changes = append(changes, ch) })
	leaveA := r.Join("Alice", UserKey(1))
	leaveB := r.Join("alice", UserKey(1)) // the same person's second connection
	leaveC := r.Join("alice", r.Unique())
	if n := r.Count("ALICE"); n != 2 {
		t.Fatalf("count %d, want 2 (one user twice, one anonymous)", n)
	}
	if len(changes) != 2 {
		t.Fatalf("changes %v: want one per new person", changes)
	}
	leaveA()
	leaveA() // twice is once
	if n := r.Count("alice"); n != 2 {
		t.Fatalf("after one of the user's two connections left: %d, want 2", n)
	}
	leaveB()
	leaveC()
	if n := r.Count("alice"); n != 0 || len(r.channels) != 0 {
		t.Fatalf("all left: count %d, %d channels kept", n, len(r.channels))
	}
	if len(changes) != 4 {
		t.Fatalf("changes %v: want 4", changes)
	}
	if a, b := r.Unique(), r.Unique(); a == b {
		t.Fatalf("unique keys repeat: %s", a)
	}
}

// A linked instance's pull is not a person; the people it reports are.
func TestElsewhere(t *testing.T) {
	var changes int
	r := New(func(string) { changes++ })
	leave := r.Join("alice", PeerKey("b.example"))
	r.Join("alice", UserKey(1))
	if n := r.Count("alice"); n != 1 {
		t.Fatalf("a pull counted as a person: %d", n)
	}
	r.Elsewhere("Alice", "b.example", 3)
	r.Elsewhere("alice", "c.example", 2)
	if n := r.Count("ALICE"); n != 6 {
		t.Fatalf("count with people elsewhere: %d, want 6", n)
	}
	before := changes
	r.Elsewhere("alice", "c.example", 2)
	if changes != before {
		t.Fatal("an unchanged report counted as a change")
	}
	r.Elsewhere("alice", "b.example", 0)
	leave()
	if n := r.Count("alice"); n != 3 {
		t.Fatalf("after b left: %d, want 3", n)
	}
}
