package federation

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/federation/wire"
	"github.com/fedwave/fedwave/internal/store"
)

// Handler serves the instance-to-instance endpoints: /.well-known/fedwave,
// POST /federation/link and GET /federation/ws. writeError writes the
// site's error body.
func (s *Service) Handler(writeError func(w http.ResponseWriter, r *http.Request, err error)) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/fedwave", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		json.NewEncoder(w).Encode(s.WellKnown())
	})
	mux.HandleFunc("POST "+linkPath, func(w http.ResponseWriter, r *http.Request) {
		answer, err := s.hearLink(r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(answer)
	})
	mux.HandleFunc("GET "+wsPath, func(w http.ResponseWriter, r *http.Request) {
		if err := s.accept(w, r); err != nil {
			writeError(w, r, err)
		}
	})
	return mux
}

var errTooLarge = fail.New(fail.Invalid, "too_large", "the request body is too large")

func readBody(r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fail.New(fail.Invalid, "bad_request", "could not read the request body")
	}
	if int64(len(body)) > limit {
		return nil, errTooLarge
	}
	return body, nil
}

// hearLink handles a signed link notice from another instance. A request
// from an unknown host is checked with the key its own site publishes
// (fetched from the URL it gives, which must name the same host).
func (s *Service) hearLink(r *http.Request) (any, error) {
	body, err := readBody(r, maxLinkBody)
	if err != nil {
		return nil, err
	}
	var b linkBody
	if json.Unmarshal(body, &b) != nil {
		return nil, fail.New(fail.Invalid, "bad_request", "a link notice is a JSON object")
	}
	from := strings.ToLower(r.Header.Get(wire.HeaderFrom))
	ctx := r.Context()
	known, err := s.store.Peer(ctx, from)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if known != nil && known.State == Blocked {
		return nil, errRefused
	}
	var wk *WellKnown
	if b.Action == "request" {
		base, host, err := wire.CheckPeerURL(b.URL, s.allowPrivate)
		if err != nil {
			return nil, err
		}
		if host != from {
			return nil, fail.New(fail.Invalid, "bad_signature", "the request names another site than its sender")
		}
		if wk, err = s.fetchWellKnown(ctx, base, host); err != nil {
			return nil, err
		}
		key, _ := wire.ParsePublic(wk.PublicKey)
		s.newKeys.Store(host, key)
		defer s.newKeys.Delete(host)
		if _, err := s.verifyNew.VerifyRequest(r, body); err != nil {
			return nil, err
		}
		return s.linkRequested(ctx, known, base, wk)
	}
	if _, err := s.verify.VerifyRequest(r, body); err != nil {
		return nil, err
	}
	switch b.Action {
	case "accept":
		if known.State != PendingOut && known.State != Linked {
			return nil, errNotLinked
		}
		s.setState(ctx, from, Linked)
		return map[string]string{"state": Linked}, nil
	case "unlink":
		s.forget(from)
		if _, err := s.store.DeletePeer(ctx, from); err != nil {
			return nil, err
		}
		return map[string]string{"state": ""}, nil
	}
	return nil, fail.New(fail.Invalid, "bad_request", "unknown link action")
}

// linkRequested records a link request: a new one waits for our admin; if
// we had asked them too, both are linked at once.
func (s *Service) linkRequested(ctx context.Context, known *store.Peer, base string, wk *WellKnown) (any, error) {
	sp := &store.Peer{Domain: strings.ToLower(wk.Domain), URL: base, Name: truncate(wk.Name, 100), PublicKey: wk.PublicKey,
		State: PendingIn, Incoming: true, Outgoing: true}
	if known != nil {
		sp.Incoming, sp.Outgoing = known.Incoming, known.Outgoing
		if known.State == PendingOut || known.State == Linked {
			sp.State = Linked
		}
	}
	if err := s.store.PutPeer(ctx, sp); err != nil {
		return nil, err
	}
	s.ensure(sp)
	state := "pending"
	if sp.State == Linked {
		state = Linked
	}
	return map[string]string{"state": state}, nil
}

// accept takes the connection of a peer that dials us.
func (s *Service) accept(w http.ResponseWriter, r *http.Request) error {
	from, err := s.verify.VerifyRequest(r, nil)
	if err != nil {
		return err
	}
	sp, err := s.store.Peer(r.Context(), from)
	if err != nil {
		return errNotLinked
	}
	switch sp.State {
	case Linked:
	case PendingOut: // they dial us: they approved our request
		s.setState(r.Context(), from, Linked)
	default:
		return fail.New(fail.Forbidden, "federation_not_linked", "this site has not approved a link with %s", from)
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true}) // signed, not a browser
	if err != nil {
		return nil // Accept wrote the answer
	}
	p := s.ensure(sp)
	p.serve(ws)
	return nil
}

// Do implements the media service's Peers: a signed request to a linked
// peer whose streams we accept.
func (s *Service) Do(ctx context.Context, host, method, path, contentType string, body []byte) (*http.Response, error) {
	sp, _, err := s.canAccept(ctx, strings.ToLower(host))
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(path, sp.URL+"/") { // a Location given absolute
		path = strings.TrimPrefix(path, sp.URL)
	}
	if !strings.HasPrefix(path, "/") {
		return nil, fail.New(fail.Invalid, "invalid_url", "a peer path starts with /")
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	resp, err := s.do(ctx, sp.URL, method, path, contentType, body)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = cancelOnClose{resp.Body, cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// VerifyPeer checks a signed request of a linked peer that we let have our
// streams (its WHEP pull), and returns its host.
func (s *Service) VerifyPeer(r *http.Request, body []byte) (string, error) {
	from, err := s.verify.VerifyRequest(r, body)
	if err != nil {
		return "", err
	}
	sp, err := s.linkedPeer(r.Context(), from)
	if err != nil {
		return "", err
	}
	if !sp.Outgoing {
		return "", errRefused
	}
	return from, nil
}
