package media

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/fedwave/fedwave/internal/audience"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/sfu"
)

// idleAfter is how long a channel's stream stays, with its layers,
// when it has no source and no viewer: a publisher reconnecting within
// it keeps its viewers' layers; after it, the memory goes.
const idleAfter = time.Minute

// Counters are the media service's running totals, for /metrics.
type Counters = sfu.Counters

// Service keeps the streams of all channels and their WebRTC sessions:
// publishers (WHIP), viewers (WHEP) and pulls of linked instances'
// streams.
type Service struct {
	engine   *Engine
	log      *slog.Logger
	onChange func(channel string) // live state changed (went live, ended)
	audience *audience.Registry   // viewers are counted in their channel's audience
	fed      Federation

	mu       sync.Mutex
	channels map[string]*channel // by lower-case channel name
	sessions map[string]session
	closing  bool     // no more live-state notifications: the site is stopping
	gone     goneList // sessions ended lately
	counters Counters
	notified sync.WaitGroup // notifications in flight; Close waits for them
	reports  sync.Mutex     // one remote-viewers report at a time, so the last one is the latest count
}

// channel is a channel's stream in the registry.
type channel struct {
	st     *sfu.Stream
	holds  int     // Publish and Play calls setting up on it, under Service.mu
	remote *remote // a linked instance's channel: its pulls; nil for local channels

	digestFeeds int // subscribers of its frame digests, under Service.mu
}

// session is a publisher or a viewer: the WebRTC side of one WHIP or
// WHEP resource.
type session interface{ base() *conn }

// conn is what publishers and viewers share: a peer connection known by
// its resource id.
type conn struct {
	id     string
	name   string // the channel's name
	pc     *webrtc.PeerConnection
	ch     *channel
	closed sync.Once
	etag   string // entity tag of the ICE session, under Service.mu
	ended  bool   // under Service.mu
	patch  sync.Mutex
	remote int // remote candidates of the current ICE generation, under patch
}

func (c *conn) base() *conn { return c }

func newConn(ch *channel, pc *webrtc.PeerConnection, remote int) conn {
	id := newID()
	return conn{id: id, name: ch.st.Name(), pc: pc, ch: ch, etag: id, remote: remote}
}

// New makes the service. onChange is called (in its own goroutine) when a
// channel goes live or ends. Viewers are counted in aud (nil: nowhere).
// fed reaches linked instances (its zero value: none).
func New(engine *Engine, log *slog.Logger, onChange func(channel string), aud *audience.Registry, fed Federation) *Service {
	if log == nil {
		log = slog.Default()
	}
	if aud == nil {
		aud = audience.New(nil)
	}
	return &Service{engine: engine, log: log, onChange: onChange, audience: aud, fed: fed, channels: map[string]*channel{}, sessions: map[string]session{}}
}

func newID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// hold returns a channel's entry, made if needed, held until release so
// that the idle sweep leaves it while a session is set up on it.
func (s *Service) hold(name string) *channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(name)
	ch := s.channels[key]
	if ch == nil {
		ch = &channel{st: sfu.New(name, &s.counters)}
		if c, host, ok := s.remoteOf(name); ok {
			ch.remote = newRemote(s, ch.st, c, host)
		}
		s.channels[key] = ch
	}
	ch.holds++
	return ch
}

func (s *Service) release(ch *channel) {
	s.mu.Lock()
	ch.holds--
	s.mu.Unlock()
}

// sweep forgets the streams idle since before now-idleAfter.
func (s *Service) sweep(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, ch := range s.channels {
		if since, idle := ch.st.Idle(); idle && ch.holds == 0 && now.Sub(since) >= idleAfter && (ch.remote == nil || ch.remote.unused()) {
			delete(s.channels, key)
		}
	}
}

// Counters returns the running totals.
func (s *Service) Counters() *Counters { return &s.counters }

// Sessions counts the publishers and viewers connected now.
func (s *Service) Sessions() (publishers, viewers int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.sessions {
		if _, ok := ss.(*viewer); ok {
			viewers++
		} else {
			publishers++
		}
	}
	return publishers, viewers
}

// StreamState is a stream's state for the stream chain.
type StreamState struct {
	People  int  // viewers that are persons (not relays or instances pulling)
	Pulling bool // a relay's or linked instance's stream has a pull
}

// Streams returns the state of every stream with viewers or a pull, by
// channel name.
func (s *Service) Streams() map[string]StreamState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]StreamState{}
	for _, ss := range s.sessions {
		if vw, ok := ss.(*viewer); ok && !vw.node {
			st := out[vw.name]
			st.People++
			out[vw.name] = st
		}
	}
	for _, ch := range s.channels {
		if ch.remote != nil && !ch.remote.unused() {
			st := out[ch.st.Name()]
			st.Pulling = true
			out[ch.st.Name()] = st
		}
	}
	return out
}

// People counts the viewers served here that are persons.
func (s *Service) People() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ss := range s.sessions {
		if vw, ok := ss.(*viewer); ok && !vw.node {
			n++
		}
	}
	return n
}

// Repull makes every pull again at once (a relay's parent changed).
func (s *Service) Repull() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range s.channels {
		if ch.remote != nil {
			ch.remote.repull()
		}
	}
}

// Session returns a session's channel, whether it is a viewer, and its
// entity tag (it changes with every ICE restart).
func (s *Service) Session(id string) (channel string, isViewer bool, etag string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[id]
	if ss == nil {
		return "", false, "", false
	}
	_, isViewer = ss.(*viewer)
	return ss.base().name, isViewer, ss.base().etag, true
}

// Live implements channels.LiveState.
func (s *Service) Live(channel string) (bool, time.Time, int) {
	s.mu.Lock()
	ch := s.channels[strings.ToLower(channel)]
	s.mu.Unlock()
	if ch == nil {
		return false, time.Time{}, 0
	}
	return ch.st.State()
}

// notify reports a live-state change, unless the service is closing.
func (s *Service) notify(channel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || s.onChange == nil {
		return
	}
	s.notified.Go(func() { s.onChange(channel) })
}

// Stop ends a session (WHIP/WHEP DELETE).
func (s *Service) Stop(id string) bool {
	s.mu.Lock()
	ss := s.sessions[id]
	s.mu.Unlock()
	if ss == nil {
		return false
	}
	s.end(ss)
	return true
}

var errClosedEarly = fail.New(fail.Invalid, "connection_closed", "the connection closed while it was being set up")

// register makes a negotiated session known by its id, and adds it to
// its stream with add (called under the service's lock) unless it ended
// meanwhile: its connection can fail or close during the set-up, and end
// may run before or after. A session that did not make it is closed.
func (s *Service) register(ss session, add func() error) error {
	c := ss.base()
	s.mu.Lock()
	err := errClosedEarly
	if !c.ended {
		if err = add(); err == nil {
			s.sessions[c.id] = ss
		}
	}
	s.mu.Unlock()
	if err != nil {
		s.end(ss)
	}
	return err
}

// end forgets a session and closes its connection; a publisher's end
// takes the channel offline. The session is marked ended before its
// connection closes: the peer hears the close at once and may ask about
// its session, and must find it ended (a replaced publisher: 409
// replaced), not still there nor unknown.
func (s *Service) end(ss session) {
	c := ss.base()
	c.closed.Do(func() {
		// Forgotten and remembered as ended in one step: a client that
		// asks about its session as soon as the connection closes (a
		// replaced studio) finds one or the other, never neither.
		s.mu.Lock()
		delete(s.sessions, c.id)
		c.ended = true
		gone := goneSession{channel: c.name, endedAt: time.Now()}
		switch ss := ss.(type) {
		case *publisher:
			gone.replacedAt, gone.stoppedAt = ss.replacedAt, ss.stoppedAt
		case *viewer:
			gone.viewer = true
		}
		s.gone.add(c.id, gone)
		s.mu.Unlock()
		go c.pc.Close()
		wasLive := false
		switch ss := ss.(type) {
		case *publisher:
			wasLive = c.ch.st.Unset(ss)
		case *viewer:
			s.viewerEnded(ss)
		}
		if wasLive {
			s.notify(c.name)
		}
	})
}

// Close ends every session and pull, and returns once the live-state
// notifications already under way are done (they use the database, which
// closes next).
func (s *Service) Close() {
	s.mu.Lock()
	s.closing = true
	all := make([]session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		all = append(all, ss)
	}
	s.mu.Unlock()
	for _, ss := range all {
		s.end(ss)
	}
	s.mu.Lock()
	channels := make([]*channel, 0, len(s.channels))
	for _, ch := range s.channels {
		channels = append(channels, ch)
	}
	s.mu.Unlock()
	for _, ch := range channels {
		if ch.remote != nil {
			ch.remote.close()
		}
		ch.st.Wait() // every viewer ended: the writers leave
	}
	s.notified.Wait()
}
