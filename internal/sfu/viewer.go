package sfu

import (
	"sync"

	"github.com/pion/webrtc/v4"
)

// Viewer is one viewer of a stream: its audio and video down-tracks and
// the quality it asked for. Its connection (package media) sends what
// the down-tracks queue.
type Viewer struct {
	st *Stream

	mu           sync.Mutex
	audio, video *DownTrack // nil where the stream had none when it came
	quality      string
	ready        bool // its connection is up: before, packets would wait for it
}

// NewViewer makes a viewer's down-tracks: an audio and a video one for
// the layers the stream has (their codecs are negotiated), whatever the
// quality, so that an audio-only viewer can switch to video later. It
// joins the stream with Join.
func (st *Stream) NewViewer(quality string) *Viewer {
	v := &Viewer{st: st, quality: quality}
	audio, video := st.pick("high")
	if audio != nil {
		v.audio = newDownTrack(webrtc.RTPCodecTypeAudio, audio.codec, "fedwave-"+st.name, st.writers, st.RequestKeyframe, st.counters)
	}
	if video != nil {
		v.video = newDownTrack(webrtc.RTPCodecTypeVideo, video.codec, "fedwave-"+st.name, st.writers, st.RequestKeyframe, st.counters)
	}
	return v
}

// Tracks are the viewer's down-tracks, nil where there is none.
func (v *Viewer) Tracks() (audio, video *DownTrack) { return v.audio, v.video }

// Quality is the quality the viewer asked for.
func (v *Viewer) Quality() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.quality
}

// Join adds the viewer to its stream's audience of down-tracks.
func (st *Stream) Join(v *Viewer) {
	st.mu.Lock()
	st.viewers[v] = true
	n := len(st.viewers)
	st.mu.Unlock()
	st.writers.resize(n)
}

// Leave removes the viewer from its stream; its down-tracks end with its
// connection (Unbind).
func (st *Stream) Leave(v *Viewer) {
	st.mu.Lock()
	if !st.viewers[v] {
		st.mu.Unlock()
		return
	}
	delete(st.viewers, v)
	n := len(st.viewers)
	st.idle()
	st.mu.Unlock()
	st.writers.resize(n)
}

// Start is called when the viewer's connection is up: its down-tracks
// follow the layers of its quality.
func (v *Viewer) Start() {
	v.mu.Lock()
	v.ready = true
	v.mu.Unlock()
	v.follow()
}

// SetQuality switches the viewer to another quality: the new video layer
// starts at its next keyframe, with no gap in the numbering; "audio"
// stops the video packets. It reports false, changing nothing, when the
// viewer has no video track to switch to.
func (v *Viewer) SetQuality(quality string) bool {
	v.mu.Lock()
	if quality != "audio" && (v.video == nil || !v.video.bound()) { // the stream or the offer has no video
		v.mu.Unlock()
		return false
	}
	v.quality = quality
	v.mu.Unlock()
	v.follow()
	return true
}

// follow points a started viewer's down-tracks at the layers of its
// quality.
func (v *Viewer) follow() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.ready {
		return
	}
	audio, video := v.st.pick(v.quality)
	if v.audio != nil && audio != nil {
		v.audio.follow(audio)
	}
	if v.video != nil {
		v.video.follow(video)
	}
}
