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
