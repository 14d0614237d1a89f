package federation

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/channels"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/federation/wire"
)

const maxListing = 1000 // channels one peer may list here

// remoteChannel is a channel as it crosses a link.
type remoteChannel struct {
	Name        string     `json:"name"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	NSFW        bool       `json:"nsfw"`
	Owner       string     `json:"owner"`
	Live        bool       `json:"live"`
	Viewers     int        `json:"viewers"`
	StartedAt   *time.Time `json:"startedAt,omitempty"`
}

type listingBody struct {
	Channels []remoteChannel `json:"channels"`
}

// LocalChanged tells linked peers (within about half a second) that our
// channels changed: went live, ended, renamed, or their audience moved.
func (s *Service) LocalChanged() {
	select {
	case s.listing <- struct{}{}:
	default:
	}
}

// announceLoop sends our channels to connected peers when they changed:
// at once (within 300 ms) when told, and otherwise checked every 2 s, so
// that what changes without telling (a new streamer) still gets there.
func (s *Service) announceLoop() {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.listing:
			select { // gather a burst of changes into one listing
			case <-s.ctx.Done():
				return
			case <-time.After(300 * time.Millisecond):
			}
		case <-t.C:
		}
		s.mu.Lock()
		var conns []*conn
		for _, p := range s.peers {
			if c := p.current(); c != nil {
				conns = append(conns, c)
			}
		}
		s.mu.Unlock()
		if len(conns) == 0 {
			continue
		}
		data, err := s.encodeListing(s.ctx) // once for every peer
		if err != nil {
			continue
		}
		for _, c := range conns {
			if sp, err := s.store.Peer(c.ctx, c.p.domain); err == nil && sp.Outgoing && c.p.theirIncoming() {
				c.sendListing(data, false)
			}
		}
	}
}

// encodeListing is our channels as they cross a link, encoded.
func (s *Service) encodeListing(ctx context.Context) ([]byte, error) {
	views, err := s.local(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("federation: list channels", "err", err)
		}
		return nil, err
	}
	b := listingBody{Channels: make([]remoteChannel, 0, len(views))}
	for _, v := range views[:min(len(views), maxListing)] {
		b.Channels = append(b.Channels, remoteChannel{Name: v.Name, Title: v.Title, Description: truncate(v.Description, 500), NSFW: v.NSFW,
			Owner: v.Owner, Live: v.Live, Viewers: v.Viewers, StartedAt: v.StartedAt})
	}
	return json.Marshal(b)
}

// sendListing sends our encoded listing to the peer, unless (and not
// forced) it is what the peer was sent last.
func (c *conn) sendListing(data []byte, force bool) {
	c.mu.Lock()
	same := string(data) == c.listed
	c.listed = string(data)
	c.mu.Unlock()
	if !same || force {
		c.send("channels", json.RawMessage(data))
	}
}

func (c *conn) hearListing(env *wire.Envelope) {
	var b listingBody
	if json.Unmarshal(env.Body, &b) != nil {
		return
	}
	if _, _, err := c.p.s.canAccept(c.ctx, c.p.domain); err != nil {
		return
	}
	var list []remoteChannel
	for _, ch := range b.Channels[:min(len(b.Channels), maxListing)] {
		if auth.CheckNameFormat(ch.Name) != nil {
			continue
		}
		ch.Name = strings.ToLower(ch.Name)
		ch.Title = truncate(ch.Title, channels.MaxTitleLen*4)
		ch.Description = truncate(ch.Description, 500)
		ch.Owner = truncate(ch.Owner, 64)
		ch.Viewers = max(ch.Viewers, 0)
		list = append(list, ch)
	}
	c.p.setListing(list)
}

// setListing replaces the peer's channels and tells our clients what
// changed (live frames).
func (p *peer) setListing(list []remoteChannel) {
	p.mu.Lock()
	old := map[string]remoteChannel{}
	for _, ch := range p.listing {
		old[ch.Name] = ch
	}
	p.listing = list
	p.mu.Unlock()
	for _, ch := range list {
		if o, ok := old[ch.Name]; !ok || o.Live != ch.Live || o.Viewers != ch.Viewers || o.Title != ch.Title {
			p.s.announce(p.s.remoteView(p.domain, ch))
		}
		delete(old, ch.Name)
	}
	for _, gone := range old {
		gone.Live = false
		p.s.announce(p.s.remoteView(p.domain, gone))
	}
}

func (p *peer) clearListing() {
	p.setListing(nil)
}

func (s *Service) announce(v channels.View) {
	if s.hub != nil {
		s.hub.Announce(v)
	}
}

func (p *peer) listed(channel string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ch := range p.listing {
		if strings.EqualFold(ch.Name, channel) {
			return true
		}
	}
	return false
}

func (s *Service) remoteView(host string, ch remoteChannel) channels.View {
	name := ch.Name + "@" + host
	return channels.View{Name: name, Title: ch.Title, Description: ch.Description, NSFW: ch.NSFW, Owner: ch.Owner,
		Live: ch.Live, Viewers: ch.Viewers, StartedAt: ch.StartedAt, Instance: host,
		URL: s.publicURL + "/c/" + name, WHEP: s.publicURL + "/whep/" + name}
}

// Channels lists the channels of linked peers whose content we accept.
func (s *Service) Channels(ctx context.Context) []channels.View {
	s.mu.Lock()
	peers := make([]*peer, 0, len(s.peers))
	for _, p := range s.peers {
		peers = append(peers, p)
	}
	s.mu.Unlock()
	var out []channels.View
	for _, p := range peers {
		if _, _, err := s.canAccept(ctx, p.domain); err != nil {
			continue
		}
		p.mu.Lock()
		list := append([]remoteChannel(nil), p.listing...)
		p.mu.Unlock()
		for _, ch := range list {
			out = append(out, s.remoteView(p.domain, ch))
		}
	}
	return out
}

// Channel returns one channel of a linked peer.
func (s *Service) Channel(ctx context.Context, name, host string) (channels.View, error) {
	host = strings.ToLower(host)
	_, p, err := s.canAccept(ctx, host)
	if err != nil {
		return channels.View{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ch := range p.listing {
		if strings.EqualFold(ch.Name, name) {
			return s.remoteView(host, ch), nil
		}
	}
	return channels.View{}, fail.New(fail.NotFound, "channel_not_found", "%s has no channel %s", host, name)
}

type viewersBody struct {
	Channel string `json:"channel"`
	People  int    `json:"people"`
}

// ReportAudience tells a channel's home how many people are on it here
// (channel is name@host); called when that number changes.
func (s *Service) ReportAudience(channel string, people int) {
	name, host, ok := strings.Cut(channel, "@")
	if !ok {
		return
	}
	p := s.runtime(strings.ToLower(host))
	if p == nil {
		return
	}
	name = strings.ToLower(name)
	p.mu.Lock()
	if people == 0 {
		delete(p.reported, name)
	} else {
		p.reported[name] = people
	}
	c := p.conn
	p.mu.Unlock()
	if c != nil {
		c.send("viewers", viewersBody{Channel: name, People: people})
	}
}

func (p *peer) resendCounts(c *conn) {
	p.mu.Lock()
	counts := make([]viewersBody, 0, len(p.reported))
	for ch, n := range p.reported {
		counts = append(counts, viewersBody{Channel: ch, People: n})
	}
	p.mu.Unlock()
	for _, b := range counts {
		c.send("viewers", b)
	}
}

func (c *conn) hearViewers(env *wire.Envelope) {
	var b viewersBody
	if json.Unmarshal(env.Body, &b) != nil || auth.CheckNameFormat(b.Channel) != nil || b.People < 0 || b.People > 1_000_000 {
		return
	}
	if sp, err := c.p.s.store.Peer(c.ctx, c.p.domain); err != nil || !sp.Outgoing {
		return
	}
	if _, err := c.p.s.store.Channel(c.ctx, b.Channel); err != nil {
		return
	}
	ch := strings.ToLower(b.Channel)
	c.p.mu.Lock()
	c.p.counted[ch] = b.People > 0
	c.p.mu.Unlock()
	c.p.s.audience.Elsewhere(ch, c.p.domain, b.People)
}

// clearCounts forgets the people a peer counted on our channels (the
// link is gone, so they are no longer reported).
func (p *peer) clearCounts() {
	p.mu.Lock()
	counted := p.counted
	p.counted = map[string]bool{}
	p.mu.Unlock()
	for ch := range counted {
		p.s.audience.Elsewhere(ch, p.domain, 0)
	}
}

// sendSwitches tells a connected peer our switches changed.
func (s *Service) sendSwitches(ctx context.Context, domain string) {
	p := s.runtime(domain)
	if p == nil {
		return
	}
	c := p.current()
	sp, err := s.store.Peer(ctx, domain)
	if c == nil || err != nil {
		return
	}
	c.send("switches", hello{Incoming: sp.Incoming, Outgoing: sp.Outgoing})
	if !sp.Incoming {
		p.clearListing()
	} else {
		c.afterHello(sp.Outgoing)
	}
	if !sp.Outgoing {
		c.stopSubs()
		p.clearCounts()
	}
}
