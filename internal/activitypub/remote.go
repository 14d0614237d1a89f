package activitypub

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/fedwave/fedwave/internal/activitypub/httpsig"
)

// maxDocument bounds an activity or actor document read from another
// server.
const maxDocument = 256 << 10

// remoteKey is a verified sender's public key and the actor it belongs to.
type remoteKey struct {
	pub    *rsa.PublicKey
	owner  string
	cached bool // from the cache, not fetched for this request
}

// remoteActor is what we use of another server's actor document.
type remoteActor struct {
	ID        string `json:"id"`
	Inbox     string `json:"inbox"`
	Endpoints struct {
		SharedInbox string `json:"sharedInbox"`
	} `json:"endpoints"`
	PublicKey json.RawMessage `json:"publicKey"`
}

type publicKey struct {
	ID    string `json:"id"`
	Owner string `json:"owner"`
	PEM   string `json:"publicKeyPem"`
}

// keys lists the actor's publicKey entries: one object, or an array.
func (a *remoteActor) keys() []publicKey {
	var one publicKey
	if json.Unmarshal(a.PublicKey, &one) == nil && one.ID != "" {
		return []publicKey{one}
	}
	var many []publicKey
	json.Unmarshal(a.PublicKey, &many)
	return many
}

// errBadURL is a URL we will not fetch or deliver to.
var errBadURL = errors.New("unusable remote URL")

// remoteURL validates a URL we are told to fetch or deliver to: absolute
// https (http too with AllowPrivate), no user info. The dialer checks the
// address it reaches.
func (s *Service) remoteURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || len(raw) > 2048 {
		return nil, fmt.Errorf("%w: %q", errBadURL, raw)
	}
	if u.Scheme != "https" && (u.Scheme != "http" || !s.allowPriv) {
		return nil, fmt.Errorf("%w: %q is not https", errBadURL, raw)
	}
	return u, nil
}

// sameHost reports whether two URLs are on one host.
func sameHost(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && ua.Host != "" && strings.EqualFold(ua.Host, ub.Host)
}

// fetch GETs an ActivityPub document, signed as the instance actor (some
// servers answer only signed fetches).
func (s *Service) fetch(ctx context.Context, raw string, into any) error {
	u, err := s.remoteURL(raw)
	if err != nil {
		return err
	}
	u.Fragment = ""
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", u, err)
	}
	req.Header.Set("Accept", ContentType+`, `+ldType)
	if err := httpsig.Sign(req, nil, s.instanceActor()+"#main-key", s.key, s.now()); err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch %s: status %d", u, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil {
		return fmt.Errorf("fetch %s: %w", u, err)
	}
	if len(body) > maxDocument {
		return fmt.Errorf("fetch %s: document too large", u)
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("fetch %s: %w", u, err)
	}
	return nil
}

// actor fetches (or remembers) an actor document; its id must be the URL
// it came from.
func (s *Service) actor(ctx context.Context, id string) (*remoteActor, error) {
	if a, ok := s.actors.Get(id, s.now()); ok {
		return a, nil
	}
	var a remoteActor
	if err := s.fetch(ctx, id, &a); err != nil {
		return nil, err
	}
	if a.ID != id {
		return nil, fmt.Errorf("actor %s: document's id is %q", id, a.ID)
	}
	s.actors.Put(id, &a, s.now())
	return &a, nil
}

// publicKey finds the key a signature names: the document at keyID holds
// it (an actor, or a key document as GoToSocial serves), and the key's
// owner must be on the same host, which vouches for it. A key is cached;
// refresh fetches it again.
func (s *Service) publicKey(ctx context.Context, keyID string, refresh bool) (remoteKey, error) {
	if k, ok := s.keys.Get(keyID, s.now()); ok && !refresh {
		k.cached = true
		return k, nil
	}
	var doc remoteActor
	if err := s.fetch(ctx, keyID, &doc); err != nil {
		return remoteKey{}, err
	}
	for _, pk := range doc.keys() {
		if pk.ID != keyID {
			continue
		}
		owner := pk.Owner
		if owner == "" {
			owner = doc.ID
		}
		if !sameHost(owner, keyID) || !sameHost(doc.ID, keyID) {
			return remoteKey{}, fmt.Errorf("key %s: owner %q on another host", keyID, owner)
		}
		pub, err := parsePublicPEM(pk.PEM)
		if err != nil {
			return remoteKey{}, fmt.Errorf("key %s: %w", keyID, err)
		}
		k := remoteKey{pub: pub, owner: owner}
		s.keys.Put(keyID, k, s.now())
		if doc.ID == owner && doc.Inbox != "" {
			s.actors.Put(owner, &doc, s.now())
		}
		return k, nil
	}
	return remoteKey{}, errors.New("key " + keyID + ": not in the document it names")
}
