// Package config holds FedWave's settings: one struct, filled from flags,
// FEDWAVE_* environment variables and an optional config file (in that order
// of precedence), and validated once at start.
package config

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is every setting of `fedwave serve`.
type Config struct {
	DataDir       string // --data
	HTTPAddr      string // --http
	PublicURL     string // --public-url
	Domain        string // --domain: automatic HTTPS for this name
	MediaPort     int    // --media-port: UDP (and TCP fallback) for WebRTC media; 0 picks a free port
	PublicIP      string // --public-ip: address advertised for media (NAT'd servers)
	MediaLoopback bool   // --media-loopback: offer 127.0.0.1 media candidates
	TURNPort      int    // --turn-port: 0 turns the embedded TURN server off
	TURNSecret    string // --turn-secret: use an external TURN server with this REST secret
	TURNURL       string // --turn-url: that server's URL, e.g. turn:turn.example.org:3478
	TURNLoopback  bool   // --turn-allow-loopback: let TURN relay to 127.0.0.1 (single-machine tests)
	Database      string // --database: empty means SQLite in DataDir
	Bus           string // --bus: empty means in-process
	Guests        bool   // --guests: allow guest identities
	AuthRate      int    // --auth-rate: login/register attempts per minute per IP
	LogLevel      string // --log-level

	ChatMaxLength int           // --chat-max-length: characters per message
	ChatRetention time.Duration // --chat-retention: how long messages are kept
	ConnsPerIP    int           // --conns-per-ip: WebSocket connections per IP address
	MediaRate     int           // --media-rate: WHIP/WHEP sessions started per minute per IP address
	ChatRate      float64       // --chat-rate: messages per second per user, after
	ChatBurst     int           // --chat-burst: this many at once

	// TrustedProxies (--trusted-proxy, repeatable) are the reverse proxies
	// whose X-Forwarded-For is believed; none by default.
	TrustedProxies []netip.Prefix
	RequestTimeout time.Duration // --request-timeout: bound on reading a request and writing its answer

	Name                   string // --name: the site's name, shown to people and linked sites
	FederationAllowPrivate bool   // --federation-allow-private: peers on loopback/private addresses and plain http
	MaxViewers             int    // --max-viewers: persons the origin serves itself before sending viewers to relays (0: no limit)
	OriginRelays           int    // --origin-relays: relays the origin feeds itself (0: the chain's default)

	// FediverseCooldown (--fediverse-cooldown): a stream starting again
	// this soon after the last go-live post's stream ended posts nothing.
	FediverseCooldown time.Duration

	// Carry (--carry): viewers may help carry streams (the player's
	// switch and its control socket); CarrySteady (--carry-steady): how
	// long a helping viewer's connection is measured good before it takes
	// children.
	Carry       bool
	CarrySteady time.Duration
	// CarryChildren (--carry-children): viewers one helping viewer feeds
	// at most (1 or 2: the player offers 2). CarryDepth (--carry-depth):
	// browser hops in a row below a server at most (1 to 4).
	CarryChildren int
	CarryDepth    int
}

// The default media and TURN ports. When another process holds one (a
// second instance on one machine), serve takes a free port instead and
// says so; a port set to anything else must be free.
const (
	DefaultMediaPort = 8189
	DefaultTURNPort  = 3478
)

// Default returns the settings used when nothing is given.
func Default() Config {
	return Config{
		DataDir:   "./data",
		HTTPAddr:  "127.0.0.1:8080",
		MediaPort: DefaultMediaPort,
		TURNPort:  DefaultTURNPort,
		Guests:    true,
		AuthRate:  30,
		LogLevel:  "info",

		ChatMaxLength: 500,
		ChatRetention: 7 * 24 * time.Hour,
		ConnsPerIP:    100,
		MediaRate:     60,
		ChatRate:      1,
		ChatBurst:     5,

		RequestTimeout: 30 * time.Second,

		FediverseCooldown: 15 * time.Minute,

		Carry:         true,
		CarrySteady:   20 * time.Second,
		CarryChildren: 2,
		CarryDepth:    2,
	}
}

// ErrHelp is returned when the user asked for -h/--help.
var ErrHelp = flag.ErrHelp

// Register defines every setting as a flag on fs, writing into c.
func (c *Config) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data", c.DataDir, "data directory: database, keys, uploads")
	fs.StringVar(&c.HTTPAddr, "http", c.HTTPAddr, "address the web server listens on")
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "URL people use to reach this site (default derived from --http or --domain)")
	fs.StringVar(&c.Domain, "domain", c.Domain, "domain name; turns on automatic HTTPS on ports 80 and 443")
	fs.IntVar(&c.MediaPort, "media-port", c.MediaPort, "UDP port for all WebRTC media, and the same TCP port as fallback")
	fs.StringVar(&c.PublicIP, "public-ip", c.PublicIP, "public IP address to advertise for media, when the server is behind NAT")
	fs.BoolVar(&c.MediaLoopback, "media-loopback", c.MediaLoopback, "offer loopback (127.0.0.1) media candidates, for viewers on the same machine")
	fs.IntVar(&c.TURNPort, "turn-port", c.TURNPort, "port of the embedded TURN server (0 turns it off)")
	fs.StringVar(&c.TURNSecret, "turn-secret", c.TURNSecret, "REST secret of an external TURN server (e.g. coturn's static-auth-secret); turns the embedded one off")
	fs.BoolVar(&c.TURNLoopback, "turn-allow-loopback", c.TURNLoopback, "let the embedded TURN server relay to loopback addresses (only for tests on one machine)")
	fs.StringVar(&c.TURNURL, "turn-url", c.TURNURL, "URL of the external TURN server, e.g. turn:turn.example.org:3478")
	fs.StringVar(&c.Database, "database", c.Database, "database URL (default: SQLite file in the data directory)")
	fs.StringVar(&c.Bus, "bus", c.Bus, "message bus URL (default: in-process)")
	fs.BoolVar(&c.Guests, "guests", c.Guests, "allow guest identities (until an admin saves site settings on /admin: the saved value wins)")
	fs.IntVar(&c.AuthRate, "auth-rate", c.AuthRate, "login and register attempts allowed per minute per IP address")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn or error")
	fs.IntVar(&c.ChatMaxLength, "chat-max-length", c.ChatMaxLength, "characters allowed in one chat message (a value saved on /admin wins)")
	fs.DurationVar(&c.ChatRetention, "chat-retention", c.ChatRetention, "how long chat messages are kept, e.g. 168h")
	fs.IntVar(&c.ConnsPerIP, "conns-per-ip", c.ConnsPerIP, "chat (WebSocket) connections allowed per IP address")
	fs.IntVar(&c.MediaRate, "media-rate", c.MediaRate, "WHIP and WHEP sessions allowed to start per minute per IP address")
	fs.Float64Var(&c.ChatRate, "chat-rate", c.ChatRate, "chat messages per second one user may send (after the burst; a value saved on /admin wins)")
	fs.IntVar(&c.ChatBurst, "chat-burst", c.ChatBurst, "chat messages one user may send at once (a value saved on /admin wins)")
	fs.Var((*prefixList)(&c.TrustedProxies), "trusted-proxy", "reverse proxy (CIDR or address) whose X-Forwarded-For is believed; repeat, or separate with commas")
	fs.DurationVar(&c.RequestTimeout, "request-timeout", c.RequestTimeout, "time to read a request (with its body) and to write its answer; WebSockets are not bound by it")
	fs.StringVar(&c.Name, "name", c.Name, "the site's name, shown on its pages and to linked sites (default: its host; a name saved on /admin wins on the pages and NodeInfo)")
	fs.IntVar(&c.MaxViewers, "max-viewers", c.MaxViewers, "viewers this site serves itself; more are sent to its relays (0: no limit, relays unused)")
	fs.IntVar(&c.OriginRelays, "origin-relays", c.OriginRelays, "relays this site feeds itself; the others are fed by relays (0: a default of 4)")
	fs.BoolVar(&c.FederationAllowPrivate, "federation-allow-private", c.FederationAllowPrivate, "accept linked sites on loopback or private addresses and over plain http (tests, LANs)")
	fs.BoolVar(&c.Carry, "carry", c.Carry, "viewers may help carry a stream to other viewers (a switch in the player, off for each viewer until they turn it on); false: no switch, no carry socket")
	fs.DurationVar(&c.CarrySteady, "carry-steady", c.CarrySteady, "how long a helping viewer's connection must be measured good before other viewers are placed on it")
	fs.IntVar(&c.CarryChildren, "carry-children", c.CarryChildren, "viewers one helping viewer feeds at most (1 or 2)")
	fs.IntVar(&c.CarryDepth, "carry-depth", c.CarryDepth, "browser hops in a row below a server at most (1 to 4): each hop adds a little latency, and a departure upsets everything below it")
	fs.DurationVar(&c.FediverseCooldown, "fediverse-cooldown", c.FediverseCooldown, "a stream starting again within this time of the last go-live post's end posts nothing new to the fediverse (0: every start posts)")
}

// prefixList is a repeatable flag of CIDR prefixes. A bare address is a
// prefix of one host; commas separate several in one value (for the
// environment and the config file, which give a setting once).
type prefixList []netip.Prefix

func (l *prefixList) String() string {
	parts := make([]string, len(*l))
	for i, p := range *l {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

func (l *prefixList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return fmt.Errorf("%q: want a CIDR such as 10.0.0.0/8 or an IP address", s)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		*l = append(*l, p.Masked())
	}
	return nil
}

// Load parses args into a Config. Precedence: flags, then FEDWAVE_<FLAG>
// environment variables (getenv), then the file named by --config (or
// FEDWAVE_CONFIG), then defaults. extra lets a command add flags of its own.
// It returns the positional arguments.
func Load(name string, args []string, getenv func(string) string, extra func(*flag.FlagSet)) (Config, []string, error) {
	c := Default()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var configFile string
	fs.StringVar(&configFile, "config", "", "optional config file of `key = value` lines")
	c.Register(fs)
	if extra != nil {
		extra(fs)
	}
	// Flags may stand before, between and after positional arguments.
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(os.Stderr)
				fs.PrintDefaults()
			}
			return c, nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		rest, args = append(rest, fs.Arg(0)), fs.Args()[1:]
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["config"] {
		configFile = getenv("FEDWAVE_CONFIG")
	}

	// Lowest first: the file, then the environment; explicit flags win.
	if configFile != "" {
		values, err := readFile(configFile)
		if err != nil {
			return c, nil, err
		}
		for k, v := range values {
			if k == "config" || fs.Lookup(k) == nil {
				return c, nil, fmt.Errorf("config file %s: unknown setting %q", configFile, k)
			}
			if set[k] || getenv(envName(k)) != "" {
				continue
			}
			if err := fs.Set(k, v); err != nil {
				return c, nil, fmt.Errorf("config file %s: %s: %w", configFile, k, err)
			}
		}
	}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		v := getenv(envName(f.Name))
		if v == "" || set[f.Name] || f.Name == "config" || envErr != nil {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			envErr = fmt.Errorf("%s: %w", envName(f.Name), err)
		}
	})
	if envErr != nil {
		return c, nil, envErr
	}
	return c, rest, nil
}

func envName(flagName string) string {
	return "FEDWAVE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// readFile reads `key = value` lines; blank lines and lines starting with #
// are ignored. Values may be quoted.
func readFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	values := map[string]string{}
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("config file %s:%d: want `key = value`", path, n)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		}
		values[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return values, nil
}

// Validate checks every setting and fills the derived ones (PublicURL).
// Its errors are one readable line each.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("--data must not be empty")
	}
	if err := checkWritableDir(c.DataDir); err != nil {
		return err
	}
	_, port, err := net.SplitHostPort(c.HTTPAddr)
	if err != nil {
		return fmt.Errorf("--http %q: want host:port, e.g. 127.0.0.1:8080", c.HTTPAddr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("--http %q: port must be a number from 0 to 65535", c.HTTPAddr)
	}
	if c.PublicIP != "" && net.ParseIP(c.PublicIP) == nil {
		return fmt.Errorf("--public-ip %q: want an IP address", c.PublicIP)
	}
	if err := checkPort("--media-port", c.MediaPort, true); err != nil {
		return err
	}
	if err := checkPort("--turn-port", c.TURNPort, true); err != nil {
		return err
	}
	if (c.TURNSecret == "") != (c.TURNURL == "") {
		return errors.New("--turn-secret and --turn-url go together (an external TURN server)")
	}
	if c.TURNURL != "" && !strings.HasPrefix(c.TURNURL, "turn:") && !strings.HasPrefix(c.TURNURL, "turns:") {
		return fmt.Errorf("--turn-url %q: want turn:host:port or turns:host:port", c.TURNURL)
	}
	if c.Domain != "" && (strings.ContainsAny(c.Domain, "/: ") || !strings.Contains(c.Domain, ".")) {
		return fmt.Errorf("--domain %q: want a bare domain name such as live.example.org", c.Domain)
	}
	switch {
	case c.Database == "", strings.HasPrefix(c.Database, "sqlite:"):
	case strings.HasPrefix(c.Database, "postgres://"), strings.HasPrefix(c.Database, "postgresql://"):
		return errors.New("--database: PostgreSQL is not supported by this build yet; leave it empty for SQLite")
	default:
		return fmt.Errorf("--database: unknown kind of URL (want empty, sqlite:PATH or postgres://…)")
	}
	switch {
	case c.Bus == "", c.Bus == "inprocess":
	case strings.HasPrefix(c.Bus, "nats://"):
		return errors.New("--bus: NATS is not supported by this build yet; leave it empty for the in-process bus")
	default:
		return fmt.Errorf("--bus %q: unknown kind of URL", c.Bus)
	}
	if c.AuthRate < 1 {
		return errors.New("--auth-rate must be at least 1")
	}
	if c.MaxViewers < 0 || c.OriginRelays < 0 {
		return errors.New("--max-viewers and --origin-relays must be 0 (the default) or more")
	}
	if c.ChatMaxLength < 1 || c.ChatMaxLength > 4000 {
		return errors.New("--chat-max-length must be from 1 to 4000")
	}
	if c.FediverseCooldown < 0 {
		return errors.New("--fediverse-cooldown must be 0 or more")
	}
	if c.CarrySteady < 0 {
		return errors.New("--carry-steady must be 0 or more")
	}
	if c.CarryChildren < 1 || c.CarryChildren > 2 {
		return errors.New("--carry-children must be 1 or 2")
	}
	if c.CarryDepth < 1 || c.CarryDepth > 4 {
		return errors.New("--carry-depth must be from 1 to 4")
	}
	if c.ChatRetention < time.Minute {
		return errors.New("--chat-retention must be at least 1m")
	}
	if c.ChatRate <= 0 || c.ChatBurst < 1 {
		return errors.New("--chat-rate must be above 0 and --chat-burst at least 1")
	}
	if c.ConnsPerIP < 1 {
		return errors.New("--conns-per-ip must be at least 1")
	}
	if c.MediaRate < 1 {
		return errors.New("--media-rate must be at least 1")
	}
	if c.RequestTimeout < time.Second || c.RequestTimeout > 10*time.Minute {
		return errors.New("--request-timeout must be from 1s to 10m")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.PublicURL == "" {
		if c.Domain != "" {
			c.PublicURL = "https://" + c.Domain
		} else {
			c.PublicURL = DerivePublicURL(c.HTTPAddr)
		}
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("--public-url %q: want an http or https URL without a path", c.PublicURL)
	}
	c.PublicURL = u.Scheme + "://" + u.Host
	return nil
}

// DerivePublicURL is the URL of a plain HTTP server listening on addr, for
// when no --public-url or --domain is given.
func DerivePublicURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// DatabasePath is the SQLite file to use.
func (c *Config) DatabasePath() string {
	if p, ok := strings.CutPrefix(c.Database, "sqlite:"); ok && p != "" {
		return p
	}
	return filepath.Join(c.DataDir, "fedwave.db")
}

func checkPort(name string, p int, zeroOK bool) error {
	if (p == 0 && zeroOK) || (p > 0 && p <= 65535) {
		return nil
	}
	return fmt.Errorf("%s %d: must be a port number from 1 to 65535", name, p)
}

func checkWritableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("--data %s: cannot create the data directory: %v", dir, errors.Unwrap(err))
	}
	f, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return fmt.Errorf("--data %s: the data directory is not writable", dir)
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	return nil
}
