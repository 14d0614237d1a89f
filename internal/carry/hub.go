// Package carry runs the control sockets of viewers who help carry a
// stream (issue 13): every player of a local live channel keeps one open;
// the hub places viewers on opted-in carriers with the chain's browser
// placement, introduces parent and child (relaying their WebRTC signalling
// between linked sockets only), and sends each child the digests of the
// stream's frames, which it checks what its parent forwards against. The
// wire protocol is in the README ("The carry socket"). The hub knows
// nothing of HTTP: the web package upgrades the request and hands each
// socket's messages to Socket.Handle.
package carry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fedwave/fedwave/internal/chain"
	"github.com/fedwave/fedwave/internal/sfu"
)

// Close codes the hub ends sockets with (WebSocket close codes).
const (
	CodeNormal    = 1000 // the stream ended
	CodeGoingAway = 1001 // the server is stopping
	CodePolicy    = 1008 // a malformed message, too many, too slow
)

// Timings of the protocol.
const (
	DefaultRound  = 500 * time.Millisecond // placement round; also the clients' stats interval
	tryEvery      = time.Second            // a viewer is tried for a carrier at most this often
	banFor        = 30 * time.Second       // a child is not placed again on the carrier that failed it
	keyframeGap   = time.Second            // a fed child asks for a keyframe at most this often
	rateWindow    = 10 * time.Second       // the stream's rate is from server-fed downloads this recent
	downSmoothing = 0.2                    // weight of a heartbeat's download in a socket's smoothed one (as the tree's)
	lossWindow    = 2 * time.Second        // children's loss reports count against their carrier this long
	statsFresh    = 2 * time.Second        // a viewer whose last stats are older is not placed
	queueLen      = 256                    // messages waiting for a socket's writer; full: it is closed
)

// Media is what the hub needs of the media service.
type Media interface {
	// Digests feeds the digests of a local channel's frames until cancel.
	Digests(ctx context.Context, channel string) (digests <-chan sfu.Digest, cancel func(), err error)
	// Keyframe asks the channel's publisher for a keyframe.
	Keyframe(channel string)
	// Live reports whether the channel is live and since when.
	Live(channel string) (live bool, since time.Time, viewers int)
}

// Conn is one client's connection, as the hub writes to it.
type Conn interface {
	// Write sends one message; it returns when written or ctx ends.
	Write(ctx context.Context, msg []byte) error
	// Close ends the connection with a close code and reason; the reader
	// of the connection then ends too (and calls Socket.Leave).
	Close(code int, reason string)
}

// Config sets up a hub.
type Config struct {
	Media    Media
	Steady   time.Duration // how long a carrier carries, measured good, before it takes children; 0: the chain's default
	Children int           // viewers a carrier feeds at most; 0: the chain's default
	Depth    int           // browser hops in a row below a server at most; 0: the chain's default
	Round    time.Duration // the placement round; 0: DefaultRound
	Log      *slog.Logger
}

// Hub is the carry sockets of every channel. It is safe for concurrent use.
type Hub struct {
	media Media
	tree  *chain.Tree
	round time.Duration
	log   *slog.Logger

	ctx    context.Context // ends when the hub closes
	cancel context.CancelFunc
	wg     sync.WaitGroup // the round, the digest feeds and the sockets' writers

	mu     sync.Mutex
	rooms  map[string]*room // by lower-case channel name
	closed bool
}

// room is one channel's sockets.
type room struct {
	name  string
	since time.Time // the stream's start: another start means it ended between rounds
	socks map[string]*Socket
	rate  float64 // the stream's bitrate as its server-fed viewers receive it (streamRate)
	feed  *feed   // the digest subscription, while a socket is fed by a carrier
}

// feed is one digest subscription.
type feed struct{ cancel func() }

// New makes a hub and starts its placement round; Close stops it.
func New(cfg Config) *Hub {
	if cfg.Round <= 0 {
		cfg.Round = DefaultRound
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{
		media: cfg.Media,
		tree:  chain.New(chain.Config{BrowserSteady: cfg.Steady, BrowserChildren: cfg.Children, BrowserDepth: cfg.Depth, BrowserExpire: 2 * time.Second}),
		round: cfg.Round,
		log:   cfg.Log,
		ctx:   ctx, cancel: cancel,
		rooms: map[string]*room{},
	}
	h.wg.Go(h.run)
	return h
}

// Close ends every socket (going away) and waits until the hub's
// goroutines have ended.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	for _, r := range h.rooms {
		for _, s := range r.socks {
			s.close(CodeGoingAway, "the server is stopping")
		}
		h.stopFeed(r)
	}
	h.mu.Unlock()
	h.cancel()
	h.wg.Wait()
}

// Join adds a socket to channel's room; the caller then hands it every
// message (Handle) and calls Leave when the connection ends. ok is false
// when the hub is closed.
func (h *Hub) Join(channel string, conn Conn) (s *Socket, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, false
	}
	key := strings.ToLower(channel)
	r := h.rooms[key]
	if r == nil {
		_, since, _ := h.media.Live(channel)
		r = &room{name: channel, since: since, socks: map[string]*Socket{}}
		h.rooms[key] = r
	}
	s = &Socket{hub: h, room: r, id: newID(), conn: conn, q: make(chan []byte, queueLen), done: make(chan struct{}),
		kids: map[string]bool{}, banned: map[string]time.Time{}}
	s.ctx, s.abort = context.WithCancel(h.ctx)
	r.socks[s.id] = s
	h.wg.Go(s.write)
	return s, true
}

// Count is the number of open sockets of channel.
func (h *Hub) Count(channel string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r := h.rooms[strings.ToLower(channel)]; r != nil {
		return len(r.socks)
	}
	return 0
}

func newID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// run is the placement round.
func (h *Hub) run() {
	t := time.NewTicker(h.round)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case now := <-t.C:
			h.tick(now)
		}
	}
}

// tick expires stalled carriers, ends the rooms whose stream ended and
// places the viewers waiting for a carrier.
func (h *Hub) tick(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	stalled, orphans := h.tree.ExpireBrowsers(now)
	for _, id := range stalled {
		if s := h.find(id); s != nil {
			s.inTree = false
			if p := h.find(s.parent); p != nil {
				h.unlink(p, s, "stalled", true)
			}
			for kid := range s.kids {
				if k := s.room.socks[kid]; k != nil {
					h.unlink(s, k, "stalled", true)
				}
			}
		}
	}
	for _, id := range orphans { // children of stalled carriers are unlinked above; any left are too
		if k := h.find(id); k != nil {
			if p := h.find(k.parent); p != nil {
				h.unlink(p, k, "stalled", true)
			}
		}
	}
	for key, r := range h.rooms {
		if live, since, _ := h.media.Live(r.name); !live || !since.Equal(r.since) {
			for _, s := range r.socks {
				s.close(CodeNormal, "the stream ended")
			}
			h.stopFeed(r)
			delete(h.rooms, key) // the sockets' Leave finds them gone
			continue
		}
		r.rate = streamRate(r, now)
		h.place(r, now)
	}
}

// streamRate is the stream's bitrate as its server-fed viewers receive
// it lately: the median of their smoothed downloads (a carrier must keep up
// with the typical viewer, not with the best moment of the best one).
func streamRate(r *room, now time.Time) float64 {
	var downs []float64
	for _, s := range r.socks {
		if !s.fed && s.playing && now.Sub(s.downAt) <= rateWindow {
			downs = append(downs, s.down)
		}
	}
	if len(downs) == 0 {
		return 0
	}
	slices.Sort(downs)
	return downs[(len(downs)-1)/2]
}

// find is the open socket with id, in any room (ids are unique).
func (h *Hub) find(id string) *Socket {
	if id == "" {
		return nil
	}
	for _, r := range h.rooms {
		if s := r.socks[id]; s != nil {
			return s
		}
	}
	return nil
}

// place tries the room's waiting viewers for a carrier.
func (h *Hub) place(r *room, now time.Time) {
	if h.closed { // (sockets leaving after Close)
		return
	}
	for _, s := range r.socks {
		if !s.hello || !s.receive || !s.playing || s.parent != "" || s.closing ||
			now.Sub(s.statsAt) > statsFresh || now.Sub(s.tried) < tryEvery {
			continue
		}
		s.tried = now
		id, ok := h.tree.PlaceChild(r.name, s.id, now)
		if !ok {
			continue
		}
		p := r.socks[id]
		if p == nil || now.Before(s.banned[id]) {
			h.tree.DropChild(s.id)
			continue
		}
		s.parent = id
		p.kids[s.id] = true
		p.send(peerMsg{Type: "feed", Peer: s.id})
		s.send(peerMsg{Type: "parent", Peer: p.id})
		p.send(helpingMsg{Type: "helping", N: len(p.kids)})
		h.media.Keyframe(r.name)
		h.startFeed(r)
	}
}

// unlink ends the link between carrier p and child k on both sides,
// telling both (those still open) why; a child that said it lost its
// carrier is back on a server already and is not told. inTree: the tree has already
// detached them; else it is told here.
func (h *Hub) unlink(p, k *Socket, reason string, inTree bool) {
	if k.parent != p.id {
		return
	}
	if !inTree {
		h.tree.DropChild(k.id)
	}
	k.parent = ""
	delete(p.kids, k.id)
	if reason == "lost" || reason == "stalled" {
		k.banned[p.id] = time.Now().Add(banFor)
	}
	p.send(unlinkMsg{Type: "unlink", Peer: k.id, Reason: reason})
	p.send(helpingMsg{Type: "helping", N: len(p.kids)})
	if reason != "lost" {
		k.send(unlinkMsg{Type: "unlink", Peer: p.id, Reason: reason})
	}
	h.syncFeed(k.room)
}

// startFeed subscribes the room to its stream's digests, if not yet.
func (h *Hub) startFeed(r *room) {
	if r.feed != nil || h.closed {
		return
	}
	in, cancel, err := h.media.Digests(h.ctx, r.name)
	if err != nil {
		h.log.Warn("carry: no digest feed", "channel", r.name, "err", err)
		return
	}
	f := &feed{cancel: cancel}
	r.feed = f
	h.wg.Go(func() { h.fanOut(r, f, in) })
}

// syncFeed ends the room's digest subscription once no socket is fed by a
// carrier.
func (h *Hub) syncFeed(r *room) {
	for _, s := range r.socks {
		if s.parent != "" {
			return
		}
	}
	h.stopFeed(r)
}

func (h *Hub) stopFeed(r *room) {
	if r.feed != nil {
		r.feed.cancel()
		r.feed = nil
	}
}

// fanOut sends the digests of feed f to the room's fed sockets, what has
// arrived meanwhile in one message, until the feed ends.
func (h *Hub) fanOut(r *room, f *feed, in <-chan sfu.Digest) {
	defer f.cancel()
	buf := make([]byte, 0, 4096)
	for d := range in {
		buf = append(buf[:0], `{"type":"digests","list":[`...)
		buf = appendDigest(buf, d)
	more:
		for len(buf) < MaxMessage {
			select {
			case d, ok := <-in:
				if !ok {
					break more
				}
				buf = append(buf, ',')
				buf = appendDigest(buf, d)
			default:
				break more
			}
		}
		buf = append(buf, "]}"...)
		msg := append([]byte(nil), buf...) // one copy for every fed socket: writers only read it
		h.mu.Lock()
		if r.feed == f {
			for _, s := range r.socks {
				if s.parent != "" {
					s.sendRaw(msg)
				}
			}
		}
		h.mu.Unlock()
	}
}

// appendDigest appends ["kind",ts,"sum"].
func appendDigest(buf []byte, d sfu.Digest) []byte {
	buf = append(buf, `["`...)
	buf = append(buf, d.Kind()...)
	buf = append(buf, `",`...)
	buf = strconv.AppendUint(buf, uint64(d.Timestamp), 10)
	buf = append(buf, `,"`...)
	buf = append(buf, d.Sum.String()...)
	return append(buf, `"]`...)
}
