package activitypub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/fedwave/fedwave/internal/fail"
)

// Remote follow ("Follow on the fediverse"): a visitor gives their own
// handle, we read their server's WebFinger for it and send them to the
// OStatus subscribe template their server publishes there (Mastodon's
// /authorize_interaction?uri={uri}, Misskey's /authorize-follow?acct={uri}),
// filled with the channel's address, where they confirm the follow.

// SubscribeRel is the WebFinger link relation of a server's remote-follow
// page.
const SubscribeRel = "http://ostatus.org/schema/1.0/subscribe"

// Bounds of the look-up.
const (
	maxWebFinger     = 64 << 10
	subscribeTimeout = 10 * time.Second
	maxRedirects     = 3
)

// handleRE is the user part of a fediverse handle: what Mastodon,
// GoToSocial, Misskey and PeerTube allow, and dots.
var handleRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// ParseHandle splits a fediverse handle such as "you@your.server",
// "@you@your.server" or "acct:you@your.server" into user and host.
func ParseHandle(raw string) (user, host string, err error) {
	h := strings.TrimSpace(raw)
	h = strings.TrimPrefix(strings.TrimPrefix(h, "acct:"), "@")
	user, host, ok := strings.Cut(h, "@")
	bad := fail.New(fail.Invalid, "invalid_handle", "a handle looks like you@your.server")
	if !ok || len(raw) > 300 || !handleRE.MatchString(user) || host == "" {
		return "", "", bad
	}
	u, err := url.Parse("https://" + host)
	if err != nil || u.Host != host || u.Hostname() == "" || u.User != nil || len(host) > 253 ||
		strings.ContainsAny(host, "/?#@\\ ") || strings.HasPrefix(host, ".") {
		return "", "", bad
	}
	return user, strings.ToLower(host), nil
}

// AccountAddress is how other servers name channel's actor: name@host.
func (s *Service) AccountAddress(channel string) string { return channel + "@" + s.host }

// SubscribeURL finds where the holder of handle confirms following
// channel: their server's subscribe template, filled with the channel's
// address. The errors say which step failed: a bad handle, a server that
// cannot be reached or does not know the account, or one that publishes
// no template (the visitor then searches for the address themselves).
func (s *Service) SubscribeURL(ctx context.Context, handle, channel string) (string, error) {
	user, host, err := ParseHandle(handle)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, subscribeTimeout)
	defer cancel()
	q := url.Values{"resource": {"acct:" + user + "@" + host}}.Encode()
	links, err := s.webFinger(ctx, "https://"+host+"/.well-known/webfinger?"+q)
	if err != nil && s.allowPriv && !errors.Is(err, errUnknownAccount) {
		// Tests and LANs: the other server may speak plain HTTP.
		links, err = s.webFinger(ctx, "http://"+host+"/.well-known/webfinger?"+q)
	}
	if errors.Is(err, errUnknownAccount) {
		return "", fail.New(fail.NotFound, "unknown_account", "%s does not know that account; check the part before @", host)
	}
	if err != nil {
		s.log.Info("remote follow look-up failed", "host", host, "err", err)
		return "", fail.New(fail.BadGateway, "unknown_server", "could not reach %s to look you up; check the part after @", host)
	}
	for _, l := range links {
		if l.Rel != SubscribeRel || !strings.Contains(l.Template, "{uri}") {
			continue
		}
		target := strings.ReplaceAll(l.Template, "{uri}", url.QueryEscape(s.AccountAddress(channel)))
		u, err := s.remoteURL(target)
		if err != nil {
			break // a template that is not a web page of theirs: as if none
		}
		return u.String(), nil
	}
	return "", fail.New(fail.NotFound, "no_subscribe_template",
		"%s has no follow page we can send you to; search for @%s there and follow it", host, s.AccountAddress(channel))
}

// errUnknownAccount is a WebFinger 404: the server is there, the account
// is not.
var errUnknownAccount = errors.New("webfinger: no such account")

// jrdLink is one link of a WebFinger answer.
type jrdLink struct {
	Rel      string `json:"rel"`
	Template string `json:"template"`
}

// webFinger GETs a WebFinger document and returns its links, following
// at most maxRedirects redirects (a server may answer for its domain from
// another host), each checked as any URL we fetch.
func (s *Service) webFinger(ctx context.Context, raw string) ([]jrdLink, error) {
	for range maxRedirects + 1 {
		u, err := s.remoteURL(raw)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, fmt.Errorf("webfinger %s: %w", u.Host, err)
		}
		req.Header.Set("Accept", "application/jrd+json, application/json")
		resp, err := s.client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("webfinger %s: %w", u.Host, err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxWebFinger+1))
		resp.Body.Close()
		switch {
		case err != nil:
			return nil, fmt.Errorf("webfinger %s: %w", u.Host, err)
		case resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.Header.Get("Location") != "":
			next, err := u.Parse(resp.Header.Get("Location"))
			if err != nil {
				return nil, fmt.Errorf("webfinger %s: bad redirect: %w", u.Host, err)
			}
			raw = next.String()
			continue
		case resp.StatusCode == http.StatusNotFound:
			return nil, errUnknownAccount
		case resp.StatusCode != http.StatusOK:
			return nil, fmt.Errorf("webfinger %s: status %d", u.Host, resp.StatusCode)
		case len(body) > maxWebFinger:
			return nil, fmt.Errorf("webfinger %s: answer too large", u.Host)
		}
		var doc struct {
			Links []jrdLink `json:"links"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			return nil, fmt.Errorf("webfinger %s: %w", u.Host, err)
		}
		return doc.Links, nil
	}
	return nil, errors.New("webfinger: too many redirects")
}
