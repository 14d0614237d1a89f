// Package activitypub makes FedWave's channels followable from the
// fediverse (Mastodon, GoToSocial, Misskey, PeerTube): WebFinger and
// NodeInfo discovery, an ActivityPub actor per local channel, an inbox
// taking Follow and Undo, every incoming activity checked with its HTTP
// Signature (subpackage httpsig) against the sender's published key, and a
// post to the followers when a channel goes live (posts.go), sent through
// a durable delivery queue in the database (queue.go).
package activitypub

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"html"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/fedwave/fedwave/internal/federation/wire"
	"github.com/fedwave/fedwave/internal/ratelimit"
	"github.com/fedwave/fedwave/internal/store"
	"github.com/fedwave/fedwave/internal/ttlcache"
)

// Media types of ActivityPub documents.
const (
	ContentType = "application/activity+json"
	ldType      = `application/ld+json; profile="https://www.w3.org/ns/activitystreams"`
)

// Store is what the fediverse side reads and writes.
type Store interface {
	Channel(ctx context.Context, name string) (*store.Channel, error)
	Channels(ctx context.Context) ([]store.Channel, error)
	User(ctx context.Context, id int64) (*store.User, error)
	store.Fediverse
}

// Deps is what the service needs.
type Deps struct {
	Store     Store
	Key       *rsa.PrivateKey // LoadKey's
	PublicURL string
	Name      string // the site's name
	Version   string
	// OpenRegistrations is what NodeInfo tells about signing up.
	OpenRegistrations bool
	// Site, if set, gives the name and OpenRegistrations as they are now
	// (the admin's site settings), in place of the two above.
	Site func() (name string, openRegistrations bool)
	// AllowPrivate lets remote actors live on loopback or private
	// addresses and plain http (tests, LANs), as --federation-allow-private.
	AllowPrivate bool
	Log          *slog.Logger
	// PerHostPerMinute bounds the activities accepted from one host (0:
	// 300).
	PerHostPerMinute int
	// Stream tells a local channel's live state, for its go-live posts
	// (nil: no posts).
	Stream func(ctx context.Context, channel string) (Stream, error)
	// Cooldown: a stream starting within this time of the end of the
	// channel's last post's stream makes no new post (0: every start
	// posts).
	Cooldown time.Duration
	Delivery DeliveryConfig
}

// Service serves the fediverse side of FedWave.
type Service struct {
	st        Store
	key       *rsa.PrivateKey
	pubPEM    string
	base      string // the public URL, without a trailing slash
	host      string
	name      string
	version   string
	openRegs  bool
	site      func() (string, bool)
	allowPriv bool
	log       *slog.Logger
	client    *http.Client
	hostRate  *ratelimit.Keyed
	keys      *ttlcache.Cache[string, remoteKey]
	actors    *ttlcache.Cache[string, *remoteActor]
	now       func() time.Time
	stream    func(ctx context.Context, channel string) (Stream, error)
	cooldown  time.Duration
	postMu    sync.Mutex // one go-live post decision at a time
	refetched *ttlcache.Cache[string, bool]

	delivery DeliveryConfig
	wake     chan struct{} // something was queued
	outcomes chan outcome  // attempts finished

	ctx    context.Context // ends at Close: deliveries stop
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds the service.
func New(d Deps) (*Service, error) {
	pub, err := publicPEM(&d.Key.PublicKey)
	if err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(d.PublicURL, "/")
	_, host, _ := strings.Cut(base, "://")
	log := d.Log
	if log == nil {
		log = slog.Default()
	}
	perHost := d.PerHostPerMinute
	if perHost <= 0 {
		perHost = 300
	}
	ctx, cancel := context.WithCancel(context.Background())
	delivery := d.Delivery.withDefaults()
	s := &Service{
		st: d.Store, key: d.Key, pubPEM: pub, base: base, host: strings.ToLower(host),
		name: d.Name, version: d.Version, openRegs: d.OpenRegistrations, site: d.Site, allowPriv: d.AllowPrivate, log: log,
		client:   wire.NewClient(d.AllowPrivate),
		hostRate: ratelimit.PerMinute(perHost),
		// Keys and actors are cached briefly: a burst of deliveries from
		// one server costs one fetch, and a rotated key is seen soon.
		keys:   &ttlcache.Cache[string, remoteKey]{TTL: 10 * time.Minute, Max: 10000},
		actors: &ttlcache.Cache[string, *remoteActor]{TTL: 10 * time.Minute, Max: 10000},
		// A key is fetched again on a failed check at most once a
		// minute, so forged signatures cannot make us fetch in a loop.
		refetched: &ttlcache.Cache[string, bool]{TTL: time.Minute, Max: 10000},
		now:       time.Now,
		stream:    d.Stream, cooldown: d.Cooldown,
		delivery: delivery,
		wake:     make(chan struct{}, 1),
		outcomes: make(chan outcome, delivery.Concurrency),
		ctx:      ctx, cancel: cancel,
	}
	s.wg.Go(func() {
		s.endStalePosts()
		s.runQueue()
	})
	return s, nil
}

// Close stops the delivery queue, and the deliveries under way (they are
// made again after a restart), and waits for them.
func (s *Service) Close() {
	s.cancel()
	s.wg.Wait()
}

// ActorURL is the id of channel's actor.
func (s *Service) ActorURL(channel string) string { return s.base + "/ap/channels/" + channel }

// instanceActor signs our fetches (servers in authorised-fetch mode ask
// who is fetching).
func (s *Service) instanceActor() string { return s.base + "/ap/actor" }

// writeAP answers an ActivityPub document.
func writeAP(w http.ResponseWriter, status int, contentType string, v any) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// apError answers a fediverse request's failure; these callers are
// servers, so a short JSON message is all they get.
func apError(w http.ResponseWriter, status int, msg string) {
	writeAP(w, status, "application/json; charset=utf-8", map[string]string{"error": msg})
}

// WebFinger answers /.well-known/webfinger for acct:NAME@HOST and for a
// channel's actor URL.
func (s *Service) WebFinger(w http.ResponseWriter, r *http.Request) {
	res := r.URL.Query().Get("resource")
	var name string
	switch {
	case strings.HasPrefix(res, "acct:"):
		user, host, ok := strings.Cut(strings.TrimPrefix(res, "acct:"), "@")
		if !ok || user == "" || host == "" || strings.Contains(host, "@") {
			apError(w, http.StatusBadRequest, "resource must be acct:name@host")
			return
		}
		if !strings.EqualFold(host, s.host) {
			apError(w, http.StatusNotFound, "not an account of this site")
			return
		}
		name = user
	case strings.HasPrefix(res, s.base+"/ap/channels/"):
		name = strings.TrimPrefix(res, s.base+"/ap/channels/")
	case strings.HasPrefix(res, "http://"), strings.HasPrefix(res, "https://"):
		apError(w, http.StatusNotFound, "not an account of this site")
		return
	default:
		apError(w, http.StatusBadRequest, "resource must be acct:name@host")
		return
	}
	ch, ok := s.channel(w, r, name)
	if !ok {
		return
	}
	actor := s.ActorURL(ch.Name)
	writeAP(w, http.StatusOK, "application/jrd+json", map[string]any{
		"subject": "acct:" + ch.Name + "@" + s.host,
		"aliases": []string{actor, s.base + "/c/" + ch.Name},
		"links": []map[string]string{
			{"rel": "self", "type": ContentType, "href": actor},
			{"rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": s.base + "/c/" + ch.Name},
		},
	})
}

// nodeInfoSchema is the NodeInfo version served.
const nodeInfoSchema = "http://nodeinfo.diaspora.software/ns/schema/2.1"

// NodeInfoLinks answers /.well-known/nodeinfo.
func (s *Service) NodeInfoLinks(w http.ResponseWriter, r *http.Request) {
	writeAP(w, http.StatusOK, "application/json", map[string]any{
		"links": []map[string]string{{"rel": nodeInfoSchema, "href": s.base + "/nodeinfo/2.1"}},
	})
}

// NodeInfo answers the NodeInfo 2.1 document; its users are the channels,
// the accounts the fediverse can follow.
func (s *Service) NodeInfo(w http.ResponseWriter, r *http.Request) {
	chans, err := s.st.Channels(r.Context())
	if err != nil {
		s.log.Error("nodeinfo", "err", err)
		apError(w, http.StatusInternalServerError, "internal error")
		return
	}
	name, open := s.name, s.openRegs
	if s.site != nil {
		name, open = s.site()
	}
	writeAP(w, http.StatusOK, `application/json; profile="`+nodeInfoSchema+`#"`, map[string]any{
		"version":           "2.1",
		"software":          map[string]string{"name": "fedwave", "version": s.version},
		"protocols":         []string{"activitypub"},
		"services":          map[string][]string{"inbound": {}, "outbound": {}},
		"openRegistrations": open,
		"usage":             map[string]any{"users": map[string]int{"total": len(chans)}},
		"metadata":          map[string]string{"nodeName": name},
	})
}

// channel finds a local channel, answering 404 when there is none.
func (s *Service) channel(w http.ResponseWriter, r *http.Request, name string) (*store.Channel, bool) {
	if name == "" || strings.ContainsAny(name, "@/") {
		apError(w, http.StatusNotFound, "no such channel")
		return nil, false
	}
	ch, err := s.st.Channel(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		apError(w, http.StatusNotFound, "no such channel")
		return nil, false
	}
	if err != nil {
		s.log.Error("activitypub channel", "channel", name, "err", err)
		apError(w, http.StatusInternalServerError, "internal error")
		return nil, false
	}
	return ch, true
}

// wantsHTML is a browser's request: HTML asked and ActivityPub not.
func wantsHTML(r *http.Request) bool {
	a := r.Header.Get("Accept")
	return strings.Contains(a, "text/html") && !strings.Contains(a, "application/activity+json") && !strings.Contains(a, "application/ld+json")
}

var context2 = []any{"https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"}

// Actor answers a channel's actor document; a browser is sent to the
// channel's page.
func (s *Service) Actor(w http.ResponseWriter, r *http.Request) {
	ch, ok := s.channel(w, r, r.PathValue("name"))
	if !ok {
		return
	}
	if wantsHTML(r) {
		http.Redirect(w, r, "/c/"+ch.Name, http.StatusSeeOther)
		return
	}
	id := s.ActorURL(ch.Name)
	doc := map[string]any{
		"@context":                  context2,
		"id":                        id,
		"type":                      "Service",
		"preferredUsername":         ch.Name,
		"name":                      ch.Name,
		"summary":                   summary(ch.Description),
		"url":                       s.base + "/c/" + ch.Name,
		"inbox":                     id + "/inbox",
		"outbox":                    id + "/outbox",
		"followers":                 id + "/followers",
		"endpoints":                 map[string]string{"sharedInbox": s.base + "/ap/inbox"},
		"manuallyApprovesFollowers": false,
		"discoverable":              true,
		"publicKey":                 map[string]string{"id": id + "#main-key", "owner": id, "publicKeyPem": s.pubPEM},
	}
	if icon := s.avatar(r.Context(), ch); icon != "" {
		doc["icon"] = map[string]string{"type": "Image", "url": icon}
	}
	writeAP(w, http.StatusOK, ContentType, doc)
}

// summary is a description as the fediverse shows it: HTML, escaped, one
// paragraph with line breaks.
func summary(desc string) string {
	if desc == "" {
		return ""
	}
	return "<p>" + strings.ReplaceAll(html.EscapeString(desc), "\n", "<br>") + "</p>"
}

// avatar is the channel owner's avatar as an absolute URL, or "".
func (s *Service) avatar(ctx context.Context, ch *store.Channel) string {
	u, err := s.st.User(ctx, ch.OwnerID)
	if err != nil || u.Avatar == "" {
		return ""
	}
	switch {
	case strings.HasPrefix(u.Avatar, "https://"), strings.HasPrefix(u.Avatar, "http://"):
		return u.Avatar
	case strings.HasPrefix(u.Avatar, "/"):
		return s.base + u.Avatar
	}
	return ""
}

// InstanceActor answers the site's own actor, the signer of our fetches.
func (s *Service) InstanceActor(w http.ResponseWriter, r *http.Request) {
	id := s.instanceActor()
	writeAP(w, http.StatusOK, ContentType, map[string]any{
		"@context":          context2,
		"id":                id,
		"type":              "Application",
		"preferredUsername": s.host,
		"name":              s.name,
		"inbox":             s.base + "/ap/inbox",
		"outbox":            id + "/outbox",
		"url":               s.base + "/",
		"publicKey":         map[string]string{"id": id + "#main-key", "owner": id, "publicKeyPem": s.pubPEM},
	})
}

// Followers answers a channel's followers collection: the count only, as
// Mastodon does, not who they are.
func (s *Service) Followers(w http.ResponseWriter, r *http.Request) {
	ch, ok := s.channel(w, r, r.PathValue("name"))
	if !ok {
		return
	}
	n, err := s.st.CountFollowers(r.Context(), ch.Name)
	if err != nil {
		s.log.Error("followers", "channel", ch.Name, "err", err)
		apError(w, http.StatusInternalServerError, "internal error")
		return
	}
	writeAP(w, http.StatusOK, ContentType, map[string]any{
		"@context": "https://www.w3.org/ns/activitystreams", "id": s.ActorURL(ch.Name) + "/followers",
		"type": "OrderedCollection", "totalItems": n,
	})
}
