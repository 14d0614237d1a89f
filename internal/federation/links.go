package federation

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/federation/wire"
	"github.com/fedwave/fedwave/internal/store"
)

const (
	linkPath     = "/federation/link"
	maxLinkBody  = 16 << 10
	maxWellKnown = 64 << 10
)

// WellKnown is the document at /.well-known/fedwave.
type WellKnown struct {
	Domain     string `json:"domain"`
	Name       string `json:"name"`
	Software   string `json:"software"`
	Version    string `json:"version"`
	PublicKey  string `json:"publicKey"`
	Federation struct {
		Incoming bool `json:"incoming"`
		Outgoing bool `json:"outgoing"`
	} `json:"federation"`
	Endpoints struct {
		Link string `json:"link"`
		WS   string `json:"ws"`
	} `json:"endpoints"`
}

// WellKnown describes this instance to others.
func (s *Service) WellKnown() WellKnown {
	w := WellKnown{Domain: s.self, Name: s.displayName(), Software: "fedwave", Version: s.version, PublicKey: s.key.PublicBase64()}
	w.Federation.Incoming, w.Federation.Outgoing = true, true
	w.Endpoints.Link, w.Endpoints.WS = linkPath, wsPath
	return w
}

// linkBody is a signed link notice between instances.
type linkBody struct {
	Action string `json:"action"` // request, accept, unlink
	URL    string `json:"url"`    // the sender's base URL
	Name   string `json:"name"`
}

// Link asks the instance at rawURL for a link (CONTRACT §6: POST peers).
func (s *Service) Link(ctx context.Context, rawURL string) (View, error) {
	base, host, err := wire.CheckPeerURL(rawURL, s.allowPrivate)
	if err != nil {
		return View{}, err
	}
	if host == s.self {
		return View{}, fail.New(fail.Invalid, "invalid_url", "that is this site's own address")
	}
	if sp, err := s.store.Peer(ctx, host); err == nil {
		switch sp.State {
		case Linked:
			return View{}, fail.New(fail.Conflict, "already_linked", "this site is already linked with %s", host)
		case Blocked:
			return View{}, fail.New(fail.Forbidden, "federation_refused", "%s is blocked here; unblock it first", host)
		case PendingIn:
			return s.Approve(ctx, host)
		}
	}
	wk, err := s.fetchWellKnown(ctx, base, host)
	if err != nil {
		return View{}, err
	}
	sp := &store.Peer{Domain: host, URL: base, Name: truncate(wk.Name, 100), PublicKey: wk.PublicKey, State: PendingOut, Incoming: true, Outgoing: true}
	if err := s.store.PutPeer(ctx, sp); err != nil {
		return View{}, err
	}
	s.ensure(sp)
	var answer struct {
		State string `json:"state"`
	}
	if err := s.notify(ctx, sp, linkBody{Action: "request"}, &answer); err != nil {
		var fe *fail.Error
		if errors.As(err, &fe) && fe.Code == "federation_refused" {
			s.store.DeletePeer(ctx, host)
			s.forget(host)
		}
		return View{}, err
	}
	if answer.State == Linked { // they had asked us too
		s.setState(ctx, host, Linked)
	}
	sp, err = s.store.Peer(ctx, host)
	if err != nil {
		return View{}, err
	}
	return s.view(sp), nil
}

// Approve accepts a pending request and tells the requester.
func (s *Service) Approve(ctx context.Context, host string) (View, error) {
	sp, err := s.store.Peer(ctx, host)
	if errors.Is(err, store.ErrNotFound) {
		return View{}, errNoPeer
	}
	if err != nil {
		return View{}, err
	}
	if sp.State != PendingIn && sp.State != Linked {
		return View{}, fail.New(fail.Conflict, "not_pending", "%s has not asked for a link", host)
	}
	sp.State, sp.Since = Linked, s.now()
	if err := s.store.PutPeer(ctx, sp); err != nil {
		return View{}, err
	}
	p := s.ensure(sp)
	if err := s.notify(ctx, sp, linkBody{Action: "accept"}, nil); err != nil {
		p.setError(err) // they will learn it when the link connects
	}
	return s.view(sp), nil
}

// Patch is an admin's change to a peer (CONTRACT §6: PATCH peers).
type Patch struct {
	Approve  *bool `json:"approve"`
	Incoming *bool `json:"incoming"`
	Outgoing *bool `json:"outgoing"`
	Blocked  *bool `json:"blocked"`
}

// Update applies an admin's change to a peer.
func (s *Service) Update(ctx context.Context, host string, p Patch) (View, error) {
	host = strings.ToLower(host)
	if !wire.ValidHost(host) {
		return View{}, errNoPeer
	}
	if p.Blocked != nil {
		if *p.Blocked {
			return s.block(ctx, host)
		}
		if sp, err := s.store.Peer(ctx, host); err == nil && sp.State == Blocked {
			s.store.DeletePeer(ctx, host)
			s.forget(host)
			return View{Domain: host, URL: sp.URL, Name: sp.Name, State: "", Since: s.now()}, nil
		}
	}
	if p.Approve != nil && *p.Approve {
		if _, err := s.Approve(ctx, host); err != nil {
			return View{}, err
		}
	}
	sp, err := s.store.Peer(ctx, host)
	if errors.Is(err, store.ErrNotFound) {
		return View{}, errNoPeer
	}
	if err != nil {
		return View{}, err
	}
	if p.Incoming != nil || p.Outgoing != nil {
		if p.Incoming != nil {
			sp.Incoming = *p.Incoming
		}
		if p.Outgoing != nil {
			sp.Outgoing = *p.Outgoing
		}
		if err := s.store.PutPeer(ctx, sp); err != nil {
			return View{}, err
		}
		s.sendSwitches(ctx, host)
	}
	return s.view(sp), nil
}

// block refuses everything from host from now on; the peer is told, and
// stays listed as blocked until unblocked.
func (s *Service) block(ctx context.Context, host string) (View, error) {
	sp, err := s.store.Peer(ctx, host)
	if errors.Is(err, store.ErrNotFound) {
		sp = &store.Peer{Domain: host, URL: "https://" + host}
	} else if err != nil {
		return View{}, err
	}
	wasLinked := sp.State == Linked || sp.State == PendingOut || sp.State == PendingIn
	s.forget(host)
	s.store.DeletePeer(ctx, host) // what was mirrored and queued goes
	sp.State, sp.Incoming, sp.Outgoing, sp.Since = Blocked, false, false, s.now()
	if err := s.store.PutPeer(ctx, sp); err != nil {
		return View{}, err
	}
	if wasLinked {
		s.tellUnlinked(sp)
	}
	return s.view(sp), nil
}

// Unlink forgets a peer on both sides (CONTRACT §6: DELETE peers); it
// also refuses a pending request.
func (s *Service) Unlink(ctx context.Context, host string) error {
	host = strings.ToLower(host)
	sp, err := s.store.Peer(ctx, host)
	if errors.Is(err, store.ErrNotFound) {
		return errNoPeer
	}
	if err != nil {
		return err
	}
	s.forget(host)
	if _, err := s.store.DeletePeer(ctx, host); err != nil {
		return err
	}
	if sp.State != Blocked {
		s.tellUnlinked(sp)
	}
	return nil
}

// tellUnlinked tells a former peer, in the background and briefly, that
// the link is gone; if it cannot be told, it finds out at its next
// connection attempt, which is refused.
func (s *Service) tellUnlinked(sp *store.Peer) {
	s.spawn(func() {
		ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
		defer cancel()
		s.notify(ctx, sp, linkBody{Action: "unlink"}, nil)
	})
}

func (s *Service) setState(ctx context.Context, host, state string) {
	sp, err := s.store.Peer(ctx, host)
	if err != nil || sp.State == state {
		return
	}
	sp.State, sp.Since = state, s.now()
	if err := s.store.PutPeer(ctx, sp); err == nil {
		s.ensure(sp)
	}
}

func (s *Service) rename(host, name string) {
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	sp, err := s.store.Peer(ctx, host)
	if err != nil || sp.Name == name {
		return
	}
	sp.Name = truncate(name, 100)
	s.store.PutPeer(ctx, sp)
}

// notify sends a signed link notice to a peer and decodes its answer.
func (s *Service) notify(ctx context.Context, sp *store.Peer, b linkBody, answer any) error {
	b.URL, b.Name = s.publicURL, s.displayName()
	body, err := json.Marshal(b)
	if err != nil {
		return err
	}
	resp, err := s.do(ctx, sp.URL, http.MethodPost, linkPath, "application/json", body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxLinkBody))
	if resp.StatusCode >= 300 {
		return peerError(resp.StatusCode, data)
	}
	if answer != nil {
		json.Unmarshal(data, answer)
	}
	return nil
}

// peerError makes an error answer of a peer ours, keeping its code.
func peerError(status int, data []byte) error {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	json.Unmarshal(data, &e)
	r := reply{Code: e.Error.Code, Message: e.Error.Message}
	if r.Code == "" {
		r.Code, r.Message = "peer_unreachable", fmt.Sprintf("the other site answered %d", status)
	}
	return remoteError(r)
}

// do sends a signed request to a peer's base URL.
func (s *Service) do(ctx context.Context, base, method, path, ctype string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
	if err != nil {
		return nil, fail.New(fail.Invalid, "invalid_url", "bad peer URL")
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	s.key.SignRequest(req, s.self, body)
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fail.New(fail.Unavailable, "peer_unreachable", "%s cannot be reached: %s", req.URL.Host, truncate(err.Error(), 200))
	}
	return resp, nil
}

func (s *Service) fetchWellKnown(ctx context.Context, base, host string) (*WellKnown, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/.well-known/fedwave", nil)
	if err != nil {
		return nil, fail.New(fail.Invalid, "invalid_url", "bad peer URL")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fail.New(fail.Unavailable, "peer_unreachable", "%s cannot be reached: %s", host, truncate(err.Error(), 200))
	}
	defer resp.Body.Close()
	var wk WellKnown
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, maxWellKnown)).Decode(&wk) != nil {
		return nil, fail.New(fail.Unavailable, "peer_unreachable", "%s does not look like a FedWave site", host)
	}
	if !strings.EqualFold(wk.Domain, host) {
		return nil, fail.New(fail.Invalid, "invalid_url", "the site at that address calls itself %q", truncate(wk.Domain, 100))
	}
	if _, err := wire.ParsePublic(wk.PublicKey); err != nil {
		return nil, fail.New(fail.Invalid, "invalid_url", "the site at that address publishes no valid key")
	}
	return &wk, nil
}

// peerKey is the verifier's lookup for known peers: blocked ones are
// refused, unknown ones are not linked.
func (s *Service) peerKey(host string) (ed25519.PublicKey, error) {
	sp, err := s.store.Peer(s.ctx, host)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNotLinked
	}
	if err != nil {
		return nil, err
	}
	if sp.State == Blocked {
		return nil, errRefused
	}
	return wire.ParsePublic(sp.PublicKey)
}

func (s *Service) fetchedKey(host string) (ed25519.PublicKey, error) {
	if k, ok := s.newKeys.Load(host); ok {
		return k.(ed25519.PublicKey), nil
	}
	return nil, errNotLinked
}
