package main

import (
	"context"
	"flag"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/fedwave/fedwave/internal/relay"
)

// relayCmd runs `fedwave relay`: a node of another site's stream chain.
// Its settings are flags, or FEDWAVE_<FLAG> in the environment (the token
// is better given there than on a command line others can read).
func relayCmd(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg relay.Config
	level := "info"
	fs.StringVar(&cfg.Origin, "origin", "", "the origin site's URL, e.g. https://live.example.org")
	fs.StringVar(&cfg.Token, "token", "", "the relay token made on the origin (POST /api/v1/relays)")
	fs.StringVar(&cfg.HTTPAddr, "http", "127.0.0.1:8090", "address to serve WHEP on")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "URL viewers reach this relay at (default: http://ADDR of --http)")
	fs.IntVar(&cfg.MediaPort, "media-port", 8445, "UDP (and TCP) port for all WebRTC media")
	fs.BoolVar(&cfg.MediaLoopback, "media-loopback", false, "offer loopback media candidates, for viewers on the same machine")
	fs.IntVar(&cfg.Capacity, "capacity", 100, "viewers and child relays this relay takes")
	fs.StringVar(&level, "log-level", level, "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var bad error
	fs.VisitAll(func(f *flag.Flag) {
		env := "FEDWAVE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(env); v != "" && !set[f.Name] && bad == nil {
			if err := f.Value.Set(v); err != nil {
				bad = usageErr("%s: %v", env, err)
			}
		}
	})
	if bad != nil {
		return bad
	}
	if cfg.Origin == "" || cfg.Token == "" {
		return usageErr("relay: want --origin URL and --token T")
	}
	if cfg.Capacity < 1 {
		return usageErr("relay: --capacity must be at least 1")
	}
	cfg.Log = newLogger(stderr, level)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return relay.Run(ctx, cfg)
}
