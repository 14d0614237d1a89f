package web

import (
	"context"
	"net/http"
	"strings"

	"github.com/fedwave/fedwave/internal/channels"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/store"
)

// The admin page's Channels: every local channel, with two actions, each
// written to the audit log.
//   - Stop ends the live stream now. The owner may go live again at once;
//     the studio says it was stopped and does not reconnect by itself.
//   - Rotate key (admins only) replaces the stream key, so that a leaked
//     key stops working. The new key is shown to nobody: the owner makes
//     one in the studio, so a key never passes through a third person.
//     A stream already live goes on: stop it too if the key leaked.

// apiAdminChannels lists this site's channels, live ones first.
func (s *Server) apiAdminChannels(w http.ResponseWriter, r *http.Request, _ *store.User) error {
	list, err := s.channels.Local(r.Context())
	if err != nil {
		return err
	}
	if list == nil {
		list = []channels.View{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"channels": list})
	return nil
}

var errNotLive = fail.New(fail.Conflict, "not_live", "the channel is not live")

// apiAdminStop ends a channel's live stream.
func (s *Server) apiAdminStop(w http.ResponseWriter, r *http.Request, caller *store.User) error {
	name, err := s.localChannel(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	if !s.media.StopChannel(name) {
		return errNotLive
	}
	if err := s.admin.Audit(r.Context(), store.AuditEntry{ActorID: caller.ID, Action: "stop_stream", Channel: name}); err != nil {
		return err
	}
	return s.answerChannel(w, r, name)
}

// apiAdminRotateKey replaces a channel's stream key on its owner's
// behalf, without showing the new one.
func (s *Server) apiAdminRotateKey(w http.ResponseWriter, r *http.Request, caller *store.User) error {
	name, err := s.localChannel(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	if _, err := s.channels.RotateStreamKey(r.Context(), caller, name); err != nil {
		return err
	}
	if err := s.admin.Audit(r.Context(), store.AuditEntry{ActorID: caller.ID, Action: "rotate_key", Channel: name}); err != nil {
		return err
	}
	return s.answerChannel(w, r, name)
}

// localChannel is the name of one of this site's channels (never a
// linked site's).
func (s *Server) localChannel(ctx context.Context, name string) (string, error) {
	if len(name) > 64 || strings.Contains(name, "@") {
		return "", fail.New(fail.NotFound, "channel_not_found", "no such channel")
	}
	v, err := s.channels.Get(ctx, name)
	if err != nil {
		return "", err
	}
	if v.Instance != "" {
		return "", fail.New(fail.NotFound, "channel_not_found", "no such channel on this site")
	}
	return v.Name, nil
}

// answerChannel writes a channel as it is after an action.
func (s *Server) answerChannel(w http.ResponseWriter, r *http.Request, name string) error {
	v, err := s.channels.Get(r.Context(), name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"channel": v})
	return nil
}
