package activitypub

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/store"
)

// fakeStream is a channel whose live state the test sets.
type fakeStream struct {
	mu sync.Mutex
	st Stream
}

func (f *fakeStream) set(live bool) {
	f.mu.Lock()
	f.st.Live = live
	f.mu.Unlock()
}

func (f *fakeStream) get(context.Context, string) (Stream, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st, nil
}

type postActivity struct {
	Type   string
	Object struct {
		ID, Content, Updated string
		Attachment           []struct{ Type, URL string }
	}
}

func nextActivity(t *testing.T, in *inbox) postActivity {
	t.Helper()
	select {
	case body := <-in.bodies:
		var a postActivity
		if err := json.Unmarshal(body, &a); err != nil {
			t.Fatal(err)
		}
		return a
	case <-time.After(20 * time.Second):
		t.Fatal("no activity reached the follower")
	}
	return postActivity{}
}

// One post per stream start, its Update at the end; a start within the
// cool-down, even by a restarted site, posts nothing; after it, a new post.
func TestGoLivePostCooldown(t *testing.T) {
	q := newQueueSite(t)
	fs := &fakeStream{st: Stream{Name: "alice", Title: "Speedrun <1h>", Thumbnail: "/thumbs/alice.png?v=1"}}
	svc := q.start(quick, fs.get, time.Hour)
	in := newInbox(t, &q.key.PublicKey, func(int32) int { return http.StatusAccepted })
	ctx := context.Background()
	for _, actor := range []string{"/users/a", "/users/b"} { // one shared inbox for both
		if err := q.st.AddFollower(ctx, &store.Follower{Channel: "alice", Actor: in.srv.URL + actor, Inbox: in.srv.URL + actor + "/inbox", SharedInbox: in.url()}); err != nil {
			t.Fatal(err)
		}
	}

	fs.set(true)
	svc.StreamChanged("alice")
	svc.StreamChanged("alice") // still the same stream
	create := nextActivity(t, in)
	if create.Type != "Create" || create.Object.Content != `<p>Live now: Speedrun &lt;1h&gt;</p><p><a href="http://fedwave.example/c/alice">http://fedwave.example/c/alice</a></p>` ||
		len(create.Object.Attachment) != 1 || create.Object.Attachment[0].URL != "http://fedwave.example/thumbs/alice.png?v=1" {
		t.Fatalf("Create: %+v", create)
	}
	fs.set(false)
	svc.StreamChanged("alice")
	update := nextActivity(t, in)
	if update.Type != "Update" || update.Object.ID != create.Object.ID || update.Object.Updated == "" ||
		update.Object.Content[:len("<p>Was live: ")] != "<p>Was live: " {
		t.Fatalf("Update: %+v", update)
	}

	// A restart of the stream, and of the site, within the cool-down.
	waitFor(t, "the queue to empty", func() bool { return q.queued() == 0 })
	q.stop()
	svc = q.start(quick, fs.get, time.Hour)
	fs.set(true)
	svc.StreamChanged("alice")
	if _, total, _ := q.st.ChannelPosts(ctx, "alice", 0, 10); total != 1 || q.queued() != 0 {
		t.Fatalf("%d posts, %d deliveries queued after a start within the cool-down; want 1 and 0", total, q.queued())
	}
	fs.set(false)
	svc.StreamChanged("alice")

	// Without a cool-down every start posts.
	q.stop()
	svc = q.start(quick, fs.get, 0)
	fs.set(true)
	svc.StreamChanged("alice")
	if again := nextActivity(t, in); again.Type != "Create" || again.Object.ID == create.Object.ID {
		t.Fatalf("second post: %+v", again)
	}
	// A site stopped during a stream ends its post when it starts again.
	waitFor(t, "the queue to empty", func() bool { return q.queued() == 0 })
	q.stop()
	fs.set(false)
	q.start(quick, fs.get, 0)
	if end := nextActivity(t, in); end.Type != "Update" {
		t.Fatalf("after a restart: %+v", end)
	}
	if got := in.verified.Load(); got != 4 {
		t.Fatalf("%d deliveries to the shared inbox, want 4 (one per activity)", got)
	}
}

// The outbox counts every post and pages them newest first; each Note
// is served at its id.
func TestOutboxPages(t *testing.T) {
	q := newQueueSite(t)
	svc := q.start(quick, nil, 0)
	ctx := context.Background()
	if err := q.st.CreateUser(ctx, &store.User{Name: "alice", Num: 1, Color: "#ffffff", Role: "streamer", CreatedAt: time.Now()}, true); err != nil {
		t.Fatal(err)
	}
	for range outboxPage + 3 {
		if err := q.st.AddPost(ctx, &store.Post{Channel: "alice", Title: "t", StartedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ap/channels/{name}/outbox", svc.Outbox)
	mux.HandleFunc("GET /ap/channels/{name}/posts/{id}", svc.Post)
	getJSON := func(url string, out any) int {
		t.Helper()
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", strings.TrimPrefix(url, "http://fedwave.example"), nil))
		json.Unmarshal(rec.Body.Bytes(), out)
		return rec.Code
	}
	var outbox struct {
		TotalItems int
		First      string
	}
	getJSON("/ap/channels/alice/outbox", &outbox)
	type page struct {
		Next         string
		OrderedItems []struct{ Object struct{ ID string } }
	}
	var first, second page
	getJSON(outbox.First, &first)
	getJSON(first.Next, &second)
	if outbox.TotalItems != outboxPage+3 || len(first.OrderedItems) != outboxPage || len(second.OrderedItems) != 3 || second.Next != "" {
		t.Fatalf("outbox %+v: pages of %d and %d", outbox, len(first.OrderedItems), len(second.OrderedItems))
	}
	newest, oldest := first.OrderedItems[0].Object.ID, second.OrderedItems[2].Object.ID
	if !strings.HasSuffix(newest, "/posts/23") || !strings.HasSuffix(oldest, "/posts/1") {
		t.Fatalf("newest %s, oldest %s", newest, oldest)
	}
	var note struct{ ID, Type string }
	if code := getJSON(oldest, &note); code != http.StatusOK || note.ID != oldest || note.Type != "Note" {
		t.Fatalf("the Note's id: %d %+v", code, note)
	}
	if code := getJSON("/ap/channels/alice/posts/99", &note); code != http.StatusNotFound {
		t.Fatalf("a post that is not there: %d", code)
	}
}
