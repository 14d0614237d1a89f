package loadtest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Publisher is the synthetic WHIP publisher of the media load test, on
// its own: the stream chain's tests and benchmarks publish with it and
// watch with ChainViewers.
type Publisher struct {
	r *mediaRun
	p *mediaPublisher
}

// Publish starts publishing to o.WHIP with o.Key at o.Bitrate (default
// 1 Mbit/s), o.Codec and o.FPS; the other options are not used.
func Publish(ctx context.Context, o MediaOptions) (*Publisher, error) {
	o.Codec = strings.ToLower(o.Codec)
	if o.Codec == "" {
		o.Codec = "vp8"
	}
	if o.FPS <= 0 {
		o.FPS = 30
	}
	if o.Bitrate <= 0 {
		o.Bitrate = 1_000_000
	}
	vc, err := videoCodec(o.Codec)
	if err != nil {
		return nil, err
	}
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	r := &mediaRun{o: o, client: &http.Client{Timeout: 30 * time.Second}, logf: progress(o.Log),
		plog: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	api, err := newAPI(&vc, r.plog)
	if err != nil {
		return nil, err
	}
	p, err := r.publish(ctx, api, vc)
	if err != nil {
		return nil, err
	}
	return &Publisher{r: r, p: p}, nil
}

// Close stops sending, ends the WHIP session and closes the connection.
func (p *Publisher) Close() { p.p.close(p.r) }
