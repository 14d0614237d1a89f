package web

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/fedwave/fedwave/internal/audience"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/federation/wire"
	"github.com/fedwave/fedwave/internal/media"
	"github.com/fedwave/fedwave/internal/relays"
)

// WHIP (RFC 9725) and WHEP: an SDP offer in, a complete SDP answer out, a
// session resource to PATCH (trickle ICE) and DELETE. Both take bearer
// tokens, never cookies, so they are open to other origins (CORS) and
// exempt from the cross-site check.

// readSDP reads a body of the given SDP content type (application/sdp for
// offers, application/trickle-ice-sdpfrag for PATCH), size-limited.
func readSDP(w http.ResponseWriter, r *http.Request, ctype string) (string, error) {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != ctype {
		return "", fail.New(fail.Invalid, "unsupported_media_type", "send the body as Content-Type: %s", ctype)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, media.MaxSDP))
	if err != nil {
		return "", fail.New(fail.Invalid, "sdp_too_large", "the body is larger than %d KiB", media.MaxSDP>>10)
	}
	return string(body), nil
}

// publisher checks a WHIP request's bearer: the channel's stream key, or a
// token of its owner, while the owner may stream (auth.CanStream). It
// returns the channel's name, who is publishing, and the check again, for
// the media service to repeat while the publisher is live.
func (s *Server) publisher(r *http.Request, channel string) (name, who string, allowed func(context.Context) error, err error) {
	tok, ok := bearer(r)
	if !ok || tok == "" {
		return "", "", nil, fail.New(fail.Unauthorized, "unauthorized", "send the stream key as Authorization: Bearer <key>")
	}
	var userID int64 // the token's user; 0 for a stream key
	if strings.HasPrefix(tok, "sk_") {
		valid, err := s.channels.CheckStreamKey(r.Context(), channel, tok)
		if err != nil {
			return "", "", nil, err
		}
		if !valid {
			return "", "", nil, fail.New(fail.Unauthorized, "invalid_stream_key", "the stream key is wrong or has been replaced")
		}
	} else {
		sess, err := s.auth.Authenticate(r.Context(), tok)
		if err != nil {
			return "", "", nil, err
		}
		userID = sess.User.ID
	}
	ch, owner, err := s.channels.Publisher(r.Context(), channel)
	if err != nil {
		return "", "", nil, err
	}
	if userID != 0 && userID != owner.ID {
		return "", "", nil, fail.New(fail.Forbidden, "forbidden", "only the channel's owner can stream to it")
	}
	name = ch.Name
	allowed = func(ctx context.Context) error {
		_, _, err := s.channels.Publisher(ctx, name)
		return err
	}
	return name, "owner:" + auth.Handle(owner.Name, owner.Num), allowed, nil
}

// whepSessionRoutes are the WHEP routes after the POST, the same on the
// origin and on a relay.
func (s *Server) whepSessionRoutes(mux *http.ServeMux) {
	mux.HandleFunc("OPTIONS /whep/{channel}", s.whipOptions)
	mux.HandleFunc("PATCH /whep/{channel}/{id}", s.whepPatch)
	mux.HandleFunc("DELETE /whep/{channel}/{id}", s.whepDelete)
	mux.HandleFunc("OPTIONS /whep/{channel}/{id}", s.whipOptions)
	mux.HandleFunc("POST /whep/{channel}/{id}/layer", s.whepLayer)
	mux.HandleFunc("OPTIONS /whep/{channel}/{id}/layer", s.whipOptions)
}

func whipCORS(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "POST, PATCH, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
	h.Set("Access-Control-Expose-Headers", "Location, ETag, Link, Accept-Patch")
}

func (s *Server) whipOptions(w http.ResponseWriter, r *http.Request) {
	whipCORS(w)
	// A player on the origin's public page may be sent to a relay on a
	// private network (a second machine at home): Chromium asks first
	// (Private Network Access), and these endpoints are meant for other
	// origins anyway.
	if r.Header.Get("Access-Control-Request-Private-Network") == "true" {
		w.Header().Set("Access-Control-Allow-Private-Network", "true")
	}
	w.Header().Set("Accept-Post", "application/sdp")
	w.WriteHeader(http.StatusNoContent)
}

// mediaFail answers a WHIP/WHEP error: the contract's JSON body, plus the
// WWW-Authenticate challenge on 401.
func (s *Server) mediaFail(w http.ResponseWriter, r *http.Request, err error) {
	if fe, ok := fail.As(err); ok && fe.Kind == fail.Unauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="fedwave"`)
	}
	s.fail(w, r, err)
}

// answerSession writes the 201 with the answer and the session headers.
func (s *Server) answerSession(w http.ResponseWriter, r *http.Request, kind, channel, id, answer string) {
	h := w.Header()
	h.Set("Content-Type", "application/sdp")
	h.Set("Location", "/"+kind+"/"+channel+"/"+id)
	h.Set("ETag", `"`+id+`"`)
	h.Set("Accept-Patch", "application/trickle-ice-sdpfrag")
	for _, l := range s.iceLinks() {
		h.Add("Link", l)
	}
	if kind == "whep" {
		h.Add("Link", "</whep/"+channel+"/"+id+`/layer>; rel="urn:ietf:params:whep:ext:core:layer"`)
	}
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, answer)
}

// mediaAllowed limits the sessions a client address starts (each is a
// peer connection, costly to make), answering 429 beyond.
func (s *Server) mediaAllowed(w http.ResponseWriter, r *http.Request) bool {
	if allow(w, s.mediaRate, clientIP(r)) {
		return true
	}
	s.mediaFail(w, r, fail.New(fail.TooMany, "rate_limited", "too many sessions started from your address; wait a moment"))
	return false
}

func (s *Server) whipPost(w http.ResponseWriter, r *http.Request) {
	whipCORS(w)
	if !s.mediaAllowed(w, r) {
		return
	}
	channel, who, allowed, err := s.publisher(r, r.PathValue("channel"))
	if err != nil {
		s.mediaFail(w, r, err)
		return
	}
	offer, err := readSDP(w, r, "application/sdp")
	if err != nil {
		s.mediaFail(w, r, err)
		return
	}
	id, answer, err := s.media.Publish(r.Context(), channel, who, offer, allowed)
	if err != nil {
		s.mediaFail(w, r, err)
		return
	}
	s.answerSession(w, r, "whip", channel, id, answer)
}

func (s *Server) whepPost(w http.ResponseWriter, r *http.Request) {
	whipCORS(w)
	if !s.mediaAllowed(w, r) {
		return
	}
	ch, err := s.channels.Get(r.Context(), r.PathValue("channel"))
	if err != nil {
		s.mediaFail(w, r, err)
		return
	}
	who := s.audienceKey(r)
	tok, _ := bearer(r)
	switch {
	case s.relays != nil && relays.IsToken(tok):
		// A relay of the chain pulling for its viewers: not a person, not
		// counted against --max-viewers, never sent elsewhere.
		if who, err = s.relays.Admit(r.Context(), tok); err != nil {
			s.mediaFail(w, r, err)
			return
		}
	case s.relays != nil && ch.Instance == "" && !wire.IsSigned(r):
		release, ok := s.placeViewer(w, r, ch.Name)
		if !ok {
			return
		}
		defer release()
	}
	offer, err := readSDP(w, r, "application/sdp")
	if err != nil {
		s.mediaFail(w, r, err)
		return
	}
	if wire.IsSigned(r) && s.fed != nil {
		// A linked site pulling the stream for its own viewers: allowed
		// while the link lets our streams out, and not a person (that
		// site reports its people).
		host, err := s.fed.VerifyPeer(r, []byte(offer))
		if err != nil {
			s.mediaFail(w, r, err)
			return
		}
		who = audience.PeerKey(host)
	}
	id, answer, err := s.media.Play(r.Context(), ch.Name, offer, r.URL.Query().Get("quality"), who)
	if err != nil {
		s.mediaFail(w, r, err)
		return
	}
	s.answerSession(w, r, "whep", ch.Name, id, answer)
}

// session finds a WHIP/WHEP session of the URL and checks who may change it:
// a viewer session by whoever holds its URL (the id is a secret), a
// publisher session by the channel's publisher credentials.
func (s *Server) mediaSession(w http.ResponseWriter, r *http.Request, viewer bool) (string, bool) {
	whipCORS(w)
	id, channel := r.PathValue("id"), r.PathValue("channel")
	got, isViewer, etag, ok := s.media.Session(id)
	if !ok || !strings.EqualFold(got, channel) || isViewer != viewer {
		s.mediaFail(w, r, s.noSession(r, viewer))
		return "", false
	}
	if !viewer {
		if _, _, _, err := s.publisher(r, channel); err != nil {
			s.mediaFail(w, r, err)
			return "", false
		}
	}
	if m := r.Header.Get("If-Match"); m != "" && m != "*" && m != `"`+etag+`"` {
		writeError(w, http.StatusPreconditionFailed, "etag_mismatch", "If-Match does not match this session")
		return "", false
	}
	return id, true
}

var errNoSession = fail.New(fail.NotFound, "no_session", "no such session")

// noSession says why the session of the URL is not there: a publisher
// replaced by another source learns so, with the time (409 replaced), and
// must not reconnect by itself; so does one stopped from the admin page
// (409 stopped); anything else is no_session.
func (s *Server) noSession(r *http.Request, viewer bool) error {
	at, ok := s.endedSession(r, viewer)
	if stopped := s.media.StoppedAt(r.PathValue("id")); ok && !viewer && !stopped.IsZero() {
		return fail.New(fail.Conflict, "stopped", "An admin or moderator stopped your stream at %s.", stopped.Format(time.RFC3339))
	}
	if ok && !at.IsZero() {
		return fail.New(fail.Conflict, "replaced", "Your stream was replaced by another source at %s.", at.Format(time.RFC3339))
	}
	return errNoSession
}

// endedSession reports whether the URL names a session of its channel
// and kind that ended lately, and when it was replaced (zero if it was
// not).
func (s *Server) endedSession(r *http.Request, viewer bool) (replacedAt time.Time, ok bool) {
	channel, isViewer, replacedAt, ok := s.media.Ended(r.PathValue("id"))
	return replacedAt, ok && isViewer == viewer && strings.EqualFold(channel, r.PathValue("channel"))
}

func (s *Server) whipPatch(w http.ResponseWriter, r *http.Request) { s.mediaPatch(w, r, false) }
func (s *Server) whepPatch(w http.ResponseWriter, r *http.Request) { s.mediaPatch(w, r, true) }

// mediaPatch applies trickled candidates (RFC 8840 sdpfrag: 204), or an
// ICE restart (new ice-ufrag and ice-pwd: 200 with the server's new ICE
// credentials and candidates, and a new ETag), RFC 9725 §4.3.
func (s *Server) mediaPatch(w http.ResponseWriter, r *http.Request, viewer bool) {
	id, ok := s.mediaSession(w, r, viewer)
	if !ok {
		return
	}
	frag, err := readSDP(w, r, "application/trickle-ice-sdpfrag")
	if err != nil {
		s.mediaFail(w, r, err)
		return
	}
	reply, etag, err := s.media.Patch(r.Context(), id, frag)
	if err != nil {
		s.mediaFail(w, r, err)
		return
	}
	if reply == "" { // trickled candidates
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/trickle-ice-sdpfrag")
	w.Header().Set("ETag", `"`+etag+`"`)
	io.WriteString(w, reply)
}

// whepLayer switches a viewer's quality on its connection:
// {"quality":"high"|"low"|"audio"}. The new layer starts at its next
// keyframe; the viewer's stream continues without renegotiation.
func (s *Server) whepLayer(w http.ResponseWriter, r *http.Request) {
	id, ok := s.mediaSession(w, r, true)
	if !ok {
		return
	}
	var body struct {
		Quality string `json:"quality"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	if err := s.media.SetQuality(id, body.Quality); err != nil {
		s.mediaFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) whipDelete(w http.ResponseWriter, r *http.Request) { s.mediaDelete(w, r, false) }
func (s *Server) whepDelete(w http.ResponseWriter, r *http.Request) { s.mediaDelete(w, r, true) }

// mediaDelete ends a session (200). Ending one that ended already (the
// connection dropped, another source took over, or a second DELETE) is
// what the client wanted: 204, not an error.
func (s *Server) mediaDelete(w http.ResponseWriter, r *http.Request, viewer bool) {
	if _, ended := s.endedSession(r, viewer); ended {
		whipCORS(w)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	id, ok := s.mediaSession(w, r, viewer)
	if !ok {
		return
	}
	if !s.media.Stop(id) {
		w.WriteHeader(http.StatusNoContent) // it ended meanwhile
		return
	}
	w.WriteHeader(http.StatusOK)
}

// iceLinks are the Link headers (RFC 9725 §4.6) naming the TURN server.
// Their credentials are anonymous ones: a WHIP or WHEP session only ever
// talks to this server's media port, which is all anonymous relays reach,
// and a user name must never carry the session's id (its URL is its
// secret) or anything else about it.
func (s *Server) iceLinks() []string {
	if s.turn == nil {
		return nil
	}
	urls, user, cred := s.turn(0)
	links := make([]string, 0, len(urls))
	for _, u := range urls {
		links = append(links, fmt.Sprintf(`<%s>; rel="ice-server"; username="%s"; credential="%s"; credential-type="password"`, u, user, cred))
	}
	return links
}
