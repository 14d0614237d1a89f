package sfu

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

const (
	// maxGOP bounds the keyframe cache of a video layer, in packets (about
	// four seconds at 2.5 Mbit/s): beyond, a new viewer asks for a new
	// keyframe.
	maxGOP = 1024
	// freshKeyframe: a new viewer starts from the cached keyframe if it is
	// at most this old; otherwise it waits for a new one (PLI), since
	// replaying a long backlog would start it late.
	freshKeyframe = time.Second
	// maxReplay: a replay longer than this (half a viewer's queue) would
	// overflow the queue at once; the new viewer asks for a keyframe instead.
	maxReplay = videoQueue / 2
	// layerSilence: a video layer without a packet this long while
	// another sends is paused (Stream.CheckLayers).
	layerSilence = 1500 * time.Millisecond
)

// Layer is one outgoing stream of a channel: its audio, or one video
// layer (simulcast encoding). It outlives publisher sessions, so viewers
// stay subscribed while the publisher reconnects; the viewers' down-tracks
// renumber the packets of the new session to continue the old.
type Layer struct {
	key   string // "audio", "video/" + rid
	codec webrtc.RTPCodecCapability
	video bool

	mu   sync.Mutex
	subs []*DownTrack // copy on write: forward reads it without the lock
	keys keyCache     // video: the packets since the last keyframe started
	last atomic.Int64 // arrival of the newest packet, Unix ns

	digests layerDigests
}

func newLayer(key string, codec webrtc.RTPCodecCapability) *Layer {
	return &Layer{key: key, codec: codec, video: key != "audio"}
}

// silent reports whether the layer had no packet for layerSilence at now.
func (l *Layer) silent(now time.Time) bool {
	return now.UnixNano()-l.last.Load() > int64(layerSilence)
}

// forward stores a packet from the publisher and queues it for every
// subscriber. It is called by the layer's one read loop.
func (l *Layer) forward(p *packet) {
	l.last.Store(p.at.UnixNano())
	l.mu.Lock()
	if l.video && !l.keys.add(p) {
		l.mu.Unlock()
		return // a duplicate: its viewers have it
	}
	subs := l.subs
	l.mu.Unlock()
	var gone []*DownTrack
	for _, d := range subs {
		if !d.push(l, p) {
			gone = append(gone, d)
		}
	}
	if gone != nil {
		l.unsubscribe(gone...)
	}
}

// subscribe adds a viewer's down-track. A video layer replays its cached
// keyframe and what followed when that is fresh, and reports whether it
// did; otherwise the caller asks the publisher for a keyframe.
func (l *Layer) subscribe(d *DownTrack) (replayed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !slices.Contains(l.subs, d) {
		l.subs = append(slices.Clone(l.subs), d)
	}
	run := l.keys.replay(maxReplay, freshKeyframe)
	if run == nil {
		return false
	}
	// Under the lock, so that no packet forward stores meanwhile can
	// overtake the replay.
	for _, p := range run {
		d.push(l, p)
	}
	return true
}

// unsubscribe removes down-tracks that refused a packet, unless they
// followed l again since.
func (l *Layer) unsubscribe(gone ...*DownTrack) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.subs = slices.DeleteFunc(slices.Clone(l.subs), func(d *DownTrack) bool { return slices.Contains(gone, d) && !d.wants(l) })
}
