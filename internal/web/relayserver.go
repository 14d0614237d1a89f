package web

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/fedwave/fedwave/internal/media"
	"github.com/fedwave/fedwave/internal/ratelimit"
)

// RelayDeps is what a relay process (`fedwave relay`) serves with.
type RelayDeps struct {
	Media *media.Service
	// Admit checks that the origin placed the requester here (a viewer's
	// ticket, or a child relay's) and returns its audience key.
	Admit     func(r *http.Request, channel string) (who string, err error)
	Healthy   func() (connected bool) // the link to the origin is up
	MediaRate int                     // sessions started per minute per client address
	Log       *slog.Logger
}

// NewRelay builds a relay's HTTP handler: WHEP for the origin's
// channels, to viewers the origin placed here, and /healthz. Sessions are
// handled as on the origin.
func NewRelay(d RelayDeps) http.Handler {
	s := &Server{media: d.Media, log: d.Log, mediaRate: ratelimit.PerMinute(max(d.MediaRate, 1)), relayAdmit: d.Admit}
	if s.log == nil {
		s.log = slog.Default()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /whep/{channel}", s.relayWhepPost)
	s.whepSessionRoutes(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "origin": d.Healthy()})
	})
	var h http.Handler = s.notFoundAsJSON(mux)
	h = securityHeaders(h)
	h = s.recoverPanics(h)
	return withDeadlines(30*time.Second, h)
}

// relayWhepPost is WHEP on a relay: only for those the origin sent.
func (s *Server) relayWhepPost(w http.ResponseWriter, r *http.Request) {
	whipCORS(w)
	if !s.mediaAllowed(w, r) {
		return
	}
	channel := r.PathValue("channel")
	who, err := s.relayAdmit(r, channel)
	if err != nil {
		s.mediaFail(w, r, err)
		return
	}
	offer, err := readSDP(w, r, "application/sdp")
	if err != nil {
		s.mediaFail(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	id, answer, err := s.media.Play(ctx, channel, offer, r.URL.Query().Get("quality"), who)
	if err != nil {
		s.mediaFail(w, r, err)
		return
	}
	s.answerSession(w, r, "whep", channel, id, answer)
}
