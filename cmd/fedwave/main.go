// Command fedwave runs a FedWave site (`fedwave serve`) and its
// administration tools. See the README for every setting.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/fedwave/fedwave/internal/app"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/config"
	"github.com/fedwave/fedwave/internal/legacy"
	"github.com/fedwave/fedwave/internal/loadtest"
)

const usage = `FedWave: a self-hosted live-streaming site.

Usage:
  fedwave [serve] [flags]                 run the site (fedwave serve -h lists the settings)
  fedwave user create NAME [--role admin|moderator|streamer|user] --password-stdin
  fedwave user role NAME ROLE             change a user's role
  fedwave import FILE...                  import approved_streamers.json / admin.json
  fedwave keys rotate                     start signing tokens with a new key
  fedwave relay --origin URL --token T    serve another site's viewers as a relay of its stream chain (see -h)
  fedwave version                         print version and build info
  fedwave chatload --url URL --channel C  chat load test against a running server (see -h)
  fedwave loadtest --whip URL --key K     media load test: a synthetic stream and N WHEP viewers (see -h)
  fedwave simulate [--viewers N --relays N --churn 5%/min --duration 10m]  the stream chain's placement in simulated time (see -h)

Every command takes --data DIR and --config FILE; every setting can also be
given as FEDWAVE_<FLAG> in the environment.
`

// exitError carries a process exit code: 2 for bad usage or settings.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func usageErr(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

func main() {
	// Every time FedWave shows or stores is UTC (CONTRACT: RFC 3339 UTC),
	// whatever zone the machine is in; a time.Now() that reaches JSON
	// without .UTC() would otherwise carry the local offset.
	time.Local = time.UTC
	err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return
	}
	fmt.Fprintln(os.Stderr, "fedwave:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		os.Exit(ee.code)
	}
	os.Exit(1)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, stdout, stderr)
	case "user":
		if len(args) == 0 {
			return usageErr("user: want `user create NAME` or `user role NAME ROLE`")
		}
		switch args[0] {
		case "create":
			return userCreate(ctx, args[1:], getenv, stdin, stdout, stderr)
		case "role":
			return userRole(ctx, args[1:], getenv, stdout, stderr)
		}
		return usageErr("user: unknown subcommand %q", args[0])
	case "import":
		return importFiles(ctx, args, getenv, stdout, stderr)
	case "keys":
		if len(args) == 0 || args[0] != "rotate" {
			return usageErr("keys: want `keys rotate`")
		}
		return keysRotate(ctx, args[1:], getenv, stdout, stderr)
	case "relay":
		return relayCmd(ctx, args, getenv, stderr)
	case "chatload":
		return chatLoad(ctx, args, stdout, stderr)
	case "loadtest":
		return mediaLoad(ctx, args, stdout, stderr)
	case "simulate":
		return simulate(args, stdout, stderr)
	case "version", "--version":
		printVersion(stdout)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usageErr("unknown command %q\n\n%s", cmd, usage)
}

// settings loads and validates the configuration for a command and returns
// its positional arguments.
func settings(cmd string, args []string, getenv func(string) string, extra func(*flag.FlagSet)) (config.Config, []string, error) {
	cfg, rest, err := config.Load(cmd, args, getenv, extra)
	if errors.Is(err, flag.ErrHelp) {
		return cfg, nil, err
	}
	if err != nil {
		return cfg, nil, usageErr("%v", err)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, nil, usageErr("%v", err)
	}
	return cfg, rest, nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, rest, err := settings("serve", args, getenv, nil)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageErr("serve: unexpected argument %q", rest[0])
	}
	log := newLogger(stderr, cfg.LogLevel)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.New(ctx, cfg, log, stdout)
	if err != nil {
		return err
	}
	if err := a.Start(ctx); err != nil {
		a.Shutdown(context.Background())
		return err
	}
	go heapProfiles(ctx, getenv, log)
	<-ctx.Done()
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return a.Shutdown(sctx)
}

func openCore(ctx context.Context, cfg config.Config, stderr io.Writer) (*app.Core, error) {
	return app.OpenCore(ctx, cfg, newLogger(stderr, cfg.LogLevel))
}

func userCreate(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	role := "user"
	var fromStdin bool
	cfg, rest, err := settings("user create", args, getenv, func(fs *flag.FlagSet) {
		fs.StringVar(&role, "role", role, "admin, moderator, streamer or user")
		fs.BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of standard input")
	})
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageErr("user create: want exactly one NAME")
	}
	r, err := auth.ParseRole(role)
	if err != nil {
		return usageErr("user create: %v", err)
	}
	if !fromStdin {
		return usageErr("user create: pass --password-stdin and pipe the password in (a password on the command line would be visible to other users)")
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read password: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	core, err := openCore(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer core.Close()
	u, err := core.Auth.CreateUser(ctx, rest[0], password, r)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, auth.Handle(u.Name, u.Num))
	return nil
}

func userRole(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, rest, err := settings("user role", args, getenv, nil)
	if err != nil {
		return err
	}
	if len(rest) != 2 {
		return usageErr("user role: want NAME ROLE")
	}
	r, err := auth.ParseRole(rest[1])
	if err != nil {
		return usageErr("user role: %v", err)
	}
	core, err := openCore(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer core.Close()
	name, _, err := auth.ParseHandle(rest[0])
	if err != nil {
		return usageErr("user role: %v", err)
	}
	u, err := core.Store.UserByName(ctx, name)
	if err != nil {
		return fmt.Errorf("user role: no user %q", rest[0])
	}
	if err := core.Auth.SetRole(ctx, u.ID, r); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s is now %s\n", auth.Handle(u.Name, u.Num), r)
	return nil
}

func importFiles(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, files, err := settings("import", args, getenv, nil)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usageErr("import: name at least one file (approved_streamers.json, admin.json)")
	}
	core, err := openCore(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer core.Close()
	im := &legacy.Importer{Auth: core.Auth, Store: core.Store, PublicURL: cfg.PublicURL, Out: stdout}
	total := 0
	for _, f := range files {
		n, err := im.ImportFile(ctx, f)
		total += n
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "%d account(s) created. Send each person their link; it works once, for %d days.\n", total, int(auth.ResetTTL.Hours()/24))
	return nil
}

func keysRotate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, rest, err := settings("keys rotate", args, getenv, nil)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageErr("keys rotate: unexpected argument %q", rest[0])
	}
	core, err := openCore(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer core.Close()
	kid, err := core.Keys.Rotate(auth.UserTokenTTL + time.Hour)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "new token signing key %s; restart the server to use it (tokens signed before stay valid until they expire)\n", kid)
	return nil
}

func printVersion(w io.Writer) {
	fmt.Fprintf(w, "fedwave %s (%s %s/%s", app.BuildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" || s.Key == "vcs.time" || s.Key == "vcs.modified" {
				fmt.Fprintf(w, ", %s=%s", strings.TrimPrefix(s.Key, "vcs."), s.Value)
			}
		}
	}
	fmt.Fprintln(w, ")")
}

func chatLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("chatload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := loadtest.ChatOptions{Log: stderr}
	fs.StringVar(&o.URL, "url", "http://127.0.0.1:8080", "base URL of the server")
	fs.StringVar(&o.Channel, "channel", "", "channel to load (must exist)")
	fs.IntVar(&o.Clients, "clients", 1000, "receiving connections")
	fs.IntVar(&o.Senders, "senders", 100, "sending connections (guests)")
	fs.Float64Var(&o.Rate, "rate", 100, "messages per second, all senders together")
	fs.DurationVar(&o.Duration, "duration", 30*time.Second, "how long to send")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Channel == "" || o.Clients < 1 || o.Senders < 1 || o.Rate <= 0 || o.Duration <= 0 {
		return usageErr("chatload: want --channel and positive --clients, --senders, --rate, --duration")
	}
	rep, err := loadtest.RunChat(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, rep)
	return nil
}

func mediaLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := loadtest.MediaOptions{Log: stderr}
	bitrate := "2500k"
	fs.StringVar(&o.WHIP, "whip", "", "WHIP endpoint to publish to, e.g. http://127.0.0.1:8080/whip/CHANNEL")
	fs.StringVar(&o.Key, "key", "", "stream key (WHIP bearer token)")
	fs.StringVar(&o.WHEP, "whep", "", "WHEP endpoint (default: the WHIP URL with /whip/ replaced by /whep/)")
	fs.StringVar(&o.WHEPKey, "whep-key", "", "bearer token the viewers send with WHEP (default none; Broadcast Box wants the stream key)")
	fs.IntVar(&o.Viewers, "viewers", 10, "WHEP viewers")
	fs.DurationVar(&o.Duration, "duration", 30*time.Second, "how long to measure once every viewer has joined")
	fs.StringVar(&bitrate, "bitrate", bitrate, "video bit rate (Opus audio adds 64k)")
	fs.StringVar(&o.Codec, "codec", "vp8", "video codec: vp8 or h264")
	fs.IntVar(&o.FPS, "fps", 30, "video frames per second")
	fs.Float64Var(&o.Pace, "pace", 0, "send each frame's packets at this multiple of the bit rate, as browsers do (2.5); 0 sends them back to back")
	fs.IntVar(&o.JoinParallel, "join-parallel", 10, "viewers joining at the same time")
	fs.StringVar(&o.Metrics, "metrics", "", "base URL whose /metrics gives the server's CPU and memory (default: the WHIP URL's origin; - for none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("loadtest: unexpected argument %q", fs.Arg(0))
	}
	var err error
	if o.Bitrate, err = loadtest.ParseBitrate(bitrate); err != nil {
		return usageErr("loadtest: %v", err)
	}
	if o.WHIP == "" || o.Key == "" || o.Viewers < 0 || o.Duration <= 0 || o.FPS < 1 || o.FPS > 120 || o.Pace < 0 || (o.Codec != "vp8" && o.Codec != "h264") {
		return usageErr("loadtest: want --whip, --key, a positive --duration, --fps up to 120, --pace ≥ 0, and --codec vp8 or h264")
	}
	// Ctrl-C ends the measurement early; the sessions are still deleted.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := loadtest.RunMedia(ctx, o)
	if len(rep.Viewers) > 0 || rep.Publisher.Frames > 0 {
		fmt.Fprint(stdout, rep)
	}
	return err
}
