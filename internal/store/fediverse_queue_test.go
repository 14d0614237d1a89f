package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// One delivery per distinct inbox; at most perHost of a host listed as
// due; a finished delivery goes, and its activity with the last one.
func TestDeliveryQueue(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "fw.db"))
	now := time.UnixMilli(1_700_000_000_000)
	lim := QueueLimits{PerHost: 100, Total: 1000}
	inboxes := []string{"https://a.example/inbox", "https://a.example/users/x/inbox", "https://a.example/users/y/inbox",
		"https://b.example/inbox", "https://a.example/inbox", "not a url\x7f"}
	left, err := s.Enqueue(ctx, &Outgoing{Signer: "alice", Body: []byte(`{"n":1}`), Inboxes: inboxes}, lim, now)
	if err != nil || left != 0 {
		t.Fatalf("enqueue: %d left out, %v", left, err)
	}
	if n, _ := s.CountDeliveries(ctx); n != 4 {
		t.Fatalf("%d deliveries, want 4 (the duplicate and the bad URL dropped)", n)
	}
	due, err := s.DueDeliveries(ctx, now, 2, 10)
	if err != nil {
		t.Fatal(err)
	}
	hosts := map[string]int{}
	for _, d := range due {
		hosts[d.Host]++
		if d.Signer != "alice" || string(d.Body) != `{"n":1}` {
			t.Fatalf("delivery %+v", d)
		}
	}
	if len(due) != 3 || hosts["a.example"] != 2 || hosts["b.example"] != 1 {
		t.Fatalf("due: %v", hosts)
	}
	if due, _ := s.DueDeliveries(ctx, now.Add(-time.Second), 2, 10); len(due) != 0 {
		t.Fatalf("%d due before they were queued", len(due))
	}

	// One retried in a minute, the others done.
	var results []DeliveryResult
	all, _ := s.DueDeliveries(ctx, now, 10, 10)
	for i, d := range all {
		results = append(results, DeliveryResult{ID: d.ID, Done: i > 0, Next: now.Add(time.Minute)})
	}
	if err := s.FinishDeliveries(ctx, results); err != nil {
		t.Fatal(err)
	}
	if next, ok, _ := s.NextDeliveryAt(ctx, now); !ok || !next.Equal(now.Add(time.Minute)) {
		t.Fatalf("next delivery at %v %v", next, ok)
	}
	retry, _ := s.DueDeliveries(ctx, now.Add(time.Minute), 10, 10)
	if len(retry) != 1 || retry[0].Attempts != 1 {
		t.Fatalf("retry: %+v", retry)
	}
	if err := s.FinishDeliveries(ctx, []DeliveryResult{{ID: retry[0].ID, Done: true}}); err != nil {
		t.Fatal(err)
	}
	var activities int
	s.db.QueryRow(`SELECT COUNT(*) FROM ap_activities`).Scan(&activities)
	if n, _ := s.CountDeliveries(ctx); n != 0 || activities != 0 {
		t.Fatalf("%d deliveries and %d activities left, want none", n, activities)
	}
}

// Posts page newest first; an ended post is no longer open.
func TestPosts(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "fw.db"))
	start := time.UnixMilli(1_700_000_000_000).UTC()
	var ids []int64
	for i := range 3 {
		p := &Post{Channel: "alice", Title: "t", StartedAt: start.Add(time.Duration(i) * time.Hour)}
		if err := s.AddPost(ctx, p); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	page, total, err := s.ChannelPosts(ctx, "ALICE", 0, 2)
	if err != nil || total != 3 || len(page) != 2 || page[0].ID != ids[2] || page[1].ID != ids[1] {
		t.Fatalf("first page: %+v, %d, %v", page, total, err)
	}
	if page, _, _ := s.ChannelPosts(ctx, "alice", page[1].ID, 2); len(page) != 1 || page[0].ID != ids[0] {
		t.Fatalf("second page: %+v", page)
	}
	if err := s.EndPost(ctx, ids[0], start.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	open, _ := s.OpenPosts(ctx)
	last, _ := s.LastPost(ctx, "alice")
	got, _ := s.Post(ctx, "alice", ids[0])
	if len(open) != 2 || last.ID != ids[2] || !got.EndedAt.Equal(start.Add(time.Minute)) || !got.StartedAt.Equal(start) {
		t.Fatalf("open %d, last %+v, ended %+v", len(open), last, got)
	}
	if _, err := s.Post(ctx, "bob", ids[0]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another channel's post: %v", err)
	}
}
