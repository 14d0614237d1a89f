package relays

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/chain"
)

// Limits of the control link.
const (
	maxMessage  = 64 << 10
	maxChannels = 1000
	maxCapacity = 100000
	helloWithin = 5 * time.Second
	// silentFor closes a link that sent nothing for this long; the tree
	// stopped placing on it before (expire).
	silentFor = 10 * Heartbeat
	pingEvery = time.Second
)

// link is a connected relay.
type link struct {
	s        *Service
	name     string // lower-case
	key      string // its ticket key
	url      string
	capacity int
	since    time.Time
	ws       *websocket.Conn
	out      chan []byte
	cancel   context.CancelFunc

	mu       sync.Mutex
	channels map[string]ChannelStatus
	rtt      time.Duration
	parent   string // the parent last assigned ("" the origin)
	assigned time.Time
}

func (l *link) people() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.channels {
		n += c.Viewers
	}
	return n
}

// send queues a message; a relay that does not read its messages is
// closed.
func (l *link) send(v any) {
	b, _ := json.Marshal(v)
	select {
	case l.out <- b:
	default:
		l.cancel()
	}
}

func (l *link) revoke(msg string) {
	l.send(Revoked{Type: "revoked", Message: msg})
	time.AfterFunc(time.Second, l.cancel) // time for the message to leave
}

// ServeLink is GET /api/v1/relays/link: a relay's control link.
func (s *Service) ServeLink(w http.ResponseWriter, r *http.Request, token string) error {
	rel, err := s.relay(r.Context(), token)
	if err != nil {
		return err
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true}) // a relay, not a browser
	if err != nil {
		return nil // Accept answered
	}
	ws.SetReadLimit(maxMessage)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := &link{s: s, name: rel.Name, key: rel.TicketKey, ws: ws, out: make(chan []byte, 16), cancel: cancel, channels: map[string]ChannelStatus{}}
	if err := l.hello(ctx); err != nil {
		ws.Close(websocket.StatusPolicyViolation, "bad hello") // the reason is in the log
		s.cfg.Log.Warn("relay link refused", "relay", rel.Name, "err", err)
		return nil
	}
	s.add(l)
	clean := l.run(ctx)
	s.remove(l, !clean)
	ws.Close(websocket.StatusNormalClosure, "")
	return nil
}

// hello reads the relay's first message.
func (l *link) hello(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, helloWithin)
	defer cancel()
	_, data, err := l.ws.Read(ctx)
	if err != nil {
		return err
	}
	var h Hello
	if json.Unmarshal(data, &h) != nil || h.Type != "hello" {
		return errors.New("the first message must be hello")
	}
	if h.Capacity < 1 || h.Capacity > maxCapacity {
		return errors.New("capacity must be between 1 and 100000")
	}
	if err := checkURL(h.URL); err != nil {
		return err
	}
	l.url, l.capacity, l.since = strings.TrimRight(h.URL, "/"), h.Capacity, time.Now()
	return nil
}

// checkURL accepts a relay's public URL: http(s), a host, no more.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || len(raw) > 256 || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.Trim(u.Path, "/") != "" {
		return errors.New("the relay's URL must be http(s)://host[:port]")
	}
	return nil
}

// add makes a relay's link the current one (a reconnecting relay's old
// link is closed) and puts it in the tree.
func (s *Service) add(l *link) {
	s.mu.Lock()
	old := s.links[l.name]
	s.links[l.name] = l
	s.mu.Unlock()
	if old != nil {
		old.cancel()
	}
	s.tree.Join(l.name, l.capacity, time.Now())
	s.reassign(time.Now())
	s.cfg.Log.Info("relay connected", "relay", l.name, "url", l.url, "capacity", l.capacity)
}

// remove takes a link that ended out of the tree and the audience.
func (s *Service) remove(l *link, failed bool) {
	s.mu.Lock()
	current := s.links[l.name] == l
	if current {
		delete(s.links, l.name)
	}
	s.mu.Unlock()
	l.mu.Lock()
	channels := l.channels
	l.channels = nil
	l.mu.Unlock()
	for ch := range channels {
		s.cfg.Audience.Elsewhere(ch, "relay:"+l.name, 0)
	}
	if !current {
		return
	}
	s.tree.Leave(l.name, failed, time.Now())
	s.reassign(time.Now())
	s.cfg.Log.Info("relay disconnected", "relay", l.name, "failed", failed)
}

// reassign tells every relay whose parent in the tree is not the one it
// was told, or whose parent ticket is half way to expiring, where to pull
// from now.
func (s *Service) reassign(now time.Time) {
	s.mu.Lock()
	links := make([]*link, 0, len(s.links))
	for _, l := range s.links {
		links = append(links, l)
	}
	s.mu.Unlock()
	for _, l := range links {
		parent, ok := s.tree.Parent(l.name)
		if !ok {
			parent = waiting
		}
		l.mu.Lock()
		stale := parent != l.parent || now.Sub(l.assigned) > relayTicketFor/2
		l.mu.Unlock()
		if stale {
			s.assign(l, parent, now)
		}
	}
}

// waiting is the parent of a relay the tree has no room for yet: it
// pulls nothing and gets no viewers.
const waiting = "\x00waiting"

// assign tells a relay where to pull from ("" the origin), with a ticket
// for a parent relay.
func (s *Service) assign(l *link, parent string, now time.Time) {
	var p Parent
	switch pl := s.link(parent); {
	case parent == "":
		p.URL = strings.TrimRight(s.cfg.PublicURL, "/")
	case pl != nil:
		exp := now.Add(relayTicketFor).Unix()
		p = Parent{Name: pl.name, URL: pl.url, Ticket: Ticket{Kind: "relay", Relay: pl.name, Child: l.name, Expires: exp}.Sign(pl.key)}
	}
	l.mu.Lock()
	l.parent, l.assigned = parent, now
	l.mu.Unlock()
	l.send(Assign{Type: "assign", Parent: p})
}

// run reads the relay's reports and writes the origin's messages until
// the link ends; it reports whether the relay said goodbye.
func (l *link) run(ctx context.Context) (clean bool) {
	go l.write(ctx)
	go l.ping(ctx)
	var last time.Time
	for {
		rctx, cancel := context.WithTimeout(ctx, silentFor)
		_, data, err := l.ws.Read(rctx)
		cancel()
		if err != nil {
			return false
		}
		var m Status
		if json.Unmarshal(data, &m) != nil {
			return false
		}
		switch m.Type {
		case "bye":
			return true
		case "status":
			if len(m.Channels) > maxChannels {
				return false
			}
			for ch := range m.Channels {
				if auth.CheckNameFormat(ch) != nil {
					delete(m.Channels, ch) // no channel has that name
				}
			}
			if now := time.Now(); now.Sub(last) >= Heartbeat/2 { // faster reports are dropped
				last = now
				l.report(m)
			}
		}
	}
}

// report applies a status: the relay's people count in each channel's
// audience, and its load and health in the tree.
func (l *link) report(m Status) {
	l.mu.Lock()
	old := l.channels
	l.channels = m.Channels
	rtt := l.rtt
	l.mu.Unlock()
	total := 0
	for ch, c := range m.Channels {
		c.Viewers = max(c.Viewers, 0)
		total += c.Viewers
		if old[ch] != c {
			l.s.cfg.Audience.Elsewhere(ch, "relay:"+l.name, c.Viewers)
		}
	}
	for ch := range old {
		if _, ok := m.Channels[ch]; !ok {
			l.s.cfg.Audience.Elsewhere(ch, "relay:"+l.name, 0)
		}
	}
	loss := min(max(m.Loss, 0), 1)
	l.s.tree.Heard(l.name, total, chain.Measure{RTT: rtt, Loss: loss}, time.Now())
}

func (l *link) write(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-l.out:
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := l.ws.Write(wctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				l.cancel()
				return
			}
		}
	}
}

// ping measures the link's round trip, which placement weighs.
func (l *link) ping(ctx context.Context) {
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			start := time.Now()
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := l.ws.Ping(pctx)
			cancel()
			if err != nil {
				continue
			}
			l.mu.Lock()
			l.rtt = time.Since(start)
			l.mu.Unlock()
		}
	}
}
