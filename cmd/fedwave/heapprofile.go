//go:build heapprofile

package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
)

// heapProfiles writes a heap profile to $FEDWAVE_HEAPPROFILE each time the
// process gets SIGUSR1. It exists only in binaries built with
// `-tags heapprofile`, for measuring what the server holds (at idle, under
// load) without serving pprof over HTTP.
func heapProfiles(ctx context.Context, getenv func(string) string, log *slog.Logger) {
	path := getenv("FEDWAVE_HEAPPROFILE")
	if path == "" {
		return
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	defer signal.Stop(sig)
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
		}
		if err := writeHeapProfile(path); err != nil {
			log.Warn("heap profile", "path", path, "err", err)
			continue
		}
		log.Info("heap profile written", "path", path)
	}
}

func writeHeapProfile(path string) error {
	runtime.GC() // the profile's in-use figures are as of the last GC
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
