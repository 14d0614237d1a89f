package activitypub

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/fedwave/fedwave/internal/activitypub/httpsig"
	"github.com/fedwave/fedwave/internal/store"
)

// deliveryTimeout bounds one delivery to another server.
const deliveryTimeout = 30 * time.Second

// activity is what we read of an incoming activity.
type activity struct {
	ID     string          `json:"id"`
	Type   string          `json:"type"`
	Actor  json.RawMessage `json:"actor"`
	Object json.RawMessage `json:"object"`
}

// idOf reads a property that is a URL or an object with an id.
func idOf(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		ID string `json:"id"`
	}
	json.Unmarshal(raw, &o)
	return o.ID
}

// Inbox takes an activity for a channel (POST /ap/channels/{name}/inbox)
// or for any of them (the shared inbox, /ap/inbox): size- and
// rate-limited, its HTTP Signature checked against its actor's key.
func (s *Service) Inbox(w http.ResponseWriter, r *http.Request) {
	target := r.PathValue("name")
	if target != "" {
		ch, ok := s.channel(w, r, target)
		if !ok {
			return
		}
		target = ch.Name
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxDocument))
	if err != nil {
		apError(w, http.StatusRequestEntityTooLarge, "activity too large")
		return
	}
	sig, err := httpsig.Parse(r)
	if err != nil {
		apError(w, http.StatusUnauthorized, err.Error())
		return
	}
	if u, err := url.Parse(sig.KeyID); err != nil || !s.hostRate.Allow(strings.ToLower(u.Host)) {
		w.Header().Set("Retry-After", s.hostRate.RetryAfter())
		apError(w, http.StatusTooManyRequests, "too many activities from this host")
		return
	}
	key, err := s.verify(r, body, sig)
	if err != nil {
		apError(w, http.StatusUnauthorized, err.Error())
		return
	}
	var act activity
	if err := json.Unmarshal(body, &act); err != nil || act.Type == "" {
		apError(w, http.StatusBadRequest, "not an activity")
		return
	}
	if idOf(act.Actor) != key.owner {
		apError(w, http.StatusUnauthorized, "the signer is not the activity's actor")
		return
	}
	if err := s.handle(r.Context(), target, &act, body); err != nil {
		var bad badActivity
		if errors.As(err, &bad) {
			apError(w, http.StatusBadRequest, bad.Error())
			return
		}
		s.log.Error("activitypub inbox", "type", act.Type, "err", err)
		apError(w, http.StatusInternalServerError, "internal error")
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// verify checks the request's signature with the key it names. A cached
// key that does not match is fetched again, once a minute at most: the
// sender may have rotated it, and a forger must not make us fetch in a
// loop.
func (s *Service) verify(r *http.Request, body []byte, sig *httpsig.Signature) (remoteKey, error) {
	key, err := s.publicKey(r.Context(), sig.KeyID, false)
	if err != nil {
		s.log.Info("activitypub: sender's key not found", "keyId", sig.KeyID, "err", err)
		return remoteKey{}, errors.New("the signature's key could not be fetched")
	}
	err = httpsig.Verify(r, body, sig, key.pub, s.now())
	if !errors.Is(err, httpsig.ErrMismatch) || !key.cached {
		return key, err
	}
	if _, recent := s.refetched.Get(sig.KeyID, s.now()); recent {
		return key, err
	}
	s.refetched.Put(sig.KeyID, true, s.now())
	if key, err = s.publicKey(r.Context(), sig.KeyID, true); err != nil {
		s.log.Info("activitypub: sender's key not found again", "keyId", sig.KeyID, "err", err)
		return remoteKey{}, errors.New("the signature's key could not be fetched")
	}
	return key, httpsig.Verify(r, body, sig, key.pub, s.now())
}

// badActivity is an activity that makes no sense for us.
type badActivity string

func (b badActivity) Error() string { return string(b) }

// handle acts on a verified activity; types we do not use are accepted
// and dropped, as servers send many.
func (s *Service) handle(ctx context.Context, target string, act *activity, body []byte) error {
	actor := idOf(act.Actor)
	switch act.Type {
	case "Follow":
		ch, err := s.followed(ctx, target, idOf(act.Object))
		if err != nil {
			return err
		}
		return s.follow(ctx, ch, actor, body)
	case "Undo":
		var inner activity
		if json.Unmarshal(act.Object, &inner) != nil || inner.Type == "" {
			// Only the Follow's id: we keep none, but a channel's own
			// inbox says which follow it was.
			if target == "" {
				return nil
			}
			return s.st.RemoveFollower(ctx, target, actor)
		}
		if inner.Type != "Follow" {
			return nil
		}
		if idOf(inner.Actor) != actor {
			return badActivity("undoing another actor's follow")
		}
		ch, err := s.followed(ctx, target, idOf(inner.Object))
		if err != nil {
			return err
		}
		return s.st.RemoveFollower(ctx, ch, actor)
	}
	return nil
}

// followed is the local channel a Follow's object names (and that the
// inbox it came to is for, if a channel's).
func (s *Service) followed(ctx context.Context, target, object string) (string, error) {
	name, ok := strings.CutPrefix(object, s.base+"/ap/channels/")
	if !ok || name == "" || strings.ContainsAny(name, "/@#?") {
		return "", badActivity("the object is not a channel of this site")
	}
	ch, err := s.st.Channel(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return "", badActivity("no such channel")
	}
	if err != nil {
		return "", err
	}
	if target != "" && !strings.EqualFold(target, ch.Name) {
		return "", badActivity("the object is not this inbox's channel")
	}
	return ch.Name, nil
}

// follow records actor as a follower of channel and sends it an Accept.
func (s *Service) follow(ctx context.Context, channel, actor string, follow []byte) error {
	a, err := s.actor(ctx, actor)
	if err != nil {
		return badActivity("the follower's actor could not be fetched")
	}
	if _, err := s.remoteURL(a.Inbox); err != nil || !sameHost(a.Inbox, actor) {
		return badActivity("the follower's inbox is not usable")
	}
	shared := a.Endpoints.SharedInbox
	if _, err := s.remoteURL(shared); err != nil || !sameHost(shared, actor) {
		shared = ""
	}
	if err := s.st.AddFollower(ctx, &store.Follower{Channel: channel, Actor: actor, Inbox: a.Inbox, SharedInbox: shared}); err != nil {
		return err
	}
	accept, err := json.Marshal(map[string]any{
		"@context": "https://www.w3.org/ns/activitystreams",
		"id":       s.ActorURL(channel) + "#accepts/" + randomID(),
		"type":     "Accept",
		"actor":    s.ActorURL(channel),
		"object":   json.RawMessage(follow),
	})
	if err != nil {
		return fmt.Errorf("accept: %w", err)
	}
	return s.send(ctx, channel, accept, []string{a.Inbox})
}

// deliver POSTs an activity to an inbox, signed as channel's actor, and
// says how the server answered (0: no answer).
func (s *Service) deliver(ctx context.Context, channel, inbox string, body []byte) (int, error) {
	u, err := s.remoteURL(inbox)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("deliver to %s: %w", inbox, err)
	}
	req.Header.Set("Content-Type", ContentType)
	if err := httpsig.Sign(req, body, s.ActorURL(channel)+"#main-key", s.key, s.now()); err != nil {
		return 0, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("deliver to %s: %w", inbox, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("deliver to %s: status %d", inbox, resp.StatusCode)
	}
	return resp.StatusCode, nil
}

func randomID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}
