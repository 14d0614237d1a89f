// Package app is FedWave's composition root: it builds every service from
// the configuration, wires them together, runs them and stops them. The
// command line and the integration tests both start FedWave through it.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/acme/autocert"

	"github.com/fedwave/fedwave/internal/activitypub"
	"github.com/fedwave/fedwave/internal/audience"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/avatars"
	"github.com/fedwave/fedwave/internal/bus"
	"github.com/fedwave/fedwave/internal/carry"
	"github.com/fedwave/fedwave/internal/channels"
	"github.com/fedwave/fedwave/internal/chat"
	"github.com/fedwave/fedwave/internal/config"
	"github.com/fedwave/fedwave/internal/emotes"
	"github.com/fedwave/fedwave/internal/federation"
	"github.com/fedwave/fedwave/internal/federation/wire"
	"github.com/fedwave/fedwave/internal/markup"
	"github.com/fedwave/fedwave/internal/media"
	"github.com/fedwave/fedwave/internal/relays"
	"github.com/fedwave/fedwave/internal/sampler"
	"github.com/fedwave/fedwave/internal/settings"
	"github.com/fedwave/fedwave/internal/store"
	"github.com/fedwave/fedwave/internal/turn"
	"github.com/fedwave/fedwave/internal/web"
)

// Core is the part of FedWave that works on the data directory without
// serving anything: the command-line tools use it directly.
type Core struct {
	Store    store.Store
	Keys     *auth.KeyRing
	Auth     *auth.Service
	Channels *channels.Service
}

// OpenCore opens the database and token keys in cfg's data directory.
func OpenCore(ctx context.Context, cfg config.Config, log *slog.Logger) (*Core, error) {
	if err := privateFiles(cfg, log); err != nil {
		return nil, err
	}
	st, err := store.OpenSQLite(ctx, cfg.DatabasePath())
	if err != nil {
		return nil, err
	}
	keys, err := auth.LoadKeyRing(filepath.Join(cfg.DataDir, "keys"))
	if err != nil {
		st.Close()
		return nil, err
	}
	a, err := auth.New(auth.Deps{Store: st, Keys: keys, Guests: cfg.Guests, AttemptsPerMinute: cfg.AuthRate, Log: log})
	if err != nil {
		st.Close()
		return nil, err
	}
	chans := channels.New(channels.Deps{Store: st, PublicURL: cfg.PublicURL, ThumbDir: filepath.Join(cfg.DataDir, "thumbs")})
	return &Core{Store: st, Keys: keys, Auth: a, Channels: chans}, nil
}

// Close releases the database.
func (c *Core) Close() error { return c.Store.Close() }

// App is a running FedWave site.
type App struct {
	cfg      config.Config
	log      *slog.Logger
	out      io.Writer // where the setup link is printed
	core     *Core
	chat     *chat.Hub
	engine   *media.Engine
	media    *media.Service
	fed      *federation.Service
	relays   *relays.Service
	carry    *carry.Hub // nil: viewers do not help carry streams
	ap       *activitypub.Service
	settings *settings.Live
	avatars  *avatars.Dir
	audience *audience.Registry
	turn     *turn.Server
	news     *audienceNews
	vitals   *sampler.Sampler // the last hour's figures, for the admin overview
	servers  []*http.Server
	lns      []net.Listener
	stop     context.CancelFunc
	wg       sync.WaitGroup
}

// New binds the listening sockets (so that a port of 0 gets its real number
// before the public URL is derived) and builds every service. cfg must have
// been validated.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, out io.Writer) (*App, error) {
	a := &App{cfg: cfg, log: log, out: out}
	if err := a.listen(); err != nil {
		return nil, err
	}
	if cfg.PublicURL == config.DerivePublicURL(cfg.HTTPAddr) && cfg.Domain == "" {
		a.cfg.PublicURL = config.DerivePublicURL(a.lns[0].Addr().String())
	}
	core, err := OpenCore(ctx, a.cfg, log)
	if err != nil {
		a.closeListeners()
		return nil, err
	}
	a.core = core
	fail := func(err error) (*App, error) {
		core.Close()
		a.closeListeners()
		return nil, err
	}
	emoteSet, err := emotes.Open(filepath.Join(a.cfg.DataDir, "emotes"))
	if err != nil {
		return fail(err)
	}
	avatarDir, err := avatars.Open(filepath.Join(a.cfg.DataDir, "avatars"))
	if err != nil {
		return fail(err)
	}
	a.avatars = avatarDir
	engineCfg := media.EngineConfig{Port: cfg.MediaPort, PublicIP: cfg.PublicIP, Loopback: cfg.MediaLoopback, Log: log}
	a.engine, err = media.NewEngine(engineCfg)
	if errors.Is(err, syscall.EADDRINUSE) && cfg.MediaPort == config.DefaultMediaPort {
		engineCfg.Port = 0
		if a.engine, err = media.NewEngine(engineCfg); err == nil {
			log.Warn("the default media port is taken (another instance?): using a free one; set --media-port to choose, and open it in a firewall",
				"default", config.DefaultMediaPort, "port", a.engine.Port())
		}
	}
	if err != nil {
		return fail(err)
	}
	// One audience per channel, counted by the player's and the chat's
	// connections alike.
	a.news = newAudienceNews(a.audienceChanged)
	aud := audience.New(a.news.changed)
	a.audience = aud
	if a.fed, err = a.newFederation(aud); err != nil {
		a.engine.Close()
		return fail(err)
	}
	// Linked sites' streams are pulled through the federation's signed
	// requests; their viewers here count in the audience like any.
	a.media = media.New(a.engine, log, a.liveChanged, aud, media.Federation{Peers: a.fed})
	// The stream chain: relays this origin sends viewers to beyond
	// --max-viewers.
	a.relays = relays.New(relays.Config{Store: core.Store, Media: a.media, Audience: aud, PublicURL: a.cfg.PublicURL, MaxViewers: cfg.MaxViewers, OriginRelays: cfg.OriginRelays, Log: log})
	// Channels as the site shows them: with live state from the media
	// service, and those of linked sites.
	live := &liveState{media: a.media, audience: aud}
	core.Channels = channels.New(channels.Deps{Store: core.Store, PublicURL: a.cfg.PublicURL, Live: live, ThumbDir: filepath.Join(a.cfg.DataDir, "thumbs"), Remote: a.fed})
	b := bus.NewLocal()
	md := markup.New(emoteSet)
	a.chat, err = chat.New(chat.Deps{
		Store:    core.Store,
		Auth:     core.Auth,
		Roles:    core.Auth,
		Channels: core.Channels,
		Markup:   md,
		Bus:      b,
		Audience: aud,
		Log:      log,
		Settings: chat.Settings{MaxLength: cfg.ChatMaxLength, Retention: cfg.ChatRetention, Burst: cfg.ChatBurst, PerSecond: cfg.ChatRate},

		Federation: a.fed,
	})
	if err != nil {
		a.engine.Close()
		return fail(err)
	}
	a.fed.Attach(a.chat)
	if a.settings, err = a.openSettings(ctx, md); err != nil {
		a.engine.Close()
		return fail(err)
	}
	turnCreds, err := a.startTURN()
	if err != nil {
		a.engine.Close()
		return fail(err)
	}
	if a.ap, err = a.newActivityPub(); err != nil {
		a.engine.Close()
		return fail(err)
	}
	reg := prometheus.NewRegistry()
	if err := mediaMetrics(reg, a.media); err != nil {
		a.engine.Close()
		return fail(err)
	}
	if a.vitals, err = overviewSampler(reg, a.chat, log); err != nil {
		a.engine.Close()
		return fail(err)
	}
	if cfg.Carry {
		a.carry = carry.New(carry.Config{Media: a.media, Steady: cfg.CarrySteady, Children: cfg.CarryChildren, Depth: cfg.CarryDepth, Log: log})
	}
	site, err := web.New(web.Deps{
		TURN:       turnCreds,
		Auth:       core.Auth,
		Channels:   core.Channels,
		Chat:       a.chat,
		Emotes:     emoteSet,
		Media:      a.media,
		Federation: a.fed,
		Relays:     a.relays,
		Admin:      core.Store,
		Settings:   a.settings,
		ConnsPerIP: cfg.ConnsPerIP,
		MediaRate:  cfg.MediaRate,
		Ready:      []web.Pinger{core.Store, b},
		PublicURL:  a.cfg.PublicURL,
		Log:        log,
		Registry:   reg,
		Vitals:     a.vitals,
		DataDir:    cfg.DataDir,

		TrustedProxies: cfg.TrustedProxies,
		ActivityPub:    a.ap,
		RequestTimeout: cfg.RequestTimeout,

		Avatars:  avatarDir,
		Carry:    a.carry,
		Audience: a.audience,
	})
	if err != nil {
		if a.carry != nil {
			a.carry.Close()
		}
		return fail(err)
	}
	a.buildServers(site)
	return a, nil
}

func (a *App) listen() error {
	addrs := []string{a.cfg.HTTPAddr}
	if a.cfg.Domain != "" {
		addrs = []string{":443", ":80"}
	}
	for _, addr := range addrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			a.closeListeners()
			return fmt.Errorf("listen on %s: %w", addr, err)
		}
		a.lns = append(a.lns, ln)
	}
	return nil
}

func (a *App) closeListeners() {
	for _, ln := range a.lns {
		ln.Close()
	}
}

func (a *App) buildServers(site http.Handler) {
	newServer := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler: h,
			// Bodies and answers are bounded per request by the site
			// (web.Deps.RequestTimeout), which exempts WebSockets.
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
		}
	}
	if a.cfg.Domain == "" {
		a.servers = []*http.Server{newServer(site)}
		return
	}
	// Automatic HTTPS: certificates from an ACME CA, cached in the data dir;
	// port 80 answers the HTTP-01 challenge and redirects everything else.
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		HostPolicy: autocert.HostWhitelist(a.cfg.Domain),
		Cache:      autocert.DirCache(filepath.Join(a.cfg.DataDir, "acme")),
	}
	tlsSrv := newServer(site)
	tlsSrv.TLSConfig = m.TLSConfig()
	tlsSrv.TLSConfig.MinVersion = tls.VersionTLS12
	a.lns[0] = tls.NewListener(a.lns[0], tlsSrv.TLSConfig)
	// Port 80 has no WebSocket: the server's own timeouts bound it.
	plain := newServer(m.HTTPHandler(nil))
	plain.ReadTimeout, plain.WriteTimeout = a.cfg.RequestTimeout, a.cfg.RequestTimeout
	a.servers = []*http.Server{tlsSrv, plain}
}

// startTURN starts the embedded TURN server (or uses an external one) and
// returns what hands out its time-limited credentials, for a signed-in
// user's id or 0 for anonymous ones; nil when TURN is off.
func (a *App) startTURN() (func(user int64) ([]string, string, string), error) {
	cfg := a.cfg
	var creds *turn.Credentials
	var urls []string
	switch {
	case cfg.TURNSecret != "":
		creds, urls = turn.NewCredentials([]byte(cfg.TURNSecret), 0), []string{cfg.TURNURL}
	case cfg.TURNPort != 0:
		secret, err := turn.LoadSecret(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		creds = turn.NewCredentials(secret, 0)
		host := cfg.PublicIP
		if host == "" {
			u, _ := url.Parse(cfg.PublicURL)
			host = u.Hostname()
		}
		realm := cfg.Domain
		if realm == "" {
			realm = "fedwave"
		}
		tc := turn.Config{
			Port: cfg.TURNPort, ListenIP: turnListen(cfg), PublicIP: cfg.PublicIP, Realm: realm, Creds: creds,
			MediaPeers: mediaPeers(cfg, a.engine.Port()), AllowLoopbackPeers: cfg.TURNLoopback, Log: a.log,
		}
		a.turn, err = turn.New(tc)
		if errors.Is(err, syscall.EADDRINUSE) && cfg.TURNPort == config.DefaultTURNPort {
			if tc.Port, err = freePort(tc.ListenIP); err == nil {
				if a.turn, err = turn.New(tc); err == nil {
					a.log.Warn("the default TURN port is taken (another instance?): using a free one; set --turn-port to choose, and open it in a firewall",
						"default", config.DefaultTURNPort, "port", tc.Port)
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("TURN server: %w", err)
		}
		urls = a.turn.URLs(host)
	default:
		return nil, nil
	}
	return func(user int64) ([]string, string, string) {
		id := turn.Anonymous
		if user != 0 {
			id = turn.User(user)
		}
		name, pass, _ := creds.Issue(id, time.Now())
		return urls, name, pass
	}, nil
}

// freePort finds a port free for both UDP and TCP on ip, for a server
// that binds both itself right after.
func freePort(ip string) (int, error) {
	var err error
	for range 10 {
		var u net.PacketConn
		if u, err = net.ListenPacket("udp", net.JoinHostPort(ip, "0")); err != nil {
			continue
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		var l net.Listener
		l, err = net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		u.Close()
		if err == nil {
			l.Close()
			return port, nil
		}
	}
	return 0, err
}

// mediaPeers are the addresses browsers reach the media port on, as the
// media engine advertises them: --public-ip if set, else the machine's own
// addresses (loopback only with --media-loopback). Anonymous TURN
// allocations may relay to these and nothing else. Addresses are read once,
// at start: a server whose addresses change should set --public-ip.
func mediaPeers(cfg config.Config, port int) []netip.AddrPort {
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(cfg.PublicIP); err == nil {
		ips = append(ips, ip)
	} else if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if ok && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() && !ip.IsUnspecified() {
				ips = append(ips, ip.Unmap())
			}
		}
	}
	if cfg.MediaLoopback {
		ips = append(ips, netip.IPv6Loopback(), netip.AddrFrom4([4]byte{127, 0, 0, 1}))
	}
	peers := make([]netip.AddrPort, 0, len(ips))
	for _, ip := range ips {
		peers = append(peers, netip.AddrPortFrom(ip, uint16(port)))
	}
	return peers
}

// liveState is what channels show as live: the media service's state, and
// as viewers the channel's audience (people watching or chatting, each
// once).
type liveState struct {
	media    *media.Service
	audience *audience.Registry
}

func (l *liveState) Live(channel string) (bool, time.Time, int) {
	live, started, _ := l.media.Live(channel)
	return live, started, l.audience.Count(channel)
}

// audienceChanged tells a channel's pages its new audience, and a linked
// channel's home how many people are on it here.
func (a *App) audienceChanged(channel string) {
	a.announceLive(channel)
	a.chat.PresenceChanged(channel)
	if strings.Contains(channel, "@") {
		a.fed.ReportAudience(channel, a.audience.Count(channel))
	}
}

// newFederation builds the links with other instances, with this
// instance's own key (made on first start).
func (a *App) newFederation(aud *audience.Registry) (*federation.Service, error) {
	key, err := wire.LoadKey(filepath.Join(a.cfg.DataDir, "keys"))
	if err != nil {
		return nil, err
	}
	return federation.New(federation.Deps{
		Store: a.core.Store, Key: key, PublicURL: a.cfg.PublicURL, Version: BuildVersion(),
		Name:         func() string { return a.settings.Get().Name },
		AllowPrivate: a.cfg.FederationAllowPrivate, Audience: aud, Log: a.log,
		Local: func(ctx context.Context) ([]channels.View, error) { return a.core.Channels.Local(ctx) },
	})
}

// newActivityPub makes channels followable from the fediverse, with the
// site's RSA key (made on first start).
func (a *App) newActivityPub() (*activitypub.Service, error) {
	key, err := activitypub.LoadKey(filepath.Join(a.cfg.DataDir, "keys"))
	if err != nil {
		return nil, err
	}
	return activitypub.New(activitypub.Deps{
		Store: a.core.Store, Key: key, PublicURL: a.cfg.PublicURL, Name: a.cfg.Name, Version: BuildVersion(),
		Site: func() (string, bool) {
			cur := a.settings.Get()
			return cur.SiteName(), cur.OpenRegistrations()
		},
		AllowPrivate: a.cfg.FederationAllowPrivate, Log: a.log,
		Cooldown: a.cfg.FediverseCooldown,
		Stream: func(ctx context.Context, channel string) (activitypub.Stream, error) {
			v, err := a.core.Channels.Get(ctx, channel)
			if err != nil {
				return activitypub.Stream{}, err
			}
			return activitypub.Stream{Name: v.Name, Live: v.Live, Title: v.Title, Thumbnail: v.Thumbnail, NSFW: v.NSFW}, nil
		},
	})
}

// openSettings loads the site settings (the flags until an admin saves)
// and applies them to the services that keep a copy.
func (a *App) openSettings(ctx context.Context, md *markup.Renderer) (*settings.Live, error) {
	return settings.Open(ctx, settings.Deps{
		Store: a.core.Store,
		Defaults: settings.Values{
			Name: a.cfg.Name, Registration: auth.RegistrationOpen, Guests: a.cfg.Guests,
			ChatMaxLength: a.cfg.ChatMaxLength, ChatRate: a.cfg.ChatRate, ChatBurst: a.cfg.ChatBurst,
		},
		Render: md.Render,
		Apply: func(v settings.Values) {
			a.core.Auth.SetGuests(v.Guests)
			a.core.Auth.SetRegistration(v.Registration)
			a.chat.SetLimits(v.ChatMaxLength, v.ChatRate, v.ChatBurst)
		},
	})
}

// turnListen keeps a test's TURN server on loopback.
func turnListen(cfg config.Config) string {
	if cfg.TURNLoopback {
		return "127.0.0.1"
	}
	return ""
}

// Version is set at build time with
// -ldflags "-X github.com/fedwave/fedwave/internal/app.Version=…".
var Version string

// BuildVersion is this binary's version, the same in `fedwave version`,
// /.well-known/fedwave and NodeInfo: Version if set, else the module
// version it was built as, else "dev".
func BuildVersion() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// liveChanged: a stream started or ended. The pages are told, and a local
// channel's fediverse followers.
func (a *App) liveChanged(channel string) {
	a.announceLive(channel)
	if !strings.Contains(channel, "@") {
		a.ap.StreamChanged(channel)
	}
}

// announceLive tells chat clients (and linked sites) that a channel went
// live, changed or ended.
func (a *App) announceLive(channel string) {
	if !strings.Contains(channel, "@") {
		a.fed.LocalChanged()
	}
	v, err := a.core.Channels.Get(context.Background(), channel)
	if err != nil {
		a.log.Warn("announce live state", "channel", channel, "err", err)
		return
	}
	a.chat.Announce(v)
}

// URL is the site's public URL.
func (a *App) URL() string { return a.cfg.PublicURL }

// Addr is the address the main listener is bound to.
func (a *App) Addr() string { return a.lns[0].Addr().String() }

// Core gives access to the services, for tests and tools.
func (a *App) Core() *Core { return a.core }

// Start serves in the background, prints the setup link when there is no
// admin yet, and starts periodic cleanup.
func (a *App) Start(ctx context.Context) error {
	ctx, a.stop = context.WithCancel(ctx)
	for i, srv := range a.servers {
		ln := a.lns[i]
		a.wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("web server stopped", "addr", ln.Addr().String(), "err", err)
			}
		})
	}
	a.log.Info("FedWave is serving", "url", a.cfg.PublicURL, "listen", a.Addr(), "data", a.cfg.DataDir)
	tok, err := a.core.Auth.SetupLinkToken(ctx)
	if err != nil {
		return fmt.Errorf("setup link: %w", err)
	}
	if tok != "" {
		// Printed, not logged: it is a secret meant for the operator's eyes.
		fmt.Fprintf(a.out, "\nNo admin account yet. Open this link within 1 hour to create it:\n\n    %s/setup?token=%s\n\n", a.cfg.PublicURL, tok)
	}
	a.wg.Go(func() { a.cleanupLoop(ctx) })
	a.wg.Go(func() { a.media.Run(ctx) }) // ends demoted streamers' streams
	a.wg.Go(func() { a.fed.Run(ctx) })
	a.wg.Go(func() { a.relays.Run(ctx) })
	a.wg.Go(func() { a.vitals.Run(ctx, sampler.Every) })
	return nil
}

func (a *App) cleanupLoop(ctx context.Context) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		if err := errors.Join(a.core.Auth.Cleanup(ctx), a.chat.Cleanup(ctx), a.sweepAvatars(ctx)); err != nil && ctx.Err() == nil {
			a.log.Warn("cleanup", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Shutdown stops accepting requests, lets running ones finish (until ctx
// ends), closes chat connections once what they sent is stored, then closes
// the database.
func (a *App) Shutdown(ctx context.Context) error {
	a.news.close()
	var errs []error
	for _, srv := range a.servers {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if a.carry != nil {
		a.carry.Close() // its sockets are hijacked: Shutdown leaves them open
	}
	a.fed.Close()
	a.ap.Close()
	a.media.Close()
	a.engine.Close()
	a.turn.Close()
	if err := a.chat.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("close chat: %w", err))
	}
	a.closeListeners() // in case Start never ran
	if a.stop != nil {
		a.stop()
	}
	a.wg.Wait()
	errs = append(errs, a.core.Close())
	return errors.Join(errs...)
}

// mediaMetrics puts the media service's state on /metrics.
func mediaMetrics(reg prometheus.Registerer, m *media.Service) error {
	c := m.Counters()
	sessions := func(viewers bool) func() float64 {
		return func() float64 {
			p, v := m.Sessions()
			if viewers {
				return float64(v)
			}
			return float64(p)
		}
	}
	total := func(n *atomic.Int64) func() float64 { return func() float64 { return float64(n.Load()) } }
	for _, col := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fedwave_media_publishers", Help: "WHIP sessions connected now."}, sessions(false)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fedwave_media_viewers", Help: "WHEP sessions connected now."}, sessions(true)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fedwave_media_retransmissions_total", Help: "Packets sent again on viewers' NACKs."}, total(&c.Resent)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fedwave_media_backlog_drops_total", Help: "Slow viewers whose backlog was dropped; they resumed at the next keyframe."}, total(&c.BacklogDrops)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fedwave_media_keyframe_requests_total", Help: "Keyframe requests (PLI) sent to publishers."}, total(&c.KeyframeRequests)),
	} {
		if err := reg.Register(col); err != nil {
			return err
		}
	}
	return nil
}
