package web

import (
	"io"
	"net/http"
	"path/filepath"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/emotes"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/store"
)

func (s *Server) apiEmotes(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"emotes": s.emotes.List()})
}

// requireAdmin returns the admin or writes the error and returns nil.
func (s *Server) requireAdmin(w http.ResponseWriter, r *http.Request) *store.User {
	sess, err := s.requireSession(r)
	if err == nil && !auth.CanAdminister(sess.User) {
		err = fail.New(fail.Forbidden, "forbidden", "only admins manage emotes")
	}
	if err != nil {
		s.fail(w, r, err)
		return nil
	}
	return sess.User
}

// apiPutEmote stores the request body (a PNG, GIF or WebP image) as an emote.
func (s *Server) apiPutEmote(w http.ResponseWriter, r *http.Request) {
	admin := s.requireAdmin(w, r)
	if admin == nil {
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, emotes.MaxSize))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "emote_too_large", "an emote image is at most 256 KiB")
		return
	}
	e, err := s.emotes.Add(r.PathValue("name"), data)
	if err == nil {
		err = s.audit(r.Context(), admin, "emote_upload", 0, e.Name)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"emote": e})
}

func (s *Server) apiDeleteEmote(w http.ResponseWriter, r *http.Request) {
	admin := s.requireAdmin(w, r)
	if admin == nil {
		return
	}
	err := s.emotes.Remove(r.PathValue("name"))
	if err == nil {
		err = s.audit(r.Context(), admin, "emote_delete", 0, r.PathValue("name"))
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// emoteFile serves an emote image; only files of the set, never anything
// else in the directory.
func (s *Server) emoteFile(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	if !s.emotes.Has(file) {
		writeError(w, http.StatusNotFound, "not_found", "no such emote")
		return
	}
	setImageHeaders(w, file)
	w.Header().Set("Cache-Control", "public, max-age=3600")
	http.ServeFile(w, r, filepath.Join(s.emotes.Dir(), file))
}
