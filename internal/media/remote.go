package media

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/sfu"
)

// Peers sends requests to linked instances.
type Peers interface {
	// Do sends a request signed with this instance's key to a linked peer's
	// public URL + path (path starts with "/"; a Location header of a
	// previous answer may be passed as is). It fails with fail.Error codes
	// federation_not_linked, federation_refused or peer_unreachable.
	Do(ctx context.Context, host, method, path, contentType string, body []byte) (*http.Response, error)
}

// Federation connects the media service to linked instances.
type Federation struct {
	// Peers pulls linked instances' streams; nil refuses remote channels
	// with federation_not_linked.
	Peers Peers
	// OnRemoteViewers (nil: nobody) is told how many of this instance's
	// viewers watch a remote channel (its name there, and its host),
	// whenever that changes, so that the channel's home counts them. It is
	// called synchronously, one call at a time, and must not block.
	OnRemoteViewers func(host, channel string, viewers int)
	// Origin, when set, makes every channel a channel of that host (a
	// relay serves nothing of its own: it pulls all it serves).
	Origin string
	// Stall (0: never) ends a pull that got no packet for this long, so
	// that it is made again (from the parent the relay has then) instead
	// of waiting for ICE to give up.
	Stall time.Duration
}

// A remote channel is pulled from its home once per quality its viewers
// here use, from its first viewer of that quality until pullLinger after
// the last; a pull that drops is tried again with a growing wait while
// it has viewers.
const (
	pullLinger = 5 * time.Second
	retryFirst = 500 * time.Millisecond
	retryMax   = 10 * time.Second
)

var (
	errNotLinked = fail.New(fail.Forbidden, "federation_not_linked", "this instance is not linked with the channel's instance")
	errClosing   = fail.New(fail.Unavailable, "closing", "the media service is stopping")
)

// remoteOf says of which host a channel is pulled (ok false: a local one).
func (s *Service) remoteOf(name string) (channel, host string, ok bool) {
	if s.fed.Origin != "" {
		return name, s.fed.Origin, true
	}
	return splitRemote(name)
}

// splitRemote splits a remote channel's name, name@host.
func splitRemote(name string) (channel, host string, ok bool) {
	i := strings.LastIndexByte(name, '@')
	if i <= 0 || i == len(name)-1 {
		return "", "", false
	}
	return name[:i], name[i+1:], true
}

// remote is a linked instance's channel here: the pulls of its stream,
// which together are the stream's source.
type remote struct {
	s       *Service
	st      *sfu.Stream
	channel string // its name on its home
	host    string

	// Sends reads the keys sent without a lock: the stream calls it under
	// its own, and r.mu is taken before the stream's.
	sending atomic.Pointer[map[string]bool]
	// The pull whose audio feeds the stream's audio layer: one at a time,
	// or the viewers would get two sources' packets interleaved.
	audio atomic.Pointer[pull]

	mu     sync.Mutex
	users  map[string]int   // viewers, set up or setting up, per quality
	pulls  map[string]*pull // by quality
	closed bool
}

func newRemote(s *Service, st *sfu.Stream, channel, host string) *remote {
	r := &remote{s: s, st: st, channel: channel, host: host, users: map[string]int{}, pulls: map[string]*pull{}}
	r.sending.Store(&map[string]bool{})
	return r
}

// Sends implements sfu.Source: audio, and the video of each quality
// pulled.
func (r *remote) Sends(key string) bool { return (*r.sending.Load())[key] }

// Keyframe implements sfu.Source: a PLI up every pull.
func (r *remote) Keyframe() bool {
	r.mu.Lock()
	pulls := make([]*pull, 0, len(r.pulls))
	for _, p := range r.pulls {
		pulls = append(pulls, p)
	}
	r.mu.Unlock()
	asked := false
	for _, p := range pulls {
		asked = p.keyframe() || asked
	}
	return asked
}

// changed rebuilds what the pulls send; under r.mu.
func (r *remote) changed() {
	keys := map[string]bool{}
	for q := range r.pulls {
		keys["audio"] = true
		if q != "audio" {
			keys["video/"+q] = true
		}
	}
	r.sending.Store(&keys)
}

// want holds a pull of quality q for a viewer setting up, started if
// needed, and waits until it has media; on failure the hold is given
// back.
func (r *remote) want(ctx context.Context, q string) error {
	p := r.use(q)
	if p == nil {
		r.unwant(q)
		return errClosing
	}
	select {
	case <-p.ready:
		if p.err != nil {
			r.unwant(q)
			return p.err
		}
		return nil
	case <-ctx.Done():
		r.unwant(q)
		return ctx.Err()
	}
}

// use holds the pull of quality q, started if needed (nil when closed).
func (r *remote) use(q string) *pull {
	r.mu.Lock()
	r.users[q]++
	defer r.mu.Unlock()
	p := r.pulls[q]
	if p == nil && !r.closed {
		r.st.SetSource(nil, r) // the first pull: r becomes the source (else it is already)
		p = newPull(r, q)
		r.pulls[q] = p
		r.changed()
		go p.run()
	}
	return p
}

// unwant gives back a hold on quality q's pull; the last one ends it
// pullLinger later, unless a viewer came back meanwhile.
func (r *remote) unwant(q string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.users[q]--; r.users[q] > 0 {
		return
	}
	delete(r.users, q)
	if p := r.pulls[q]; p != nil {
		time.AfterFunc(pullLinger, func() {
			r.mu.Lock()
			stop := r.users[q] == 0 && r.pulls[q] == p
			r.mu.Unlock()
			if stop {
				r.drop(p)
				p.stop()
			}
		})
	}
}

// drop forgets a pull that ends; the stream has no source once the last
// is gone.
func (r *remote) drop(p *pull) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pulls[p.quality] != p {
		return
	}
	delete(r.pulls, p.quality)
	r.changed()
	r.audio.CompareAndSwap(p, nil)
	if len(r.pulls) == 0 {
		r.st.Unset(r)
	}
}

// unused reports whether nobody holds a pull.
func (r *remote) unused() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pulls) == 0 && len(r.users) == 0
}

// repull ends every pull's connection and makes it again at once.
func (r *remote) repull() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.pulls {
		p.again()
	}
}

// close ends every pull, for good.
func (r *remote) close() {
	r.mu.Lock()
	r.closed = true
	pulls := make([]*pull, 0, len(r.pulls))
	for _, p := range r.pulls {
		pulls = append(pulls, p)
	}
	r.mu.Unlock()
	for _, p := range pulls {
		r.drop(p)
		p.stop()
	}
}

// reportRemote tells OnRemoteViewers how many viewers watch a remote
// channel now.
func (s *Service) reportRemote(ch *channel) {
	if ch.remote == nil || s.fed.OnRemoteViewers == nil {
		return
	}
	s.reports.Lock() // in order: the last report made is the current count
	defer s.reports.Unlock()
	_, _, n := ch.st.State()
	s.fed.OnRemoteViewers(ch.remote.host, ch.remote.channel, n)
}
