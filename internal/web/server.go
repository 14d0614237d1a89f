// Package web serves FedWave over HTTP: the JSON API, the browser pages, the
// static assets and the operational endpoints. It turns requests into calls
// on the services and their errors into the contract's error body.
package web

import (
	"context"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fedwave/fedwave/internal/activitypub"
	"github.com/fedwave/fedwave/internal/audience"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/avatars"
	"github.com/fedwave/fedwave/internal/carry"
	"github.com/fedwave/fedwave/internal/channels"
	"github.com/fedwave/fedwave/internal/chat"
	"github.com/fedwave/fedwave/internal/emotes"
	"github.com/fedwave/fedwave/internal/federation"
	"github.com/fedwave/fedwave/internal/media"
	"github.com/fedwave/fedwave/internal/ratelimit"
	"github.com/fedwave/fedwave/internal/relays"
	"github.com/fedwave/fedwave/internal/sampler"
	"github.com/fedwave/fedwave/internal/settings"
	assets "github.com/fedwave/fedwave/web"
)

// Pinger is something /readyz checks (the database, the bus).
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps is what the web server needs.
type Deps struct {
	Auth       *auth.Service
	Channels   *channels.Service
	Chat       *chat.Hub
	Emotes     *emotes.Set
	Media      *media.Service
	Federation *federation.Service // nil: federation off
	Relays     *relays.Service     // the stream chain (nil: off)
	// ActivityPub makes channels followable from the fediverse (nil: off).
	ActivityPub *activitypub.Service
	Admin       AdminStore // the admin pages' queries
	// Settings are the site settings in force (nil: the built-in ones).
	Settings   *settings.Live
	ConnsPerIP int // chat WebSocket connections per client address
	MediaRate  int // WHIP/WHEP sessions started per minute per client address
	// TURN gives time-limited TURN credentials for a signed-in user's id,
	// or anonymous ones for 0 (nil: no TURN).
	TURN      func(user int64) (urls []string, username, credential string)
	Ready     []Pinger // checked by /readyz
	PublicURL string
	Log       *slog.Logger
	Registry  *prometheus.Registry // metrics are registered here and served on /metrics
	// Vitals keeps the last hour of the registry's figures for the admin
	// overview (nil: no history); DataDir is checked for free space.
	Vitals  *sampler.Sampler
	DataDir string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client; from anyone else the header is ignored.
	TrustedProxies []netip.Prefix
	// RequestTimeout bounds reading a request (body included) and writing
	// its answer; WebSockets are exempt. Zero means 30 s.
	RequestTimeout time.Duration

	// Avatars keeps users' uploaded avatars (nil: uploads off).
	Avatars *avatars.Dir

	// Carry places viewers who help carry a stream (nil: off; the carry
	// socket answers 404 and players show no switch).
	Carry *carry.Hub
	// Audience counts a viewer fed by a fellow viewer (it has no WHEP
	// session) while its carry socket is open (nil: not counted).
	Audience *audience.Registry
}

// Server is FedWave's HTTP handler.
type Server struct {
	auth     *auth.Service
	channels *channels.Service
	chat     *chat.Hub
	emotes   *emotes.Set
	media    *media.Service
	fed      *federation.Service
	relays   *relays.Service
	ap       *activitypub.Service
	admin    AdminStore
	settings *settings.Live
	vitals   *sampler.Sampler
	dataDir  string
	// relayAdmit is set in a relay process (NewRelay) only.
	relayAdmit func(r *http.Request, channel string) (who string, err error)
	peerRate   *ratelimit.Keyed
	turn       func(user int64) (urls []string, username, credential string)
	wsConns    *connLimit
	wsOrigins  []string
	ready      []Pinger
	log        *slog.Logger
	secure     bool // cookies get Secure: the site is served over HTTPS
	publicURL  string
	guestRate  *ratelimit.Keyed
	mediaRate  *ratelimit.Keyed
	iceRate    *ratelimit.Keyed
	digests    digestFeeds // who opens frame digest feeds
	carry      carrySockets
	pages      map[string]*template.Template
	static     http.Handler
	metrics    *httpMetrics
	registry   *prometheus.Registry
	handler    http.Handler
	proxies    []netip.Prefix
	timeout    time.Duration
	batchBufs  *sync.Pool // chat batches' buffers, shared by the connections

	acct accountParts // the account page, avatars and the follow button
}

// New builds the server and its routes.
func New(d Deps) (*Server, error) {
	s := &Server{
		auth:      d.Auth,
		channels:  d.Channels,
		chat:      d.Chat,
		emotes:    d.Emotes,
		media:     d.Media,
		fed:       d.Federation,
		relays:    d.Relays,
		ap:        d.ActivityPub,
		admin:     d.Admin,
		settings:  d.Settings,
		vitals:    d.Vitals,
		dataDir:   d.DataDir,
		peerRate:  ratelimit.PerMinute(120),
		turn:      d.TURN,
		wsConns:   &connLimit{max: max(d.ConnsPerIP, 1), n: map[string]int{}},
		wsOrigins: wsOriginsFor(d.PublicURL),
		ready:     d.Ready,
		log:       d.Log,
		secure:    strings.HasPrefix(d.PublicURL, "https://"),
		publicURL: d.PublicURL,
		guestRate: ratelimit.PerMinute(300),
		mediaRate: ratelimit.PerMinute(max(d.MediaRate, 1)),
		iceRate:   ratelimit.PerMinute(icePerMinute),
		digests:   newDigestFeeds(),
		carry:     newCarrySockets(d.Carry, d.Audience),
		registry:  d.Registry,
		proxies:   d.TrustedProxies,
		timeout:   d.RequestTimeout,
		batchBufs: newBatchBufs(),
	}
	s.acct = newAccountParts(d.Avatars)
	if s.timeout <= 0 {
		s.timeout = 30 * time.Second
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.registry == nil {
		s.registry = prometheus.NewRegistry()
	}
	var err error
	if s.metrics, err = newHTTPMetrics(s.registry); err != nil {
		return nil, err
	}
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	static, err := fs.Sub(assets.FS, "static")
	if err != nil {
		return nil, err
	}
	s.static = http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static)))
	s.handler = s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()

	// Accounts (CONTRACT §2).
	mux.HandleFunc("POST /api/v1/register", s.apiRegister)
	mux.HandleFunc("POST /api/v1/login", s.apiLogin)
	mux.HandleFunc("POST /api/v1/guest", s.apiGuest)
	mux.HandleFunc("GET /api/v1/me", s.apiMe)
	mux.HandleFunc("POST /api/v1/logout", s.apiLogout)
	mux.HandleFunc("POST /api/v1/token", s.apiToken)

	// Channels (CONTRACT §3).
	mux.HandleFunc("GET /api/v1/channels", s.apiChannels)
	mux.HandleFunc("GET /api/v1/channels/{name}", s.apiChannel)
	mux.HandleFunc("PATCH /api/v1/channels/{name}", s.apiPatchChannel)
	mux.HandleFunc("POST /api/v1/channels/{name}/stream-key", s.apiStreamKey)
	mux.HandleFunc("PUT /api/v1/channels/{name}/thumbnail", s.apiThumbnail)
	mux.HandleFunc("GET /thumbs/{file}", s.thumbFile)

	// Chat (CONTRACT §4).
	mux.HandleFunc("GET /ws", s.ws)
	mux.HandleFunc("GET /api/v1/channels/{name}/messages", s.apiMessages)
	mux.HandleFunc("POST /api/v1/channels/{name}/messages", s.apiPostMessage)
	mux.HandleFunc("GET /api/v1/emotes", s.apiEmotes)
	mux.HandleFunc("PUT /api/v1/emotes/{name}", s.apiPutEmote)
	mux.HandleFunc("DELETE /api/v1/emotes/{name}", s.apiDeleteEmote)
	mux.HandleFunc("GET /emotes/{file}", s.emoteFile)

	// Live video (CONTRACT §5).
	mux.HandleFunc("GET /api/v1/ice", s.apiICE)
	mux.HandleFunc("POST /whip/{channel}", s.whipPost)
	mux.HandleFunc("OPTIONS /whip/{channel}", s.whipOptions)
	mux.HandleFunc("PATCH /whip/{channel}/{id}", s.whipPatch)
	mux.HandleFunc("DELETE /whip/{channel}/{id}", s.whipDelete)
	mux.HandleFunc("OPTIONS /whip/{channel}/{id}", s.whipOptions)
	mux.HandleFunc("POST /whep/{channel}", s.whepPost)
	s.whepSessionRoutes(mux)
	mux.HandleFunc("GET /api/v1/channels/{name}/digests", s.apiDigests) // frame digests (digests.go)
	mux.HandleFunc("GET /api/v1/channels/{name}/carry", s.apiCarry)     // viewers who help (carry.go)

	// Stream chain (CONTRACT §5a).
	if s.relays != nil {
		s.relayRoutes(mux)
	}

	// Federation (CONTRACT §6).
	s.federationRoutes(mux)
	activityPubRoutes(mux, s.ap) // CONTRACT §6a

	// Admin pages and their API.
	s.adminRoutes(mux)
	s.settingsRoutes(mux)
	s.accountRoutes(mux) // the account page, its API, avatars and the follow button

	// Operations (CONTRACT §7).
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /metrics", s.metricsEndpoint)

	// Pages (CONTRACT §8).
	mux.HandleFunc("GET /{$}", s.pageHome)
	mux.HandleFunc("GET /c/{name}", s.pageChannel)
	mux.HandleFunc("GET /c/{name}/chat", s.pageChat)
	mux.HandleFunc("GET /c/{name}/embed", s.pageEmbed)
	mux.HandleFunc("GET /studio", s.pageStudio)
	mux.HandleFunc("GET /federation", s.pageFederation)
	mux.HandleFunc("GET /relays", s.pageRelays)
	mux.HandleFunc("GET /login", s.pageLogin)
	mux.HandleFunc("POST /login", s.handleAccountForm(accountForm{"login", "Log in", false, s.formLogin}))
	mux.HandleFunc("GET /register", s.pageRegister)
	mux.HandleFunc("POST /register", s.handleAccountForm(accountForm{"register", "Create an account", true, s.formRegister}))
	mux.HandleFunc("POST /logout", s.formLogout)
	mux.HandleFunc("GET /setup", s.pageSetup)
	mux.HandleFunc("POST /setup", s.handleAccountForm(accountForm{"setup", "Create the admin account", true, s.formSetup}))
	mux.HandleFunc("GET /reset", s.pageReset)
	mux.HandleFunc("POST /reset", s.handleAccountForm(accountForm{"reset", "Choose a password", true, s.formReset}))
	mux.Handle("GET /static/", s.static)

	csrf := http.NewCrossOriginProtection()
	if err := csrf.AddTrustedOrigin(s.publicURL); err != nil {
		s.log.Warn("public URL not usable as a trusted origin", "url", s.publicURL, "err", err)
	}
	// WHIP and WHEP take bearer tokens only, never the cookie: other origins
	// (a studio on another site, OBS) may use them.
	csrf.AddInsecureBypassPattern("/whip/")
	csrf.AddInsecureBypassPattern("/whep/")
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, "cross_origin", "cross-site requests are not allowed")
	}))

	var h http.Handler = s.notFoundAsJSON(mux)
	h = csrf.Handler(h)
	h = securityHeaders(h)
	h = s.instrument(mux, h)
	h = s.recoverPanics(h)
	h = s.withClient(h)
	return withDeadlines(s.timeout, h)
}

// notFoundAsJSON answers unknown routes and wrong methods with the
// contract's error body instead of ServeMux's plain text.
func (s *Server) notFoundAsJSON(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r) // (not h: ServeHTTP also sets the path values)
			return
		}
		// Let ServeMux decide between 404, 405 (with Allow) and redirects,
		// then restate its answer in our shape.
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			if k == "Allow" || k == "Location" {
				w.Header()[k] = v
			}
		}
		switch rec.Code {
		case http.StatusMethodNotAllowed:
			writeError(w, rec.Code, "method_not_allowed", fmt.Sprintf("%s is not allowed here; allowed: %s", r.Method, rec.Header().Get("Allow")))
		case http.StatusNotFound:
			if strings.HasPrefix(r.URL.Path, "/api/") || r.Method != http.MethodGet {
				writeError(w, rec.Code, "not_found", "no such endpoint")
				return
			}
			s.renderStatus(w, r, http.StatusNotFound, "Not found", "There is nothing at this address.")
		default:
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
		}
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	for _, p := range s.ready {
		if err := p.Ping(r.Context()); err != nil {
			s.log.Warn("not ready", "err", err)
			writeError(w, http.StatusServiceUnavailable, "not_ready", "a dependency does not answer: "+err.Error())
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
