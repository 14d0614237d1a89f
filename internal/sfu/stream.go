// Package sfu is FedWave's routing core: a channel's stream, the layers a
// source feeds it (a WHIP publisher, a pull from another instance), and
// the viewers' down-tracks that forward the shared packets, renumbered,
// through a pool of writers. It never sees a PeerConnection: sources and
// viewers' connections belong to the WebRTC side (package media).
package sfu

import (
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// keyframeInterval bounds keyframe requests to a source.
const keyframeInterval = 500 * time.Millisecond

// Source feeds a stream: it writes its tracks' packets to the stream's
// layers (Stream.Input) and takes keyframe requests.
type Source interface {
	// Sends reports whether the source sends a track key ("audio",
	// "video/"+rid): a reconnected publisher may send other video layers
	// than the one before, whose layers stay.
	Sends(key string) bool
	// Keyframe asks for a keyframe on every video track, and reports
	// whether there was one to ask on.
	Keyframe() bool
}

// Stream is a channel's live media: its source (if any), its layers and
// its viewers. Layers outlive sources, so viewers stay subscribed while
// a source reconnects or another takes over.
type Stream struct {
	name     string
	counters *Counters
	writers  *writers

	mu        sync.Mutex
	src       Source
	layers    map[string]*Layer // "audio", "video/" + rid
	startedAt time.Time
	live      bool
	viewers   map[*Viewer]bool
	lastPLI   time.Time
	pliLater  bool            // a request waits for the end of the interval
	idleSince time.Time       // since when it has had no source, no viewer and no digest subscriber
	paused    map[string]bool // video layers silent while another sends (CheckLayers)

	digestSubs int // subscribers of the frame digests: while any, every layer digests
	feed       digestFeed
}

// New makes a channel's stream.
func New(name string, counters *Counters) *Stream {
	return &Stream{name: name, counters: counters, layers: map[string]*Layer{}, writers: newWriters(), viewers: map[*Viewer]bool{}, idleSince: time.Now()}
}

// Name is the channel's name.
func (st *Stream) Name() string { return st.name }

// TrackKey is the key of a source's track: "audio", or "video/"+rid.
func TrackKey(kind webrtc.RTPCodecType, rid string) string {
	if kind == webrtc.RTPCodecTypeAudio {
		return "audio"
	}
	return "video/" + rid
}

// Input returns the layer a source's track feeds: the one its key had
// (viewers stay on it across source reconnects), or a new one if the
// codec changed.
func (st *Stream) Input(key string, c webrtc.RTPCodecCapability) *Layer {
	st.mu.Lock()
	defer st.mu.Unlock()
	if l := st.layers[key]; l != nil && strings.EqualFold(l.codec.MimeType, c.MimeType) {
		return l
	}
	l := newLayer(key, c)
	if st.digestSubs > 0 {
		l.digest(st.emitDigest)
	}
	st.layers[key] = l
	return l
}

// Source returns the stream's source, nil if none.
func (st *Stream) Source() Source {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.src
}

// SetSource makes src the stream's source if old is the current one (nil:
// none), and reports whether it did. A stream that was not live goes live
// when src calls Live; one that was stays live (a takeover).
func (st *Stream) SetSource(old, src Source) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.src != old {
		return false
	}
	st.src = src
	return true
}

// Unset removes src if it is the stream's source, and reports whether the
// stream was live.
func (st *Stream) Unset(src Source) (wasLive bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.src != src {
		return false
	}
	wasLive = st.live
	st.src, st.live = nil, false
	st.idle()
	return wasLive
}

// Live marks the stream live if src is its source: its media flows. It
// reports whether the stream went live now; either way the viewers move
// to the layers src sends, in case they are others than before.
func (st *Stream) Live(src Source) (changed bool) {
	st.mu.Lock()
	current := st.src == src
	changed = current && !st.live
	if changed {
		st.live, st.startedAt = true, time.Now().UTC()
	}
	st.mu.Unlock()
	if current {
		st.Refollow()
	}
	return changed
}

// Refollow moves every viewer to the layers of its quality, for when the
// layers sent change.
func (st *Stream) Refollow() {
	st.mu.Lock()
	viewers := make([]*Viewer, 0, len(st.viewers))
	for v := range st.viewers {
		viewers = append(viewers, v)
	}
	st.mu.Unlock()
	for _, v := range viewers {
		v.follow()
	}
}

// State reports whether the stream is live, since when, and its viewers.
func (st *Stream) State() (live bool, since time.Time, viewers int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.live, st.startedAt, len(st.viewers)
}

// Idle reports since when the stream has had no source, no viewer and
// no digest subscriber (false: it has one).
func (st *Stream) Idle() (since time.Time, idle bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.idleSince, st.isIdle()
}

func (st *Stream) isIdle() bool { return st.src == nil && len(st.viewers) == 0 && st.digestSubs == 0 }

// idle notes when the stream became idle; under st.mu.
func (st *Stream) idle() {
	if st.isIdle() {
		st.idleSince = time.Now()
	}
}

// Wait returns when the stream's writers have left (after its last
// viewer).
func (st *Stream) Wait() { st.writers.wait() }

// videoRIDs lists the simulcast layers, best first: those the current
// source sends.
func (st *Stream) videoRIDs() []string {
	var rids []string
	for k := range st.layers {
		if rid, ok := strings.CutPrefix(k, "video/"); ok && (st.src == nil || st.src.Sends(k)) && !st.paused[k] {
			rids = append(rids, rid)
		}
	}
	sort.Slice(rids, func(i, j int) bool { return layerRank(rids[i]) > layerRank(rids[j]) })
	return rids
}

// CheckLayers notes which video layers are paused at now: silent for
// layerSilence while another video layer sends. A browser publisher stops
// its top simulcast layer when its bandwidth estimate or its CPU falls;
// its viewers are then served the best layer still sending, and move back
// when it resumes (each switch at a keyframe of the new layer). It
// reports whether the set changed (the viewers then follow).
func (st *Stream) CheckLayers(now time.Time) bool {
	st.mu.Lock()
	paused := map[string]bool{}
	sending := false
	for k, l := range st.layers {
		if !l.video {
			continue
		}
		if l.silent(now) {
			paused[k] = true
		} else {
			sending = true
		}
	}
	if !sending { // all silent (starting, or the source is gone): pause none
		clear(paused)
	}
	changed := !maps.Equal(paused, st.paused) && (len(paused) > 0 || len(st.paused) > 0)
	st.paused = paused
	st.mu.Unlock()
	if changed {
		st.Refollow()
	}
	return changed
}

// layerRank orders the rids publishers commonly use; a stream without
// simulcast has the single rid "".
func layerRank(rid string) int {
	switch strings.ToLower(rid) {
	case "", "f", "high", "h", "hi", "2":
		return 3
	case "m", "mid", "1":
		return 2
	}
	return 1
}

// pick returns a stream's audio layer and the video layer for a quality
// (nil for audio only, or when there is none).
func (st *Stream) pick(quality string) (audio, video *Layer) {
	st.mu.Lock()
	defer st.mu.Unlock()
	audio = st.layers["audio"]
	rids := st.videoRIDs()
	if len(rids) == 0 || quality == "audio" {
		return audio, nil
	}
	rid := rids[0]
	if quality == "low" {
		rid = rids[len(rids)-1]
	}
	return audio, st.layers["video/"+rid]
}

// RequestKeyframe asks the source for a keyframe on every video layer, at
// most once per keyframeInterval. A request within the interval is sent
// when it ends (one for all that came meanwhile): the keyframe of the last
// request may have gone by before the viewer asking now subscribed, and a
// browser publisher sends no keyframe unless asked.
func (st *Stream) RequestKeyframe() {
	st.mu.Lock()
	src := st.src
	if src == nil {
		st.mu.Unlock()
		return
	}
	if wait := keyframeInterval - time.Since(st.lastPLI); wait > 0 {
		if !st.pliLater {
			st.pliLater = true
			time.AfterFunc(wait, func() {
				st.mu.Lock()
				st.pliLater = false
				st.mu.Unlock()
				st.RequestKeyframe()
			})
		}
		st.mu.Unlock()
		return
	}
	st.lastPLI = time.Now()
	st.mu.Unlock()
	if src.Keyframe() {
		st.counters.KeyframeRequests.Add(1)
	}
}
