package app

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fedwave/fedwave/internal/chat"
	"github.com/fedwave/fedwave/internal/sampler"
)

// overviewSampler puts the chat's message count on /metrics and makes the
// sampler that keeps the last hour of the registry's figures for the
// admin overview (started with the app, stopped with it).
func overviewSampler(reg *prometheus.Registry, hub *chat.Hub, log *slog.Logger) (*sampler.Sampler, error) {
	err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: sampler.ChatMessages, Help: "Chat messages stored since the start.",
	}, func() float64 { return float64(hub.Stored()) }))
	if err != nil {
		return nil, err
	}
	return sampler.New(reg, sampler.Size, log), nil
}
