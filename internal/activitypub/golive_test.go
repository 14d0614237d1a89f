package activitypub_test

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/activitypub/httpsig"
	"github.com/fedwave/fedwave/internal/app/apptest"
)

// whipPublish goes live on channel with a real WebRTC publisher and
// returns the WHIP session's URL, to end it with DELETE.
func whipPublish(t *testing.T, s *apptest.Server, channel, key string) string {
	t.Helper()
	res := apptest.Publish(t, s.URL+"/whip/"+channel, key)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("WHIP: %d", res.StatusCode)
	}
	loc := res.Header.Get("Location")
	if !strings.HasPrefix(loc, "http") {
		loc = s.URL + loc
	}
	return loc
}

// nextSigned is the next activity the remote received, its signature
// checked against the channel's published key.
func (rm *remote) nextSigned(t *testing.T, actor string) map[string]any {
	t.Helper()
	var doc struct{ PublicKey struct{ PublicKeyPem string } }
	get(t, actor, "application/activity+json", &doc)
	select {
	case r := <-rm.inbox:
		body, _ := io.ReadAll(r.Body)
		sig, err := httpsig.Parse(r)
		if err != nil || sig.KeyID != actor+"#main-key" {
			t.Fatalf("signature: %v %+v", err, sig)
		}
		if err := httpsig.Verify(r, body, sig, parseKey(t, doc.PublicKey.PublicKeyPem), time.Now()); err != nil {
			t.Fatalf("signature: %v", err)
		}
		var act map[string]any
		if err := json.Unmarshal(body, &act); err != nil {
			t.Fatal(err)
		}
		return act
	case <-time.After(30 * time.Second):
		t.Fatal("nothing reached the follower")
	}
	return nil
}

// A fediverse follower gets a signed post when the channel goes live with
// a real WHIP publisher (title, link, thumbnail), the same post updated
// when the stream ends; the outbox lists it and its id is its Note.
func TestGoLivePostReachesFollower(t *testing.T) {
	s := startSite(t)
	rm := newRemote(t)
	actor := s.URL + "/ap/channels/alice"
	tok := s.Login("alice", "password1")
	if r := s.Do("PATCH", "/api/v1/channels/alice", map[string]any{"title": "Building a <synth>"}, tok); r.Status != http.StatusOK {
		t.Fatalf("title: %d %v", r.Status, r.Body)
	}
	var img bytes.Buffer
	png.Encode(&img, image.NewGray(image.Rect(0, 0, 16, 9)))
	req, _ := http.NewRequest("PUT", s.URL+"/api/v1/channels/alice/thumbnail", &img)
	req.Header.Set("Authorization", "Bearer "+tok)
	thumb := s.Send(req)
	if thumb.Status != http.StatusOK {
		t.Fatalf("thumbnail: %d %v", thumb.Status, thumb.Body)
	}
	key := s.Do("POST", "/api/v1/channels/alice/stream-key", nil, tok).Body["streamKey"].(string)

	follow := map[string]any{"@context": "https://www.w3.org/ns/activitystreams", "id": rm.srv.URL + "/follows/1",
		"type": "Follow", "actor": rm.bob(), "object": actor}
	if got := rm.post(actor+"/inbox", follow); got != http.StatusAccepted {
		t.Fatalf("Follow: %d", got)
	}
	if a := rm.nextSigned(t, actor); a["type"] != "Accept" {
		t.Fatalf("want the Accept first: %v", a)
	}

	session := whipPublish(t, s, "alice", key)
	create := rm.nextSigned(t, actor)
	note, _ := create["object"].(map[string]any)
	content, _ := note["content"].(string)
	att, _ := note["attachment"].([]any)
	if create["type"] != "Create" || create["actor"] != actor || note["type"] != "Note" ||
		!strings.Contains(content, "Building a &lt;synth&gt;") || !strings.Contains(content, `href="`+s.URL+`/c/alice"`) ||
		len(att) != 1 || att[0].(map[string]any)["url"] != s.URL+thumb.Body["thumbnail"].(string) ||
		att[0].(map[string]any)["type"] != "Image" {
		t.Fatalf("Create: %v", create)
	}
	to, _ := note["to"].([]any)
	cc, _ := note["cc"].([]any)
	if len(to) != 1 || to[0] != "https://www.w3.org/ns/activitystreams#Public" || len(cc) != 1 || cc[0] != actor+"/followers" {
		t.Fatalf("addressing: to %v cc %v", to, cc)
	}

	end, _ := http.NewRequest("DELETE", session, nil)
	end.Header.Set("Authorization", "Bearer "+key)
	if r := s.Send(end); r.Status/100 != 2 {
		t.Fatalf("WHIP DELETE: %d", r.Status)
	}
	update := rm.nextSigned(t, actor)
	updated, _ := update["object"].(map[string]any)
	if update["type"] != "Update" || updated["id"] != note["id"] || !strings.Contains(updated["content"].(string), "Was live: Building a &lt;synth&gt;") {
		t.Fatalf("Update: %v", update)
	}

	var outbox struct {
		TotalItems int
		First      string
	}
	get(t, actor+"/outbox", "application/activity+json", &outbox)
	var page struct {
		OrderedItems []struct {
			Type   string
			Object struct{ ID string }
		}
	}
	get(t, outbox.First, "application/activity+json", &page)
	if outbox.TotalItems != 1 || len(page.OrderedItems) != 1 || page.OrderedItems[0].Type != "Create" || page.OrderedItems[0].Object.ID != note["id"] {
		t.Fatalf("outbox: %+v, page %+v", outbox, page)
	}
	var fetched struct{ ID, Type, Updated string }
	if res := get(t, note["id"].(string), "application/activity+json", &fetched); res.StatusCode != 200 || fetched.ID != note["id"] || fetched.Type != "Note" || fetched.Updated == "" {
		t.Fatalf("the Note's id: %d %+v", res.StatusCode, fetched)
	}
}
