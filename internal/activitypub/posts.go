package activitypub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/fedwave/fedwave/internal/store"
)

// Stream is a local channel's live state, as its go-live post tells it.
type Stream struct {
	Name      string // the channel's name, as spelled
	Live      bool
	Title     string
	Thumbnail string // URL path (or URL) of the channel's preview image, or ""
	NSFW      bool
}

// public is ActivityStreams' everyone.
const public = "https://www.w3.org/ns/activitystreams#Public"

// outboxPage is how many posts an outbox page lists.
const outboxPage = 20

// StreamChanged posts to channel's followers when its stream starts, and
// updates that post when it ends. A start within the cool-down of the
// last post's end posts nothing, so a flapping stream does not spam. Safe
// to call for any change (it compares with what was posted), in any
// order: each call acts on the channel's state at that time.
func (s *Service) StreamChanged(channel string) {
	if s.stream == nil {
		return
	}
	s.postMu.Lock()
	defer s.postMu.Unlock()
	if err := s.syncPost(s.ctx, channel); err != nil && s.ctx.Err() == nil {
		s.log.Error("activitypub: go-live post", "channel", channel, "err", err)
	}
}

func (s *Service) syncPost(ctx context.Context, channel string) error {
	st, err := s.stream(ctx, channel)
	if err != nil {
		return err
	}
	last, err := s.st.LastPost(ctx, channel)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	open := last != nil && last.EndedAt.IsZero()
	now := s.now()
	switch {
	case st.Live && !open:
		if last != nil && now.Sub(last.EndedAt) < s.cooldown {
			return nil
		}
		p := &store.Post{Channel: st.Name, Title: st.Title, Thumbnail: st.Thumbnail, NSFW: st.NSFW, StartedAt: now}
		if err := s.st.AddPost(ctx, p); err != nil {
			return err
		}
		note := s.note(p)
		return s.publish(ctx, p, map[string]any{
			"id": note["id"].(string) + "/activity", "type": "Create", "published": note["published"],
		}, note)
	case !st.Live && open:
		last.EndedAt = now
		if err := s.st.EndPost(ctx, last.ID, now); err != nil {
			return err
		}
		note := s.note(last)
		return s.publish(ctx, last, map[string]any{
			"id": note["id"].(string) + "#ended", "type": "Update", "published": note["updated"],
		}, note)
	}
	return nil
}

// publish sends act (a Create or Update of note) to the post's channel's
// followers.
func (s *Service) publish(ctx context.Context, p *store.Post, act, note map[string]any) error {
	actor := s.ActorURL(p.Channel)
	act["@context"] = "https://www.w3.org/ns/activitystreams"
	act["actor"] = actor
	act["to"], act["cc"] = note["to"], note["cc"]
	act["object"] = note
	body, err := json.Marshal(act)
	if err != nil {
		return fmt.Errorf("post %d: %w", p.ID, err)
	}
	inboxes, err := s.st.FollowerInboxes(ctx, p.Channel)
	if err != nil || len(inboxes) == 0 {
		return err
	}
	return s.send(ctx, p.Channel, body, inboxes)
}

// endStalePosts ends the posts of streams that were live when the site
// last stopped: they are not live now.
func (s *Service) endStalePosts() {
	posts, err := s.st.OpenPosts(s.ctx)
	if err != nil {
		if s.ctx.Err() != nil {
			return
		}
		s.log.Error("activitypub: open go-live posts", "err", err)
		return
	}
	for _, p := range posts {
		s.StreamChanged(p.Channel)
	}
}

// postURL is the id of a post's Note.
func (s *Service) postURL(p *store.Post) string {
	return s.ActorURL(p.Channel) + "/posts/" + strconv.FormatInt(p.ID, 10)
}

// note is a post as the fediverse sees it: a public Note with the title, a
// link to the channel's page and its preview image.
func (s *Service) note(p *store.Post) map[string]any {
	link := s.base + "/c/" + p.Channel
	title := p.Title
	if title == "" {
		title = p.Channel
	}
	lead := "Live now: "
	if !p.EndedAt.IsZero() {
		lead = "Was live: "
	}
	n := map[string]any{
		"id":           s.postURL(p),
		"type":         "Note",
		"attributedTo": s.ActorURL(p.Channel),
		"to":           []string{public},
		"cc":           []string{s.ActorURL(p.Channel) + "/followers"},
		"published":    p.StartedAt.UTC().Format(time.RFC3339),
		"url":          link,
		"sensitive":    p.NSFW,
		"content": "<p>" + lead + html.EscapeString(title) + "</p>" +
			`<p><a href="` + html.EscapeString(link) + `">` + html.EscapeString(link) + "</a></p>",
		"attachment": []any{},
	}
	if img := s.absolute(p.Thumbnail); img != "" {
		n["attachment"] = []any{map[string]string{"type": "Image", "mediaType": imageType(img), "url": img, "name": title}}
	}
	if !p.EndedAt.IsZero() {
		n["updated"] = p.EndedAt.UTC().Format(time.RFC3339)
	}
	return n
}

// absolute makes a local path a URL of this site.
func (s *Service) absolute(u string) string {
	switch {
	case strings.HasPrefix(u, "https://"), strings.HasPrefix(u, "http://"):
		return u
	case strings.HasPrefix(u, "/"):
		return s.base + u
	}
	return ""
}

// imageType is an image's media type from its file name.
func imageType(u string) string {
	u, _, _ = strings.Cut(u, "?")
	switch strings.ToLower(path.Ext(u)) {
	case ".png":
		return "image/png"
	case ".webp":
		return "image/webp"
	}
	return "image/jpeg"
}

// Post answers a go-live post's Note (GET /ap/channels/{name}/posts/{id});
// a browser goes to the channel's page.
func (s *Service) Post(w http.ResponseWriter, r *http.Request) {
	ch, ok := s.channel(w, r, r.PathValue("name"))
	if !ok {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		apError(w, http.StatusNotFound, "no such post")
		return
	}
	p, err := s.st.Post(r.Context(), ch.Name, id)
	if errors.Is(err, store.ErrNotFound) {
		apError(w, http.StatusNotFound, "no such post")
		return
	}
	if err != nil {
		s.log.Error("activitypub post", "channel", ch.Name, "err", err)
		apError(w, http.StatusInternalServerError, "internal error")
		return
	}
	if wantsHTML(r) {
		http.Redirect(w, r, "/c/"+ch.Name, http.StatusSeeOther)
		return
	}
	note := s.note(p)
	note["@context"] = "https://www.w3.org/ns/activitystreams"
	writeAP(w, http.StatusOK, ContentType, note)
}

// Outbox answers a channel's outbox: its go-live posts, newest first, as
// Create activities, in pages of 20 (?page=true, then &max_id=ID).
func (s *Service) Outbox(w http.ResponseWriter, r *http.Request) {
	ch, ok := s.channel(w, r, r.PathValue("name"))
	if !ok {
		return
	}
	id := s.ActorURL(ch.Name) + "/outbox"
	q := r.URL.Query()
	var before int64
	if v := q.Get("max_id"); v != "" {
		var err error
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before <= 0 {
			apError(w, http.StatusBadRequest, "max_id is a post number")
			return
		}
	}
	posts, total, err := s.st.ChannelPosts(r.Context(), ch.Name, before, outboxPage)
	if err != nil {
		s.log.Error("outbox", "channel", ch.Name, "err", err)
		apError(w, http.StatusInternalServerError, "internal error")
		return
	}
	if q.Get("page") == "" {
		writeAP(w, http.StatusOK, ContentType, map[string]any{
			"@context": "https://www.w3.org/ns/activitystreams", "id": id,
			"type": "OrderedCollection", "totalItems": total, "first": id + "?page=true",
		})
		return
	}
	items := make([]any, 0, len(posts))
	for i := range posts {
		note := s.note(&posts[i])
		items = append(items, map[string]any{
			"id": note["id"].(string) + "/activity", "type": "Create", "actor": s.ActorURL(ch.Name),
			"published": note["published"], "to": note["to"], "cc": note["cc"], "object": note,
		})
	}
	pageID := id + "?page=true"
	if before > 0 {
		pageID += "&max_id=" + strconv.FormatInt(before, 10)
	}
	page := map[string]any{
		"@context": "https://www.w3.org/ns/activitystreams", "id": pageID,
		"type": "OrderedCollectionPage", "partOf": id, "totalItems": total, "orderedItems": items,
	}
	if len(posts) == outboxPage {
		page["next"] = id + "?page=true&max_id=" + strconv.FormatInt(posts[len(posts)-1].ID, 10)
	}
	writeAP(w, http.StatusOK, ContentType, page)
}
