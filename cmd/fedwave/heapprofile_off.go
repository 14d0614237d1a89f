//go:build !heapprofile

package main

import (
	"context"
	"log/slog"
)

// heapProfiles does nothing in ordinary builds; see heapprofile.go.
func heapProfiles(context.Context, func(string) string, *slog.Logger) {}
